// Bus dispatch: ranges, offsets, overlaps, unclaimed accesses, removal.
#include "vmm/core/bus.h"

#include <gtest/gtest.h>

namespace franca {
namespace {

struct Recorder : BusDevice {
  uint64_t last_offset = ~0ull;
  uint8_t last_value = 0;
  void read(uint64_t offset, std::span<uint8_t> data) override {
    last_offset = offset;
    std::fill(data.begin(), data.end(), 0x42);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    last_offset = offset;
    last_value = data[0];
  }
};

TEST(Bus, DispatchesWithOffsetRelativeToBase) {
  Bus bus("test");
  auto dev = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(0x3f8, 8, dev));
  const uint8_t v = 7;
  EXPECT_TRUE(bus.write(0x3fb, std::span(&v, 1)));
  EXPECT_EQ(dev->last_offset, 3u);
  EXPECT_EQ(dev->last_value, 7);
}

TEST(Bus, UnclaimedReadReturnsAllOnes) {
  Bus bus("test");
  uint8_t data[4] = {};
  EXPECT_FALSE(bus.read(0x80, data));
  EXPECT_EQ(data[3], 0xff);
}

TEST(Bus, AccessStraddlingTheRangeEndIsUnclaimed) {
  Bus bus("test");
  ASSERT_TRUE(bus.insert(0x100, 4, std::make_shared<Recorder>()));
  uint8_t data[4];
  EXPECT_FALSE(bus.read(0x102, data));
}

TEST(Bus, RejectsOverlaps) {
  Bus bus("test");
  ASSERT_TRUE(bus.insert(0x100, 0x10, std::make_shared<Recorder>()));
  EXPECT_FALSE(bus.insert(0x108, 0x10, std::make_shared<Recorder>()));
  EXPECT_FALSE(bus.insert(0xf8, 0x10, std::make_shared<Recorder>()));
  EXPECT_TRUE(bus.insert(0x110, 0x10, std::make_shared<Recorder>()));
}

TEST(Bus, RemovedDeviceNoLongerClaims) {
  Bus bus("test");
  ASSERT_TRUE(bus.insert(0x100, 4, std::make_shared<Recorder>()));
  EXPECT_TRUE(bus.remove(0x100));
  uint8_t data[1];
  EXPECT_FALSE(bus.read(0x100, data));
}

}  // namespace
}  // namespace franca
