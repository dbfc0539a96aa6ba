// Status transitions and feature acceptance checks.
#include "devices/virtio/device_status.h"

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
  if (select > 1 || (status_ & VIRTIO_CONFIG_S_FEATURES_OK)) {
    ++ignored_writes_;
    return;
  }
  const unsigned shift = 32 * select;
  driver_features_ = (driver_features_ & ~(uint64_t{0xffffffff} << shift)) | (uint64_t{value} << shift);
}

DeviceStatus::Transition DeviceStatus::write_status(uint8_t value) {
  if (value == 0) {
    status_ = 0;
    driver_features_ = 0;
    bump_config_generation();
    return Transition::kReset;
  }
  const uint8_t kept = status_ & kDriverSettable;
  if ((value & kDriverSettable & kept) != kept) {  // the driver may only add bits
    ++ignored_writes_;
    return Transition::kIgnored;
  }
  return add_bits(value & kDriverSettable);
}

DeviceStatus::Transition DeviceStatus::add_bits(uint8_t value) {
  const uint8_t added = value & ~status_;
  if (added & VIRTIO_CONFIG_S_FAILED) {
    status_ |= added;
    return Transition::kFailed;
  }
  if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !((status_ | added) & VIRTIO_CONFIG_S_FEATURES_OK)) {
    ++ignored_writes_;
    return Transition::kIgnored;
  }
  if (added & VIRTIO_CONFIG_S_FEATURES_OK) {
    const bool acceptable = (driver_features_ & ~offered_) == 0 && (driver_features_ & kVersion1);
    if (!acceptable) {
      status_ |= added & ~(VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
      return Transition::kFeaturesRefused;
    }
  }
  status_ |= added;
  if (added & VIRTIO_CONFIG_S_DRIVER_OK) return Transition::kDriverOk;
  if (added & VIRTIO_CONFIG_S_FEATURES_OK) return Transition::kFeaturesOk;
  return Transition::kNone;
}

bool DeviceStatus::queue_setup_allowed() const {
  return (status_ & VIRTIO_CONFIG_S_FEATURES_OK) && !(status_ & VIRTIO_CONFIG_S_DRIVER_OK);
}

bool DeviceStatus::driver_ok() const { return status_ & VIRTIO_CONFIG_S_DRIVER_OK; }

void DeviceStatus::set_needs_reset() {
  status_ |= VIRTIO_CONFIG_S_NEEDS_RESET;
  bump_config_generation();
}

bool DeviceStatus::needs_reset() const { return status_ & VIRTIO_CONFIG_S_NEEDS_RESET; }

}  // namespace franca::virtio
