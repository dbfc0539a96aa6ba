// The passed-through PCI function over a fake device: BARs mapped and trapped
// where the plan says, decode toggling, MSI-X/MSI/INTx handed to VFIO with the
// guest's masks honoured, and shutdown releasing everything.
#include "devices/vfio/vfio_pci.h"

#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include <algorithm>

#include "tests/unit/devices/vfio/fake_device.h"

namespace franca::vfio {
namespace {

using testing::FakeDeviceIo;
using testing::FakeIntx;
using testing::FakeMemoryBarHost;
using testing::FakeMsiSink;
using testing::kMsiCap;
using testing::kMsixCap;

constexpr uint64_t kBar0 = 0xc0000000, kBar1 = 0xc0020000, kBar3 = 0xc0040000;

struct Rig {
  void create(bool cold = true) {
    VfioPciFunction::Wiring w;
    w.bars = bars;
    w.msi = sink;
    w.intx = intx;
    if (cold) w.bar_addresses = {kBar0, kBar1, 0, kBar3, 0, 0};
    auto probe = VfioPciFunction::probe(*io);
    ASSERT_TRUE(probe) << probe.error().message;
    auto fn = VfioPciFunction::create("vfio0", io, *probe, std::move(w));
    ASSERT_TRUE(fn) << fn.error().message;
    function = *fn;
    ASSERT_TRUE(function->map_bars());
  }
  uint32_t cfg_read(uint32_t at, int width = 4) {
    std::array<uint8_t, 4> b{};
    function->config_read(at, std::span(b.data(), width));
    return b[0] | b[1] << 8 | b[2] << 16 | uint32_t{b[3]} << 24;
  }
  void cfg_write(uint32_t at, uint32_t v, int width = 4) {
    std::array<uint8_t, 4> b{static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
                             static_cast<uint8_t>(v >> 24)};
    function->config_write(at, std::span<const uint8_t>(b.data(), width));
  }
  void mmio_write32(uint64_t addr, uint32_t v) {
    std::array<uint8_t, 4> b{};
    std::memcpy(b.data(), &v, 4);
    bars->bus.write(addr, b);
  }
  uint32_t mmio_read32(uint64_t addr) {
    std::array<uint8_t, 4> b{};
    bars->bus.read(addr, b);
    uint32_t v;
    std::memcpy(&v, b.data(), 4);
    return v;
  }
  // Programs MSI-X entry `v` (address, data, unmasked) through the trapped table.
  void program_vector(uint16_t v, uint64_t address, uint32_t data, bool masked = false) {
    const uint64_t e = kBar3 + 16 * v;
    mmio_write32(e, static_cast<uint32_t>(address));
    mmio_write32(e + 4, static_cast<uint32_t>(address >> 32));
    mmio_write32(e + 8, data);
    mmio_write32(e + 12, masked ? 1 : 0);
  }

