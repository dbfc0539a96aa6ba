// Queue activation: size rules and ring-area checks (virtio 1.x §2.7 / §2.8
// alignment tables, §4.1.4.3.2 queue_size; virtio-notes §1.9 "Queue setup").
#include <linux/virtio_config.h>

#include "tests/unit/devices/virtio/queue/queue_fixture.h"

namespace franca::virtio::queue_test {
namespace {

class ActivateTest : public QueueTest {
 protected:
  // The config a well-behaved driver programs, ready to be spoiled by a test.
  QueueConfig good_config(DriverQueueOptions options = {}) {
    options.packed = packed();
    driver_.emplace(ram_->memory(), options);
    return driver_->config();
  }
  std::expected<Queue, QueueError> activate(const QueueConfig& config) {
    return Queue::activate(config, driver_->features(), ram_->memory());
  }
  static constexpr uint64_t kRamEnd = TestRam::kDefaultSize;
};

TEST_P(ActivateTest, AcceptsWellFormedRings) {
  auto queue = activate(good_config());
  ASSERT_TRUE(queue);
  EXPECT_EQ(queue->size(), 8u);
  EXPECT_EQ(queue->packed(), packed());
  EXPECT_EQ(queue->config().desc, driver_->config().desc);
}

TEST_P(ActivateTest, RejectsZeroSize) {
  QueueConfig config = good_config();
  config.size = 0;
  EXPECT_EQ(activate(config).error(), QueueError::kBadSize);
}

TEST_P(ActivateTest, RejectsSizeAboveTheMaximum) {
  QueueConfig config = good_config({.size = 16, .max_size = 8});
  EXPECT_EQ(activate(config).error(), QueueError::kBadSize);
}

TEST_P(ActivateTest, RejectsMisalignedDescriptorArea) {
  QueueConfig config = good_config();
  config.desc += 8;
  EXPECT_EQ(activate(config).error(), QueueError::kMisaligned);
}

TEST_P(ActivateTest, RejectsMisalignedDriverArea) {
  QueueConfig config = good_config();
  config.driver += packed() ? 2 : 1;  // split: 2-byte, packed: 4-byte alignment
  EXPECT_EQ(activate(config).error(), QueueError::kMisaligned);
}

TEST_P(ActivateTest, RejectsMisalignedDeviceArea) {
  QueueConfig config = good_config();
  config.device += 2;
  EXPECT_EQ(activate(config).error(), QueueError::kMisaligned);
}

TEST_P(ActivateTest, RejectsDescriptorAreaOutsideRam) {
  QueueConfig config = good_config();
  config.desc = 2 * kRamEnd;
  EXPECT_EQ(activate(config).error(), QueueError::kRingOutsideRam);
}

TEST_P(ActivateTest, RejectsDriverAreaOutsideRam) {
  QueueConfig config = good_config();
  config.driver = 2 * kRamEnd;
  EXPECT_EQ(activate(config).error(), QueueError::kRingOutsideRam);
}

TEST_P(ActivateTest, RejectsDeviceAreaOutsideRam) {
  QueueConfig config = good_config();
  config.device = 2 * kRamEnd;
  EXPECT_EQ(activate(config).error(), QueueError::kRingOutsideRam);
}

TEST_P(ActivateTest, RejectsDescriptorAreaCrossingTheEndOfRam) {
  QueueConfig config = good_config();
  config.desc = kRamEnd - 16;  // 8 descriptors need 128 bytes
  EXPECT_EQ(activate(config).error(), QueueError::kRingOutsideRam);
}

TEST_P(ActivateTest, RejectsAreaThatWrapsTheAddressSpace) {
  QueueConfig config = good_config();
  config.desc = ~uint64_t{0} - 15;
  EXPECT_EQ(activate(config).error(), QueueError::kRingOutsideRam);
}

INSTANTIATE_TEST_SUITE_P(Formats, ActivateTest, ::testing::Values(false, true), format_name);

TEST(ActivateSplitTest, RejectsSizeThatIsNotAPowerOfTwo) {
  TestRam ram;
  DriverQueue driver(ram, {.size = 6});
  EXPECT_EQ(Queue::activate(driver.config(), driver.features(), ram).error(), QueueError::kBadSize);
}

TEST(ActivateSplitTest, RejectsAvailRingWhoseUsedEventIsOutsideRam) {
  TestRam ram;
  DriverQueue driver(ram, {.size = 8});
  QueueConfig config = driver.config();
  config.driver = TestRam::kDefaultSize - (4 + 2 * 8);  // flags, idx, ring fit; used_event does not
  EXPECT_EQ(Queue::activate(config, driver.features(), ram).error(), QueueError::kRingOutsideRam);
}

TEST(ActivateSplitTest, RejectsUsedRingWhoseAvailEventIsOutsideRam) {
  TestRam ram;
  DriverQueue driver(ram, {.size = 8});
  QueueConfig config = driver.config();
  config.device = TestRam::kDefaultSize - (4 + 8 * 8);  // flags, idx, ring fit; avail_event does not
  EXPECT_EQ(Queue::activate(config, driver.features(), ram).error(), QueueError::kRingOutsideRam);
}

TEST(ActivatePackedTest, AcceptsSizeThatIsNotAPowerOfTwo) {
  TestRam ram;
  DriverQueue driver(ram, {.size = 6, .packed = true});
  EXPECT_TRUE(Queue::activate(driver.config(), driver.features(), ram));
}

TEST(ActivatePackedTest, AcceptsTheLargestSize) {
  TestRam ram;
  DriverQueue driver(ram, {.size = 32768, .packed = true});
  EXPECT_TRUE(Queue::activate(driver.config(), driver.features(), ram));
}

TEST(ActivatePackedTest, RejectsSizeAbove32768) {
  TestRam ram;
  DriverQueue driver(ram, {.size = 8, .packed = true});
  QueueConfig config = driver.config();
  config.max_size = 40000;
  config.size = 32769;
  EXPECT_EQ(Queue::activate(config, driver.features(), ram).error(), QueueError::kBadSize);
}

TEST(RingFeaturesTest, ReadsTheRingBitsOfTheNegotiatedFeatures) {
  const auto features = RingFeatures::from((1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_RING_F_EVENT_IDX));
  EXPECT_TRUE(features.packed);
  EXPECT_TRUE(features.event_idx);
  EXPECT_FALSE(features.indirect);
}

TEST(QueueErrorTest, DescribesEveryError) {
  for (int e = 0; e <= static_cast<int>(QueueError::kTooLong); ++e) {
    EXPECT_NE(describe(static_cast<QueueError>(e)), "unknown queue error") << e;
  }
}

}  // namespace
}  // namespace franca::virtio::queue_test
