// franca-nettool: the TCP end points of the virtio-net integration cases and
// bench/net, one static binary for the host and the guest initramfs alike.
//
//   franca-nettool listen  [-a ADDR] [-n BYTES] [-w SECS] [-l LABEL] [-t SECS] [-p] PORT
//   franca-nettool connect [-n BYTES] [-w SECS] [-l LABEL] [-t SECS] [-r SECS] [-p] HOST PORT
//     One connection (listen accepts exactly one). Each end sends BYTES (default
//     0) of a seeded pseudo-random stream — the first 8 bytes are the seed, word
//     i is splitmix64(seed + i) — while it receives until the peer shuts down its
//     side, checking every received byte against the stream the received seed
//     gives. Then it prints, on stdout, LABEL_SENT=N LABEL_SENT_SEED=S
//     LABEL_RECEIVED=M LABEL_RECEIVED_SEED=S' LABEL_RECEIVED_BAD=offset of the
//     first wrong byte or -1, LABEL_SECONDS, LABEL_MBITS, LABEL_RECEIVED_MAX_GAP_MS
//     (the longest time without received data, a failover's traffic gap) and
//     LABEL_RECEIVED_MAX_GAP_AT_S (when it began), one KEY=value a line.
//     -p: "LABEL progress received=N" on stderr every 8 MiB. -w: spread the
//     sending over at least SECS (paced, so a transfer on fast hardware still
//     lasts long enough to act on it). -r: retry the connect for SECS (the
//     listener may not be up yet). Exit 0 only when the transfer completed and
//     every received byte was right.
//   franca-nettool rr-server [-a ADDR] [-s SIZE] [-t SECS] PORT
//     Echoes SIZE-byte messages back, one connection after another.
//   franca-nettool rr-client [-s SIZE] [-l LABEL] [-t SECS] [-r SECS] HOST PORT SECONDS
//     Request/response: sends SIZE bytes (default 1), waits for them to come
//     back, for SECONDS; prints LABEL_TRANSACTIONS, LABEL_TPS, LABEL_MEAN_US.
// -t: give up (exit 3) after SECS (default 600). IPv4 addresses only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunk = 128 * 1024;
constexpr uint64_t kProgressStep = 8ull << 20;

struct Options {
  std::string addr = "0.0.0.0", label = "NET";
  uint64_t bytes = 0;
  unsigned size = 1, timeout = 600, retry = 0, pace = 0;
  bool progress = false;
  std::vector<std::string> args;
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "franca-nettool: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Word i of the stream seeded with `seed` (word 0 is the seed itself).
uint64_t stream_word(uint64_t seed, uint64_t i) { return i == 0 ? seed : splitmix64(seed + i); }

// Fills buf with the stream bytes at [offset, offset + len).
void stream_fill(uint64_t seed, uint64_t offset, unsigned char* buf, size_t len) {
  for (size_t done = 0; done < len;) {
    uint64_t word = stream_word(seed, (offset + done) / 8);
    size_t skip = (offset + done) % 8, n = std::min<size_t>(8 - skip, len - done);
    std::memcpy(buf + done, reinterpret_cast<unsigned char*>(&word) + skip, n);
    done += n;
  }
}

bool parse_u64(const char* s, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 0);
  if (errno || end == s) return false;
  const char* suffixes = "KMG";  // binary multiples
  if (*end != '\0' && std::strchr(suffixes, *end)) v <<= 10 * (std::strchr(suffixes, *end++) - suffixes + 1);
  out = v;
  return *end == '\0';
}

sockaddr_in make_addr(const std::string& host, const std::string& port) {
  sockaddr_in sa{};
  uint64_t p = 0;
  sa.sin_family = AF_INET;
  if (!parse_u64(port.c_str(), p) || p == 0 || p > 65535 || inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    std::fprintf(stderr, "franca-nettool: bad address %s port %s\n", host.c_str(), port.c_str());
    std::exit(2);
  }
  sa.sin_port = htons(static_cast<uint16_t>(p));
  return sa;
}

int listen_on(const std::string& addr, const std::string& port) {
  sockaddr_in sa = make_addr(addr, port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0) die("socket");
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) die("bind");
  if (listen(fd, 8) < 0) die("listen");
  return fd;
}

int accept_one(int lfd) {
  int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) die("accept");
  return fd;
}

