// virtio-mmio v2 register decode (virtio 1.x §4.2.2 "MMIO Device Register Layout").
#include "devices/virtio/mmio/mmio_transport.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include <spdlog/spdlog.h>

#include "vmm/core/log.h"

namespace franca::virtio {
namespace {
constexpr uint32_t kMagic = 0x74726976;   // "virt"
constexpr uint32_t kVendor = 0x41435246;  // "FRCA" as a little-endian u32
constexpr uint32_t kVersion = 2;
constexpr uint32_t kInterruptUsed = VIRTIO_MMIO_INT_VRING;
constexpr uint32_t kInterruptConfig = VIRTIO_MMIO_INT_CONFIG;

uint32_t load_le(std::span<const uint8_t> data) {
  uint32_t v = 0;
  std::memcpy(&v, data.data(), std::min<size_t>(data.size(), 4));
  return v;
}
}  // namespace

// Interrupt state the device's Interrupt and the transport share; outlives either.
struct MmioTransport::Shared : Interrupt {
  std::shared_ptr<IrqLine> irq;
  std::atomic<uint32_t> interrupt_status{0};
  std::atomic<bool> needs_reset{false};
  std::atomic<uint32_t> config_changes{0};  // added to the config generation
  std::string id;

  void raise(uint32_t bit) {
    interrupt_status.fetch_or(bit, std::memory_order_acq_rel);
    irq->pulse();
  }
  void signal_used(uint16_t) override { raise(kInterruptUsed); }
  void signal_config() override {
    config_changes.fetch_add(1, std::memory_order_acq_rel);
    raise(kInterruptConfig);
  }
  void fail(std::string_view why) {
    FRANCA_WARN_RATELIMITED("{}: device error, needs reset: {}", id, why);
    needs_reset.store(true, std::memory_order_release);
    raise(kInterruptConfig);
  }
};

Result<std::shared_ptr<MmioTransport>> MmioTransport::create(std::shared_ptr<VirtioDevice> device,
                                                             const GuestMemory& memory, EventLoop& loop,
                                                             std::shared_ptr<IrqLine> irq) {
  std::vector<Fd> kicks;
  for (uint16_t q = 0; q < device->num_queues(); ++q) {
    Fd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd.valid()) return errno_error("eventfd for a virtqueue kick");
    kicks.push_back(std::move(fd));
  }
  auto shared = std::make_shared<Shared>();
  shared->irq = std::move(irq);
  shared->id = device->id();
  return std::shared_ptr<MmioTransport>(
      new MmioTransport(std::move(device), memory, loop, std::move(shared), std::move(kicks)));
}

MmioTransport::MmioTransport(std::shared_ptr<VirtioDevice> device, const GuestMemory& memory, EventLoop& loop,
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

MmioTransport::~MmioTransport() { shutdown(); }

void MmioTransport::shutdown() {
  std::lock_guard lock(mutex_);
  stop_device();
}

uint8_t MmioTransport::status() const {
  std::lock_guard lock(mutex_);
  return status_.status() | (shared_->needs_reset.load() ? VIRTIO_CONFIG_S_NEEDS_RESET : 0);
}

uint32_t MmioTransport::interrupt_status() const { return shared_->interrupt_status.load(); }

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if (offset >= kConfigOffset) {
    std::lock_guard lock(mutex_);
    device_->read_config(offset - kConfigOffset, data);
    return;
  }
  if (data.size() != 4 || offset % 4) {
    FRANCA_WARN_RATELIMITED("{}: ignored {}-byte mmio read at {:#x}", device_->id(), data.size(), offset);
    return;
  }
  const uint32_t v = read_register(offset);
  std::memcpy(data.data(), &v, 4);
}

void MmioTransport::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= kConfigOffset) {
    std::lock_guard lock(mutex_);
    if (status_.status() & VIRTIO_CONFIG_S_FEATURES_OK) device_->write_config(offset - kConfigOffset, data);
    return;
  }
  if (data.size() != 4 || offset % 4) {
    FRANCA_WARN_RATELIMITED("{}: ignored {}-byte mmio write at {:#x}", device_->id(), data.size(), offset);
    return;
  }
  write_register(offset, load_le(data));
}

QueueConfig* MmioTransport::selected_queue() { return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr; }