  std::shared_ptr<FakeDeviceIo> io = std::make_shared<FakeDeviceIo>();
  std::shared_ptr<FakeMemoryBarHost> bars = std::make_shared<FakeMemoryBarHost>();
  std::shared_ptr<FakeMsiSink> sink = std::make_shared<FakeMsiSink>();
  std::shared_ptr<FakeIntx> intx = std::make_shared<FakeIntx>();
  std::shared_ptr<VfioPciFunction> function;
};

TEST(VfioPci, ColdPlacedBarsAreMappedStraightExceptTheMsixPages) {
  Rig r;
  r.create();
  EXPECT_TRUE(r.io->command() & PCI_COMMAND_MEMORY) << "the device decodes where franca placed it";
  EXPECT_EQ(r.cfg_read(PCI_BASE_ADDRESS_0), kBar0);
  ASSERT_TRUE(r.bars->memory.contains(kBar0));
  EXPECT_EQ(r.bars->memory[kBar0].first, 0x20000u);
  EXPECT_EQ(r.bars->memory[kBar0].second, r.io->bar_memory[0].data());
  EXPECT_TRUE(r.bars->memory.contains(kBar1));
  // BAR3: the table page and the PBA page trapped, the two other pages mapped.
  EXPECT_FALSE(r.bars->memory.contains(kBar3));
  EXPECT_TRUE(r.bars->memory.contains(kBar3 + 0x1000));
  EXPECT_TRUE(r.bars->memory.contains(kBar3 + 0x3000));
  const auto s = r.function->stats();
  EXPECT_EQ(s.direct_bytes, 0x20000u + 0x20000u + 0x2000u);
  EXPECT_EQ(s.trapped_bytes, 0x2000u);
  EXPECT_EQ(s.irq_mode, "intx");
  EXPECT_EQ(r.intx->log, std::vector<std::string>{"connect"});
  EXPECT_EQ(r.io->irqs, std::vector<std::string>{fmt::format("0: {}", r.intx->trigger)});
  EXPECT_EQ(r.io->unmask_fd, r.intx->resample);
}

TEST(VfioPci, TrappedPageOutsideTheTableReachesTheDevice) {
  Rig r;
  r.create();
  r.io->bar_memory[3][0x800] = 0x5a;  // past the 5-entry table, in its page
  EXPECT_EQ(r.mmio_read32(kBar3 + 0x800) & 0xff, 0x5au);
  r.mmio_write32(kBar3 + 0x2100, 7);  // past the PBA, in its page
  EXPECT_EQ(r.io->bar_memory[3][0x2100], 7);
  EXPECT_EQ(r.function->stats().trapped_reads, 1u);
  EXPECT_EQ(r.function->stats().trapped_writes, 1u);
}

TEST(VfioPci, MsixEnableHandsTheSinkNotifiersToVfioAndHonoursMasks) {
  Rig r;
  r.create();
  r.program_vector(0, 0xfee00000, 0x41);
  r.program_vector(1, 0xfee01000, 0x42, /*masked=*/true);
  r.cfg_write(kMsixCap, uint32_t{PCI_MSIX_FLAGS_ENABLE} << 16);
  // INTx first off, then MSI-X with one eventfd per vector: the sink's notifiers.
  EXPECT_EQ(r.intx->log, (std::vector<std::string>{"connect", "disconnect"}));
  ASSERT_EQ(r.io->irqs.size(), 3u);
  EXPECT_EQ(r.io->irqs[1], "0:");
  EXPECT_EQ(r.io->irqs[2], "2: 100 101 102 103 104");
  EXPECT_EQ(r.function->stats().irq_mode, "msix");
  EXPECT_EQ(r.sink->routes[0].data, 0x41u);
  auto log = r.sink->open_log();
  EXPECT_NE(std::find(log.begin(), log.end(), "+0"), log.end());
  EXPECT_EQ(std::find(log.begin(), log.end(), "+1"), log.end()) << "vector 1 is masked";
  r.mmio_write32(kBar3 + 16 + 12, 0);  // unmask vector 1
  log = r.sink->open_log();
  EXPECT_NE(std::find(log.begin(), log.end(), "+1"), log.end());
  r.cfg_write(kMsixCap, uint32_t{PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL} << 16);  // function mask
  log = r.sink->open_log();
  EXPECT_EQ(log.back().front(), '-');
  EXPECT_FALSE(r.sink->opened_unrouted);
  r.cfg_write(kMsixCap, 0);  // off: VFIO's MSI-X off, INTx back
  EXPECT_EQ(r.io->irqs[3], "2:");
  EXPECT_EQ(r.intx->log.back(), "connect");
  EXPECT_EQ(r.function->stats().irq_mode, "intx");
}

TEST(VfioPci, MsiRoutesEachVectorAndEnablesVfioMsi) {
  Rig r;
  r.create();
  r.cfg_write(kMsiCap + PCI_MSI_ADDRESS_LO, 0xfee02000);
  r.cfg_write(kMsiCap + PCI_MSI_DATA_64, 0x4031, 2);
  EXPECT_EQ(r.io->irqs.size(), 1u) << "nothing before enable";
  r.cfg_write(kMsiCap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, 2);
  EXPECT_EQ(r.sink->routes[0].address, 0xfee02000u);
  EXPECT_EQ(r.sink->routes[0].data, 0x4031u);
  EXPECT_EQ(r.io->irqs.back(), "1: 100");
  EXPECT_EQ(r.function->stats().irq_mode, "msi");
  EXPECT_EQ(r.cfg_read(kMsiCap + PCI_MSI_DATA_64, 2), 0x4031u) << "the guest's message, not the host's";
  r.cfg_write(kMsiCap + PCI_MSI_FLAGS, 0, 2);
  EXPECT_EQ(r.io->irqs.back(), fmt::format("0: {}", r.intx->trigger));
  EXPECT_EQ(r.sink->open_log().back(), "-0");
}

TEST(VfioPci, MemoryDecodeOffUnmapsOnRemapsAndMovesBars) {
  Rig r;
  r.create();
  r.cfg_write(PCI_COMMAND, PCI_COMMAND_IO, 2);
  EXPECT_TRUE(r.bars->memory.empty());
  EXPECT_FALSE(r.io->command() & PCI_COMMAND_MEMORY) << "the device stops decoding too";
  EXPECT_EQ(r.mmio_read32(kBar3 + 0x800), 0xffffffffu) << "the traps are gone too";
  r.cfg_write(PCI_BASE_ADDRESS_0, 0xffffffff);  // sizing with decode off
  EXPECT_EQ(r.cfg_read(PCI_BASE_ADDRESS_0), 0xfffe0000u);
  r.cfg_write(PCI_BASE_ADDRESS_0, 0xd0000000);
  r.cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
  EXPECT_TRUE(r.bars->memory.contains(0xd0000000));
  EXPECT_TRUE(r.bars->memory.contains(kBar1));
  EXPECT_TRUE(r.io->command() & PCI_COMMAND_MASTER);
}

TEST(VfioPci, HotPluggedFunctionMapsNothingUntilTheGuestPlacesIt) {
  Rig r;
  r.create(/*cold=*/false);
  EXPECT_TRUE(r.bars->memory.empty());
  EXPECT_FALSE(r.io->command() & PCI_COMMAND_MEMORY);
  r.cfg_write(PCI_BASE_ADDRESS_3, 0xe0000000);
  r.cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
  EXPECT_TRUE(r.bars->memory.contains(0xe0001000));
  EXPECT_FALSE(r.bars->memory.contains(0xe0000000)) << "BAR0 was never placed: it sits at 0, not decoded";
}

TEST(VfioPci, MmapRefusedOrSlotMapFailingFallsBackToTrapping) {
  Rig r;
  r.bars->fail_memory = true;
  r.create();
  EXPECT_TRUE(r.bars->memory.empty());
  r.io->bar_memory[0][0x10] = 0x33;
  EXPECT_EQ(r.mmio_read32(kBar0 + 0x10) & 0xff, 0x33u);
  EXPECT_EQ(r.function->stats().direct_bytes, 0u);
}

TEST(VfioPci, HostileAndFailingAccessesAreContained) {
  Rig r;
  r.create();
  r.cfg_write(0x100, 0xffffffff);  // extended space: ignored
  EXPECT_EQ(r.cfg_read(0x100), 0u);
  r.cfg_write(PCI_ROM_ADDRESS, 0xffffffff);
  EXPECT_EQ(std::count(r.io->config_writes.begin(), r.io->config_writes.end(), PCI_ROM_ADDRESS), 0)
      << "franca's bytes never reach the device";
  r.io->fail_io = true;
  EXPECT_EQ(r.cfg_read(PCI_VENDOR_ID), 0xffffffffu);
  r.mmio_write32(kBar3 + 0x800, 1);
  EXPECT_GE(r.function->stats().device_errors, 2u);
}

TEST(VfioPci, ShutdownReleasesMapsAndInterruptsAndResets) {
  Rig r;
  r.create();
  r.program_vector(0, 0xfee00000, 0x41);
  r.cfg_write(kMsixCap, uint32_t{PCI_MSIX_FLAGS_ENABLE} << 16);
  r.function->shutdown();
  EXPECT_TRUE(r.bars->memory.empty());
  EXPECT_EQ(r.mmio_read32(kBar3 + 0x800), 0xffffffffu);
  EXPECT_EQ(r.io->irqs.back(), "2:");
  EXPECT_EQ(r.sink->open_log().back(), "-0");
  EXPECT_EQ(r.io->resets, 1);
  EXPECT_EQ(r.cfg_read(PCI_VENDOR_ID), 0xffffffffu);
  r.function->shutdown();  // idempotent (and the destructor calls it again)
  EXPECT_EQ(r.io->resets, 1);
}

TEST(VfioPci, TooManyMsixVectorsIsAClearError) {
  Rig r;
  r.io->config[kMsixCap + PCI_MSIX_FLAGS] = 0xff;  // 256 vectors
  r.io->regions[3].size = 0x10000;
  VfioPciFunction::Wiring w;
  w.bars = r.bars;
  w.msi = r.sink;
  auto probe = VfioPciFunction::probe(*r.io);
  ASSERT_TRUE(probe) << probe.error().message;
  auto fn = VfioPciFunction::create("vfio0", r.io, *probe, std::move(w));
  ASSERT_FALSE(fn);
  EXPECT_NE(fn.error().message.find("256 MSI-X vectors"), std::string::npos) << fn.error().message;
}

}  // namespace
}  // namespace franca::vfio
