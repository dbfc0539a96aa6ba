// PCI configuration space: header identity, BAR sizing probes (32- and 64-bit),
// read-only bits, the capability chain, and the root's mechanism #1 and ECAM decode.
#include "devices/pci/config_space.h"

#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include <cstring>

#include "devices/pci/root.h"

namespace franca::pci {
namespace {

uint32_t rd32(const PciConfigSpace& c, uint32_t off) {
  uint32_t v = 0;
  c.read(off, {reinterpret_cast<uint8_t*>(&v), 4});
  return v;
}
void wr32(PciConfigSpace& c, uint32_t off, uint32_t v) { c.write(off, {reinterpret_cast<const uint8_t*>(&v), 4}); }

PciConfigSpace make() {
  PciConfigSpace c(PciIds{.vendor = 0x1af4,
                          .device = 0x1042,
                          .revision = 1,
                          .class_code = 0x010000,
                          .subsystem_vendor = 0x1af4,
                          .subsystem = 0x1100,
                          .interrupt_pin = 1});
  c.add_memory_bar(1, 0x1000, false, 0xc0004000);
  c.add_memory_bar(4, 0x4000, true, 0xc0000000);
  return c;
}

TEST(PciConfigSpace, HeaderCarriesTheIdentity) {
  const PciConfigSpace c = make();
  EXPECT_EQ(rd32(c, PCI_VENDOR_ID), 0x10421af4u);
  EXPECT_EQ(rd32(c, PCI_CLASS_REVISION), 0x01000001u);
  EXPECT_EQ(rd32(c, PCI_SUBSYSTEM_VENDOR_ID), 0x11001af4u);
  EXPECT_EQ(c.byte(PCI_INTERRUPT_PIN), 1);
  EXPECT_EQ(c.byte(PCI_HEADER_TYPE), PCI_HEADER_TYPE_NORMAL);
}

TEST(PciConfigSpace, AllOnesProbeOf32BitBarReadsSizeMaskAndRestoreKeepsAddress) {
  PciConfigSpace c = make();
  const uint32_t reg = PCI_BASE_ADDRESS_0 + 4;
  EXPECT_EQ(rd32(c, reg), 0xc0004000u);
  wr32(c, reg, 0xffffffff);
  EXPECT_EQ(rd32(c, reg), 0xfffff000u);  // 4 KiB, 32-bit memory, not prefetchable
  wr32(c, reg, 0xc0004000);
  EXPECT_EQ(rd32(c, reg), 0xc0004000u);
}

TEST(PciConfigSpace, AllOnesProbeOf64BitBarReadsTypeAndBothHalves) {
  PciConfigSpace c = make();
  const uint32_t lo = PCI_BASE_ADDRESS_0 + 16, hi = lo + 4;
  wr32(c, lo, 0xffffffff);
  wr32(c, hi, 0xffffffff);
  EXPECT_EQ(rd32(c, lo), 0xffffc000u | PCI_BASE_ADDRESS_MEM_TYPE_64);
  EXPECT_EQ(rd32(c, hi), 0xffffffffu);
}

TEST(PciConfigSpace, UnimplementedBarsReadZeroAfterProbe) {
  PciConfigSpace c = make();
  wr32(c, PCI_BASE_ADDRESS_0, 0xffffffff);
  EXPECT_EQ(rd32(c, PCI_BASE_ADDRESS_0), 0u);
}

TEST(PciConfigSpace, ReadOnlyRegistersIgnoreWrites) {
  PciConfigSpace c = make();
  wr32(c, PCI_VENDOR_ID, 0);
  wr32(c, PCI_CLASS_REVISION, 0);
  wr32(c, PCI_CAPABILITY_LIST, 0);
  c.write(PCI_INTERRUPT_PIN, std::array<uint8_t, 1>{4});
  EXPECT_EQ(rd32(c, PCI_VENDOR_ID), 0x10421af4u);
  EXPECT_EQ(rd32(c, PCI_CLASS_REVISION), 0x01000001u);
  EXPECT_EQ(c.byte(PCI_INTERRUPT_PIN), 1);
}

TEST(PciConfigSpace, CommandKeepsOnlyImplementedBits) {
  PciConfigSpace c = make();
  c.write(PCI_COMMAND, std::array<uint8_t, 2>{0xff, 0xff});
  EXPECT_EQ(c.command(),
            PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
}

TEST(PciConfigSpace, BarDecodesOnlyWithMemoryEnabled) {
  PciConfigSpace c = make();
  EXPECT_FALSE(c.bar_address(4));
  c.store(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
  EXPECT_EQ(c.bar_address(4), 0xc0000000u);
  EXPECT_EQ(c.bar_address(1), 0xc0004000u);
  EXPECT_FALSE(c.bar_address(5));  // the upper half of BAR4
}

TEST(PciConfigSpace, CapabilityChainWalksToEveryCapabilityAndEnds) {
  PciConfigSpace c = make();
  const std::array<uint8_t, 12> a{PCI_CAP_ID_MSIX}, mask{};
  const std::array<uint8_t, 16> b{PCI_CAP_ID_VNDR, 0, 16}, bmask{};
  const uint8_t first = c.add_capability(a, mask);
  const uint8_t second = c.add_capability(b, bmask);
  EXPECT_TRUE(c.load16(PCI_STATUS) & PCI_STATUS_CAP_LIST);
  std::vector<uint8_t> ids;
  int hops = 0;
  for (uint8_t at = c.byte(PCI_CAPABILITY_LIST); at && hops < 48; at = c.byte(at + 1), ++hops) {
    EXPECT_EQ(at % 4, 0);
    ids.push_back(c.byte(at));
  }
  EXPECT_EQ(first, 0x40);
  EXPECT_EQ(second, 0x4c);
  EXPECT_EQ(ids, (std::vector<uint8_t>{PCI_CAP_ID_MSIX, PCI_CAP_ID_VNDR}));
}

TEST(PciConfigSpace, CapabilitiesThatDoNotFitAreRefused) {
  PciConfigSpace c = make();
  const std::vector<uint8_t> big(0x80, PCI_CAP_ID_VNDR);
  EXPECT_NE(c.add_capability(big, big), 0);
  EXPECT_EQ(c.add_capability(big, big), 0);
}

TEST(PciConfigSpace, AccessesPastTheEndAreHarmless) {
  PciConfigSpace c = make();
  std::array<uint8_t, 4> buf{};
  c.read(PciConfigSpace::kSize - 2, buf);
  EXPECT_EQ(buf[2], 0xff);
  c.write(PciConfigSpace::kSize - 2, buf);
}

class PciRootTest : public ::testing::Test {
 protected:
  uint32_t conf1_read(unsigned dev, uint32_t reg) {
    uint32_t addr = 0x80000000u | dev << 11 | (reg & 0xfc);
    root_.config_ports()->write(0, {reinterpret_cast<uint8_t*>(&addr), 4});
    uint32_t v = 0;
    root_.config_ports()->read(4, {reinterpret_cast<uint8_t*>(&v), 4});
    return v;
  }
  PciRoot root_;
};

TEST_F(PciRootTest, HostBridgeAt00_00_0IsClass0600) { EXPECT_EQ(conf1_read(0, PCI_CLASS_REVISION) >> 16, 0x0600u); }

TEST_F(PciRootTest, AbsentSlotsReadAllOnes) { EXPECT_EQ(conf1_read(5, 0), 0xffffffffu); }

TEST_F(PciRootTest, ConfigAddressLatchesOnlyDwordWrites) {
  // Linux's pci_check_type1: a byte write to 0xCFB, then 0x80000000 must read back.
  const uint8_t one = 1;
  root_.config_ports()->write(3, {&one, 1});
  uint32_t addr = 0x80000000u, v = 0;
  root_.config_ports()->write(0, {reinterpret_cast<uint8_t*>(&addr), 4});
  root_.config_ports()->read(0, {reinterpret_cast<uint8_t*>(&v), 4});
  EXPECT_EQ(v, 0x80000000u);
}

TEST_F(PciRootTest, EcamReachesTheSameFunctionAsMechanism1) {
  uint32_t v = 0;
  root_.ecam()->read(PCI_VENDOR_ID, {reinterpret_cast<uint8_t*>(&v), 4});
  EXPECT_EQ(v, conf1_read(0, PCI_VENDOR_ID));
  root_.ecam()->read(uint64_t{1} << 20, {reinterpret_cast<uint8_t*>(&v), 4});  // bus 1
  EXPECT_EQ(v, 0xffffffffu);
}

TEST_F(PciRootTest, DisabledConfigAddressReadsAllOnes) {
  uint32_t addr = 0, v = 0;
  root_.config_ports()->write(0, {reinterpret_cast<uint8_t*>(&addr), 4});
  root_.config_ports()->read(4, {reinterpret_cast<uint8_t*>(&v), 4});
  EXPECT_EQ(v, 0xffffffffu);
}

}  // namespace
}  // namespace franca::pci
