// LoopThread: a running EventLoop on its own thread for tests (the vmm-io loop
// in miniature), with a bounded wait for conditions the loop makes true.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>

#include "vmm/core/event_loop.h"

namespace franca::testing {

// An EventLoop dispatching on a thread for the lifetime of the object.
class LoopThread {
 public:
  LoopThread() : loop_(std::move(*EventLoop::create())), thread_([this] { loop_->run(); }) {}
  ~LoopThread() { stop(); }
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  EventLoop& loop() { return *loop_; }
  // Stops dispatching but keeps the EventLoop alive: as in Vm, devices are
  // destroyed after the loop stopped and before the EventLoop object goes.
  void stop() {
    if (!thread_.joinable()) return;
    loop_->stop();
    thread_.join();
  }
  // Runs `fn` on the loop thread and waits for it.
  void sync(const std::function<void()>& fn) {
    std::promise<void> done;
    loop_->post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  std::unique_ptr<EventLoop> loop_;
  std::thread thread_;
};

// Polls `pred` for up to five seconds.
inline bool wait_until(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

}  // namespace franca::testing
