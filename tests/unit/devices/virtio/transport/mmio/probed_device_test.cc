// tests/support/probed_device.h itself: the Linux probe over a real MmioTransport
// activates the device with the features and rings the driver chose, kicks and
// signals pass through the transport, and reset / re-probe start again.
#include "tests/support/probed_device.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <unistd.h>

#include "tests/support/driver_queue.h"
#include "tests/support/fake_device.h"
#include "tests/support/loop_thread.h"

namespace franca::testing {
namespace {

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }
constexpr uint64_t kDeviceFeature = bit(3);

class ProbedDeviceTest : public ::testing::Test {
 protected:
  void TearDown() override {
    dev_.reset();
    loop_.stop();
  }
  void create(uint64_t offered, bool signal_on_activate = false) {
    device_ = std::make_shared<FakeDevice>(
        FakeDevice::Options{.features = offered | bit(VIRTIO_F_VERSION_1), .signal_on_activate = signal_on_activate});
    dev_ = std::make_unique<ProbedDevice>(device_, ram_, loop_.loop());
  }

  TestRam ram_;
  LoopThread loop_;
  std::shared_ptr<FakeDevice> device_;
  std::unique_ptr<ProbedDevice> dev_;
};

TEST_F(ProbedDeviceTest, ProbeActivatesWithEverythingOfferedLessTheMask) {
  create(kDeviceFeature | bit(VIRTIO_RING_F_EVENT_IDX));
  ASSERT_TRUE(dev_->probe({.mask = kDeviceFeature, .queues = ProbeOptions::rings(2)}));
  ASSERT_EQ(device_->activations, 1);
  EXPECT_EQ(device_->ctx_->features, bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_RING_F_EVENT_IDX));
  EXPECT_EQ(dev_->features(), device_->ctx_->features);
  ASSERT_EQ(device_->ctx_->queues.size(), 2u);
  EXPECT_EQ(device_->ctx_->queues[1].index, 1);
  EXPECT_TRUE(dev_->status() & VIRTIO_CONFIG_S_DRIVER_OK);
  EXPECT_FALSE(dev_->needs_reset());
}

TEST_F(ProbedDeviceTest, ExactFeaturesAreWhatTheDriverWrites) {
  create(kDeviceFeature | bit(VIRTIO_RING_F_EVENT_IDX));
  ASSERT_TRUE(dev_->probe({.features = bit(VIRTIO_F_VERSION_1) | kDeviceFeature, .queues = {}}));
  EXPECT_EQ(device_->ctx_->features, bit(VIRTIO_F_VERSION_1) | kDeviceFeature);
  EXPECT_TRUE(device_->ctx_->queues.empty());
}

TEST_F(ProbedDeviceTest, DriverRingsFollowTheNegotiatedRingFeatures) {
  create(bit(VIRTIO_F_RING_PACKED) | bit(VIRTIO_RING_F_INDIRECT_DESC));
  ASSERT_TRUE(dev_->probe({.mask = bit(VIRTIO_RING_F_INDIRECT_DESC), .queues = ProbeOptions::rings(1, 16)}));
  EXPECT_TRUE(dev_->queue(0).features().packed);
  EXPECT_FALSE(dev_->queue(0).features().indirect);
  EXPECT_FALSE(dev_->queue(0).features().event_idx);
  EXPECT_EQ(dev_->queue(0).config().size, 16);
}

TEST_F(ProbedDeviceTest, QueuesPastTheLayoutStayDisabled) {
  create(0);
  ASSERT_TRUE(dev_->probe({.queues = ProbeOptions::rings(1)}));
  ASSERT_EQ(device_->ctx_->queues.size(), 1u);
  EXPECT_EQ(dev_->queues(), 1u);
}

TEST_F(ProbedDeviceTest, KickIsAQueueNotifyThatReachesTheQueueEventfd) {
  create(0);
  ASSERT_TRUE(dev_->probe({.queues = ProbeOptions::rings(2)}));
  dev_->kick(1);
  uint64_t count = 0;
  EXPECT_EQ(::read(device_->ctx_->queues[1].kick_fd, &count, sizeof(count)), 8);
  EXPECT_EQ(count, 1u);
}

