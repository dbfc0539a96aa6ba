// HostEvents timers on a running loop: a timeout fires once, a periodic tick repeats.
#include "vmm/host_events.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/support/loop_thread.h"

namespace franca {
namespace {

TEST(HostEventsTest, TimeoutRunsOnceOnTheLoop) {
  testing::LoopThread loop;
  HostEvents events(loop.loop());
  std::atomic<int> fired{0};
  ASSERT_TRUE(events.add_timeout(0.01, [&] { ++fired; }));
  ASSERT_TRUE(testing::wait_until([&] { return fired.load() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(fired.load(), 1);
  loop.stop();
}

TEST(HostEventsTest, ZeroTimeoutStillFires) {
  testing::LoopThread loop;
  HostEvents events(loop.loop());
  std::atomic<int> fired{0};
  ASSERT_TRUE(events.add_timeout(0, [&] { ++fired; }));
  EXPECT_TRUE(testing::wait_until([&] { return fired.load() == 1; }));
  loop.stop();
}

TEST(HostEventsTest, PeriodicTickRepeats) {
  testing::LoopThread loop;
  HostEvents events(loop.loop());
  std::atomic<int> ticks{0};
  ASSERT_TRUE(events.add_periodic(std::chrono::milliseconds(5), [&] { ++ticks; }));
  EXPECT_TRUE(testing::wait_until([&] { return ticks.load() >= 3; }));
  loop.stop();
}

}  // namespace
}  // namespace franca
