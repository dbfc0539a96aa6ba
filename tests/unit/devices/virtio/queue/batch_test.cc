// Queue::push_batch (virtio 1.x §2.7.8 / §2.8.9 used buffers): several chains
// returned in order and published together, as a virtio-net frame spread over
// several receive buffers needs (§5.1.6.4) — the driver sees all or none.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/unit/devices/virtio/queue/queue_fixture.h"

namespace franca::virtio::queue_test {
namespace {

using BatchTest = QueueTest;

// Adds and pops `count` chains of one writable buffer; returns the device's copies.
std::vector<DescriptorChain> take(DriverQueue& driver, Queue& queue, size_t count) {
  for (size_t i = 0; i < count; ++i) driver.add({{kData + 0x100 * i, 64, true}});
  driver.publish();
  std::vector<DescriptorChain> out(count);
  for (DescriptorChain& c : out) {
    auto popped = queue.pop(c);
    EXPECT_TRUE(popped.value_or(false));
  }
  return out;
}

std::vector<UsedChain> used_of(const std::vector<DescriptorChain>& chains) {
  std::vector<UsedChain> out;
  for (size_t i = 0; i < chains.size(); ++i) out.push_back(UsedChain::of(chains[i], static_cast<uint32_t>(i + 1)));
  return out;
}

TEST_P(BatchTest, PushBatchReportsEveryChainInBatchOrder) {
  start();
  const auto chains = take(*driver_, *queue_, 3);
  queue_->push_batch(used_of(chains));
  EXPECT_EQ(driver_->used(), (std::vector<UsedBuffer>{{chains[0].id(), 1}, {chains[1].id(), 2}, {chains[2].id(), 3}}));
}

TEST_P(BatchTest, PushBatchAcrossTheRingEndWrapsLikeSinglePushes) {
  start({.size = 4});
  queue_->push(take(*driver_, *queue_, 1)[0], 0);
  queue_->push(take(*driver_, *queue_, 1)[0], 0);
  ASSERT_EQ(driver_->used().size(), 2u);
  const auto chains = take(*driver_, *queue_, 4);  // slots 2, 3, then 0, 1 of the next lap
  queue_->push_batch(used_of(chains));
  EXPECT_EQ(driver_->used().size(), 4u);
  EXPECT_EQ(driver_->used_position(), packed() ? 2u : 6u);  // packed: offset 2, second lap
}

TEST_P(BatchTest, PushBatchOfMultiDescriptorChainsSkipsTheirSlots) {
  start();
  std::vector<DescriptorChain> chains(2);
  const uint16_t a = driver_->add({{kData, 16, false}, {kData + 0x100, 64, true}});
  const uint16_t b = driver_->add({{kData, 16, false}, {kData + 0x200, 32, true}, {kData + 0x300, 32, true}});
  driver_->publish();
  ASSERT_TRUE(queue_->pop(chains[0]).value_or(false));
  ASSERT_TRUE(queue_->pop(chains[1]).value_or(false));
  queue_->push_batch(used_of(chains));
  EXPECT_EQ(driver_->used(), (std::vector<UsedBuffer>{{a, 1}, {b, 2}}));
  EXPECT_EQ(driver_->used_position(), packed() ? (5u | 0x8000u) : 2u);  // packed: offset 5, first lap
}

TEST_P(BatchTest, PushBatchCountsAsOneBatchForSignalling) {
  start({.event_idx = true});
  const auto chains = take(*driver_, *queue_, 3);
  driver_->set_used_event(static_cast<uint16_t>(driver_->used_position() + 2));  // "after the third"
  queue_->push_batch(used_of(chains));
  EXPECT_TRUE(queue_->should_signal());
}

// A driver polling on another CPU while the device publishes a batch: the
// first completions it sees are the whole batch. Before push_batch, one
// used.idx store (split) or head flags store (packed) per chain let it see a
// prefix. Never fails for a correct queue; catches a torn batch when the
// observer runs during the push (repeated to make that likely).
TEST_P(BatchTest, DriverNeverSeesPartOfABatch) {
  constexpr size_t kBatch = 64;
  start({.size = kBatch});
  for (int round = 0; round < 50; ++round) {
    const auto chains = take(*driver_, *queue_, kBatch);
    const auto used = used_of(chains);
    std::atomic<bool> watching{false};
    size_t first_seen = 0;
    std::thread observer([&] {
      watching = true;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (first_seen == 0 && std::chrono::steady_clock::now() < deadline) first_seen = driver_->used().size();
    });
    while (!watching) std::this_thread::yield();
    queue_->push_batch(used);
    observer.join();
    ASSERT_EQ(first_seen, kBatch) << "round " << round;
  }
}

INSTANTIATE_TEST_SUITE_P(Rings, BatchTest, ::testing::Bool(), format_name);

}  // namespace
}  // namespace franca::virtio::queue_test
