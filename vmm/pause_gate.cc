// PauseGate: the park/release handshake between the control API and a run loop.
#include "vmm/pause_gate.h"

namespace franca {

void PauseGate::request_pause() {
  std::lock_guard lock(mutex_);
  pause_requested_.store(true, std::memory_order_release);
  hold_off_(true);  // a loop about to block returns at once and sees the request
}

void PauseGate::wait_parked() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return parked_ || !running_; });
}

bool PauseGate::wait_parked_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [this] { return parked_ || !running_; });
}

void PauseGate::resume() {
  std::unique_lock lock(mutex_);
  pause_requested_.store(false, std::memory_order_release);
  // A pause that never took hold (wait_parked_for gave up): undo its hold-off
  // here, or every later blocking call would return at once. A parked loop
  // clears it itself when it leaves park().
  if (!parked_ && !stopping()) hold_off_(false);
  cv_.notify_all();
  cv_.wait(lock, [this] { return !parked_ || !running_; });
}

void PauseGate::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true, std::memory_order_release);
    hold_off_(true);
  }
  cv_.notify_all();
}

void PauseGate::started() {
  std::lock_guard lock(mutex_);
  running_ = true;
}

void PauseGate::finished() {
  {
    std::lock_guard lock(mutex_);
    running_ = false;
    parked_ = false;
  }
  cv_.notify_all();
}

void PauseGate::park() {
  std::unique_lock lock(mutex_);
  parked_ = true;
  cv_.notify_all();
  cv_.wait(lock, [this] { return !should_park() || stopping(); });
  if (!stopping()) hold_off_(false);  // under the lock: a concurrent stop() re-sets it after us
  parked_ = false;
  cv_.notify_all();
}

bool PauseGate::parked() const {
  std::lock_guard lock(mutex_);
  return parked_;
}

}  // namespace franca
