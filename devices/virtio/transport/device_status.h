// The device status and feature negotiation state machine (virtio 1.x §2.1
// "Device Status Field", §2.2 "Feature Bits", §3.1 "Device Initialization"),
// written once and driven by every transport (mmio, pci), which only decode
// register offsets into these calls.
#pragma once

#include <atomic>
#include <cstdint>

namespace franca::virtio {

// The one copy of the status byte (NEEDS_RESET included) and the config generation.
//
// Thread rules:
//  - Driver side (set_driver_features, write_status, negotiated, has,
//    ignored_writes): one thread at a time, the transport's lock (vCPU threads).
//  - Device side (set_needs_reset, bump_config_generation): any thread, e.g. the
//    vmm-io loop while a vCPU writes status. Status and generation are atomics;
//    write_status only adds bits with an atomic OR, so it never loses a
//    concurrent NEEDS_RESET. Only a reset (write_status(0)) clears it.
//  - Reads (status, needs_reset, driver_ok, queue_setup_allowed,
//    config_generation, device_features, offered): any thread.
// Lifetime: a transport keeps it where the loop's callbacks can still reach it
// after the transport is gone (TransportCore::Shared, see transport_core.h).
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

  uint8_t status() const { return status_.load(std::memory_order_acquire); }
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
  // Device-side fatal error (e.g. ring corruption): sets DEVICE_NEEDS_RESET and
  // bumps the generation. Any thread.
  void set_needs_reset();
  bool needs_reset() const;

  // Bumped whenever config space changes so the driver can detect torn reads. Any thread.
  uint32_t config_generation() const { return config_generation_.load(std::memory_order_acquire); }
  // Release: pairs with the acquire in config_generation(), so a driver that sees the
  // new generation also sees the config change made before the bump.
  void bump_config_generation() { config_generation_.fetch_add(1, std::memory_order_acq_rel); }

  uint64_t ignored_writes() const { return ignored_writes_; }

 private:
  Transition add_bits(uint8_t value);

  uint64_t offered_;
  uint64_t driver_features_ = 0;
  std::atomic<uint8_t> status_{0};
  std::atomic<uint32_t> config_generation_{0};
  uint64_t ignored_writes_ = 0;
};

}  // namespace franca::virtio
