// PCI hotplug registers: bitmaps read-to-clear, ejects honoured only when
// requested, everything else a hostile guest writes ignored and counted.
#include "devices/pci/hotplug.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace franca::pci {
namespace {

class HotplugRegistersTest : public ::testing::Test {
 protected:
  uint32_t rd(uint64_t off) {
    uint32_t v = 0xdeadbeef;
    regs_.read(off, {reinterpret_cast<uint8_t*>(&v), 4});
    return v;
  }
  void wr(uint64_t off, uint32_t v) { regs_.write(off, {reinterpret_cast<const uint8_t*>(&v), 4}); }

  std::vector<unsigned> ejected_;
  PciHotplugRegisters regs_{[this](unsigned slot) { ejected_.push_back(slot); }};
};

TEST_F(HotplugRegistersTest, UpBitmapIsReadOnceThenClear) {
  regs_.plug(3);
  regs_.plug(5);
  EXPECT_EQ(rd(PciHotplugRegisters::kUp), (1u << 3) | (1u << 5));
  EXPECT_EQ(rd(PciHotplugRegisters::kUp), 0u);
  EXPECT_EQ(rd(PciHotplugRegisters::kDown), 0u);
}

TEST_F(HotplugRegistersTest, EjectHonouredOnlyAfterARequest) {
  regs_.request_eject(4);
  EXPECT_TRUE(regs_.eject_pending(4));
  EXPECT_EQ(rd(PciHotplugRegisters::kDown), 1u << 4);
  EXPECT_EQ(rd(PciHotplugRegisters::kDown), 0u);
  wr(PciHotplugRegisters::kEject, 1u << 4);
  EXPECT_EQ(ejected_, std::vector<unsigned>{4});
  EXPECT_FALSE(regs_.eject_pending(4));
  wr(PciHotplugRegisters::kEject, 1u << 4);  // a second eject of the same slot
  EXPECT_EQ(ejected_.size(), 1u);
  EXPECT_EQ(regs_.counters().ejects.load(), 1u);
  EXPECT_EQ(regs_.counters().ignored_ejects.load(), 1u);
}

TEST_F(HotplugRegistersTest, EjectOfUnrequestedSlotsAndTheHostBridgeIsIgnored) {
  regs_.plug(2);  // present, but nobody asked for its removal
  wr(PciHotplugRegisters::kEject, 0xffffffff);
  EXPECT_TRUE(ejected_.empty());
  EXPECT_EQ(regs_.counters().ignored_ejects.load(), 32u);
  regs_.request_eject(7);
  wr(PciHotplugRegisters::kEject, 0xffffffff);  // only the requested one goes
  EXPECT_EQ(ejected_, std::vector<unsigned>{7});
}

TEST_F(HotplugRegistersTest, ForgetWithdrawsARequest) {
  regs_.request_eject(9);
  regs_.forget(9);
  EXPECT_EQ(rd(PciHotplugRegisters::kDown), 0u);
  wr(PciHotplugRegisters::kEject, 1u << 9);
  EXPECT_TRUE(ejected_.empty());
}

TEST_F(HotplugRegistersTest, PlugCancelsAStaleEjectRequest) {
  regs_.request_eject(6);
  regs_.plug(6);
  EXPECT_EQ(rd(PciHotplugRegisters::kDown), 0u);
  EXPECT_EQ(rd(PciHotplugRegisters::kUp), 1u << 6);
  wr(PciHotplugRegisters::kEject, 1u << 6);
  EXPECT_TRUE(ejected_.empty());
}

TEST_F(HotplugRegistersTest, OddWidthsOffsetsAndWritesToTheBitmapsAreCountedNotObeyed) {
  regs_.plug(3);
  regs_.request_eject(8);
  uint8_t byte = 0xff;
  regs_.write(PciHotplugRegisters::kEject, {&byte, 1});
  uint16_t half = 0xffff;
  regs_.write(PciHotplugRegisters::kEject, {reinterpret_cast<uint8_t*>(&half), 2});
  wr(PciHotplugRegisters::kUp, 0xffffffff);
  wr(PciHotplugRegisters::kDown, 0);
  wr(11, 1);
  uint8_t out[2] = {0xaa, 0xaa};
  regs_.read(PciHotplugRegisters::kUp, {out, 2});
  EXPECT_EQ(out[0], 0);
  EXPECT_TRUE(ejected_.empty());
  EXPECT_EQ(regs_.counters().bad_accesses.load(), 6u);
  EXPECT_EQ(rd(PciHotplugRegisters::kUp), 1u << 3);  // untouched by the bad accesses
  EXPECT_TRUE(regs_.eject_pending(8));
  EXPECT_EQ(rd(PciHotplugRegisters::kEject), 0u);
}

TEST_F(HotplugRegistersTest, RandomFloodNeverEjectsWithoutARequest) {
  std::mt19937 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t off = rng() % 16;
    const uint32_t v = rng();
    const size_t len = 1u << (rng() % 3);
    if (rng() & 1) {
      regs_.write(off, {reinterpret_cast<const uint8_t*>(&v), len});
    } else {
      uint32_t r = 0;
      regs_.read(off, {reinterpret_cast<uint8_t*>(&r), len});
    }
  }
  EXPECT_TRUE(ejected_.empty());
}

}  // namespace
}  // namespace franca::pci
