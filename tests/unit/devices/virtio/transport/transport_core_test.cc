// The transport core both transports share: the queue-register policy (setup
// window, 64-bit address halves, size / ready / enable) and NEEDS_RESET and the
// config generation raised from the loop thread, also after the core is gone.
#include "devices/virtio/transport/transport_core.h"

#include <gtest/gtest.h>
#include <linux/virtio_config.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

namespace franca::virtio {
namespace {

constexpr uint64_t kRamSize = 1 << 20;
constexpr uint8_t kAck = VIRTIO_CONFIG_S_ACKNOWLEDGE, kDriver = VIRTIO_CONFIG_S_DRIVER,
                  kFeaturesOk = VIRTIO_CONFIG_S_FEATURES_OK, kDriverOk = VIRTIO_CONFIG_S_DRIVER_OK;

class FakeDevice : public VirtioDevice {
 public:
  uint32_t device_type() const override { return 42; }
  const std::string& id() const override { return id_; }
  uint64_t offered_features() const override { return uint64_t{1} << VIRTIO_F_VERSION_1; }
  std::span<const FeatureName> feature_names() const override { return {}; }
  uint16_t num_queues() const override { return 2; }
  void read_config(uint64_t, std::span<uint8_t>) override {}
  Result<void> activate(DeviceContext ctx) override {
    interrupt = ctx.interrupt;
    fail = ctx.fail;
    ++activations;
    return {};
  }
  void reset() override {}

  // Kept past reset(), as a misbehaving device might.
  std::shared_ptr<Interrupt> interrupt;
  std::function<void(std::string_view)> fail;
  std::atomic<int> activations{0};

 private:
  std::string id_ = "fake0";
};

class CountingInterrupt : public Interrupt {
 public:
  void signal_used(uint16_t) override { ++used; }
  void signal_config() override { ++config; }
  std::atomic<int> used{0};
  std::atomic<int> config{0};
};

class TransportCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ram_.resize(kRamSize);
    MemoryRegion region{0, kRamSize, ram_.data()};
    memory_ = GuestMemory::over({&region, 1});
    loop_ = std::move(*EventLoop::create());
    loop_thread_ = std::thread([this] { loop_->run(); });
    core_ = std::move(*TransportCore::create(device_, memory_, *loop_, irq_));
  }
  void TearDown() override {
    core_.reset();
    loop_->stop();
    loop_thread_.join();
  }

