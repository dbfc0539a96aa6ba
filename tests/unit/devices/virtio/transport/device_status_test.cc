// The shared status / feature negotiation state machine, as Linux drives it.
#include "devices/virtio/transport/device_status.h"

#include <gtest/gtest.h>
#include <linux/virtio_config.h>

#include <atomic>
#include <thread>

namespace franca::virtio {
namespace {

constexpr uint64_t kVersion1 = 1ull << VIRTIO_F_VERSION_1;
constexpr uint64_t kOffered = (1ull << 9) | (1ull << 29);  // a device bit and event_idx
constexpr uint8_t kAck = VIRTIO_CONFIG_S_ACKNOWLEDGE, kDriver = VIRTIO_CONFIG_S_DRIVER,
                  kFeaturesOk = VIRTIO_CONFIG_S_FEATURES_OK, kDriverOk = VIRTIO_CONFIG_S_DRIVER_OK;
using T = DeviceStatus::Transition;

// Linux's probe: reset, ACK, DRIVER, read features, write the accepted subset, FEATURES_OK.
T negotiate(DeviceStatus& d, uint64_t accept) {
  d.write_status(0);
  d.write_status(kAck);
  d.write_status(kAck | kDriver);
  d.set_driver_features(0, static_cast<uint32_t>(accept));
  d.set_driver_features(1, static_cast<uint32_t>(accept >> 32));
  return d.write_status(kAck | kDriver | kFeaturesOk);
}

TEST(DeviceStatus, OffersVersion1Always) {
  DeviceStatus d(kOffered);
  EXPECT_EQ(d.device_features(1) & 1, 1u);
  EXPECT_EQ(d.device_features(0), static_cast<uint32_t>(kOffered));
  EXPECT_EQ(d.device_features(2), 0u);
}

TEST(DeviceStatus, AcceptsASubsetWithVersion1) {
  DeviceStatus d(kOffered);
  EXPECT_EQ(negotiate(d, kVersion1 | (1ull << 29)), T::kFeaturesOk);
  EXPECT_TRUE(d.status() & kFeaturesOk);
  EXPECT_TRUE(d.has(29));
  EXPECT_FALSE(d.has(9));
}

TEST(DeviceStatus, RefusesUnofferedBits) {
  DeviceStatus d(kOffered);
  EXPECT_EQ(negotiate(d, kVersion1 | (1ull << 5)), T::kFeaturesRefused);
  EXPECT_FALSE(d.status() & kFeaturesOk);  // the driver re-reads status and gives up
}

TEST(DeviceStatus, RefusesLegacyDriversWithoutVersion1) {
  DeviceStatus d(kOffered);
  EXPECT_EQ(negotiate(d, 1ull << 29), T::kFeaturesRefused);
}

TEST(DeviceStatus, FeaturesAreFixedAfterFeaturesOk) {
  DeviceStatus d(kOffered);
  negotiate(d, kVersion1);
  d.set_driver_features(0, 1u << 9);
  EXPECT_FALSE(d.has(9));
  EXPECT_EQ(d.ignored_writes(), 1u);
}

TEST(DeviceStatus, QueueSetupOnlyBetweenFeaturesOkAndDriverOk) {
  DeviceStatus d(kOffered);
  EXPECT_FALSE(d.queue_setup_allowed());
  negotiate(d, kVersion1);
  EXPECT_TRUE(d.queue_setup_allowed());
  EXPECT_EQ(d.write_status(kAck | kDriver | kFeaturesOk | kDriverOk), T::kDriverOk);
  EXPECT_FALSE(d.queue_setup_allowed());
}

TEST(DeviceStatus, DriverOkBeforeFeaturesOkIsIgnored) {
  DeviceStatus d(kOffered);
  d.write_status(kAck | kDriver);
  EXPECT_EQ(d.write_status(kAck | kDriver | kDriverOk), T::kIgnored);
  EXPECT_FALSE(d.driver_ok());
}

TEST(DeviceStatus, ClearingBitsWithoutResetIsIgnored) {
  DeviceStatus d(kOffered);
  negotiate(d, kVersion1);
  EXPECT_EQ(d.write_status(kAck), T::kIgnored);
  EXPECT_TRUE(d.status() & kFeaturesOk);
}

TEST(DeviceStatus, ResetForgetsFeaturesAndRenegotiationSucceeds) {
  DeviceStatus d(kOffered);
  negotiate(d, kVersion1 | (1ull << 9));
  EXPECT_EQ(d.write_status(0), T::kReset);
  EXPECT_EQ(d.status(), 0);
  EXPECT_EQ(d.negotiated(), 0u);
  EXPECT_EQ(negotiate(d, kVersion1 | (1ull << 9)), T::kFeaturesOk);
}

TEST(DeviceStatus, NeedsResetIsDeviceSetAndBumpsGeneration) {
  DeviceStatus d(kOffered);
  negotiate(d, kVersion1);
  const uint32_t gen = d.config_generation();
  d.set_needs_reset();
  EXPECT_TRUE(d.needs_reset());
  EXPECT_NE(d.config_generation(), gen);
  d.write_status(0);
  EXPECT_FALSE(d.needs_reset());
}

TEST(DeviceStatus, DriverCannotSetNeedsReset) {
  DeviceStatus d(kOffered);
  d.write_status(kAck | VIRTIO_CONFIG_S_NEEDS_RESET);
  EXPECT_FALSE(d.needs_reset());
}

TEST(DeviceStatus, FailedIsReported) {
  DeviceStatus d(kOffered);
  d.write_status(kAck);
  EXPECT_EQ(d.write_status(kAck | VIRTIO_CONFIG_S_FAILED), T::kFailed);
}

// The loop thread bumps the generation (config changes) while a vCPU resets the device.
TEST(DeviceStatus, GenerationBumpsFromTwoThreadsAreAllCounted) {
  constexpr uint32_t kBumps = 100000;
  DeviceStatus d(kOffered);
  const uint32_t start = d.config_generation();
  std::thread loop([&d] {
    for (uint32_t i = 0; i < kBumps; ++i) d.bump_config_generation();
  });
  for (uint32_t i = 0; i < kBumps; ++i) d.write_status(0);  // each reset bumps too
  loop.join();
  EXPECT_EQ(d.config_generation(), start + 2 * kBumps);
}

// NEEDS_RESET set on the loop thread while a vCPU keeps writing status (no reset) survives.
TEST(DeviceStatus, NeedsResetFromAnotherThreadSurvivesStatusWrites) {
  constexpr uint8_t kRunning = kAck | kDriver | kFeaturesOk | kDriverOk;
  DeviceStatus d(kOffered);
  negotiate(d, kVersion1);
  d.write_status(kRunning);
  std::atomic<bool> set{false};
  std::thread loop([&] {
    d.set_needs_reset();
    set = true;
  });
  while (!set) d.write_status(kRunning);  // Linux's read-modify-write of the status byte
  loop.join();
  EXPECT_TRUE(d.needs_reset());
  EXPECT_TRUE(d.status() & kDriverOk);
}

}  // namespace
}  // namespace franca::virtio
