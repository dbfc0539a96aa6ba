// What every virtio device's data path is built from, for one activation
// (DRIVER_OK until reset): kick watches, the drain idiom of virtio 1.x §2.7.7 /
// §2.7.10 (notification suppression), and the one ring-failure path (§2.1.2).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "devices/virtio/device.h"
#include "devices/virtio/stall_watch.h"
#include "vmm/core/fd.h"

namespace franca::virtio {

// Registers the eventfd `kick_fd` on `loop`; on a kick its counter is cleared,
// `kicks` (when not null) counted and `on_kick` called. Also for self-kicks.
Result<EventLoop::Watch> watch_kick(EventLoop& loop, int kick_fd, std::atomic<uint64_t>* kicks,
                                    std::function<void()> on_kick);

// What one drain() pass did.
struct Drained {
  size_t chains = 0;                  // popped and handed to the handler
  bool more = false;                  // stopped at the budget with chains left: reposted
  bool stopped = false;               // no slot, or the handler said stop: kicks stay off
  std::optional<QueueError> error{};  // ring corruption: the caller fails the device
};

// How a pass ends: who is signalled, and how the rest is picked up later.
struct DrainEnd {
  Interrupt* interrupt = nullptr;  // null: the caller signals (block: on completion)
  uint16_t index = 0;              // the queue, for the used-buffer signal
  std::function<void()> repost{};  // over budget: come back later (post or self-kick)
};

// The notification idiom, written once: disable kicks, pop and handle up to
// `budget` chains, re-enable, and go again if buffers arrived in between; then
// signal if the driver wants it, and repost when over budget so one busy queue
// cannot starve the loop. `next_slot()` says where to pop the next chain (null:
// every slot is in flight; the pass stops with kicks off until the caller
// resumes it); `handle(chain)` returns false to stop the pass (the device failed).
// `Q` is a Queue (a template so unit tests can script one).
template <class Q, class Slot, class Handle>
Drained drain(Q& q, size_t budget, const DrainEnd& end, Slot&& next_slot, Handle&& handle) {
  Drained d;
  for (;;) {
    q.disable_notifications();
    while (d.chains < budget) {
      DescriptorChain* chain = next_slot();
      if (!chain) {
        d.stopped = true;
        return d;
      }
      const auto popped = q.pop(*chain);
      if (!popped) {
        d.error = popped.error();
        return d;
      }
      if (!*popped) break;
      ++d.chains;
      if (!handle(*chain)) {
        d.stopped = true;
        return d;
      }
    }
    // enable_notifications() publishes avail_event / the enable flag and then
    // re-reads the avail index behind the queue core's fence (paired with the
    // driver's barrier between its avail write and its flag read): a chain that
    // raced the enable is seen here instead of waiting for a kick never sent.
    if (!q.enable_notifications()) break;
    if (d.chains >= budget) {
      d.more = true;
      break;
    }
  }
  if (d.chains && end.interrupt && q.should_signal()) end.interrupt->signal_used(end.index);
  if (d.more && end.repost) end.repost();
  return d;
}

// The same with one chain reused for every pop.
template <class Q, class Handle>
Drained drain(Q& q, size_t budget, const DrainEnd& end, Handle&& handle) {
  DescriptorChain chain;
  return drain(
      q, budget, end, [&chain] { return &chain; }, handle);
}

// One activation's kicks, posted work and failure. Loop thread only.
class DeviceSession {
 public:
  struct Options {
    std::string_view id{};               // "blk0": logs
    DeviceCounters* counters = nullptr;  // kicks, ring_errors
    bool count_kicks = true;
    std::function<void()> on_fail{};  // device-specific stopping, before ctx.fail
    // watch_stalls(): how long a queue the driver waits on may go without progress.
    std::chrono::milliseconds stall_after = kDefaultStallAfter;
  };
  static constexpr std::chrono::milliseconds kDefaultStallAfter{20000};
  DeviceSession(const DeviceContext& ctx, Options options);

  // Watches a queue's kick eventfd until unwatch_kicks(), fail() or destruction.
  Result<void> watch_kick(int kick_fd, std::function<void()> on_kick);
  void unwatch_kicks() { kicks_.clear(); }
  // Runs `fn` on the loop soon, unless this session is destroyed first.
  void post(std::function<void()> fn);
  // Runs `fn` on the loop every `period` (a timerfd) until this session goes.
  Result<void> watch_timer(std::chrono::milliseconds period, std::function<void()> fn);

  // Watches `queues` for stalls (StallWatch) on a timer of a quarter of
  // Options::stall_after, and describes them for describe_queues(). Once.
  Result<void> watch_stalls(std::vector<StallWatch::Tracked> queues);
  std::vector<std::string> describe_queues() const;

  // Ring corruption or another fatal device error (STYLE.md "Errors"): counts a
  // ring error, logs once (rate-limited), unregisters the kicks, runs on_fail
  // and sets NEEDS_RESET through ctx.fail. Only the first call acts.
  void fail(std::string_view why);
  bool failed() const { return failed_; }

 private:
  EventLoop* loop_;
  std::function<void(std::string_view)> ctx_fail_;
  std::string id_;
  DeviceCounters* counters_;
  bool count_kicks_;
  std::function<void()> on_fail_;
  std::vector<EventLoop::Watch> kicks_;
  std::vector<std::pair<Fd, EventLoop::Watch>> timers_;
  std::chrono::milliseconds stall_after_;
  std::optional<StallWatch> stalls_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // posted work holds it weakly
  bool failed_ = false;
};

}  // namespace franca::virtio
