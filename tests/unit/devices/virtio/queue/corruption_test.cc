// A hostile driver: every QueueError a corrupt ring can cause is reported by
// pop(), without crashing (virtio 1.x §2.7.5.2 / §2.8.7 device requirements,
// virtio-notes §1.9 "Per request").
#include <cstring>

#include "tests/unit/devices/virtio/queue/queue_fixture.h"

namespace franca::virtio::queue_test {
namespace {

using CorruptionTest = QueueTest;

TEST_P(CorruptionTest, HeadOutOfRangeIsRejected) {
  start();
  const uint16_t id = driver_->add({{kData, 4, false}});
  driver_->set_head(id, 8);  // split: avail ring entry; packed: buffer id
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kBadHead);
}

TEST_P(CorruptionTest, IndirectWithoutTheFeatureIsRejected) {
  start({.indirect = false});
  driver_->add_indirect({{kData, 4, false}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kIndirectNotOffered);
}

TEST_P(CorruptionTest, NestedIndirectTableIsRejected) {
  start({.indirect = true});
  const uint64_t inner = driver_->write_table({{kData, 4, false}});
  driver_->add_indirect({{inner, 16, false, VRING_DESC_F_INDIRECT}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kIndirectNested);
}

TEST_P(CorruptionTest, IndirectTableOfZeroLengthIsRejected) {
  start({.indirect = true});
  driver_->add({{driver_->write_table({{kData, 4, false}}), 0, false, VRING_DESC_F_INDIRECT}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kIndirectBadLength);
}

TEST_P(CorruptionTest, IndirectTableLengthNotAMultipleOf16IsRejected) {
  start({.indirect = true});
  driver_->add({{driver_->write_table({{kData, 4, false}}), 17, false, VRING_DESC_F_INDIRECT}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kIndirectBadLength);
}

TEST_P(CorruptionTest, IndirectTableAboveTheEntryCapIsRejected) {
  start({.indirect = true});
  driver_->add({{kData, 16 * 1025, false, VRING_DESC_F_INDIRECT}});  // max(size, 1024) entries
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kIndirectBadLength);
}

TEST_P(CorruptionTest, IndirectTableOutsideRamIsRejected) {
  start({.indirect = true});
  driver_->add({{TestRam::kDefaultSize - 16, 32, false, VRING_DESC_F_INDIRECT}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kBufferOutsideRam);
}

TEST_P(CorruptionTest, WritableThenReadableIsRejected) {
  start();
  driver_->add({{kData, 4, true}, {kData, 4, false}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kReadableAfterWritable);
}

TEST_P(CorruptionTest, WritableThenReadableInsideAnIndirectTableIsRejected) {
  start({.indirect = true});
  driver_->add_indirect({{kData, 4, true}, {kData, 4, false}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kReadableAfterWritable);
}

TEST_P(CorruptionTest, ReadableIndirectTableAfterWritableDescriptorsIsRejected) {
  start({.indirect = true});
  driver_->add_mixed({{kData, 4, true}}, {{kData, 4, false}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kReadableAfterWritable);
}

TEST_P(CorruptionTest, BufferOutsideRamIsRejected) {
  start();
  driver_->add({{kData, 4, false}, {0x4000'0000, 4, true}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kBufferOutsideRam);
}

TEST_P(CorruptionTest, BufferCrossingTheEndOfRamIsRejected) {
  start();
  driver_->add({{TestRam::kDefaultSize - 4, 8, true}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kBufferOutsideRam);
}

TEST_P(CorruptionTest, BufferAtTheTopOfTheAddressSpaceIsRejected) {
  start();
  driver_->add({{~uint64_t{0} - 3, 8, false}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kBufferOutsideRam);
}

TEST_P(CorruptionTest, ChainAbove4GiBIsRejected) {
  constexpr uint64_t kBig = 0x4000'0000;  // a 3 GiB region at 1 GiB, never touched
  ram_ = std::make_unique<TestRam>(TestRam::kDefaultSize, kBig, 3 * kBig);
  start();
  driver_->add({{kBig, 0xC000'0000, false}, {kBig, 0xC000'0000, true}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kTooLong);
}

TEST_P(CorruptionTest, ErrorsDoNotConsumeTheChain) {
  start();
  driver_->add({{0x4000'0000, 4, false}});
  driver_->publish();
  pop_error();
  EXPECT_EQ(pop_error(), QueueError::kBufferOutsideRam);
}

INSTANTIATE_TEST_SUITE_P(Formats, CorruptionTest, ::testing::Values(false, true), format_name);

using SplitCorruptionTest = QueueTest;

TEST_P(SplitCorruptionTest, AvailIdxJumpIsRejected) {
  start();
  driver_->set_avail_idx(9);  // 9 chains "available" in a ring of 8
  EXPECT_EQ(pop_error(), QueueError::kAvailIdxJump);
}

TEST_P(SplitCorruptionTest, NextOutOfRangeIsRejected) {
  start();
  const uint16_t id = driver_->add({{kData, 4, false}});
  driver_->set_next(id, 0, 8);
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kBadNext);
}

TEST_P(SplitCorruptionTest, NextOutOfRangeInsideAnIndirectTableIsRejected) {
  start({.indirect = true});
  const uint64_t table = driver_->write_table({{kData, 4, false}, {kData, 4, false}});
  vring_desc entry;
  std::memcpy(&entry, &ram_->bytes()[table], sizeof(entry));
  entry.next = 2;  // the table has two entries
  std::memcpy(&ram_->bytes()[table], &entry, sizeof(entry));
  driver_->add({{table, 32, false, VRING_DESC_F_INDIRECT}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kBadNext);
}

TEST_P(SplitCorruptionTest, LoopThroughNextIsRejected) {
  start();
  const uint16_t id = driver_->add({{kData, 4, false}, {kData, 4, false}});
  driver_->set_next(id, 1, id);  // the second descriptor points back at the head
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kChainTooLong);
}

TEST_P(SplitCorruptionTest, LoopInsideAnIndirectTableIsRejected) {
  start({.indirect = true});
  driver_->add_indirect({{kData, 4, false, VRING_DESC_F_NEXT}});  // entry 0: NEXT, next = 0
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kChainTooLong);
}

TEST_P(SplitCorruptionTest, IndirectWithNextIsRejected) {
  start({.indirect = true});
  driver_->add({{driver_->write_table({{kData, 4, false}}), 16, false, VRING_DESC_F_INDIRECT}, {kData, 4, false}});
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kIndirectWithNext);
}

INSTANTIATE_TEST_SUITE_P(Split, SplitCorruptionTest, ::testing::Values(false), format_name);

using PackedCorruptionTest = QueueTest;

TEST_P(PackedCorruptionTest, ChainLongerThanTheRingIsRejected) {
  start();
  driver_->add(std::vector<DriverBuffer>(8, DriverBuffer{kData, 4, false, VRING_DESC_F_NEXT}));
  driver_->publish();
  EXPECT_EQ(pop_error(), QueueError::kChainTooLong);
}

TEST_P(PackedCorruptionTest, IndirectWithNextContinuesInTheRing) {
  start({.indirect = true});
  driver_->add({{driver_->write_table({{kData, 4, false}}), 16, false, VRING_DESC_F_INDIRECT}, {kData, 8, true}});
  driver_->publish();
  DescriptorChain chain = pop_chain();
  EXPECT_EQ(chain.ring_slots(), 2u);
  EXPECT_EQ(chain.readable_bytes(), 4u);
  EXPECT_EQ(chain.writable_bytes(), 8u);
}

INSTANTIATE_TEST_SUITE_P(Packed, PackedCorruptionTest, ::testing::Values(true), format_name);

}  // namespace
}  // namespace franca::virtio::queue_test
