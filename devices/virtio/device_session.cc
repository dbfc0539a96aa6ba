// The shared virtio device session: kick watches, posted work that dies with
// the activation, and the one ring-failure path (virtio 1.x §2.1.2 NEEDS_RESET).
#include "devices/virtio/device_session.h"

#include <spdlog/spdlog.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>

#include "vmm/core/fd.h"
#include "vmm/core/log.h"

namespace franca::virtio {

Result<EventLoop::Watch> watch_kick(EventLoop& loop, int kick_fd, std::atomic<uint64_t>* kicks,
                                    std::function<void()> on_kick) {
  return loop.add(kick_fd, EPOLLIN, [kick_fd, kicks, on_kick = std::move(on_kick)](uint32_t) {
    eventfd_drain(kick_fd);
    if (kicks) kicks->fetch_add(1, std::memory_order_relaxed);
    on_kick();
  });
}

DeviceSession::DeviceSession(const DeviceContext& ctx, Options options)
    : loop_(ctx.loop),
      ctx_fail_(ctx.fail),
      id_(options.id),
      counters_(options.counters),
      count_kicks_(options.count_kicks),
      on_fail_(std::move(options.on_fail)),
      stall_after_(options.stall_after) {}

Result<void> DeviceSession::watch_kick(int kick_fd, std::function<void()> on_kick) {
  auto watch = virtio::watch_kick(*loop_, kick_fd, count_kicks_ ? &counters_->kicks : nullptr, std::move(on_kick));
  if (!watch) return std::unexpected(watch.error());
  kicks_.push_back(std::move(*watch));
  return {};
}

void DeviceSession::post(std::function<void()> fn) {
  // Destroyed and posted-to on the loop thread only, so the check cannot race.
  loop_->post([alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)] {
    if (alive.lock()) fn();
  });
}

Result<void> DeviceSession::watch_timer(std::chrono::milliseconds period, std::function<void()> fn) {
  Fd timer(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer.valid()) return errno_error(fmt::format("{}: timerfd_create", id_));
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::max(period, std::chrono::milliseconds(1)));
  const timespec every{.tv_sec = static_cast<time_t>(ns.count() / 1000000000),
                       .tv_nsec = static_cast<long>(ns.count() % 1000000000)};
  const itimerspec spec{.it_interval = every, .it_value = every};
  if (timerfd_settime(timer.get(), 0, &spec, nullptr) != 0) return errno_error(fmt::format("{}: timerfd_settime", id_));
  const int fd = timer.get();
  auto watch = loop_->add(fd, EPOLLIN, [fd, fn = std::move(fn)](uint32_t) {
    uint64_t expirations;
    if (read(fd, &expirations, sizeof expirations) == sizeof expirations) fn();
  });
  if (!watch) return std::unexpected(watch.error());
  timers_.emplace_back(std::move(timer), std::move(*watch));
  return {};
}

Result<void> DeviceSession::watch_stalls(std::vector<StallWatch::Tracked> queues) {
  if (stalls_) return {};
  stalls_.emplace(id_, counters_, stall_after_);
  for (auto& q : queues) stalls_->track(std::move(q));
  return watch_timer(std::max(stall_after_ / 4, std::chrono::milliseconds(1)), [this] {
    if (!failed_) stalls_->check(StallWatch::Clock::now());
  });
}

std::vector<std::string> DeviceSession::describe_queues() const {
  if (!stalls_) return {};
  auto lines = stalls_->describe(StallWatch::Clock::now());
  if (failed_) lines.insert(lines.begin(), "failed: needs a reset (the queues are no longer served)");
  return lines;
}

void DeviceSession::fail(std::string_view why) {
  if (failed_) return;
  failed_ = true;
  counters_->ring_errors.fetch_add(1, std::memory_order_relaxed);
  FRANCA_WARN_RATELIMITED("{}: {}; the device needs a reset", id_, why);
  kicks_.clear();
  if (on_fail_) on_fail_();
  if (ctx_fail_) ctx_fail_(why);
}

}  // namespace franca::virtio
