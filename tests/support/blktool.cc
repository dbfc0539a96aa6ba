// franca-blktool: the guest-side fsync writer and the host-side durability
// check of the block soak and durability cases (tests/integration), one static
// binary for the host and a guest's busybox initramfs alike.
//
//   franca-blktool write -w WRITER -b FIRST -r BLOCKS -n COUNT [-e EVERY] [-l LABEL] DEV
//     Writes COUNT 4 KiB blocks to DEV (a device, or a file it creates) with
//     O_DIRECT, an fsync after each one:
//     write i goes to block FIRST + i % BLOCKS and holds (magic, WRITER, i,
//     checksum) repeated. After every EVERY-th fsync (and the last) it prints
//     "LABEL_ACKED=i+1" (that many writes are acknowledged). Ends with
//     LABEL_DONE=COUNT, or LABEL_ERROR=errno text on a failed write or fsync.
//   franca-blktool verify -w WRITER -b FIRST -r BLOCKS -n ACKED IMG
//     Checks on the host that every one of the ACKED acknowledged writes is on
//     IMG: each block of the ring holds the newest acknowledged write aimed at it,
//     or a newer one (an unacknowledged write may have landed too). Prints the
//     first bad block and exits 1, or prints VERIFY_OK and exits 0.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr size_t kBlock = 4096;
constexpr uint64_t kMagic = 0x6b6c62616361726full;  // "francblk"

struct Options {
  uint64_t writer = 0, first = 0, blocks = 1, count = 0, every = 1;
  std::string label = "BLK", path;
};

struct Stamp {
  uint64_t magic, writer, seq, check;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: franca-blktool write -w WRITER -b FIRST -r BLOCKS -n COUNT [-e EVERY] [-l LABEL] DEV\n"
               "       franca-blktool verify -w WRITER -b FIRST -r BLOCKS -n ACKED IMG\n");
  std::exit(2);
}

uint64_t number(const char* s) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || !end || *end || end == s) usage();
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : (usage(), nullptr); };
    if (a == "-w")
      o.writer = number(next());
    else if (a == "-b")
      o.first = number(next());
    else if (a == "-r")
      o.blocks = number(next());
    else if (a == "-n")
      o.count = number(next());
    else if (a == "-e")
      o.every = number(next());
    else if (a == "-l")
      o.label = next();
    else if (o.path.empty() && a[0] != '-')
      o.path = a;
    else
      usage();
  }
  if (o.path.empty() || o.blocks == 0 || o.every == 0) usage();
  return o;
}

Stamp stamp_for(uint64_t writer, uint64_t seq) {
  return {kMagic, writer, seq, (writer * 0x9e3779b97f4a7c15ull) ^ (seq + 0x632be59bd9b4e019ull)};
}

void fill(uint8_t* block, const Stamp& s) {
  for (size_t off = 0; off < kBlock; off += sizeof(Stamp)) std::memcpy(block + off, &s, sizeof(Stamp));
}

int write_loop(const Options& o) {
  const int fd = open(o.path.c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0644);
  if (fd < 0) {
    std::printf("%s_ERROR=open: %s\n", o.label.c_str(), std::strerror(errno));
    return 1;
  }
  void* mem = nullptr;
  if (posix_memalign(&mem, kBlock, kBlock) != 0) return 1;
  auto* block = static_cast<uint8_t*>(mem);
  for (uint64_t i = 0; i < o.count; ++i) {
    fill(block, stamp_for(o.writer, i));
    const off_t at = static_cast<off_t>((o.first + i % o.blocks) * kBlock);
    if (pwrite(fd, block, kBlock, at) != static_cast<ssize_t>(kBlock) || fsync(fd) != 0) {
      std::printf("%s_ERROR=write %llu: %s\n", o.label.c_str(), static_cast<unsigned long long>(i),
                  std::strerror(errno));
      return 1;
    }
    if ((i + 1) % o.every == 0 || i + 1 == o.count) {
      std::printf("%s_ACKED=%llu\n", o.label.c_str(), static_cast<unsigned long long>(i + 1));
      std::fflush(stdout);
    }
  }
  std::printf("%s_DONE=%llu\n", o.label.c_str(), static_cast<unsigned long long>(o.count));
  return 0;
}

// The newest acknowledged write aimed at ring slot `r`, if any: the largest
// seq < acked with seq % blocks == r.
bool newest_acked(uint64_t acked, uint64_t blocks, uint64_t r, uint64_t& seq) {
  if (acked <= r) return false;
  seq = r + (acked - 1 - r) / blocks * blocks;
  return true;
}

int verify(const Options& o) {
  const int fd = open(o.path.c_str(), O_RDONLY);
  if (fd < 0) {
    std::printf("VERIFY_ERROR=open %s: %s\n", o.path.c_str(), std::strerror(errno));
    return 1;
  }
  uint8_t block[kBlock];
  for (uint64_t r = 0; r < o.blocks; ++r) {
    uint64_t want;
    if (!newest_acked(o.count, o.blocks, r, want)) continue;
    const off_t at = static_cast<off_t>((o.first + r) * kBlock);
    if (pread(fd, block, kBlock, at) != static_cast<ssize_t>(kBlock)) {
      std::printf("VERIFY_ERROR=short read at block %llu\n", static_cast<unsigned long long>(o.first + r));
      return 1;
    }
    Stamp s;
    std::memcpy(&s, block, sizeof(s));
    uint8_t expect[kBlock];
    fill(expect, stamp_for(o.writer, s.seq));
    const bool whole = std::memcmp(block, expect, kBlock) == 0 && s.writer == o.writer;
    if (!whole || s.seq < want || s.seq % o.blocks != r) {
      std::printf("VERIFY_ERROR=block %llu holds %s seq %llu, want seq >= %llu of writer %llu\n",
                  static_cast<unsigned long long>(o.first + r), whole ? "write" : "a torn or foreign block with",
                  static_cast<unsigned long long>(s.seq), static_cast<unsigned long long>(want),
                  static_cast<unsigned long long>(o.writer));
      return 1;
    }
  }
  std::printf("VERIFY_OK=%llu\n", static_cast<unsigned long long>(o.count));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  const std::string cmd = argv[1];
  const Options o = parse(argc, argv);
  if (cmd == "write") return write_loop(o);
  if (cmd == "verify") return verify(o);
  usage();
}
