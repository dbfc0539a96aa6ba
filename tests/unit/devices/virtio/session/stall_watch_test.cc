// StallWatch: a queue the driver waits on without progress is reported once
// (and counted), says which way it is stuck, and is forgotten when it moves or
// goes idle; queues that hold buffers by design, or are not served here, never are.
#include "devices/virtio/stall_watch.h"

#include "tests/unit/devices/virtio/queue/queue_fixture.h"

namespace franca::virtio::queue_test {
namespace {

using namespace std::chrono_literals;
using Clock = StallWatch::Clock;

class StallWatchTest : public QueueTest {
 protected:
  void SetUp() override { start({.event_idx = true}); }
  StallWatch watch(bool prompt = true, std::function<bool()> here = {}) {
    StallWatch w("blk0", &counters_, 20s);
    w.track({.index = 0, .role = "requests", .queue = &*queue_, .prompt = prompt, .served_here = std::move(here)});
    return w;
  }
  void publish_one() {
    driver_->add({{kData, 4, true}});
    driver_->publish();
  }
  DeviceCounters counters_;
  Clock::time_point t0_ = Clock::now();
};

TEST_P(StallWatchTest, AnIdleQueueIsNeverStalled) {
  StallWatch w = watch();
  EXPECT_EQ(w.check(t0_), 0u);
  EXPECT_EQ(w.check(t0_ + 60s), 0u);
  EXPECT_EQ(counters_.stalls.load(), 0u);
}

TEST_P(StallWatchTest, BuffersPublishedAndNotTakenAreReportedOnceAfterTheLimit) {
  StallWatch w = watch();
  publish_one();
  EXPECT_EQ(w.check(t0_), 0u);
  EXPECT_EQ(w.check(t0_ + 19s), 0u);
  EXPECT_EQ(w.check(t0_ + 21s), 1u);
  EXPECT_EQ(w.check(t0_ + 60s), 0u) << "one report per stall";
  EXPECT_EQ(counters_.stalls.load(), 1u);
  const auto lines = w.describe(t0_ + 60s);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("queue 0 (requests)"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("no progress for 60 s"), std::string::npos) << lines[0];
}

TEST_P(StallWatchTest, AChainTakenAndNeverReturnedIsAStall) {
  StallWatch w = watch();
  publish_one();
  DescriptorChain chain = pop_chain();  // popped, never pushed: the back-end never completed it
  EXPECT_TRUE(queue_->has_outstanding());
  EXPECT_FALSE(queue_->has_available());
  EXPECT_EQ(w.check(t0_), 0u);
  EXPECT_EQ(w.check(t0_ + 30s), 1u);
  queue_->push(chain, 4);
  EXPECT_EQ(w.check(t0_ + 31s), 0u);  // idle again
  EXPECT_TRUE(w.describe(t0_ + 31s)[0].find("waiting") == std::string::npos);
}

TEST_P(StallWatchTest, ProgressRestartsTheClock) {
  StallWatch w = watch();
  publish_one();
  publish_one();
  EXPECT_EQ(w.check(t0_), 0u);
  DescriptorChain first = pop_chain();
  queue_->push(first, 4);  // one served, one still waiting: progress
  EXPECT_EQ(w.check(t0_ + 15s), 0u);
  EXPECT_EQ(w.check(t0_ + 30s), 0u) << "only 15 s since the last progress";
  EXPECT_EQ(w.check(t0_ + 36s), 1u);
  // It moves again, stalls again: a second report.
  DescriptorChain second = pop_chain();
  queue_->push(second, 4);
  publish_one();
  EXPECT_EQ(w.check(t0_ + 40s), 0u);
  EXPECT_EQ(w.check(t0_ + 61s), 1u);
  EXPECT_EQ(counters_.stalls.load(), 2u);
}

TEST_P(StallWatchTest, AQueueThatHoldsBuffersByDesignIsDescribedButNeverReported) {
  StallWatch w = watch(/*prompt=*/false);
  publish_one();
  EXPECT_EQ(w.check(t0_), 0u);
  EXPECT_EQ(w.check(t0_ + 600s), 0u);
  EXPECT_EQ(w.describe(t0_).size(), 1u);
}

TEST_P(StallWatchTest, AQueueNotServedHereIsNeitherWatchedNorDescribed) {
  bool here = false;
  StallWatch w = watch(true, [&here] { return here; });
  publish_one();
  EXPECT_EQ(w.check(t0_), 0u);
  EXPECT_EQ(w.check(t0_ + 600s), 0u);
  EXPECT_TRUE(w.describe(t0_).empty());
  here = true;  // handed back: the clock starts now, not at t0
  EXPECT_EQ(w.check(t0_ + 601s), 0u);
  EXPECT_EQ(w.check(t0_ + 610s), 0u);
  EXPECT_EQ(w.check(t0_ + 622s), 1u);
}

INSTANTIATE_TEST_SUITE_P(Rings, StallWatchTest, ::testing::Values(false, true), format_name);

}  // namespace
}  // namespace franca::virtio::queue_test
