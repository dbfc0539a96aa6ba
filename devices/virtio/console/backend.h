// Console back-ends: where guest output goes and host input comes from —
// stdio, pty, file:PATH, socket:PATH, none. Everything runs on the vmm-io loop
// (the stdio input is read by the VMM, which owns the terminal).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "devices/virtio/console/host_stream.h"
#include "vmm/core/error.h"
#include "vmm/core/event_loop.h"

namespace franca::virtio {

struct ConsoleConfig;

struct WindowSize {
  uint16_t cols;
  uint16_t rows;
};

class Backend {
 public:
  using InputFn = HostStream::InputFn;
  virtual ~Backend() = default;

  // Registers the back-end's fds on `loop`; host input goes to `on_input` on the loop thread.
  virtual Result<void> start(EventLoop& loop, InputFn on_input) = 0;
  // Guest output (loop thread); never blocks the loop for long, drops what the host cannot take.
  virtual void write(std::span<const uint8_t> bytes) = 0;
  // The console has room for input again after refusing some.
  virtual void resume_input() {}
  // The host terminal's size, when the back-end has one.
  virtual std::optional<WindowSize> window_size() const { return std::nullopt; }
  // What a user attaches to: the pty slave, the socket or the file; empty otherwise.
  virtual std::string host_path() const { return {}; }
  virtual uint64_t dropped_output() const { return 0; }
  // Unregisters everything start() put on the loop (loop thread): no callback
  // of the back-end runs after it (a console leaving a running VM).
  virtual void stop() {}
};

// Opens the back-end `config` names; bad paths are usage errors naming --console. `id` prefixes logs.
Result<std::unique_ptr<Backend>> create_backend(const ConsoleConfig& config, const std::string& id);
// A unix stream socket server at `path` (owner-only), one client at a time.
Result<std::unique_ptr<Backend>> create_socket_backend(const std::string& path, const std::string& id);

}  // namespace franca::virtio
