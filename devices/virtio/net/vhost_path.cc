// vhost-net data path for one virtio-net queue pair (virtio-notes.md §6.2, §6.5).
#include "devices/virtio/net/vhost_path.h"

#include <sys/eventfd.h>
#include <unistd.h>

#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>

#include <cstddef>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace franca::virtio {
namespace {

Result<Fd> new_eventfd() {
  Fd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd.valid()) return errno_error("eventfd for vhost-net");
  return fd;
}

vhost::VringSetup setup_for(const ActiveQueue& q, int call_fd, int err_fd) {
  const QueueConfig& c = q.queue.config();
  return {.size = q.queue.size(),
          .desc_gpa = c.desc,
          .avail_gpa = c.driver,
          .used_gpa = c.device,
          .next_avail = q.queue.next_avail(),
          .kick_fd = q.kick_fd,
          .call_fd = call_fd,
          .err_fd = err_fd};
}

}  // namespace

Result<std::unique_ptr<VhostPath>> VhostPath::create(PairContext ctx, const VhostOpener& opener) {
  if (ctx.rx->queue.packed() || ctx.tx->queue.packed())
    return usage_error("the driver negotiated packed rings; kernel vhost-net supports split rings only");
  auto ops = opener();
  if (!ops) return std::unexpected(ops.error());
  auto pair = vhost::VhostNetPair::create(std::move(*ops));
  if (!pair) return std::unexpected(pair.error());
  // Ring features the driver already uses must be ones the kernel implements.
  if (const uint64_t missing = ctx.features & kVhostRingFeatures & ~(*pair)->kernel_features()) {
    return host_error(fmt::format("the driver negotiated features {:#x} this kernel's vhost-net lacks", missing));
  }
  auto call_rx = new_eventfd(), call_tx = new_eventfd(), err = new_eventfd();
  if (!call_rx || !call_tx || !err) return errno_error("eventfd for vhost-net");
  return std::unique_ptr<VhostPath>(
      new VhostPath(std::move(ctx), std::move(*pair), std::move(*call_rx), std::move(*call_tx), std::move(*err)));
}

VhostPath::VhostPath(PairContext ctx, std::unique_ptr<vhost::VhostNetPair> pair, Fd call_rx, Fd call_tx, Fd err)
    : ctx_(std::move(ctx)),
      pair_(std::move(pair)),
      call_rx_(std::move(call_rx)),
      call_tx_(std::move(call_tx)),
      err_(std::move(err)) {}

VhostPath::~VhostPath() { stop(); }

Result<void> VhostPath::start() {
  // A queue whose MSI-X vector has an irqfd gives the kernel that as its call
  // fd: vhost interrupts the guest itself (KVM applies the vector's masks); the
  // others' calls (INTx, virtio-mmio) are relayed by the loop.
  const int rx_direct = ctx_.interrupt->queue_notifier(ctx_.rx->index);
  const int tx_direct = ctx_.interrupt->queue_notifier(ctx_.tx->index);
  const int rx_call = rx_direct >= 0 ? rx_direct : call_rx_.get();
  const int tx_call = tx_direct >= 0 ? tx_direct : call_tx_.get();
  const std::array<vhost::VringSetup, 2> rings = {setup_for(*ctx_.rx, rx_call, err_.get()),
                                                  setup_for(*ctx_.tx, tx_call, err_.get())};
  if (auto r = pair_->start(*ctx_.memory, ctx_.features, rings, ctx_.tap_fd); !r) {
    // The kernel may have used receive buffers before a later step failed: take its indices back.
    if (auto back = take_back(); !back) ctx_.fail(back.error().message);
    return r;
  }
  const int err = err_.get();
  Result<void> watched;
  if (rx_direct < 0) watched = watch(rx_call, [this, rx_call](uint32_t) { relay_call(rx_call, ctx_.rx->index); });
  if (watched && tx_direct < 0)
    watched = watch(tx_call, [this, tx_call](uint32_t) { relay_call(tx_call, ctx_.tx->index); });
  ctx_.counters->vhost_direct = (rx_direct >= 0) + (tx_direct >= 0);
  if (watched) {
    watched = watch(err, [this, err](uint32_t) {
      if (eventfd_drain(err)) ctx_.fail("vhost-net reported a ring error");
    });
  }
  running_ = true;
  if (!watched) {
    stop();
    return std::unexpected(watched.error());
  }
  // Buffers the driver queued while the rings changed hands: make the kernel look.
  eventfd_signal(ctx_.rx->kick_fd);
  eventfd_signal(ctx_.tx->kick_fd);
  spdlog::debug("{}: pair {} on vhost-net from avail {}/{}, calls {} / {}", ctx_.id, ctx_.pair, rings[0].next_avail,
                rings[1].next_avail, rx_direct >= 0 ? "to KVM" : "relayed", tx_direct >= 0 ? "to KVM" : "relayed");
  return {};
}

void VhostPath::relay_call(int fd, uint16_t queue) {
  if (!eventfd_drain(fd)) return;
  ctx_.counters->vhost_calls++;
  ctx_.interrupt->signal_used(queue);
}

Result<void> VhostPath::watch(int fd, EventLoop::Callback callback) {
  auto watch = ctx_.loop->add(fd, EPOLLIN, std::move(callback));
  if (!watch) return std::unexpected(watch.error());
  watches_.push_back(std::move(*watch));
  return {};
}

void VhostPath::unwatch() { watches_.clear(); }

void VhostPath::stop() {
  if (!running_) return;
  running_ = false;
  unwatch();
  ctx_.counters->vhost_direct = 0;
  if (auto back = take_back(); !back) {
    ctx_.fail(back.error().message);
    return;
  }
  eventfd_drain(call_rx_.get());
  eventfd_drain(call_tx_.get());
  ctx_.interrupt->signal_used(ctx_.rx->index);
  ctx_.interrupt->signal_used(ctx_.tx->index);
}

// Detaches the kernel (if attached) and sets the Queue objects to where it
// stopped: next_avail from GET_VRING_BASE, next_used from the used ring.
Result<void> VhostPath::take_back() {
  auto bases = pair_->stop();
  if (!bases) return host_error(fmt::format("stopping vhost-net: {}", bases.error().message));
  ActiveQueue* queues[2] = {ctx_.rx, ctx_.tx};
  for (int i = 0; i < 2; ++i) {
    Queue& q = queues[i]->queue;
    q.set_next_avail((*bases)[i]);
    // The kernel published every used entry in guest memory; take its index from there.
    const auto used = ctx_.memory->read_obj<uint16_t>(q.config().device + offsetof(vring_used, idx));
    if (used) q.set_next_used(*used);
  }
  return {};
}

}  // namespace franca::virtio
