// The shape read off a passed-through function, its virtualised config space,
// and how a BAR is split into mapped and trapped pieces.
#include "devices/vfio/vfio_config.h"

#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include "devices/vfio/vfio_pci.h"
#include "tests/unit/devices/vfio/fake_device.h"

namespace franca::vfio {
namespace {

using testing::FakeDeviceIo;
using testing::kMsiCap;
using testing::kMsixCap;

std::array<uint64_t, 6> sizes_of(const FakeDeviceIo& io) {
  std::array<uint64_t, 6> s{};
  for (unsigned i = 0; i < 6; ++i) s[i] = io.regions.contains(i) ? io.regions.at(i).size : 0;
  return s;
}

uint32_t read32(const VfioConfig& c, const FakeDeviceIo& io, uint32_t at) {
  std::array<uint8_t, 4> b{};
  for (int i = 0; i < 4; ++i) b[i] = io.config[at + i];
  c.overlay(at, b);
  return b[0] | b[1] << 8 | b[2] << 16 | uint32_t{b[3]} << 24;
}

void write32(VfioConfig& c, uint32_t at, uint32_t v) {
  std::array<uint8_t, 4> b{static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
                           static_cast<uint8_t>(v >> 24)};
  c.mirror_command(at, b);
  c.write(at, b);
}

TEST(VfioShape, ReadsBarsCapabilitiesAndPin) {
  FakeDeviceIo io;
  const auto sizes = sizes_of(io);
  const DeviceShape s = read_shape(io.config, sizes);
  EXPECT_EQ(s.bars[0].size, 0x20000u);
  EXPECT_FALSE(s.bars[0].is64);
  EXPECT_EQ(s.bars[1].size, 0x20000u);
  EXPECT_EQ(s.bars[2].size, 0u);
  EXPECT_TRUE(s.bars[2].io);
  EXPECT_EQ(s.bars[3].size, 0x4000u);
  EXPECT_EQ(s.msix.cap, kMsixCap);
  EXPECT_EQ(s.msix.vectors, 5);
  EXPECT_EQ(s.msix.table_bar, 3u);
  EXPECT_EQ(s.msix.table_offset, 0u);
  EXPECT_EQ(s.msix.pba_bar, 3u);
  EXPECT_EQ(s.msix.pba_offset, 0x2000u);
  EXPECT_EQ(s.msi.cap, kMsiCap);
  EXPECT_TRUE(s.msi.is64);
  EXPECT_FALSE(s.msi.per_vector_mask);
  EXPECT_EQ(s.msi.length, 14);
  EXPECT_TRUE(s.has_intx);
}

TEST(VfioShape, HostileCapabilityLoopAndOddSizesEndCleanly) {
  FakeDeviceIo io;
  io.config[kMsixCap + 1] = testing::kPmCap;  // a loop: PM -> MSI -> EXP -> MSI-X -> PM ...
  auto sizes = sizes_of(io);
  sizes[0] = 0x3000;  // not a power of two: not exposed
  const DeviceShape s = read_shape(io.config, sizes);
  EXPECT_EQ(s.bars[0].size, 0u);
  EXPECT_EQ(s.msix.cap, kMsixCap);
  io.config[PCI_STATUS] = 0;  // no capability list
  EXPECT_EQ(read_shape(io.config, sizes).msix.cap, 0);
}

TEST(VfioConfig, FrancaPlacesTheBarsAndSizingWorksAsOnHardware) {
  FakeDeviceIo io;
  const auto sizes = sizes_of(io);
  const DeviceShape shape = read_shape(io.config, sizes);
  const std::array<uint64_t, 6> at{0xc0000000, 0xc0020000, 0, 0xc0040000, 0, 0};
  VfioConfig c(io.config, shape, at);
  EXPECT_EQ(read32(c, io, PCI_BASE_ADDRESS_0), 0xc0000000u);  // not the host's 0xfebc0000
  EXPECT_EQ(read32(c, io, PCI_BASE_ADDRESS_2), 0u);           // the I/O BAR is hidden
  EXPECT_EQ(read32(c, io, PCI_BASE_ADDRESS_3), 0xc0040000u);
  write32(c, PCI_BASE_ADDRESS_0, 0xffffffff);
  EXPECT_EQ(read32(c, io, PCI_BASE_ADDRESS_0), 0xfffe0000u);  // 128 KiB, 32-bit, not prefetchable
  write32(c, PCI_BASE_ADDRESS_2, 0xffffffff);
  EXPECT_EQ(read32(c, io, PCI_BASE_ADDRESS_2), 0u);
  write32(c, PCI_BASE_ADDRESS_0, 0xd0000000);
  EXPECT_EQ(c.bar_address(0), 0xd0000000u);  // decoding: the BIOS left memory on
  write32(c, PCI_COMMAND, 0);
  EXPECT_FALSE(c.bar_address(0));
}

TEST(VfioConfig, RomHiddenMultifunctionClearedExtendedSpaceEmpty) {
  FakeDeviceIo io;
  const auto sizes = sizes_of(io);
  VfioConfig c(io.config, read_shape(io.config, sizes), std::array<uint64_t, 6>{});
  EXPECT_EQ(read32(c, io, PCI_ROM_ADDRESS), 0u);
  write32(c, PCI_ROM_ADDRESS, 0xffffffff);
  EXPECT_EQ(read32(c, io, PCI_ROM_ADDRESS), 0u);  // sizing finds no ROM
  EXPECT_EQ(read32(c, io, PCI_CACHE_LINE_SIZE) >> 16, 0x00u) << "header type 0 (mf cleared), BIST 0";
  EXPECT_EQ(read32(c, io, PCI_VENDOR_ID), 0x10d38086u);          // the device's own IDs
  EXPECT_EQ(read32(c, io, PCI_INTERRUPT_LINE) >> 8 & 0xff, 1u);  // INTA
  EXPECT_TRUE(c.emulated(0x100));
  EXPECT_EQ(read32(c, io, 0x100), 0u);
  EXPECT_FALSE(c.emulated(PCI_COMMAND));  // the device's own
  EXPECT_FALSE(c.bar_address(0)) << "hot-plugged: unassigned";
}

TEST(VfioConfig, MsixControlEnableAndMaskWritableTableSizeReadOnly) {
  FakeDeviceIo io;
  const auto sizes = sizes_of(io);
  VfioConfig c(io.config, read_shape(io.config, sizes), std::array<uint64_t, 6>{});
  const uint32_t at = kMsixCap;  // id, next, control
  write32(c, at, 0xffff0000u);
  EXPECT_EQ(c.msix_control(), PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | 4);
  EXPECT_EQ(read32(c, io, at) >> 16, uint32_t{PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | 4});
  EXPECT_EQ(read32(c, io, at + PCI_MSIX_PBA), 0x2003u) << "table and PBA offsets are the device's";
}

TEST(VfioConfig, MsiCapabilityIsEmulatedWhole) {
  FakeDeviceIo io;
  auto put16 = [&](unsigned a, uint16_t v) { std::memcpy(&io.config[a], &v, 2); };
  put16(kMsiCap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | 2 << 1);  // 4 vectors, masks
  const auto sizes = sizes_of(io);
  const DeviceShape shape = read_shape(io.config, sizes);
  ASSERT_EQ(shape.msi.length, 24);
  VfioConfig c(io.config, shape, std::array<uint64_t, 6>{});
  write32(c, kMsiCap + PCI_MSI_ADDRESS_LO, 0xfee01003);
  write32(c, kMsiCap + PCI_MSI_ADDRESS_HI, 0x1);
  write32(c, kMsiCap + PCI_MSI_DATA_64, 0xffff4021);
  write32(c, kMsiCap + PCI_MSI_MASK_64, 0xfffffffa);
  write32(c, kMsiCap, uint32_t{PCI_MSI_FLAGS_ENABLE | 3 << 4} << 16);  // asks for 8 of 4
  EXPECT_TRUE(c.msi_enabled());
  EXPECT_EQ(c.msi_vectors(), 4u);
  EXPECT_EQ(c.msi_address(), 0x1fee01000u);
  EXPECT_EQ(c.msi_data(), 0x4021u);
  EXPECT_FALSE(c.msi_masked(0));
  EXPECT_TRUE(c.msi_masked(1));
  EXPECT_FALSE(c.msi_masked(2));
  EXPECT_TRUE(c.msi_masked(3));
  EXPECT_EQ(read32(c, io, kMsiCap + PCI_MSI_MASK_64), 0xau) << "only the 4 vectors' bits";
  EXPECT_TRUE(c.emulated(kMsiCap + PCI_MSI_MASK_64 + 4)) << "pending bits read 0";
}

TEST(PlanBar, MsixTableAndPbaPagesTrappedTheRestMapped) {
  const std::vector<MmapArea> whole{{0, 0x4000}};
  const std::vector<std::pair<uint64_t, uint64_t>> traps{{0, 80}, {0x2000, 8}};
  const auto p = plan_bar(0x4000, whole, traps);
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].offset, 0u);
  EXPECT_FALSE(p[0].area);
  EXPECT_EQ(p[1].offset, 0x1000u);
  EXPECT_EQ(p[1].size, 0x1000u);
  EXPECT_EQ(p[1].area, 0u);
  EXPECT_EQ(p[2].offset, 0x2000u);
  EXPECT_FALSE(p[2].area);
  EXPECT_EQ(p[3].offset, 0x3000u);
  EXPECT_EQ(p[3].area, 0u);
}

TEST(PlanBar, SparseAreasShrunkToPagesSmallBarsTrappedWhole) {
  const std::vector<MmapArea> sparse{{0x1800, 0x1000}, {0x4000, 0x4000}};  // first: no whole page
  const auto p = plan_bar(0x10000, sparse, {});
  ASSERT_EQ(p.size(), 3u);
  EXPECT_FALSE(p[0].area);
  EXPECT_EQ(p[0].size, 0x4000u);
  EXPECT_EQ(p[1].area, 1u);
  EXPECT_EQ(p[1].offset, 0x4000u);
  EXPECT_EQ(p[1].size, 0x4000u);
  EXPECT_FALSE(p[2].area);
  EXPECT_EQ(p[2].offset, 0x8000u);
  const std::vector<MmapArea> small{{0, 0x100}};
  const auto q = plan_bar(0x100, small, {});
  ASSERT_EQ(q.size(), 1u);
  EXPECT_FALSE(q[0].area);
  const std::vector<MmapArea> beyond{{0, 0x20000}};  // larger than the BAR: ignored, not trusted
  EXPECT_FALSE(plan_bar(0x4000, beyond, {})[0].area);
}

}  // namespace
}  // namespace franca::vfio
