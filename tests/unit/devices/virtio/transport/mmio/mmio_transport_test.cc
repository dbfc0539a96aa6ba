// virtio-mmio v2 transport: the register-level probe sequence of Linux's
// virtio_mmio driver, feature negotiation, queue setup window, interrupts,
// NEEDS_RESET on a bad ring, and reset.
#include "devices/virtio/transport/mmio/mmio_transport.h"

#include <gtest/gtest.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "tests/support/fake_device.h"
#include "tests/support/fake_irq.h"
#include "tests/support/loop_thread.h"

namespace franca::virtio {
namespace {

constexpr uint64_t kDeviceFeature = uint64_t{1} << 3;
constexpr uint64_t kRamSize = 1 << 20;

using testing::FakeDevice;

class MmioTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ram_.resize(kRamSize);
    MemoryRegion region{0, kRamSize, ram_.data()};
    memory_ = GuestMemory::over({&region, 1});
    device_ = std::make_shared<FakeDevice>(FakeDevice::Options{
        .features = kDeviceFeature | (uint64_t{1} << VIRTIO_RING_F_EVENT_IDX) | (uint64_t{1} << VIRTIO_F_VERSION_1)});
    transport_ = *MmioTransport::create(device_, memory_, loop_.loop(), irq_);
  }
  void TearDown() override {
    transport_.reset();
    loop_.stop();
  }

  uint32_t rd(uint64_t offset) {
    uint32_t v = 0;
    transport_->read(offset, {reinterpret_cast<uint8_t*>(&v), 4});
    return v;
  }
  void wr(uint64_t offset, uint32_t v) { transport_->write(offset, {reinterpret_cast<const uint8_t*>(&v), 4}); }
  void add_status(uint32_t bits) { wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | bits); }

  // virtio_mmio.c vm_probe + virtio_dev_probe up to FEATURES_OK.
  void negotiate(uint64_t accepted) {
    ASSERT_EQ(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976u);
    ASSERT_EQ(rd(VIRTIO_MMIO_VERSION), 2u);
    ASSERT_EQ(rd(VIRTIO_MMIO_DEVICE_ID), 42u);
    wr(VIRTIO_MMIO_STATUS, 0);
    add_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
    add_status(VIRTIO_CONFIG_S_DRIVER);
    wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(accepted >> 32));
    wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(accepted));
    add_status(VIRTIO_CONFIG_S_FEATURES_OK);
  }
  // vm_setup_vq for queue `q` with a split ring of 16 entries at `base`.
  void setup_queue(uint32_t q, uint64_t base) {
    wr(VIRTIO_MMIO_QUEUE_SEL, q);
    ASSERT_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0u);
    ASSERT_GE(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 16u);
    wr(VIRTIO_MMIO_QUEUE_NUM, 16);
    wr(VIRTIO_MMIO_QUEUE_DESC_LOW, static_cast<uint32_t>(base));
    wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, static_cast<uint32_t>(base >> 32));
    wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, static_cast<uint32_t>(base + 0x1000));
    wr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
    wr(VIRTIO_MMIO_QUEUE_USED_LOW, static_cast<uint32_t>(base + 0x2000));
    wr(VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
    wr(VIRTIO_MMIO_QUEUE_READY, 1);
  }
  bool wait_for(const std::function<bool()>& cond) {
    for (int i = 0; i < 2000 && !cond(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return cond();
  }
  void probe_to_driver_ok() {
    const int before = device_->activations;
    negotiate(kDeviceFeature | (uint64_t{1} << VIRTIO_F_VERSION_1));
    setup_queue(0, 0x10000);
    setup_queue(1, 0x20000);
    add_status(VIRTIO_CONFIG_S_DRIVER_OK);
    ASSERT_TRUE(wait_for([this, before] { return device_->activations == before + 1; }));
  }

  std::vector<uint8_t> ram_;
  GuestMemory memory_;
  testing::LoopThread loop_;
  std::shared_ptr<testing::FakeIrq> irq_ = std::make_shared<testing::FakeIrq>();
  std::shared_ptr<FakeDevice> device_;
  std::shared_ptr<MmioTransport> transport_;
};

TEST_F(MmioTransportTest, LinuxProbeSequenceActivatesTheDeviceWithBothQueues) {
  probe_to_driver_ok();
  ASSERT_EQ(device_->ctx_->queues.size(), 2u);
  EXPECT_EQ(device_->ctx_->queues[1].index, 1);
  EXPECT_EQ(device_->ctx_->features, kDeviceFeature | (uint64_t{1} << VIRTIO_F_VERSION_1));
  EXPECT_EQ(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_DRIVER_OK);
}

TEST_F(MmioTransportTest, DeviceFeatureWindowsIncludeVersion1) {
  wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
  EXPECT_EQ(rd(VIRTIO_MMIO_DEVICE_FEATURES) & kDeviceFeature, kDeviceFeature);
  wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
  EXPECT_EQ(rd(VIRTIO_MMIO_DEVICE_FEATURES), 1u << (VIRTIO_F_VERSION_1 - 32));
  wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
  EXPECT_EQ(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0u);
}

TEST_F(MmioTransportTest, UnofferedFeatureIsRefusedAtFeaturesOk) {
  negotiate((uint64_t{1} << 5) | (uint64_t{1} << VIRTIO_F_VERSION_1));
  EXPECT_EQ(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK, 0u);
}

TEST_F(MmioTransportTest, QueueRegistersAreIgnoredBeforeFeaturesOk) {
  wr(VIRTIO_MMIO_QUEUE_SEL, 0);
  wr(VIRTIO_MMIO_QUEUE_READY, 1);
  EXPECT_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0u);
}