int connect_to(const std::string& host, const std::string& port, unsigned retry) {
  sockaddr_in sa = make_addr(host, port);
  auto until = Clock::now() + std::chrono::seconds(retry);
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return fd;
    close(fd);
    if (Clock::now() >= until) die("connect");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool write_all(int fd, const unsigned char* p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n, len -= static_cast<size_t>(n);
  }
  return true;
}

// Sends `bytes` of the stream seeded with `seed`, no faster than over `pace`
// seconds, then shuts down the write side.
bool send_stream(int fd, uint64_t seed, uint64_t bytes, unsigned pace) {
  std::vector<unsigned char> buf(kChunk);
  auto start = Clock::now();
  for (uint64_t off = 0; off < bytes;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, bytes - off));
    stream_fill(seed, off, buf.data(), n);
    if (!write_all(fd, buf.data(), n)) return false;
    off += n;
    std::this_thread::sleep_until(start + std::chrono::duration<double>(pace * double(off) / double(bytes)));
  }
  return shutdown(fd, SHUT_WR) == 0;
}

struct Received {
  uint64_t bytes = 0, seed = 0;
  int64_t first_bad = -1;
  bool ok = false;          // reached EOF without a socket error
  double max_gap_ms = 0;    // the longest time without data between the first byte and EOF
  double max_gap_at_s = 0;  // when it began, seconds after the first byte
};

// Checks one received chunk at the current offset against the expected stream.
void check_chunk(Received& r, const unsigned char* data, size_t n, std::vector<unsigned char>& want) {
  for (size_t i = 0; i < n && r.bytes + i < 8; ++i) r.seed |= uint64_t{data[i]} << (8 * (r.bytes + i));
  if (r.first_bad >= 0 || r.bytes + n <= 8) return;
  size_t from = r.bytes < 8 ? static_cast<size_t>(8 - r.bytes) : 0;
  stream_fill(r.seed, r.bytes + from, want.data(), n - from);
  if (std::memcmp(data + from, want.data(), n - from) == 0) return;
  size_t i = from;
  while (data[i] == want[i - from]) ++i;
  r.first_bad = static_cast<int64_t>(r.bytes + i);
}

Received receive_stream(int fd, const Options& o) {
  Received r;
  std::vector<unsigned char> buf(kChunk), want(kChunk);
  uint64_t next_progress = kProgressStep;
  Clock::time_point first, last;
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      r.ok = n == 0;
      return r;
    }
    const Clock::time_point now = Clock::now();
    if (r.bytes == 0) first = now;
    if (r.bytes != 0) {
      const double gap = std::chrono::duration<double, std::milli>(now - last).count();
      if (gap > r.max_gap_ms) {
        r.max_gap_ms = gap;
        r.max_gap_at_s = std::chrono::duration<double>(last - first).count();
      }
    }
    last = now;
    check_chunk(r, buf.data(), static_cast<size_t>(n), want);
    r.bytes += static_cast<uint64_t>(n);
    if (o.progress && r.bytes >= next_progress) {
      std::fprintf(stderr, "%s progress received=%llu\n", o.label.c_str(), static_cast<unsigned long long>(r.bytes));
      next_progress += kProgressStep;
    }
  }
}

uint64_t random_seed() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
    seed = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  return seed | 1;  // never 0, so a stream of zeros never passes
}

int transfer(int fd, const Options& o) {
  uint64_t seed = random_seed();
  bool sent_ok = false;
  auto start = Clock::now();
  Received r;
  {
    std::jthread sender([&] { sent_ok = send_stream(fd, seed, o.bytes, o.pace); });
    r = receive_stream(fd, o);
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  close(fd);
  const char* l = o.label.c_str();
  std::printf("%s_SENT=%llu\n%s_SENT_SEED=%016llx\n", l, static_cast<unsigned long long>(sent_ok ? o.bytes : 0), l,
              static_cast<unsigned long long>(seed));
  std::printf("%s_RECEIVED=%llu\n%s_RECEIVED_SEED=%016llx\n%s_RECEIVED_BAD=%lld\n", l,
              static_cast<unsigned long long>(r.bytes), l, static_cast<unsigned long long>(r.seed), l,
              static_cast<long long>(r.first_bad));
  std::printf("%s_SECONDS=%.3f\n%s_MBITS=%.1f\n", l, secs, l, (o.bytes + r.bytes) * 8 / 1e6 / std::max(secs, 1e-9));
  std::printf("%s_RECEIVED_MAX_GAP_MS=%.1f\n%s_RECEIVED_MAX_GAP_AT_S=%.3f\n", l, r.max_gap_ms, l, r.max_gap_at_s);
  std::fflush(stdout);
  if (!sent_ok) std::fprintf(stderr, "franca-nettool: %s: sending failed: %s\n", l, std::strerror(errno));
  if (!r.ok) std::fprintf(stderr, "franca-nettool: %s: receiving failed: %s\n", l, std::strerror(errno));
  return sent_ok && r.ok && r.first_bad < 0 ? 0 : 1;
}

bool read_all(int fd, unsigned char* p, size_t len) {
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n, len -= static_cast<size_t>(n);
  }
  return true;
}

