// The socket:PATH console back-end: a unix stream socket server (owner-only
// permissions) serving one client at a time; later clients wait in the backlog.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devices/virtio/console/backend.h"

namespace franca::virtio {
namespace {

class SocketBackend final : public Backend {
 public:
  SocketBackend(Fd listener, std::string path, std::string id)
      : listener_(std::move(listener)), path_(std::move(path)), id_(std::move(id)) {}
  ~SocketBackend() override {
    client_.reset();
    listening_.reset();
    unlink(path_.c_str());
  }

  Result<void> start(EventLoop& loop, InputFn on_input) override {
    loop_ = &loop;
    on_input_ = std::move(on_input);
    return listen_for_client();
  }
  void write(std::span<const uint8_t> bytes) override {
    if (client_) {
      client_->write(bytes);
    } else {
      dropped_ += bytes.size();  // nobody connected: output is dropped
    }
  }
  void resume_input() override {
    if (client_) client_->resume_input();
  }
  std::string host_path() const override { return path_; }
  uint64_t dropped_output() const override { return dropped_ + (client_ ? client_->dropped_output() : 0); }
  void stop() override {
    listening_.reset();
    if (client_) client_->detach();
    stopped_ = true;
  }

 private:
  Result<void> listen_for_client() {
    auto r = loop_->add(listener_.get(), EPOLLIN, [this](uint32_t) { accept_client(); });
    if (!r) return std::unexpected(r.error());
    listening_ = std::move(*r);
    return {};
  }

  void accept_client() {
    Fd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) return;  // EAGAIN or the client already left
    listening_.reset();       // one client at a time
    const int raw = fd.get();
    client_ = std::make_unique<HostStream>(HostStream::Kind::kSocket, raw, std::move(fd), on_input_,
                                           [this] { loop_->post([this] { drop_client(); }); });
    client_->attach(*loop_);
    spdlog::info("{}: client connected on {}", id_, path_);
  }

  // Posted from the stream's close callback, so the stream is not destroyed under itself.
  void drop_client() {
    if (stopped_ || !client_ || !client_->closed()) return;
    dropped_ += client_->dropped_output();
    client_.reset();
    spdlog::info("{}: client left {}", id_, path_);
    if (auto r = listen_for_client(); !r) spdlog::warn("{}: {}", id_, r.error().message);
  }

  Fd listener_;
  std::string path_;
  std::string id_;
  EventLoop* loop_ = nullptr;
  InputFn on_input_;
  EventLoop::Watch listening_;  // the listener, while no client is connected
  std::unique_ptr<HostStream> client_;
  bool stopped_ = false;  // stop() ran: nothing goes back on the loop
  uint64_t dropped_ = 0;
};

// A socket file left behind by a process that is gone refuses connections; remove it.
void remove_stale_socket(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) < 0 || !S_ISSOCK(st.st_mode)) return;
  Fd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (probe.valid() && connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 &&
      errno == ECONNREFUSED) {
    unlink(path.c_str());
  }
}

}  // namespace

Result<std::unique_ptr<Backend>> create_socket_backend(const std::string& path, const std::string& id) {
  const std::string what = fmt::format("--console socket:{}", path);
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return usage_error(fmt::format("{}: path must be 1 to {} bytes", what, sizeof(addr.sun_path) - 1));
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno_error(what + ": socket");
  // Linux creates the socket file with the socket inode's mode (less the umask): owner-only from the start.
  if (fchmod(fd.get(), 0600) < 0) return errno_error(what + ": fchmod");
  remove_stale_socket(path);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    return usage_error(fmt::format("{}: {}", what, std::strerror(errno)));
  }
  if (chmod(path.c_str(), 0600) < 0 || listen(fd.get(), 1) < 0) {
    const int saved = errno;
    unlink(path.c_str());
    return host_error(fmt::format("{}: {}", what, std::strerror(saved)));
  }
  return std::make_unique<SocketBackend>(std::move(fd), path, id);
}

}  // namespace franca::virtio
