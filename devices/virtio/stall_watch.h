// Finds a queue whose driver is waiting on the device and nothing moves: buffers
// published but never taken (a lost kick, a loop that stopped serving it), or
// taken and never returned (a back-end request that never completed). Either
// looks, from outside, exactly like a guest that stopped — this says which, once
// per stall, with the ring's state (Queue::describe_state), and counts it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "devices/virtio/device.h"

namespace franca::virtio {

class StallWatch {
 public:
  using Clock = std::chrono::steady_clock;

  struct Tracked {
    uint16_t index = 0;       // the queue's number on the device
    std::string_view role{};  // "requests", "rx", "tx", "ctrl", ... (a literal)
    const Queue* queue = nullptr;
    // Whether the driver expects the device to take its buffers as soon as it
    // publishes them (request queues). Receive queues, whose buffers wait for
    // input by design, and queues whose buffers the device holds on purpose
    // (balloon statistics) are described but never reported as stalled.
    bool prompt = true;
    // Whether this process serves the queue now (false: handed to vhost, or
    // stopped); a queue not served here is neither watched nor described.
    std::function<bool()> served_here{};
  };

  // `after`: how long a waiting queue may go without progress before it is
  // reported. `counters->stalls` counts reports.
  StallWatch(std::string_view id, DeviceCounters* counters, std::chrono::milliseconds after)
      : id_(id), counters_(counters), after_(after) {}

  void track(Tracked queue);
  // One look at every tracked queue at `now`. On the queues' loop thread.
  // Returns how many stalls this look reported (new ones only).
  size_t check(Clock::time_point now);
  // One line per tracked queue served here: role, index, ring state, and how
  // long it has been waiting without progress, if it is.
  std::vector<std::string> describe(Clock::time_point now) const;

 private:
  struct Entry {
    Tracked tracked;
    uint16_t last_avail = 0, last_used = 0;
    bool waiting = false;       // buffers available or outstanding at the last look
    Clock::time_point since{};  // when the current wait without progress began
    bool reported = false;
  };

  std::string id_;
  DeviceCounters* counters_;
  std::chrono::milliseconds after_;
  std::vector<Entry> entries_;
};

}  // namespace franca::virtio
