// The `api` thread: poll over a stop eventfd, the listener and the clients;
// line framing with a length cap and per-client output back-pressure.
#include "vmm/api/api_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <chrono>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/api/dispatch.h"
#include "vmm/api/unix_socket.h"
#include "vmm/core/log.h"
#include "vmm/core/thread.h"

namespace franca::api {
namespace {

constexpr size_t kReadChunk = 16 * 1024;

// One connected client: bytes in, each complete line answered in order, replies out.
class Client {
 public:
  explicit Client(Fd fd) : fd_(std::move(fd)) {}

  int fd() const { return fd_.get(); }
  short events() const {
    short e = 0;
    if (wants_input()) e |= POLLIN;
    if (!out_.empty()) e |= POLLOUT;
    return e;
  }
  // Reads, answers and writes what it can; false once the client is finished.
  bool service(short revents, ApiTarget& target) {
    if (revents & (POLLERR | POLLNVAL)) return false;
    if (wants_input() && (revents & (POLLIN | POLLHUP)) && !read_input()) return false;
    do {
      answer(target);
      if (!flush()) return false;
    } while (out_.empty() && has_request());
    return !((eof_ || closing_) && out_.empty() && !has_request());
  }
  // Writes what the socket takes now; false on a dead peer.
  bool flush() {
    while (!out_.empty()) {
      const ssize_t n = send(fd_.get(), out_.data(), out_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno == EAGAIN;
      out_.erase(0, static_cast<size_t>(n));
    }
    return true;
  }

 private:
  bool wants_input() const { return !eof_ && !closing_ && out_.size() < ApiServer::kMaxPending; }
  // A complete line, or the unterminated rest once the client has half-closed.
  bool has_request() const { return !closing_ && (in_.find('\n') != std::string::npos || (eof_ && !in_.empty())); }

  bool read_input() {
    char buf[kReadChunk];
    const ssize_t n = recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    if (n == 0) eof_ = true;
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }

  // Answers buffered requests until the output is backed up.
  void answer(ApiTarget& target) {
    while (out_.size() < ApiServer::kMaxPending && has_request()) {
      size_t end = in_.find('\n');
      if (end == std::string::npos) end = in_.size();
      if (end > ApiServer::kMaxLine) return reject_overlong();
      std::string_view line(in_.data(), end);
      if (line.ends_with('\r')) line.remove_suffix(1);
      if (!line.empty()) out_ += reply_line(handle_request(target, line));
      in_.erase(0, std::min(end + 1, in_.size()));
    }
    if (!closing_ && in_.find('\n') == std::string::npos && in_.size() > ApiServer::kMaxLine) reject_overlong();
  }

  void reject_overlong() {
    out_ += reply_line(error_reply(fmt::format("request line longer than {} bytes; closing", ApiServer::kMaxLine)));
    in_.clear();
    closing_ = true;
  }

  Fd fd_;
  std::string in_;
  std::string out_;
  bool eof_ = false;      // the client shut down its sending side
  bool closing_ = false;  // answered with a final error; close once it is sent
};

// Accepts every pending connection; past kMaxClients a connection gets one error line.
// Returns false when accept ran out of fds (the caller backs off instead of spinning).
bool accept_clients(int listener, std::vector<Client>& clients) {
  for (;;) {
    Fd fd(accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        FRANCA_WARN_RATELIMITED("api: accept: {}", std::strerror(errno));
        return false;
      }
      return true;  // EAGAIN, or a client that already left
    }
    if (clients.size() >= ApiServer::kMaxClients) {
      const std::string line =
          reply_line(error_reply(fmt::format("too many clients ({}); try again later", ApiServer::kMaxClients)));
      [[maybe_unused]] ssize_t n = send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      continue;
    }
    spdlog::debug("api: client connected");
    clients.emplace_back(std::move(fd));
  }
}

}  // namespace

Result<std::unique_ptr<ApiServer>> ApiServer::create(const std::string& path) {
  const std::string what = fmt::format("--api-socket {}", path);
  auto listener = listen_owner_only(path, what);
  if (!listener) return std::unexpected(listener.error());
  struct stat st {};
  if (lstat(path.c_str(), &st) < 0) return errno_error(what);
  Fd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) {
    unlink(path.c_str());
    return errno_error(what + ": eventfd");
  }
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(*listener), std::move(wake), path, st.st_ino));
}

ApiServer::~ApiServer() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  listener_.reset();
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0 && st.st_ino == inode_) unlink(path_.c_str());
}

void ApiServer::start(ApiTarget& target) {
  // A fenced exception ends only the control socket; the guest runs on.
  thread_ = start_thread({.name = "api", .fault_effect = "the control socket is closed"},
                         [this, &target](std::stop_token stop) { serve(stop, target); });
}

void ApiServer::serve(std::stop_token stop, ApiTarget& target) {
  std::stop_callback on_stop(stop, [this] {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof(one));
  });
  std::vector<Client> clients;
  std::vector<pollfd> fds;
  bool accepting = true;  // false for one short poll after accept ran out of fds
  while (!stop.stop_requested()) {
    fds.assign({{wake_.get(), POLLIN, 0}, {listener_.get(), static_cast<short>(accepting ? POLLIN : 0), 0}});
    for (const Client& c : clients) fds.push_back({c.fd(), c.events(), 0});
    const int ready = poll(fds.data(), fds.size(), accepting ? -1 : 100);
    if (ready < 0 && errno != EINTR) {
      spdlog::error("api: poll: {}", std::strerror(errno));
      return;
    }
    if (ready <= 0) {
      accepting = true;
      continue;
    }
    std::vector<Client> kept;
    for (size_t i = 0; i < clients.size(); ++i) {
      const short revents = fds[i + 2].revents;
      if (revents == 0 || clients[i].service(revents, target)) kept.push_back(std::move(clients[i]));
    }
    clients = std::move(kept);
    if (fds[1].revents & POLLIN) accepting = accept_clients(listener_.get(), clients);
  }
  for (Client& c : clients) c.flush();  // best effort, e.g. the reply to `shutdown`
}

}  // namespace franca::api
