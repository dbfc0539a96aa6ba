// The device status and feature negotiation state machine (virtio 1.x §2.1
// "Device Status Field", §2.2 "Feature Bits", §3.1 "Device Initialization"),
// written once and driven by every transport (mmio, pci), which only decode
// register offsets into these calls.
#pragma once

#include <cstdint>

namespace franca::virtio {

class DeviceStatus {
 public:
  enum class Transition {
    kNone,             // nothing the device must act on
    kReset,            // driver wrote 0: stop queues, forget everything
    kFeaturesOk,       // features accepted: config is now fixed
    kFeaturesRefused,  // unoffered bits or no VERSION_1: FEATURES_OK stays clear
    kDriverOk,         // activate: validate queues and start the data path
    kFailed,           // driver gave up on the device
    kIgnored,          // illegal write (clearing bits, DRIVER_OK before FEATURES_OK)
  };

  // `offered` is what the device offers after its features= mask; VERSION_1 is added.
  explicit DeviceStatus(uint64_t offered);

  uint8_t status() const { return status_; }
  uint64_t offered() const { return offered_; }
  uint64_t negotiated() const { return driver_features_; }
  bool has(uint64_t bit) const { return (driver_features_ >> bit) & 1; }

  // 32-bit feature windows (select 0: bits 0-31, 1: 32-63; others read 0).
  uint32_t device_features(uint32_t select) const;
  // Ignored once FEATURES_OK is set (the spec fixes features from then on).
  void set_driver_features(uint32_t select, uint32_t value);

  Transition write_status(uint8_t value);

  // The legal window for queue configuration: FEATURES_OK set, DRIVER_OK not.
  bool queue_setup_allowed() const;
  bool driver_ok() const;
  // Device-side fatal error (e.g. ring corruption): sets DEVICE_NEEDS_RESET.
  void set_needs_reset();
  bool needs_reset() const;

  // Bumped whenever config space changes so the driver can detect torn reads.
  uint32_t config_generation() const { return config_generation_; }
  void bump_config_generation() { ++config_generation_; }

  uint64_t ignored_writes() const { return ignored_writes_; }

 private:
  Transition add_bits(uint8_t value);

  uint64_t offered_;
  uint64_t driver_features_ = 0;
  uint8_t status_ = 0;
  uint32_t config_generation_ = 0;
  uint64_t ignored_writes_ = 0;
};

}  // namespace franca::virtio
