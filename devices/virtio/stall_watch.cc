// StallWatch: a queue the driver waits on that makes no progress, reported once.
#include "devices/virtio/stall_watch.h"

#include <spdlog/spdlog.h>

#include "vmm/core/log.h"

namespace franca::virtio {

namespace {
bool served(const StallWatch::Tracked& t) { return t.queue && (!t.served_here || t.served_here()); }

int64_t seconds(StallWatch::Clock::duration d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); }
}  // namespace

void StallWatch::track(Tracked queue) { entries_.push_back({.tracked = std::move(queue)}); }

size_t StallWatch::check(Clock::time_point now) {
  size_t reported = 0;
  for (Entry& e : entries_) {
    const Tracked& t = e.tracked;
    if (!served(t) || !t.prompt) {
      e.waiting = false;
      e.reported = false;
      continue;
    }
    const Queue& q = *t.queue;
    const uint16_t avail = q.next_avail(), used = q.next_used();
    const bool available = q.has_available(), outstanding = q.has_outstanding();
    const bool moved = avail != e.last_avail || used != e.last_used;
    e.last_avail = avail;
    e.last_used = used;
    if (!(available || outstanding)) {  // nothing waits on the device: idle, not stalled
      if (e.reported) spdlog::info("{}: queue {} ({}) is idle again", id_, t.index, t.role);
      e.waiting = e.reported = false;
      continue;
    }
    if (!e.waiting || moved) {
      if (e.reported && moved) {
        spdlog::info("{}: queue {} ({}) moves again after {} s", id_, t.index, t.role, seconds(now - e.since));
      }
      e.waiting = true;
      e.reported = false;
      e.since = now;
      continue;
    }
    if (e.reported || now - e.since < after_) continue;
    e.reported = true;
    ++reported;
    if (counters_) counters_->stalls.fetch_add(1, std::memory_order_relaxed);
    const char* what = available && outstanding ? "buffers published and not taken, and taken ones not returned"
                       : available ? "buffers published and not taken (a lost kick, or the device stopped serving it)"
                                   : "buffers taken and not returned (a request that never completed)";
    FRANCA_WARN_RATELIMITED("{}: queue {} ({}) stalled: no progress for {} s with {}; {}", id_, t.index, t.role,
                            seconds(now - e.since), what, q.describe_state());
  }
  return reported;
}

std::vector<std::string> StallWatch::describe(Clock::time_point now) const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) {
    const Tracked& t = e.tracked;
    if (!served(t)) continue;
    std::string line = fmt::format("queue {} ({}): {}", t.index, t.role, t.queue->describe_state());
    if (t.prompt && e.waiting)
      line += fmt::format("; waiting on the device, no progress for {} s", seconds(now - e.since));
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace franca::virtio
