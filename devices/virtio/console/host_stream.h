// One host fd of a console back-end on the vmm-io loop: guest output written
// without blocking the loop (bounded pending buffer, flushed on EPOLLOUT), host
// input read in chunks and paused while the console has no room for it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "vmm/core/event_loop.h"
#include "vmm/core/fd.h"

namespace franca::virtio {

class HostStream {
 public:
  // Accepts input bytes, returns how many it took (the rest is offered again on resume_input()).
  using InputFn = std::function<size_t(std::span<const uint8_t>)>;
  // The fd hung up or failed (loop thread); the owner may destroy the stream from a posted task.
  using ClosedFn = std::function<void()>;

  enum class Kind {
    kNonBlocking,  // our own fd with O_NONBLOCK (pty master, file, FIFO)
    kSocket,       // our own non-blocking socket: send() with MSG_NOSIGNAL
    kShared,       // an fd we share and must leave blocking (stdout): poll-gated small writes
  };
  static constexpr size_t kOutputCapacity = 64 * 1024;
  static constexpr size_t kReadChunk = 4096;
  static constexpr size_t kSharedChunk = 512;  // small enough that a writable tty or pipe takes it at once

  // `owned` may be invalid for a shared fd (then `fd` is borrowed). No input when `on_input` is empty.
  HostStream(Kind kind, int fd, Fd owned, InputFn on_input, ClosedFn on_closed);
  ~HostStream();
  HostStream(const HostStream&) = delete;
  HostStream& operator=(const HostStream&) = delete;

  // Starts watching the fd on `loop` (input, and output once some is pending).
  void attach(EventLoop& loop);
  // Off the loop for good (loop thread): no callback runs after it.
  void detach();
  // Guest output (loop thread). What neither the fd nor the pending buffer takes is dropped.
  void write(std::span<const uint8_t> bytes);
  // The consumer has room again: offer held input, then read the fd again.
  void resume_input();

  uint64_t dropped_output() const { return dropped_output_.load(std::memory_order_relaxed); }
  bool closed() const { return closed_; }

 private:
  // Writes what the fd takes now; returns the count, marks the stream closed on a hard error.
  size_t write_now(std::span<const uint8_t> bytes);
  void on_events(uint32_t events);
  void read_input();
  void flush_pending();
  bool offer_held();
  void close_stream();
  void update_watch();

  Kind kind_;
  int fd_;
  Fd owned_;
  InputFn on_input_;
  ClosedFn on_closed_;
  EventLoop* loop_ = nullptr;
  uint32_t watched_ = 0;  // events currently registered on the loop
  EventLoop::Watch watch_;
  bool pollable_ = true;  // false once epoll refused the fd (a regular file)
  bool closed_ = false;
  bool input_paused_ = false;
  std::vector<uint8_t> pending_;             // output not yet written
  std::vector<uint8_t> held_;                // input read but not yet accepted
  std::atomic<uint64_t> dropped_output_{0};  // read by other threads for counters
};

}  // namespace franca::virtio
