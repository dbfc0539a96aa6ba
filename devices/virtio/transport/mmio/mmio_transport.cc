// virtio-mmio v2 register decode (virtio 1.x §4.2.2 "MMIO Device Register Layout").
#include "devices/virtio/transport/mmio/mmio_transport.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <cstring>
#include <optional>

#include "vmm/core/log.h"

namespace franca::virtio {
namespace {
constexpr uint32_t kMagic = 0x74726976;   // "virt"
constexpr uint32_t kVendor = 0x41435246;  // "FRCA" as a little-endian u32
constexpr uint32_t kVersion = 2;

uint32_t load_le(std::span<const uint8_t> data) {
  uint32_t v = 0;
  std::memcpy(&v, data.data(), std::min<size_t>(data.size(), 4));
  return v;
}

// The queue register at `offset`; none for legacy-only or unknown registers (ignored).
std::optional<QueueField> queue_field(uint64_t offset) {
  switch (offset) {
    case VIRTIO_MMIO_QUEUE_NUM:
      return QueueField::kSize;
    case VIRTIO_MMIO_QUEUE_READY:
      return QueueField::kReady;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
      return QueueField::kDescLow;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
      return QueueField::kDescHigh;
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
      return QueueField::kDriverLow;
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
      return QueueField::kDriverHigh;
    case VIRTIO_MMIO_QUEUE_USED_LOW:
      return QueueField::kDeviceLow;
    case VIRTIO_MMIO_QUEUE_USED_HIGH:
      return QueueField::kDeviceHigh;
    default:
      return std::nullopt;
  }
}
}  // namespace

// InterruptStatus and the line; the device's Interrupt (through TransportCore). Outlives either.
struct MmioTransport::Irq : Interrupt {
  std::shared_ptr<IrqLine> line;
  std::atomic<uint32_t> interrupt_status{0};

  void raise(uint32_t bit) {
    interrupt_status.fetch_or(bit, std::memory_order_acq_rel);
    line->pulse();
  }
  void signal_used(uint16_t) override { raise(VIRTIO_MMIO_INT_VRING); }
  void signal_config() override { raise(VIRTIO_MMIO_INT_CONFIG); }
};

Result<std::shared_ptr<MmioTransport>> MmioTransport::create(std::shared_ptr<VirtioDevice> device,
                                                             const GuestMemory& memory, EventLoop& loop,
                                                             std::shared_ptr<IrqLine> irq) {
  auto shared = std::make_shared<Irq>();
  shared->line = std::move(irq);
  auto core = TransportCore::create(std::move(device), memory, loop, shared);
  if (!core) return std::unexpected(core.error());
  return std::shared_ptr<MmioTransport>(new MmioTransport(std::move(*core), std::move(shared)));
}

MmioTransport::MmioTransport(std::unique_ptr<TransportCore> core, std::shared_ptr<Irq> irq)
    : core_(std::move(core)), irq_(std::move(irq)) {}

MmioTransport::~MmioTransport() { shutdown(); }

void MmioTransport::shutdown() {
  std::lock_guard lock(mutex_);
  core_->shutdown();
}

uint8_t MmioTransport::status() const {
  std::lock_guard lock(mutex_);
  return core_->status();
}

uint32_t MmioTransport::interrupt_status() const { return irq_->interrupt_status.load(); }

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if (offset >= kConfigOffset) {
    std::lock_guard lock(mutex_);
    core_->read_config(offset - kConfigOffset, data);
    return;
  }
  if (data.size() != 4 || offset % 4) {
    FRANCA_WARN_RATELIMITED("{}: ignored {}-byte mmio read at {:#x}", core_->id(), data.size(), offset);
    return;
  }
  const uint32_t v = read_register(offset);
  std::memcpy(data.data(), &v, 4);
}

void MmioTransport::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= kConfigOffset) {
    std::lock_guard lock(mutex_);
    core_->write_config(offset - kConfigOffset, data);
    return;
  }
  if (data.size() != 4 || offset % 4) {
    FRANCA_WARN_RATELIMITED("{}: ignored {}-byte mmio write at {:#x}", core_->id(), data.size(), offset);
    return;
  }
  write_register(offset, load_le(data));
}

uint32_t MmioTransport::read_register(uint64_t offset) {
  std::lock_guard lock(mutex_);
  const QueueConfig* q = core_->queue(queue_sel_);
  switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE:
      return kMagic;
    case VIRTIO_MMIO_VERSION:
      return kVersion;
    case VIRTIO_MMIO_DEVICE_ID:
      return core_->device().device_type();
    case VIRTIO_MMIO_VENDOR_ID:
      return kVendor;
    case VIRTIO_MMIO_DEVICE_FEATURES:
      return core_->device_features(device_features_sel_);
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
      return q ? q->max_size : 0;
    case VIRTIO_MMIO_QUEUE_READY:
      return core_->read_queue(queue_sel_, QueueField::kReady);
    case VIRTIO_MMIO_INTERRUPT_STATUS:
      return irq_->interrupt_status.load(std::memory_order_acquire);
    case VIRTIO_MMIO_STATUS:
      return core_->status();
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
    case VIRTIO_MMIO_SHM_BASE_LOW:
    case VIRTIO_MMIO_SHM_BASE_HIGH:
      return 0xffffffff;  // no shared memory regions
    case VIRTIO_MMIO_CONFIG_GENERATION:
      return core_->config_generation();
    default:
      return 0;
  }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
  if (offset == VIRTIO_MMIO_QUEUE_NOTIFY) {  // only reached without a KVM ioeventfd
    core_->kick(value & 0xffff);
    return;
  }
  if (offset == VIRTIO_MMIO_INTERRUPT_ACK) {
    irq_->interrupt_status.fetch_and(~value, std::memory_order_acq_rel);
    return;
  }
  std::lock_guard lock(mutex_);
  switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
      device_features_sel_ = value;
      return;
    case VIRTIO_MMIO_DRIVER_FEATURES:
      core_->set_driver_features(driver_features_sel_, value);
      return;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
      driver_features_sel_ = value;
      return;
    case VIRTIO_MMIO_QUEUE_SEL:
      queue_sel_ = value;
      return;
    case VIRTIO_MMIO_STATUS:
      if (core_->write_status(static_cast<uint8_t>(value)) == DeviceStatus::Transition::kReset) {
        device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
        irq_->interrupt_status.store(0);
      }
      return;
    default:
      if (const auto field = queue_field(offset)) core_->write_queue(queue_sel_, *field, value);
      return;
  }
}

}  // namespace franca::virtio
