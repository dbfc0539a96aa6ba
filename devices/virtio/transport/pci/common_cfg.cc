// virtio-pci common configuration structure (virtio 1.x §4.1.4.3): any access
// width is decoded field by field (a wider access touches each field it covers).
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "devices/virtio/transport/pci/pci_transport.h"
#include "vmm/core/log.h"

namespace franca::virtio {
namespace {

struct Field {
  uint8_t offset;
  uint8_t size;
};
// Every field of struct virtio_pci_modern_common_cfg up to admin_queue_num (0x40 bytes).
constexpr Field kFields[] = {
    {VIRTIO_PCI_COMMON_DFSELECT, 4},  {VIRTIO_PCI_COMMON_DF, 4},
    {VIRTIO_PCI_COMMON_GFSELECT, 4},  {VIRTIO_PCI_COMMON_GF, 4},
    {VIRTIO_PCI_COMMON_MSIX, 2},      {VIRTIO_PCI_COMMON_NUMQ, 2},
    {VIRTIO_PCI_COMMON_STATUS, 1},    {VIRTIO_PCI_COMMON_CFGGENERATION, 1},
    {VIRTIO_PCI_COMMON_Q_SELECT, 2},  {VIRTIO_PCI_COMMON_Q_SIZE, 2},
    {VIRTIO_PCI_COMMON_Q_MSIX, 2},    {VIRTIO_PCI_COMMON_Q_ENABLE, 2},
    {VIRTIO_PCI_COMMON_Q_NOFF, 2},    {VIRTIO_PCI_COMMON_Q_DESCLO, 4},
    {VIRTIO_PCI_COMMON_Q_DESCHI, 4},  {VIRTIO_PCI_COMMON_Q_AVAILLO, 4},
    {VIRTIO_PCI_COMMON_Q_AVAILHI, 4}, {VIRTIO_PCI_COMMON_Q_USEDLO, 4},
    {VIRTIO_PCI_COMMON_Q_USEDHI, 4},  {VIRTIO_PCI_COMMON_Q_NDATA, 2},
    {VIRTIO_PCI_COMMON_Q_RESET, 2},   {60, 2} /* admin_queue_index */,
    {62, 2} /* admin_queue_num */,
};

// The queue field at common cfg offset `field`; none for queue_msix_vector (the
// transport's own), queue_notify_off (read-only) and what is not offered.
std::optional<QueueField> queue_field(uint32_t field) {
  switch (field) {
    case VIRTIO_PCI_COMMON_Q_SIZE:
      return QueueField::kSize;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
      return QueueField::kEnable;
    case VIRTIO_PCI_COMMON_Q_DESCLO:
      return QueueField::kDescLow;
    case VIRTIO_PCI_COMMON_Q_DESCHI:
      return QueueField::kDescHigh;
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
      return QueueField::kDriverLow;
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
      return QueueField::kDriverHigh;
    case VIRTIO_PCI_COMMON_Q_USEDLO:
      return QueueField::kDeviceLow;
    case VIRTIO_PCI_COMMON_Q_USEDHI:
      return QueueField::kDeviceHigh;
    default:
      return std::nullopt;
  }
}

}  // namespace

uint64_t VirtioPciTransport::common_get(uint32_t field) {
  if (const auto qf = queue_field(field)) return core_->read_queue(queue_sel_, *qf);
  const QueueConfig* q = core_->queue(queue_sel_);
  switch (field) {
    case VIRTIO_PCI_COMMON_DFSELECT:
      return device_features_sel_;
    case VIRTIO_PCI_COMMON_DF:
      return core_->device_features(device_features_sel_);
    case VIRTIO_PCI_COMMON_GFSELECT:
      return driver_features_sel_;
    case VIRTIO_PCI_COMMON_GF:
      return driver_features_sel_ < 2 ? core_->driver_features() >> (32 * driver_features_sel_) & 0xffffffff : 0;
    case VIRTIO_PCI_COMMON_MSIX:
      return irq_->config_vector();
    case VIRTIO_PCI_COMMON_NUMQ:
      return core_->num_queues();
    case VIRTIO_PCI_COMMON_STATUS:
      return core_->status();
    case VIRTIO_PCI_COMMON_CFGGENERATION:
      return core_->config_generation() & 0xff;
    case VIRTIO_PCI_COMMON_Q_SELECT:
      return queue_sel_;
    case VIRTIO_PCI_COMMON_Q_MSIX:
      return q ? q->msix_vector : VIRTIO_MSI_NO_VECTOR;
    case VIRTIO_PCI_COMMON_Q_NOFF:
      return q ? queue_sel_ : 0;
    default:
      return 0;  // notification data, queue_reset, admin queues: not offered
  }
}

// An MSI-X table index the device accepts, or NO_VECTOR (read back by the driver as a refusal).
uint16_t VirtioPciTransport::checked_vector(uint32_t value) const {
  return value < msix_->vectors() ? static_cast<uint16_t>(value) : VIRTIO_MSI_NO_VECTOR;
}

void VirtioPciTransport::common_set(uint32_t field, uint32_t value) {
  switch (field) {
    case VIRTIO_PCI_COMMON_DFSELECT:
      device_features_sel_ = value;
      return;
    case VIRTIO_PCI_COMMON_GFSELECT:
      driver_features_sel_ = value;
      return;
    case VIRTIO_PCI_COMMON_GF:
      core_->set_driver_features(driver_features_sel_, value);
      return;
    case VIRTIO_PCI_COMMON_MSIX:
      irq_->set_config_vector(checked_vector(value));
      return;
    case VIRTIO_PCI_COMMON_STATUS:
      if (core_->write_status(static_cast<uint8_t>(value)) == DeviceStatus::Transition::kReset) reset_transport();
      return;
    case VIRTIO_PCI_COMMON_Q_SELECT:
      queue_sel_ = static_cast<uint16_t>(value);
      return;
    default:
      if (QueueConfig* q = core_->queue(queue_sel_)) set_queue_field(*q, field, value);
      return;
  }
}

// queue_msix_vector any time; the other queue fields through the shared queue-register policy.
void VirtioPciTransport::set_queue_field(QueueConfig& q, uint32_t field, uint32_t value) {
  if (field == VIRTIO_PCI_COMMON_Q_MSIX) {
    q.msix_vector = checked_vector(value);
    irq_->set_queue_vector(queue_sel_, q.msix_vector);
    return;
  }
  if (const auto qf = queue_field(field)) core_->write_queue(queue_sel_, *qf, value);
}

void VirtioPciTransport::common_read(uint64_t offset, std::span<uint8_t> data) {
  for (const Field& f : kFields) {
    if (f.offset + f.size <= offset || f.offset >= offset + data.size()) continue;
    const uint64_t v = common_get(f.offset);
    for (unsigned i = 0; i < f.size; ++i) {
      const uint64_t at = f.offset + i;
      if (at >= offset && at < offset + data.size()) data[at - offset] = static_cast<uint8_t>(v >> (8 * i));
    }
  }
}

// Each covered field gets its current value with the written bytes merged in.
void VirtioPciTransport::common_write(uint64_t offset, std::span<const uint8_t> data) {
  for (const Field& f : kFields) {
    if (f.offset + f.size <= offset || f.offset >= offset + data.size()) continue;
    uint64_t v = common_get(f.offset);
    for (unsigned i = 0; i < f.size; ++i) {
      const uint64_t at = f.offset + i;
      if (at < offset || at >= offset + data.size()) continue;
      v = (v & ~(uint64_t{0xff} << (8 * i))) | uint64_t{data[at - offset]} << (8 * i);
    }
    common_set(f.offset, static_cast<uint32_t>(v));
  }
}

}  // namespace franca::virtio
