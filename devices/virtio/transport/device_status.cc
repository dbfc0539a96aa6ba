// Status transitions and feature acceptance checks.
#include "devices/virtio/transport/device_status.h"

#include <linux/virtio_config.h>

namespace franca::virtio {
namespace {
constexpr uint64_t kVersion1 = uint64_t{1} << VIRTIO_F_VERSION_1;
constexpr uint8_t kDriverSettable = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK |
                                    VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_FAILED;
}  // namespace

DeviceStatus::DeviceStatus(uint64_t offered) : offered_(offered | kVersion1) {}

uint32_t DeviceStatus::device_features(uint32_t select) const {
  if (select > 1) return 0;
  return static_cast<uint32_t>(offered_ >> (32 * select));
}

void DeviceStatus::set_driver_features(uint32_t select, uint32_t value) {
  if (select > 1 || (status() & VIRTIO_CONFIG_S_FEATURES_OK)) {
    ++ignored_writes_;
    return;
  }
  const unsigned shift = 32 * select;
  driver_features_ = (driver_features_ & ~(uint64_t{0xffffffff} << shift)) | (uint64_t{value} << shift);
}

DeviceStatus::Transition DeviceStatus::write_status(uint8_t value) {
  if (value == 0) {
    status_.store(0, std::memory_order_release);  // also clears NEEDS_RESET
    driver_features_ = 0;
    bump_config_generation();
    return Transition::kReset;
  }
  const uint8_t kept = status() & kDriverSettable;
  if ((value & kDriverSettable & kept) != kept) {  // the driver may only add bits
    ++ignored_writes_;
    return Transition::kIgnored;
  }
  return add_bits(value & kDriverSettable);
}

// Only driver-settable bits change here, each with an atomic OR: a NEEDS_RESET the
// loop sets meanwhile is kept (and does not affect the checks, which mask it out).
DeviceStatus::Transition DeviceStatus::add_bits(uint8_t value) {
  const uint8_t now = status();
  const uint8_t added = value & ~now;
  if (added & VIRTIO_CONFIG_S_FAILED) {
    status_.fetch_or(added, std::memory_order_acq_rel);
    return Transition::kFailed;
  }
  if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !((now | added) & VIRTIO_CONFIG_S_FEATURES_OK)) {
    ++ignored_writes_;
    return Transition::kIgnored;
  }
  if (added & VIRTIO_CONFIG_S_FEATURES_OK) {
    const bool acceptable = (driver_features_ & ~offered_) == 0 && (driver_features_ & kVersion1);
    if (!acceptable) {
      status_.fetch_or(added & ~(VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK), std::memory_order_acq_rel);
      return Transition::kFeaturesRefused;
    }
  }
  status_.fetch_or(added, std::memory_order_acq_rel);
  if (added & VIRTIO_CONFIG_S_DRIVER_OK) return Transition::kDriverOk;
  if (added & VIRTIO_CONFIG_S_FEATURES_OK) return Transition::kFeaturesOk;
  return Transition::kNone;
}

bool DeviceStatus::queue_setup_allowed() const {
  const uint8_t s = status();
  return (s & VIRTIO_CONFIG_S_FEATURES_OK) && !(s & VIRTIO_CONFIG_S_DRIVER_OK);
}

bool DeviceStatus::driver_ok() const { return status() & VIRTIO_CONFIG_S_DRIVER_OK; }

// Release: pairs with the acquire in status(), read by the vCPU that takes the
// config interrupt the caller raises next.
void DeviceStatus::set_needs_reset() {
  status_.fetch_or(VIRTIO_CONFIG_S_NEEDS_RESET, std::memory_order_acq_rel);
  bump_config_generation();
}

bool DeviceStatus::needs_reset() const { return status() & VIRTIO_CONFIG_S_NEEDS_RESET; }

}  // namespace franca::virtio
