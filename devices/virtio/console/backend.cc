// The stdio, pty, file and none console back-ends and the factory for all of them.
#include "devices/virtio/console/backend.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devices/virtio/console/console.h"

namespace franca::virtio {
namespace {

// Output to our stdout; input arrives through Console::input() from the VMM.
class StdioBackend final : public Backend {
 public:
  StdioBackend() : out_(HostStream::Kind::kShared, STDOUT_FILENO, Fd(), nullptr, nullptr) {}
  Result<void> start(EventLoop& loop, InputFn) override {
    out_.attach(loop);
    return {};
  }
  void write(std::span<const uint8_t> bytes) override { out_.write(bytes); }
  std::optional<WindowSize> window_size() const override {
    winsize ws{};
    if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0) return std::nullopt;
    if (ws.ws_col == 0 || ws.ws_row == 0) return std::nullopt;
    return WindowSize{ws.ws_col, ws.ws_row};
  }
  uint64_t dropped_output() const override { return out_.dropped_output(); }
  void stop() override { out_.detach(); }

 private:
  HostStream out_;
};

// Output to a file (truncated at start); no input.
class FileBackend final : public Backend {
 public:
  FileBackend(int raw, Fd fd, std::string path)
      : path_(std::move(path)), out_(HostStream::Kind::kNonBlocking, raw, std::move(fd), nullptr, nullptr) {}
  Result<void> start(EventLoop& loop, InputFn) override {
    out_.attach(loop);
    return {};
  }
  void write(std::span<const uint8_t> bytes) override { out_.write(bytes); }
  std::string host_path() const override { return path_; }
  uint64_t dropped_output() const override { return out_.dropped_output(); }
  void stop() override { out_.detach(); }

 private:
  std::string path_;
  HostStream out_;
};

class NoneBackend final : public Backend {
 public:
  Result<void> start(EventLoop&, InputFn) override { return {}; }
  void write(std::span<const uint8_t>) override {}
};

// A pseudo-terminal in raw mode. We keep the slave open ourselves so the master
// never reports a hang-up while no user is attached (output then waits in the
// pty, then in the pending buffer, then is dropped).
class PtyBackend final : public Backend {
 public:
  PtyBackend(Fd master, Fd slave, std::string path)
      : slave_(std::move(slave)), path_(std::move(path)), master_fd_(master.get()), master_(std::move(master)) {}
  Result<void> start(EventLoop& loop, InputFn on_input) override {
    stream_ = std::make_unique<HostStream>(HostStream::Kind::kNonBlocking, master_fd_, std::move(master_),
                                           std::move(on_input), nullptr);
    stream_->attach(loop);
    return {};
  }
  void write(std::span<const uint8_t> bytes) override {
    if (stream_) stream_->write(bytes);
  }
  void resume_input() override {
    if (stream_) stream_->resume_input();
  }
  std::string host_path() const override { return path_; }
  uint64_t dropped_output() const override { return stream_ ? stream_->dropped_output() : 0; }
  void stop() override {
    if (stream_) stream_->detach();
  }

 private:
  Fd slave_;
  std::string path_;
  int master_fd_;
  Fd master_;  // moved into stream_ at start()
  std::unique_ptr<HostStream> stream_;
};

Result<std::unique_ptr<Backend>> create_file_backend(const std::string& path) {
  // O_NONBLOCK: a FIFO without a reader fails here instead of hanging the VMM.
  Fd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644));
  if (!fd.valid()) return usage_error(fmt::format("--console file:{}: {}", path, std::strerror(errno)));
  const int raw = fd.get();
  return std::make_unique<FileBackend>(raw, std::move(fd), path);
}

Result<std::unique_ptr<Backend>> create_pty_backend(const std::string& id) {
  Fd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master.valid()) return errno_error("--console pty: posix_openpt");
  if (grantpt(master.get()) < 0 || unlockpt(master.get()) < 0) return errno_error("--console pty: grantpt/unlockpt");
  char name[128];
  if (ptsname_r(master.get(), name, sizeof(name)) != 0) return errno_error("--console pty: ptsname");
  Fd slave(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave.valid()) return errno_error(fmt::format("--console pty: open {}", name));
  termios tio{};
  if (tcgetattr(slave.get(), &tio) < 0) return errno_error("--console pty: tcgetattr");
  cfmakeraw(&tio);
  if (tcsetattr(slave.get(), TCSANOW, &tio) < 0) return errno_error("--console pty: tcsetattr");
  const int flags = fcntl(master.get(), F_GETFL);
  if (flags < 0 || fcntl(master.get(), F_SETFL, flags | O_NONBLOCK) < 0) return errno_error("--console pty: fcntl");
  spdlog::warn("{}: pty {}", id, name);  // warn: the user needs to see where to attach
  return std::make_unique<PtyBackend>(std::move(master), std::move(slave), name);
}

}  // namespace

Result<std::unique_ptr<Backend>> create_backend(const ConsoleConfig& config, const std::string& id) {
  switch (config.mode) {
    case ConsoleConfig::Mode::kStdio:
      return std::make_unique<StdioBackend>();
    case ConsoleConfig::Mode::kPty:
      return create_pty_backend(id);
    case ConsoleConfig::Mode::kFile:
      return create_file_backend(config.path);
    case ConsoleConfig::Mode::kSocket:
      return create_socket_backend(config.path, id);
    case ConsoleConfig::Mode::kNone:
      return std::make_unique<NoneBackend>();
  }
  return usage_error("--console: unknown back-end");
}

}  // namespace franca::virtio