int rr_server(const Options& o) {
  int lfd = listen_on(o.addr, o.args[0]), one = 1;
  std::vector<unsigned char> buf(o.size);
  for (;;) {
    int fd = accept_one(lfd);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    while (read_all(fd, buf.data(), buf.size()) && write_all(fd, buf.data(), buf.size())) {
    }
    close(fd);
  }
}

int rr_client(const Options& o) {
  uint64_t secs = 0;
  if (!parse_u64(o.args[2].c_str(), secs) || secs == 0) {
    std::fprintf(stderr, "franca-nettool: rr-client: bad SECONDS %s\n", o.args[2].c_str());
    return 2;
  }
  int fd = connect_to(o.args[0], o.args[1], o.retry), one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::vector<unsigned char> buf(o.size, 0x5a);
  uint64_t n = 0;
  auto start = Clock::now(), until = start + std::chrono::seconds(secs);
  while (Clock::now() < until) {
    if (!write_all(fd, buf.data(), buf.size()) || !read_all(fd, buf.data(), buf.size())) die("rr-client");
    ++n;
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const char* l = o.label.c_str();
  std::printf("%s_TRANSACTIONS=%llu\n%s_TPS=%.1f\n%s_MEAN_US=%.1f\n", l, static_cast<unsigned long long>(n), l,
              n / elapsed, l, n ? elapsed * 1e6 / n : -1.0);
  close(fd);
  return 0;
}

[[noreturn]] void usage() {
  std::fputs(
      "usage: franca-nettool listen [-a ADDR] [-n BYTES] [-w SECS] [-l LABEL] [-t SECS] [-p] PORT\n"
      "       franca-nettool connect [-n BYTES] [-w SECS] [-l LABEL] [-t SECS] [-r SECS] [-p] HOST PORT\n"
      "       franca-nettool rr-server [-a ADDR] [-s SIZE] [-t SECS] PORT\n"
      "       franca-nettool rr-client [-s SIZE] [-l LABEL] [-t SECS] [-r SECS] HOST PORT SECONDS\n",
      stderr);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  uint64_t v = 0;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-p") {
      o.progress = true;
    } else if (a.size() == 2 && a[0] == '-' && i + 1 < argc) {
      const char* val = argv[++i];
      if (a == "-a") {
        o.addr = val;
      } else if (a == "-l") {
        o.label = val;
      } else if (!parse_u64(val, v)) {
        usage();
      } else if (a == "-n") {
        o.bytes = v;
      } else if (a == "-s" && v > 0 && v <= (1u << 20)) {
        o.size = static_cast<unsigned>(v);
      } else if ((a == "-t" || a == "-r" || a == "-w") && v <= 86400) {
        (a == "-t" ? o.timeout : a == "-r" ? o.retry : o.pace) = static_cast<unsigned>(v);
      } else {
        usage();
      }
    } else {
      o.args.push_back(a);
    }
  }
  return o;
}

void on_alarm(int) {
  static const char msg[] = "franca-nettool: timed out\n";
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
  _exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  std::string cmd = argv[1];
  Options o = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  alarm(o.timeout);
  size_t want = cmd == "listen" || cmd == "rr-server" ? 1 : cmd == "connect" ? 2 : cmd == "rr-client" ? 3 : 0;
  if (want == 0 || o.args.size() != want) usage();
  if (cmd == "listen") {
    int lfd = listen_on(o.addr, o.args[0]);
    int fd = accept_one(lfd);
    close(lfd);
    return transfer(fd, o);
  }
  if (cmd == "connect") return transfer(connect_to(o.args[0], o.args[1], o.retry), o);
  if (cmd == "rr-server") return rr_server(o);
  return rr_client(o);
}
