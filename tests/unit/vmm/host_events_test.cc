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

TEST(HostEventsTest, OnDemandTimerStaysQuietUntilArmed) {
  testing::LoopThread loop;
  HostEvents events(loop.loop());
  std::atomic<int> checks{0};
  auto arm = events.add_on_demand(std::chrono::milliseconds(5), [&] { return ++checks, false; });
  ASSERT_TRUE(arm);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(checks.load(), 0);
  loop.stop();
}

TEST(HostEventsTest, OnDemandTimerRunsOncePerArmingHoweverOftenArmed) {
  testing::LoopThread loop;
  HostEvents events(loop.loop());
  std::atomic<int> checks{0};
  auto arm = events.add_on_demand(std::chrono::milliseconds(20), [&] { return ++checks, false; });
  ASSERT_TRUE(arm);
  for (int i = 0; i < 100; ++i) (*arm)();  // e.g. every byte of a burst of output
  ASSERT_TRUE(testing::wait_until([&] { return checks.load() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_EQ(checks.load(), 1);
  (*arm)();  // armed again after it ran
  EXPECT_TRUE(testing::wait_until([&] { return checks.load() == 2; }));
  loop.stop();
}

TEST(HostEventsTest, OnDemandTimerRepeatsWhileItsCheckAsksForIt) {
  testing::LoopThread loop;
  HostEvents events(loop.loop());
  std::atomic<int> checks{0};
  auto arm = events.add_on_demand(std::chrono::milliseconds(5), [&] { return ++checks < 3; });
  ASSERT_TRUE(arm);
  (*arm)();
  ASSERT_TRUE(testing::wait_until([&] { return checks.load() == 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(checks.load(), 3);  // the third check said "nothing pending"
  loop.stop();
}

}  // namespace
}  // namespace franca
