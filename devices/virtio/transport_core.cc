// The transport-independent half of a virtio transport (virtio 1.x §2.1, §2.2, §3.1).
#include "devices/virtio/transport_core.h"

#include <linux/virtio_config.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/core/log.h"

namespace franca::virtio {

// Handed to the device as its Interrupt: counts config changes (for the
// generation) and forwards to the transport's delivery. Outlives the core.
struct TransportCore::Shared : Interrupt {
  std::shared_ptr<Interrupt> irq;
  std::atomic<bool> needs_reset{false};
  std::atomic<uint32_t> config_changes{0};
  std::string id;

  void signal_used(uint16_t queue) override { irq->signal_used(queue); }
  void signal_config() override {
    config_changes.fetch_add(1, std::memory_order_acq_rel);
    irq->signal_config();
  }
  void fail(std::string_view why) {
    FRANCA_WARN_RATELIMITED("{}: device error, needs reset: {}", id, why);
    needs_reset.store(true, std::memory_order_release);
    irq->signal_config();
  }
};

Result<std::unique_ptr<TransportCore>> TransportCore::create(std::shared_ptr<VirtioDevice> device,
                                                             const GuestMemory& memory, EventLoop& loop,
                                                             std::shared_ptr<Interrupt> irq) {
  std::vector<Fd> kicks;
  for (uint16_t q = 0; q < device->num_queues(); ++q) {
    Fd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd.valid()) return errno_error("eventfd for a virtqueue kick");
    kicks.push_back(std::move(fd));
  }
  auto shared = std::make_shared<Shared>();
  shared->irq = std::move(irq);
  shared->id = device->id();
  return std::unique_ptr<TransportCore>(
      new TransportCore(std::move(device), memory, loop, std::move(shared), std::move(kicks)));
}

TransportCore::TransportCore(std::shared_ptr<VirtioDevice> device, const GuestMemory& memory, EventLoop& loop,
                             std::shared_ptr<Shared> shared, std::vector<Fd> kicks)
    : device_(std::move(device)),
      memory_(memory),
      loop_(loop),
      shared_(std::move(shared)),
      kicks_(std::move(kicks)),
      status_(device_->offered_features()) {
  queues_.resize(device_->num_queues());
  for (QueueConfig& q : queues_) {
    q.max_size = device_->max_queue_size();
    q.reset();
  }
}

TransportCore::~TransportCore() { stop_device(); }

void TransportCore::kick(uint32_t queue) {
  if (queue >= kicks_.size()) return;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(kicks_[queue].get(), &one, sizeof(one));
}

uint8_t TransportCore::status() const {
  return status_.status() | (shared_->needs_reset.load(std::memory_order_acquire) ? VIRTIO_CONFIG_S_NEEDS_RESET : 0);
}

uint32_t TransportCore::config_generation() const {
  return status_.config_generation() + shared_->config_changes.load(std::memory_order_acquire);
}

void TransportCore::write_config(uint64_t offset, std::span<const uint8_t> data) {
  if (status_.status() & VIRTIO_CONFIG_S_FEATURES_OK) device_->write_config(offset, data);
}

void TransportCore::fail(std::string_view why) { shared_->fail(why); }

DeviceStatus::Transition TransportCore::write_status(uint8_t value) {
  using T = DeviceStatus::Transition;
  const T t = status_.write_status(value);
  switch (t) {
    case T::kReset:
      reset();
      break;
    case T::kFeaturesOk:
      spdlog::info("{}: negotiated features: {}", id(),
                   describe_features(status_.negotiated(), device_->feature_names()));
      break;
    case T::kFeaturesRefused:
      FRANCA_WARN_RATELIMITED("{}: refused driver features {:#x} (offered {:#x})", id(), status_.negotiated(),
                              status_.offered());
      break;
    case T::kDriverOk:
      activate();
      break;
    case T::kFailed:
      spdlog::warn("{}: the driver marked the device FAILED", id());
      break;
    case T::kIgnored:
      FRANCA_WARN_RATELIMITED("{}: ignored status write {:#x}", id(), value);
      break;
    case T::kNone:
      break;
  }
  return t;
}

// DRIVER_OK: validate every enabled queue, then hand them to the device on the loop.
void TransportCore::activate() {
  DeviceContext ctx;
  ctx.memory = &memory_;
  ctx.loop = &loop_;
  ctx.features = status_.negotiated();
  ctx.interrupt = shared_;
  ctx.fail = [shared = shared_](std::string_view why) { shared->fail(why); };
  const RingFeatures ring = RingFeatures::from(ctx.features);
  for (uint16_t i = 0; i < queues_.size(); ++i) {
    if (!queues_[i].ready) continue;
    auto q = Queue::activate(queues_[i], ring, memory_);
    if (!q) {
      shared_->fail(fmt::format("queue {}: {}", i, describe(q.error())));
      return;
    }
    ctx.queues.push_back(ActiveQueue{i, std::move(*q), kicks_[i].get()});
  }
  active_ = true;
  // Runs on the loop: activation does no I/O on the vCPU thread.
  loop_.post([device = device_, shared = shared_, ctx = std::make_shared<DeviceContext>(std::move(ctx))]() mutable {
    if (auto r = device->activate(std::move(*ctx)); !r) shared->fail(r.error().message);
  });
}

// Stops the data path synchronously: after this the device touches no guest memory.
void TransportCore::stop_device() {
  if (!active_) return;
  active_ = false;
  loop_.invoke([this] { device_->reset(); });
}

void TransportCore::reset() {
  stop_device();
  for (QueueConfig& q : queues_) q.reset();
  shared_->needs_reset.store(false, std::memory_order_release);
  for (Fd& k : kicks_) {  // drop stale kicks
    uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(k.get(), &count, sizeof(count));
  }
}

}  // namespace franca::virtio