TEST_F(ProbedDeviceTest, UsedSignalIsCountedAndRaisesTheTransportInterrupt) {
  create(0, /*signal_on_activate=*/true);
  ASSERT_TRUE(dev_->probe({.queues = ProbeOptions::rings(2)}));
  EXPECT_EQ(dev_->signals().used[0], 1);
  EXPECT_EQ(dev_->irq().raised, 1);
  EXPECT_EQ(dev_->interrupt_status(), static_cast<uint32_t>(VIRTIO_MMIO_INT_VRING));
  dev_->ack_interrupts(VIRTIO_MMIO_INT_VRING);
  EXPECT_EQ(dev_->interrupt_status(), 0u);
}

TEST_F(ProbedDeviceTest, ConfigSignalIsCountedAndBumpsTheGeneration) {
  create(0);
  ASSERT_TRUE(dev_->probe({.queues = ProbeOptions::rings(2)}));
  const uint32_t generation = dev_->config_generation();
  device_->ctx_->interrupt->signal_config();
  EXPECT_EQ(dev_->signals().config, 1);
  EXPECT_TRUE(dev_->interrupt_status() & VIRTIO_MMIO_INT_CONFIG);
  EXPECT_NE(dev_->config_generation(), generation);
}

TEST_F(ProbedDeviceTest, DeviceFailureIsKeptAndSetsNeedsReset) {
  create(0);
  ASSERT_TRUE(dev_->probe({.queues = ProbeOptions::rings(2)}));
  loop_.sync([&] { device_->ctx_->fail("bad ring"); });
  EXPECT_EQ(dev_->failures(), std::vector<std::string>{"bad ring"});
  EXPECT_TRUE(dev_->needs_reset());
}

TEST_F(ProbedDeviceTest, ConfigReadsGoThroughTheTransportWindow) {
  create(0);
  EXPECT_EQ(dev_->read_config(4, 2), (std::vector<uint8_t>{0xa4, 0xa5}));
  EXPECT_EQ(dev_->config<uint16_t>(6), 0xa7a6);
}

TEST_F(ProbedDeviceTest, ReprobeResetsTheDeviceAndActivatesItAgain) {
  create(0);
  ASSERT_TRUE(dev_->probe({.queues = ProbeOptions::rings(2)}));
  ASSERT_TRUE(dev_->reprobe());
  EXPECT_EQ(device_->resets, 1);
  EXPECT_EQ(device_->activations, 2);
  EXPECT_EQ(dev_->activations(), 2);
}

TEST_F(ProbedDeviceTest, ResetLeavesStatusZeroAndTheDeviceStopped) {
  create(0);
  ASSERT_TRUE(dev_->probe({.queues = ProbeOptions::rings(2)}));
  dev_->reset();
  EXPECT_EQ(dev_->status(), 0u);
  EXPECT_EQ(device_->resets, 1);
  EXPECT_EQ(device_->ctx_, nullptr);
}

TEST_F(ProbedDeviceTest, FeaturesOkClearedByTheDeviceFailsTheTest) {
  create(kDeviceFeature);
  // No VERSION_1: a modern device refuses FEATURES_OK.
  EXPECT_NONFATAL_FAILURE(EXPECT_FALSE(dev_->set_up({.features = kDeviceFeature, .queues = {}})),
                          "cleared FEATURES_OK");
  EXPECT_EQ(device_->activations, 0);
}

TEST_F(ProbedDeviceTest, QueueLargerThanQueueNumMaxFailsTheTest) {
  create(0);
  EXPECT_NONFATAL_FAILURE(EXPECT_FALSE(dev_->set_up({.queues = ProbeOptions::rings(1, 1024)})), "QueueNumMax");
}

}  // namespace
}  // namespace franca::testing