uint32_t MmioTransport::read_register(uint64_t offset) {
  std::lock_guard lock(mutex_);
  const QueueConfig* q = selected_queue();
  switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE:
      return kMagic;
    case VIRTIO_MMIO_VERSION:
      return kVersion;
    case VIRTIO_MMIO_DEVICE_ID:
      return device_->device_type();
    case VIRTIO_MMIO_VENDOR_ID:
      return kVendor;
    case VIRTIO_MMIO_DEVICE_FEATURES:
      return status_.device_features(device_features_sel_);
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
      return q ? q->max_size : 0;
    case VIRTIO_MMIO_QUEUE_READY:
      return q && q->ready ? 1 : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS:
      return shared_->interrupt_status.load(std::memory_order_acquire);
    case VIRTIO_MMIO_STATUS:
      return status_.status() | (shared_->needs_reset.load() ? VIRTIO_CONFIG_S_NEEDS_RESET : 0);
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
    case VIRTIO_MMIO_SHM_BASE_LOW:
    case VIRTIO_MMIO_SHM_BASE_HIGH:
      return 0xffffffff;  // no shared memory regions
    case VIRTIO_MMIO_CONFIG_GENERATION:
      return status_.config_generation() + shared_->config_changes.load(std::memory_order_acquire);
    default:
      return 0;
  }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
  if (offset == VIRTIO_MMIO_QUEUE_NOTIFY) {  // only reached without a KVM ioeventfd
    const uint16_t q = static_cast<uint16_t>(value & 0xffff);
    if (q < kicks_.size()) {
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(kicks_[q].get(), &one, sizeof(one));
    }
    return;
  }
  if (offset == VIRTIO_MMIO_INTERRUPT_ACK) {
    shared_->interrupt_status.fetch_and(~value, std::memory_order_acq_rel);
    return;
  }
  std::lock_guard lock(mutex_);
  switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
      device_features_sel_ = value;
      return;
    case VIRTIO_MMIO_DRIVER_FEATURES:
      status_.set_driver_features(driver_features_sel_, value);
      return;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
      driver_features_sel_ = value;
      return;
    case VIRTIO_MMIO_QUEUE_SEL:
      queue_sel_ = value;
      return;
    case VIRTIO_MMIO_STATUS:
      write_status(value);
      return;
    default:
      write_queue_register(offset, value);
  }
}

// Queue registers: only in the setup window (FEATURES_OK, not DRIVER_OK) and
// while the queue is not ready; QueueReady=0 is always accepted.
void MmioTransport::write_queue_register(uint64_t offset, uint32_t value) {
  QueueConfig* q = selected_queue();
  if (!q) return;
  if (offset == VIRTIO_MMIO_QUEUE_READY && value == 0) {
    q->ready = false;
    return;
  }
  if (!status_.queue_setup_allowed() || q->ready) {
    FRANCA_WARN_RATELIMITED("{}: queue register {:#x} written outside the setup window", device_->id(), offset);
    return;
  }
  auto set_low = [value](uint64_t& a) { a = (a & ~uint64_t{0xffffffff}) | value; };
  auto set_high = [value](uint64_t& a) { a = (a & 0xffffffff) | (uint64_t{value} << 32); };
  switch (offset) {
    case VIRTIO_MMIO_QUEUE_NUM:
      q->size = static_cast<uint16_t>(std::min<uint32_t>(value, 0xffff));
      return;
    case VIRTIO_MMIO_QUEUE_READY:
      q->ready = value == 1;
      return;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
      return set_low(q->desc);
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
      return set_high(q->desc);
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
      return set_low(q->driver);
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
      return set_high(q->driver);
    case VIRTIO_MMIO_QUEUE_USED_LOW:
      return set_low(q->device);
    case VIRTIO_MMIO_QUEUE_USED_HIGH:
      return set_high(q->device);
    default:
      return;  // legacy-only or unknown registers: ignored
  }
}

void MmioTransport::write_status(uint32_t value) {
  using T = DeviceStatus::Transition;
  switch (status_.write_status(static_cast<uint8_t>(value))) {
    case T::kReset:
      reset();
      return;
    case T::kFeaturesOk:
      spdlog::info("{}: negotiated features: {}", device_->id(),
                   describe_features(status_.negotiated(), device_->feature_names()));
      return;
    case T::kFeaturesRefused:
      FRANCA_WARN_RATELIMITED("{}: refused driver features {:#x} (offered {:#x})", device_->id(), status_.negotiated(),
                              status_.offered());
      return;
    case T::kDriverOk:
      activate();
      return;
    case T::kFailed:
      spdlog::warn("{}: the driver marked the device FAILED", device_->id());
      return;
    case T::kIgnored:
      FRANCA_WARN_RATELIMITED("{}: ignored status write {:#x}", device_->id(), value);
      return;
    case T::kNone:
      return;
  }
}

// DRIVER_OK: validate every ready queue, then hand them to the device on the loop.
void MmioTransport::activate() {
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
void MmioTransport::stop_device() {
  if (!active_) return;
  active_ = false;
  loop_.invoke([this] { device_->reset(); });
}

void MmioTransport::reset() {
  stop_device();
  for (QueueConfig& q : queues_) q.reset();
  device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
  shared_->interrupt_status.store(0);
  shared_->needs_reset.store(false);
  for (Fd& k : kicks_) {  // drop stale kicks
    uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(k.get(), &count, sizeof(count));
  }
}

}  // namespace franca::virtio
