// The transport-independent half of a virtio transport (virtio 1.x §2.1, §2.2, §3.1).
#include "devices/virtio/transport/transport_core.h"

#include <linux/virtio_config.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/core/log.h"

namespace franca::virtio {

// Handed to the device as its Interrupt and captured by its fail callback: holds
// the DeviceStatus (NEEDS_RESET, generation) so both stay valid however long the
// device keeps them (see the lifetime rule in the header). Outlives the core.
struct TransportCore::Shared : Interrupt {
  Shared(uint64_t offered, std::shared_ptr<Interrupt> delivery, std::string device_id)
      : status(offered), irq(std::move(delivery)), id(std::move(device_id)) {}

  DeviceStatus status;
  std::shared_ptr<Interrupt> irq;
  std::string id;

  void signal_used(uint16_t queue) override { irq->signal_used(queue); }
  int queue_notifier(uint16_t queue) const override { return irq->queue_notifier(queue); }
  void signal_config() override {
    status.bump_config_generation();
    irq->signal_config();
  }
  void fail(std::string_view why) {
    FRANCA_WARN_RATELIMITED("{}: device error, needs reset: {}", id, why);
    status.set_needs_reset();
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
  auto shared = std::make_shared<Shared>(device->offered_features(), std::move(irq), device->id());
  return std::unique_ptr<TransportCore>(
      new TransportCore(std::move(device), memory, loop, std::move(shared), std::move(kicks)));
}

TransportCore::TransportCore(std::shared_ptr<VirtioDevice> device, const GuestMemory& memory, EventLoop& loop,
                             std::shared_ptr<Shared> shared, std::vector<Fd> kicks)
    : device_(std::move(device)),
      memory_(memory),
      loop_(loop),
      shared_(std::move(shared)),
      status_(shared_->status),
      kicks_(std::move(kicks)) {
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

namespace {
// The 64-bit guest address a queue field names the low or high half of (nullptr for size / ready).
template <typename Config>  // QueueConfig or const QueueConfig
auto* address_of(Config& q, QueueField field) {
  switch (field) {
    case QueueField::kDescLow:
    case QueueField::kDescHigh:
      return &q.desc;
    case QueueField::kDriverLow:
    case QueueField::kDriverHigh:
      return &q.driver;
    case QueueField::kDeviceLow:
    case QueueField::kDeviceHigh:
      return &q.device;
    default:
      return static_cast<decltype(&q.desc)>(nullptr);
  }
}

constexpr const char* kQueueFieldNames[] = {"size",      "ready",     "enable",    "desc_lo",  "desc_hi",
                                            "driver_lo", "driver_hi", "device_lo", "device_hi"};

bool is_high_half(QueueField field) {
  return field == QueueField::kDescHigh || field == QueueField::kDriverHigh || field == QueueField::kDeviceHigh;
}
}  // namespace

bool TransportCore::write_queue(uint32_t index, QueueField field, uint32_t value) {
  QueueConfig* q = queue(index);
  if (!q) return false;
  if (field == QueueField::kReady && value == 0) {  // mmio: withdrawing a queue is always allowed
    q->ready = false;
    return true;
  }
  if (!status_.queue_setup_allowed() || q->ready) {
    FRANCA_WARN_RATELIMITED("{}: queue {} {} written outside the setup window", id(), index,
                            kQueueFieldNames[static_cast<size_t>(field)]);
    return false;
  }
  if (field == QueueField::kSize) {
    q->size = static_cast<uint16_t>(std::min<uint32_t>(value, 0xffff));
  } else if (field == QueueField::kReady || field == QueueField::kEnable) {
    q->ready = value == 1;
  } else {
    uint64_t& a = *address_of(*q, field);
    a = is_high_half(field) ? (a & 0xffffffff) | (uint64_t{value} << 32) : (a & ~uint64_t{0xffffffff}) | value;
  }
  return true;
}

uint32_t TransportCore::read_queue(uint32_t index, QueueField field) const {
  if (index >= queues_.size()) return 0;
  const QueueConfig& q = queues_[index];
  if (field == QueueField::kSize) return q.size;
  if (field == QueueField::kReady || field == QueueField::kEnable) return q.ready ? 1 : 0;
  const uint64_t a = *address_of(q, field);
  return static_cast<uint32_t>(is_high_half(field) ? a >> 32 : a);
}

void TransportCore::write_config(uint64_t offset, std::span<const uint8_t> data) {
  if (status_.status() & VIRTIO_CONFIG_S_FEATURES_OK) device_->write_config(offset, data);
}

void TransportCore::fail(std::string_view why) { shared_->fail(why); }

DeviceStatus::Transition TransportCore::write_status(uint8_t value) {
  using T = DeviceStatus::Transition;
  // A reset stops the data path first, so a NEEDS_RESET it raises while stopping
  // is cleared by the status write below rather than outliving the reset.
  if (value == 0) stop_device();
  const T t = status_.write_status(value);
  switch (t) {
    case T::kReset:
      reset();
      break;
    case T::kFeaturesOk:
      spdlog::info("{}: negotiated features: {}", id(),
                   describe_features(status_.negotiated(), device_->feature_names()));
      device_->features_accepted(status_.negotiated());
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
  for (Fd& k : kicks_) {  // drop stale kicks
    uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(k.get(), &count, sizeof(count));
  }
}

}  // namespace franca::virtio
