// PauseGate: where a run loop (a vCPU thread) parks while the control API has
// it paused, and how stop releases it; no KVM, so it is unit-tested on its own.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace franca {

class PauseGate {
 public:
  // `hold_off(true)` makes the loop's next blocking call return at once (KVM's
  // immediate_exit); `hold_off(false)` undoes it. Always called under the gate's lock,
  // so a stop can never be lost to a concurrent release from park().
  explicit PauseGate(std::function<void(bool)> hold_off) : hold_off_(std::move(hold_off)) {}

  // Controller side (any thread; one controller at a time).
  void request_pause();  // the loop parks at its next check
  void wait_parked();    // returns once the loop is parked or has finished
  // As wait_parked(), giving up after `timeout`: false when the loop is still
  // running then (stuck outside its blocking call, e.g. in a device handler).
  bool wait_parked_for(std::chrono::milliseconds timeout);
  void resume();  // returns once a parked loop has left park()
  void stop();    // the loop ends; releases park() for good

  // Loop side.
  void started();   // before the loop's first check
  void finished();  // when the loop returns
  bool should_park() const { return pause_requested_.load(std::memory_order_acquire); }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  // Blocks while a pause is requested and no stop is; returns with hold_off cleared
  // unless stopping.
  void park();

  bool parked() const;

 private:
  std::function<void(bool)> hold_off_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<bool> pause_requested_{false};
  std::atomic<bool> stopping_{false};
  bool parked_ = false;   // under mutex_
  bool running_ = false;  // under mutex_: between started() and finished()
};

}  // namespace franca
