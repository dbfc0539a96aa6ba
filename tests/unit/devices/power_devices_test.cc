// i8042 reset, HW-reduced ACPI sleep/reset registers and the test-exit port.
#include <gtest/gtest.h>

#include <vector>

#include "arch/x86_64/layout.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/test_exit.h"

namespace franca {
namespace {

struct Stops {
  std::vector<std::pair<StopReason, int>> calls;
  StopFn fn() {
    return [this](StopReason r, int c) { calls.emplace_back(r, c); };
  }
};

void out(BusDevice& d, uint64_t offset, uint8_t v) { d.write(offset, std::span<const uint8_t>(&v, 1)); }

TEST(I8042, PulseResetCommandResetsTheGuest) {
  Stops stops;
  I8042 kbd(stops.fn());
  out(kbd, 4, 0xfe);
  ASSERT_EQ(stops.calls.size(), 1u);
  EXPECT_EQ(stops.calls[0], std::make_pair(StopReason::kReset, kExitGuestReset));
}

TEST(I8042, OtherCommandsAndDataAreHarmless) {
  Stops stops;
  I8042 kbd(stops.fn());
  out(kbd, 4, 0xaa);
  out(kbd, 0, 0xfe);
  EXPECT_TRUE(stops.calls.empty());
}

TEST(AcpiPm, SleepTypeFiveWithEnablePowersOff) {
  Stops stops;
  AcpiPm pm(stops.fn());
  out(pm, 0, 0x34);
  ASSERT_EQ(stops.calls.size(), 1u);
  EXPECT_EQ(stops.calls[0], std::make_pair(StopReason::kPowerOff, 0));
}

TEST(AcpiPm, OtherSleepValuesAreIgnored) {
  Stops stops;
  AcpiPm pm(stops.fn());
  out(pm, 0, 0x14);  // S5 type without SLP_EN
  out(pm, 0, 0x2c);  // SLP_EN with S3 type
  out(pm, 1, 0x34);  // status register
  EXPECT_TRUE(stops.calls.empty());
}

TEST(AcpiPm, ResetValueResets) {
  Stops stops;
  AcpiPm pm(stops.fn());
  out(pm, 2, 0x7);
  EXPECT_TRUE(stops.calls.empty());
  out(pm, 2, x86::kAcpiResetValue);
  ASSERT_EQ(stops.calls.size(), 1u);
  EXPECT_EQ(stops.calls[0].first, StopReason::kReset);
}

TEST(TestExit, ByteBecomesTheVerdict) {
  Stops stops;
  TestExit port(stops.fn());
  out(port, 0, 3);
  ASSERT_EQ(stops.calls.size(), 1u);
  EXPECT_EQ(stops.calls[0], std::make_pair(StopReason::kVerdict, 3));
}

}  // namespace
}  // namespace franca
