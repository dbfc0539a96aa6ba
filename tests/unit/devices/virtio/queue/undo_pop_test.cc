// Queue::undo_pop: giving back chains popped but not used, so the next pop
// walks them again (split §2.7 and packed §2.8 rings); a wrong use is refused
// and leaves the ring as it was.
#include <vector>

#include "tests/unit/devices/virtio/queue/queue_fixture.h"

namespace franca::virtio::queue_test {
namespace {

class UndoPopTest : public QueueTest {
 protected:
  // Starts the queue with two published one-buffer chains, a and b.
  void start_with_two() {
    start();
    a_ = driver_->add({{kData, 16, true}});
    b_ = driver_->add({{kData + 0x100, 32, true}});
    driver_->publish();
  }
  bool ring_is_empty() {
    DescriptorChain chain;
    auto popped = queue_->pop(chain);
    return popped && !*popped;
  }
  uint16_t a_ = 0, b_ = 0;
};

TEST_P(UndoPopTest, GivenBackChainsPopAgainInTheSameOrder) {
  start_with_two();
  const uint16_t start = queue_->next_avail();
  const std::vector<DescriptorChain> chains{pop_chain(), pop_chain()};
  ASSERT_TRUE(queue_->undo_pop(chains));
  EXPECT_EQ(queue_->next_avail(), start);
  EXPECT_EQ(pop_chain().id(), a_);
  EXPECT_EQ(pop_chain().id(), b_);
  EXPECT_TRUE(ring_is_empty());
}

TEST_P(UndoPopTest, TheLastPopAloneMayBeGivenBack) {
  start_with_two();
  pop_chain();
  const uint16_t after_a = queue_->next_avail();
  const DescriptorChain b = pop_chain();
  ASSERT_TRUE(queue_->undo_pop(b));
  EXPECT_EQ(queue_->next_avail(), after_a);
  EXPECT_EQ(pop_chain().id(), b_);
}

TEST_P(UndoPopTest, OneAtATimeInReverseOrderGivesBackBoth) {
  start_with_two();
  const DescriptorChain a = pop_chain(), b = pop_chain();
  ASSERT_TRUE(queue_->undo_pop(b));
  ASSERT_TRUE(queue_->undo_pop(a));
  EXPECT_EQ(pop_chain().id(), a_);
}

TEST_P(UndoPopTest, GivenBackChainIsReportedOnceWhenUsed) {
  start_with_two();
  ASSERT_TRUE(queue_->undo_pop(pop_chain()));
  queue_->push(pop_chain(), 16);
  EXPECT_EQ(driver_->used(), (std::vector<UsedBuffer>{{a_, 16}}));
  EXPECT_EQ(pop_chain().id(), b_);
}

TEST_P(UndoPopTest, NothingToGiveBackIsANoOp) {
  start_with_two();
  pop_chain();
  const uint16_t before = queue_->next_avail();
  EXPECT_TRUE(queue_->undo_pop(std::span<const DescriptorChain>{}));
  EXPECT_EQ(queue_->next_avail(), before);
}

TEST_P(UndoPopTest, AnOlderPopIsRefused) {
  start_with_two();
  const DescriptorChain a = pop_chain();
  pop_chain();
  const uint16_t before = queue_->next_avail();
  EXPECT_FALSE(queue_->undo_pop(a));
  EXPECT_EQ(queue_->next_avail(), before);
  EXPECT_TRUE(ring_is_empty());
}

TEST_P(UndoPopTest, ChainsOutOfPopOrderAreRefused) {
  start_with_two();
  const DescriptorChain a = pop_chain(), b = pop_chain();
  const uint16_t before = queue_->next_avail();
  EXPECT_FALSE(queue_->undo_pop(std::vector<DescriptorChain>{b, a}));
  EXPECT_EQ(queue_->next_avail(), before);
}

TEST_P(UndoPopTest, MoreChainsThanWerePoppedAreRefused) {
  start_with_two();
  const DescriptorChain a = pop_chain();
  EXPECT_FALSE(queue_->undo_pop(std::vector<DescriptorChain>{a, a}));
  EXPECT_TRUE(queue_->undo_pop(a));  // the refusal changed nothing
}

TEST_P(UndoPopTest, AChainGivenBackTwiceIsRefusedTheSecondTime) {
  start_with_two();
  const DescriptorChain a = pop_chain();
  ASSERT_TRUE(queue_->undo_pop(a));
  EXPECT_FALSE(queue_->undo_pop(a));
  EXPECT_EQ(pop_chain().id(), a_);
}

TEST_P(UndoPopTest, AChainNeverPoppedIsRefused) {
  start_with_two();
  const uint16_t before = queue_->next_avail();
  EXPECT_FALSE(queue_->undo_pop(DescriptorChain{}));
  EXPECT_EQ(queue_->next_avail(), before);
  EXPECT_EQ(pop_chain().id(), a_);
}

// Packed: the used entry of a goes into the ring slot b was popped from.
TEST_P(UndoPopTest, APushEndsWhatCanBeGivenBack) {
  start_with_two();
  const DescriptorChain a = pop_chain(), b = pop_chain();
  queue_->push(b, 32);
  const uint16_t before = queue_->next_avail();
  EXPECT_FALSE(queue_->undo_pop(a));
  EXPECT_EQ(queue_->next_avail(), before);
  queue_->push(a, 16);
  EXPECT_EQ(driver_->used(), (std::vector<UsedBuffer>{{b_, 32}, {a_, 16}}));
}

TEST_P(UndoPopTest, SettingTheRingStateEndsWhatCanBeGivenBack) {
  start_with_two();
  const DescriptorChain a = pop_chain();
  queue_->set_next_avail(queue_->next_avail());
  EXPECT_FALSE(queue_->undo_pop(a));
}

TEST_P(UndoPopTest, AFailedPopEndsWhatCanBeGivenBack) {
  start();
  driver_->add({{kData, 16, true}});
  driver_->add({{kData, 4, true}, {kData, 4, false}});  // readable after writable
  driver_->publish();
  const DescriptorChain a = pop_chain();
  pop_error();
  EXPECT_FALSE(queue_->undo_pop(a));
}

INSTANTIATE_TEST_SUITE_P(Formats, UndoPopTest, ::testing::Values(false, true), format_name);

TEST(SplitUndoPopTest, GivingBackAcrossTheIndexWrapRestoresTheIndex) {
  TestRam ram;
  DriverQueue driver(ram, {.size = 4});
  driver.start_at(65535);
  auto queue = Queue::activate(driver.config(), driver.features(), ram);
  ASSERT_TRUE(queue);
  queue->set_next_avail(65535);
  queue->set_next_used(65535);
  driver.add({{kData, 4, true}});
  driver.add({{kData, 4, true}});
  driver.publish();
  std::vector<DescriptorChain> chains(2);
  ASSERT_EQ(queue->pop(chains[0]), true);
  ASSERT_EQ(queue->pop(chains[1]), true);
  EXPECT_EQ(queue->next_avail(), 1u);
  ASSERT_TRUE(queue->undo_pop(chains));
  EXPECT_EQ(queue->next_avail(), 65535u);
}

TEST(PackedUndoPopTest, GivingBackAChainThatWrappedRestoresTheWrapCounter) {
  TestRam ram;
  DriverQueue driver(ram, {.size = 4, .packed = true});
  driver.start_at(0x8003);  // the last slot of the first lap
  auto queue = Queue::activate(driver.config(), driver.features(), ram);
  ASSERT_TRUE(queue);
  queue->set_next_avail(0x8003);
  queue->set_next_used(0x8003);
  const uint16_t id = driver.add({{kData, 4, false}, {kData + 8, 4, true}, {kData + 16, 4, true}});
  driver.publish();
  DescriptorChain chain;
  ASSERT_EQ(queue->pop(chain), true);
  EXPECT_EQ(queue->next_avail(), 0x0002);  // offset 2 of the next lap
  ASSERT_TRUE(queue->undo_pop(chain));
  EXPECT_EQ(queue->next_avail(), 0x8003);
  ASSERT_EQ(queue->pop(chain), true);
  EXPECT_EQ(chain.id(), id);
  EXPECT_EQ(chain.ring_slots(), 3u);
  queue->push(chain, 8);
  EXPECT_EQ(driver.used(), (std::vector<UsedBuffer>{{id, 8}}));
}

}  // namespace
}  // namespace franca::virtio::queue_test
