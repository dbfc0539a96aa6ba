// The shared virtio device session: kick watches, posted work that dies with
// the activation, and the one ring-failure path (virtio 1.x §2.1.2 NEEDS_RESET).
#include "devices/virtio/device_session.h"

#include <spdlog/spdlog.h>

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
      on_fail_(std::move(options.on_fail)) {}

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