TEST_F(MmioTransportTest, AbsentQueueReportsMaxSizeZero) {
  wr(VIRTIO_MMIO_QUEUE_SEL, 2);
  EXPECT_EQ(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0u);
}

TEST_F(MmioTransportTest, ConfigSpaceReadsReachTheDevice) {
  uint8_t bytes[2] = {};
  transport_->read(MmioTransport::kConfigOffset + 4, bytes);
  EXPECT_EQ(bytes[0], 0xa4);
  EXPECT_EQ(bytes[1], 0xa5);
}

TEST_F(MmioTransportTest, NarrowRegisterAccessIsIgnored) {
  uint8_t byte = 0x55;
  transport_->read(VIRTIO_MMIO_MAGIC_VALUE, {&byte, 1});
  EXPECT_EQ(byte, 0);
  transport_->write(VIRTIO_MMIO_STATUS, {&byte, 1});
  EXPECT_EQ(rd(VIRTIO_MMIO_STATUS), 0u);
}

TEST_F(MmioTransportTest, NotifyWriteSignalsTheQueueKickEventfd) {
  probe_to_driver_ok();
  wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
  uint64_t count = 0;
  EXPECT_EQ(::read(transport_->kick_fd(1), &count, sizeof(count)), 8);
  EXPECT_EQ(count, 1u);
  EXPECT_LT(::read(transport_->kick_fd(0), &count, sizeof(count)), 0);
}

TEST_F(MmioTransportTest, UsedSignalSetsInterruptStatusAndAckClearsIt) {
  probe_to_driver_ok();
  device_->ctx_->interrupt->signal_used(0);
  EXPECT_EQ(rd(VIRTIO_MMIO_INTERRUPT_STATUS), static_cast<uint32_t>(VIRTIO_MMIO_INT_VRING));
  EXPECT_EQ(irq_->raised, 1);
  wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
  EXPECT_EQ(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0u);
}

TEST_F(MmioTransportTest, RingOutsideRamSetsNeedsResetWithConfigInterrupt) {
  negotiate(uint64_t{1} << VIRTIO_F_VERSION_1);
  setup_queue(0, kRamSize - 0x100);  // avail and used rings past the end of RAM
  add_status(VIRTIO_CONFIG_S_DRIVER_OK);
  EXPECT_TRUE(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
  EXPECT_TRUE(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
  EXPECT_EQ(device_->activations, 0);
}

TEST_F(MmioTransportTest, DeviceFailureSetsNeedsReset) {
  probe_to_driver_ok();
  loop_.loop().invoke([this] { device_->ctx_->fail("test corruption"); });
  EXPECT_TRUE(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

TEST_F(MmioTransportTest, ResetStopsTheDeviceAndClearsQueues) {
  probe_to_driver_ok();
  wr(VIRTIO_MMIO_STATUS, 0);
  EXPECT_EQ(device_->resets, 1);
  EXPECT_EQ(rd(VIRTIO_MMIO_STATUS), 0u);
  wr(VIRTIO_MMIO_QUEUE_SEL, 0);
  EXPECT_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0u);
  EXPECT_EQ(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0u);
}

TEST_F(MmioTransportTest, SameFeaturesRenegotiateAfterReset) {
  probe_to_driver_ok();
  wr(VIRTIO_MMIO_STATUS, 0);
  probe_to_driver_ok();
  EXPECT_EQ(device_->activations, 2);
}

TEST_F(MmioTransportTest, ConfigGenerationChangesOnReset) {
  const uint32_t before = rd(VIRTIO_MMIO_CONFIG_GENERATION);
  wr(VIRTIO_MMIO_STATUS, 0);
  EXPECT_NE(rd(VIRTIO_MMIO_CONFIG_GENERATION), before);
}

TEST_F(MmioTransportTest, ConfigSignalChangesTheConfigGeneration) {
  probe_to_driver_ok();
  const uint32_t before = rd(VIRTIO_MMIO_CONFIG_GENERATION);
  device_->ctx_->interrupt->signal_config();
  EXPECT_NE(rd(VIRTIO_MMIO_CONFIG_GENERATION), before);
  EXPECT_TRUE(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
}

}  // namespace
}  // namespace franca::virtio