  // Linux's probe up to FEATURES_OK: the queue setup window opens.
  void features_ok() {
    core_->write_status(0);
    core_->write_status(kAck);
    core_->write_status(kAck | kDriver);
    core_->set_driver_features(1, 1u << (VIRTIO_F_VERSION_1 - 32));
    ASSERT_EQ(core_->write_status(kAck | kDriver | kFeaturesOk), DeviceStatus::Transition::kFeaturesOk);
  }
  // DRIVER_OK with no queue enabled, then waits for the activation on the loop.
  void driver_ok() {
    features_ok();
    core_->write_status(kAck | kDriver | kFeaturesOk | kDriverOk);
    for (int i = 0; i < 2000 && device_->activations == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(device_->activations, 1);
  }
  bool needs_reset() const { return core_->status() & VIRTIO_CONFIG_S_NEEDS_RESET; }

  std::vector<uint8_t> ram_;
  GuestMemory memory_;
  std::unique_ptr<EventLoop> loop_;
  std::thread loop_thread_;
  std::shared_ptr<FakeDevice> device_ = std::make_shared<FakeDevice>();
  std::shared_ptr<CountingInterrupt> irq_ = std::make_shared<CountingInterrupt>();
  std::unique_ptr<TransportCore> core_;
};

TEST_F(TransportCoreTest, QueueWriteBeforeFeaturesOkIsRefused) {
  core_->write_status(kAck | kDriver);
  EXPECT_FALSE(core_->write_queue(0, QueueField::kSize, 16));
  EXPECT_EQ(core_->read_queue(0, QueueField::kSize), 256u);
}

TEST_F(TransportCoreTest, QueueSizeIsTakenInTheSetupWindow) {
  features_ok();
  EXPECT_TRUE(core_->write_queue(0, QueueField::kSize, 64));
  EXPECT_EQ(core_->read_queue(0, QueueField::kSize), 64u);
}

TEST_F(TransportCoreTest, QueueSizeAboveSixteenBitsIsClamped) {
  features_ok();
  core_->write_queue(0, QueueField::kSize, 0x12345);
  EXPECT_EQ(core_->queue(0)->size, 0xffff);
}

TEST_F(TransportCoreTest, AddressHalvesMergeIntoOne64BitAddress) {
  features_ok();
  core_->write_queue(1, QueueField::kDescHigh, 0x1);
  core_->write_queue(1, QueueField::kDescLow, 0x2000);
  EXPECT_EQ(core_->queue(1)->desc, 0x1'0000'2000u);
}

TEST_F(TransportCoreTest, WritingOneHalfKeepsTheOther) {
  features_ok();
  core_->write_queue(0, QueueField::kDeviceLow, 0x3000);
  core_->write_queue(0, QueueField::kDeviceHigh, 0x2);
  core_->write_queue(0, QueueField::kDeviceLow, 0x4000);
  EXPECT_EQ(core_->queue(0)->device, 0x2'0000'4000u);
}

TEST_F(TransportCoreTest, AddressHalvesReadBackSeparately) {
  features_ok();
  core_->queue(0)->driver = 0x5'0000'6000;
  EXPECT_EQ(core_->read_queue(0, QueueField::kDriverLow), 0x6000u);
  EXPECT_EQ(core_->read_queue(0, QueueField::kDriverHigh), 0x5u);
}

TEST_F(TransportCoreTest, ReadyQueueRefusesFurtherSetupWrites) {
  features_ok();
  core_->write_queue(0, QueueField::kSize, 32);
  core_->write_queue(0, QueueField::kReady, 1);
  EXPECT_FALSE(core_->write_queue(0, QueueField::kSize, 16));
  EXPECT_EQ(core_->queue(0)->size, 32);
}

TEST_F(TransportCoreTest, ReadyOtherThanOneLeavesTheQueueNotReady) {
  features_ok();
  core_->write_queue(0, QueueField::kReady, 2);
  EXPECT_EQ(core_->read_queue(0, QueueField::kReady), 0u);
}

TEST_F(TransportCoreTest, MmioReadyZeroWithdrawsAReadyQueue) {
  features_ok();
  core_->write_queue(0, QueueField::kReady, 1);
  EXPECT_TRUE(core_->write_queue(0, QueueField::kReady, 0));
  EXPECT_FALSE(core_->queue(0)->ready);
}

TEST_F(TransportCoreTest, MmioReadyZeroIsTakenOutsideTheSetupWindow) {
  core_->queue(0)->ready = true;
  EXPECT_TRUE(core_->write_queue(0, QueueField::kReady, 0));
  EXPECT_FALSE(core_->queue(0)->ready);
}

TEST_F(TransportCoreTest, PciEnableZeroOnAnEnabledQueueIsRefused) {
  features_ok();
  core_->write_queue(0, QueueField::kEnable, 1);
  EXPECT_FALSE(core_->write_queue(0, QueueField::kEnable, 0));
  EXPECT_EQ(core_->read_queue(0, QueueField::kEnable), 1u);
}

TEST_F(TransportCoreTest, QueueWriteAfterDriverOkIsRefused) {
  driver_ok();
  EXPECT_FALSE(core_->write_queue(1, QueueField::kSize, 16));
  EXPECT_EQ(core_->queue(1)->size, 256);
}

TEST_F(TransportCoreTest, QueueThatDoesNotExistIsRefusedAndReadsZero) {
  features_ok();
  EXPECT_FALSE(core_->write_queue(2, QueueField::kSize, 16));
  EXPECT_EQ(core_->read_queue(2, QueueField::kSize), 0u);
}

TEST_F(TransportCoreTest, FailOnTheLoopThreadSetsNeedsReset) {
  driver_ok();
  loop_->invoke([this] { device_->fail("ring corrupt"); });
  EXPECT_TRUE(needs_reset());
  EXPECT_EQ(irq_->config, 1);
}

TEST_F(TransportCoreTest, ConfigSignalOnTheLoopThreadBumpsTheGeneration) {
  driver_ok();
  const uint32_t before = core_->config_generation();
  loop_->invoke([this] { device_->interrupt->signal_config(); });
  EXPECT_NE(core_->config_generation(), before);
}

TEST_F(TransportCoreTest, ResetClearsNeedsReset) {
  driver_ok();
  core_->fail("ring corrupt");
  core_->write_status(0);
  EXPECT_FALSE(needs_reset());
}

// The device may keep its Interrupt and fail callback past the core (they share
// ownership of the DeviceStatus); using them then must be harmless.
TEST_F(TransportCoreTest, FailAfterTheCoreIsGoneIsHarmless) {
  driver_ok();
  core_.reset();
  loop_->invoke([this] { device_->fail("late"); });
  EXPECT_EQ(irq_->config, 1);
}

}  // namespace
}  // namespace franca::virtio
