// Popping and pushing well-formed chains (virtio 1.x §2.7.13 / §2.8.21
// "supplying buffers", §2.7.8 / §2.8.9 used buffers): simple, indirect and
// mixed chains, out-of-order completion, index wrap and packed wrap counters.
#include <algorithm>
#include <cstring>
#include <vector>

#include "tests/unit/devices/virtio/queue/queue_fixture.h"

namespace franca::virtio::queue_test {
namespace {

using DatapathTest = QueueTest;

TEST_P(DatapathTest, PopReportsAnEmptyRing) {
  start();
  DescriptorChain chain;
  auto popped = queue_->pop(chain);
  ASSERT_TRUE(popped);
  EXPECT_FALSE(*popped);
}

TEST_P(DatapathTest, PopReturnsReadableThenWritableBuffers) {
  start();
  const uint16_t id = driver_->add({{kData, 16, false}, {kData + 0x100, 8, false}, {kData + 0x1000, 512, true}});
  driver_->publish();
  DescriptorChain chain = pop_chain();
  EXPECT_EQ(chain.id(), id);
  ASSERT_EQ(chain.readable().size(), 2u);
  ASSERT_EQ(chain.writable().size(), 1u);
  EXPECT_EQ(chain.readable()[1].gpa, kData + 0x100);
  EXPECT_EQ(chain.readable_bytes(), 24u);
  EXPECT_EQ(chain.writable_bytes(), 512u);
}

TEST_P(DatapathTest, BuffersResolveToTheirHostBytes) {
  start();
  ram_->bytes()[kData] = 0xab;
  driver_->add({{kData, 1, false}, {kData + 0x10, 1, true}});
  driver_->publish();
  DescriptorChain chain = pop_chain();
  EXPECT_EQ(ChainReader(chain).read_obj<uint8_t>(), uint8_t{0xab});
  ChainWriter(chain).write_obj<uint8_t>(0xcd);
  EXPECT_EQ(ram_->bytes()[kData + 0x10], 0xcd);
}

TEST_P(DatapathTest, PushReportsIdAndWrittenLength) {
  start();
  const uint16_t id = driver_->add({{kData, 16, false}, {kData + 0x1000, 512, true}});
  driver_->publish();
  queue_->push(pop_chain(), 300);
  EXPECT_EQ(driver_->used(), (std::vector<UsedBuffer>{{id, 300}}));
}

TEST_P(DatapathTest, PushOfAReadOnlyChainReportsZeroLength) {
  start();
  const uint16_t id = driver_->add({{kData, 16, false}});
  driver_->publish();
  queue_->push(pop_chain(), 0);
  EXPECT_EQ(driver_->used(), (std::vector<UsedBuffer>{{id, 0}}));
}

TEST_P(DatapathTest, ChainsPopInPublishedOrderAndThenTheRingIsEmpty) {
  start();
  const uint16_t a = driver_->add({{kData, 1, false}});
  const uint16_t b = driver_->add({{kData, 2, false}, {kData, 2, true}});
  driver_->publish();
  EXPECT_EQ(pop_chain().id(), a);
  EXPECT_EQ(pop_chain().id(), b);
  DescriptorChain chain;
  EXPECT_EQ(queue_->pop(chain), false);
}

TEST_P(DatapathTest, OutOfOrderCompletionReportsEachIdInCompletionOrder) {
  start({.size = 4});
  const uint16_t a = driver_->add({{kData, 1, false}, {kData, 8, true}});
  const uint16_t b = driver_->add({{kData, 1, false}});
  const uint16_t c = driver_->add({{kData, 4, true}});
  driver_->publish();
  const DescriptorChain ca = pop_chain(), cb = pop_chain(), cc = pop_chain();
  queue_->push(cc, 4);
  queue_->push(ca, 8);
  queue_->push(cb, 0);
  EXPECT_EQ(driver_->used(), (std::vector<UsedBuffer>{{c, 4}, {a, 8}, {b, 0}}));
}

TEST_P(DatapathTest, RingKeepsWorkingAfterOutOfOrderCompletion) {
  start({.size = 4});
  std::vector<DescriptorChain> chains;
  for (int i = 0; i < 2; ++i) driver_->add({{kData, 1, false}, {kData, 1, true}});
  driver_->publish();
  chains.push_back(pop_chain());
  chains.push_back(pop_chain());
  queue_->push(chains[1], 1);
  queue_->push(chains[0], 1);
  ASSERT_EQ(driver_->used().size(), 2u);
  const uint16_t id = driver_->add({{kData, 3, false}, {kData, 1, true}});
  driver_->publish();
  queue_->push(pop_chain(), 1);
  EXPECT_EQ(driver_->used(), (std::vector<UsedBuffer>{{id, 1}}));
}

TEST_P(DatapathTest, IndirectChainYieldsTheTableBuffers) {
  start({.indirect = true});
  const uint16_t id = driver_->add_indirect({{kData, 16, false}, {kData + 0x100, 32, true}, {kData + 0x200, 8, true}});
  driver_->publish();
  DescriptorChain chain = pop_chain();
  EXPECT_EQ(chain.id(), id);
  EXPECT_EQ(chain.ring_slots(), 1u);
  EXPECT_EQ(chain.readable_bytes(), 16u);
  ASSERT_EQ(chain.writable().size(), 2u);
  EXPECT_EQ(chain.writable()[1].gpa, kData + 0x200);
}

TEST_P(DatapathTest, DirectDescriptorsMayBeFollowedByAnIndirectTable) {
  start({.indirect = true});
  driver_->add_mixed({{kData, 16, false}, {kData + 0x10, 4, false}},
                     {{kData + 0x20, 4, false}, {kData + 0x100, 64, true}});
  driver_->publish();
  DescriptorChain chain = pop_chain();
  EXPECT_EQ(chain.ring_slots(), packed() ? 3u : 1u);
  EXPECT_EQ(chain.readable().size(), 3u);
  EXPECT_EQ(chain.readable_bytes(), 24u);
  EXPECT_EQ(chain.writable_bytes(), 64u);
}

TEST_P(DatapathTest, IndirectTableOfTheMaximumLengthIsAccepted) {
  start({.indirect = true});
  const std::vector<DriverBuffer> table(1024, DriverBuffer{kData, 1, false});
  driver_->add_indirect(table);
  driver_->publish();
  EXPECT_EQ(pop_chain().readable_bytes(), 1024u);
}

TEST_P(DatapathTest, ZeroLengthBufferContributesNothing) {
  start();
  driver_->add({{kData, 4, false}, {0xdead0000000, 0, true}, {kData, 4, false}});
  driver_->publish();
  DescriptorChain chain = pop_chain();
  EXPECT_EQ(chain.readable().size(), 2u);
  EXPECT_TRUE(chain.writable().empty());
}

TEST_P(DatapathTest, BufferCrossingIntoAnAdjacentRegionIsSplitThere) {
  const uint64_t end = TestRam::kDefaultSize;
  ram_ = std::make_unique<TestRam>(end, end, 0x1000);  // a second region right after the first
  start();
  driver_->add({{end - 16, 48, true}});
  driver_->publish();
  DescriptorChain chain = pop_chain();
  ASSERT_EQ(chain.writable().size(), 2u);
  EXPECT_EQ(chain.writable()[0].len, 16u);
  EXPECT_EQ(chain.writable()[1].gpa, end);
  EXPECT_EQ(chain.writable()[1].len, 32u);
  EXPECT_EQ(chain.writable_bytes(), 48u);
}

TEST_P(DatapathTest, ManyLapsOfVaryingChainsRoundTrip) {
  start({.size = 4, .indirect = true});
  for (int round = 0; round < 20; ++round) {
    std::vector<DriverBuffer> buffers(1 + round % 3, DriverBuffer{kData, 2, false});
    buffers.back().writable = true;
    const uint16_t id = round % 4 == 3 ? driver_->add_indirect(buffers) : driver_->add(buffers);
    driver_->publish();
    DescriptorChain chain = pop_chain();
    ASSERT_EQ(chain.id(), id) << "round " << round;
    queue_->push(chain, 2);
    ASSERT_EQ(driver_->used(), (std::vector<UsedBuffer>{{id, 2}})) << "round " << round;
  }
}

TEST_P(DatapathTest, NextAvailAndNextUsedRoundTrip) {
  start();
  const uint16_t state = packed() ? 0x0005 : 0xfffe;  // packed: offset 5, wrap counter 0
  queue_->set_next_avail(state);
  queue_->set_next_used(state);
  EXPECT_EQ(queue_->next_avail(), state);
  EXPECT_EQ(queue_->next_used(), state);
}

TEST_P(DatapathTest, FailedPopConsumesNothing) {
  start();
  driver_->add({{kData, 4, true}, {kData, 4, false}});
  driver_->publish();
  const uint16_t before = queue_->next_avail();
  pop_error();
  EXPECT_EQ(queue_->next_avail(), before);
}

INSTANTIATE_TEST_SUITE_P(Formats, DatapathTest, ::testing::Values(false, true), format_name);

TEST(SplitDatapathTest, IndicesWrapAt65535) {
  TestRam ram;
  DriverQueue driver(ram, {.size = 4});
  auto queue = Queue::activate(driver.config(), driver.features(), ram);
  ASSERT_TRUE(queue);
  driver.start_at(65533);
  queue->set_next_avail(65533);
  queue->set_next_used(65533);
  for (int i = 0; i < 6; ++i) {
    const uint16_t id = driver.add({{kData, 4, false}});
    driver.publish();
    DescriptorChain chain;
    ASSERT_EQ(queue->pop(chain), true) << i;
    EXPECT_EQ(chain.id(), id);
    queue->push(chain, 0);
    ASSERT_EQ(driver.used(), (std::vector<UsedBuffer>{{id, 0}})) << i;
  }
  EXPECT_EQ(queue->next_avail(), 3u);
  EXPECT_EQ(queue->next_used(), 3u);
}

class PackedDatapathTest : public ::testing::Test {
 protected:
  void start(uint16_t size, uint16_t start_at) {
    driver_.emplace(ram_, DriverQueueOptions{.size = size, .packed = true});
    driver_->start_at(start_at);
    auto queue = Queue::activate(driver_->config(), driver_->features(), ram_);
    ASSERT_TRUE(queue);
    queue_.emplace(std::move(*queue));
    queue_->set_next_avail(start_at);
    queue_->set_next_used(start_at);
  }
  TestRam ram_;
  std::optional<DriverQueue> driver_;
  std::optional<Queue> queue_;
};

TEST_F(PackedDatapathTest, WrapCountersFlipOnEveryLap) {
  start(3, 0x8000);  // offset 0, wrap counter 1: the reset state
  const std::vector<uint16_t> expected_after_lap = {0x0000, 0x8000, 0x0000, 0x8000};
  for (uint16_t expected : expected_after_lap) {
    for (int i = 0; i < 3; ++i) {
      const uint16_t id = driver_->add({{kData, 4, true}});
      driver_->publish();
      DescriptorChain chain;
      ASSERT_EQ(queue_->pop(chain), true);
      queue_->push(chain, 4);
      ASSERT_EQ(driver_->used(), (std::vector<UsedBuffer>{{id, 4}}));
    }
    EXPECT_EQ(queue_->next_avail(), expected);
    EXPECT_EQ(queue_->next_used(), expected);
  }
}

TEST_F(PackedDatapathTest, ChainMayWrapAroundTheEndOfTheRing) {
  start(4, 0x8003);  // the last slot of the first lap
  const uint16_t id = driver_->add({{kData, 4, false}, {kData + 8, 4, true}, {kData + 16, 4, true}});
  driver_->publish();
  DescriptorChain chain;
  ASSERT_EQ(queue_->pop(chain), true);
  EXPECT_EQ(chain.ring_slots(), 3u);
  EXPECT_EQ(chain.writable_bytes(), 8u);
  EXPECT_EQ(queue_->next_avail(), 0x0002);  // offset 2 of the next lap (wrap counter 0)
  queue_->push(chain, 8);
  EXPECT_EQ(driver_->used(), (std::vector<UsedBuffer>{{id, 8}}));
  EXPECT_EQ(queue_->next_used(), 0x0002);
}

TEST_F(PackedDatapathTest, OutOfOrderCompletionSkipsTheSlotsOfEachChainAcrossLaps) {
  start(4, 0x8000);
  for (int lap = 0; lap < 3; ++lap) {
    const uint16_t a = driver_->add({{kData, 4, false}, {kData, 4, true}});
    const uint16_t b = driver_->add({{kData, 4, true}});
    driver_->publish();
    DescriptorChain ca, cb;
    ASSERT_EQ(queue_->pop(ca), true);
    ASSERT_EQ(queue_->pop(cb), true);
    queue_->push(cb, 1);
    queue_->push(ca, 2);
    ASSERT_EQ(driver_->used(), (std::vector<UsedBuffer>{{b, 1}, {a, 2}})) << "lap " << lap;
  }
}

}  // namespace
}  // namespace franca::virtio::queue_test
