// Boot milestones: the first mark wins, times are relative to the origin, and
// the exit line gives the time since the power-off request.
#include "vmm/core/timeline.h"

#include <gtest/gtest.h>

namespace franca {
namespace {

using namespace std::chrono_literals;

TEST(Timeline, FirstMarkWins) {
  const auto t0 = Timeline::Clock::now();
  Timeline timeline(t0);
  EXPECT_FALSE(timeline.ms(Milestone::kGuestEntry));
  EXPECT_TRUE(timeline.mark(Milestone::kGuestEntry, t0 + 12ms));
  EXPECT_FALSE(timeline.mark(Milestone::kGuestEntry, t0 + 50ms));
  EXPECT_DOUBLE_EQ(*timeline.ms(Milestone::kGuestEntry), 12.0);
}

TEST(Timeline, ExitLineGivesTimeSincePowerOff) {
  const auto t0 = Timeline::Clock::now();
  Timeline timeline(t0);
  timeline.mark(Milestone::kExit, t0 + 900ms);
  EXPECT_EQ(timeline.describe(Milestone::kExit), "boot: franca exits at 900.0 ms");
  timeline.mark(Milestone::kPowerOff, t0 + 897500us);
  EXPECT_EQ(timeline.describe(Milestone::kExit),
            "boot: franca exits at 900.0 ms, 2.5 ms after the guest's power-off request");
  EXPECT_EQ(timeline.describe(Milestone::kPowerOff), "boot: the guest requests power-off (ACPI S5) at 897.5 ms");
}

}  // namespace
}  // namespace franca
