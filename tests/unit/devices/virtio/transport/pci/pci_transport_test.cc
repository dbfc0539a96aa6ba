// virtio-pci modern transport: Linux's virtio_pci_modern probe replayed over
// config space and BAR4 (find caps, reset, features, MSI-X vectors, queue setup,
// DRIVER_OK, kick, interrupt), INTx + ISR without MSI-X, BAR moves, reset.
#include "devices/virtio/transport/pci/pci_transport.h"

#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <poll.h>

#include <chrono>
#include <map>
#include <thread>

#include "tests/support/fake_device.h"
#include "tests/support/fake_irq.h"
#include "tests/support/loop_thread.h"
#include "tests/unit/devices/pci/pci_fakes.h"

namespace franca::virtio {
namespace {

constexpr uint64_t kVersion1 = uint64_t{1} << VIRTIO_F_VERSION_1;
constexpr uint64_t kBase = 0xc0000000;

using testing::FakeDevice;

class PciTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ram_.resize(1 << 20);
    MemoryRegion region{0, ram_.size(), ram_.data()};
    memory_ = GuestMemory::over({&region, 1});
    transport_ = *VirtioPciTransport::create(device_, memory_, loop_.loop(), {bars_, msi_, intx_, kBase});
    ASSERT_TRUE(transport_->map_bars());
  }
  void TearDown() override {
    transport_->shutdown();
    loop_.stop();
  }

  uint32_t cfg(uint32_t off, size_t len = 4) {
    uint32_t v = 0;
    transport_->config_read(off, {reinterpret_cast<uint8_t*>(&v), len});
    return v;
  }
  void set_cfg(uint32_t off, uint32_t v, size_t len = 4) {
    transport_->config_write(off, {reinterpret_cast<const uint8_t*>(&v), len});
  }
  uint32_t bar(uint64_t off, size_t len) {
    uint32_t v = 0;
    bars_->bus.read(kBase + off, {reinterpret_cast<uint8_t*>(&v), len});
    return v;
  }
  void set_bar(uint64_t off, uint32_t v, size_t len) {
    bars_->bus.write(kBase + off, {reinterpret_cast<const uint8_t*>(&v), len});
  }
  void set_common(uint32_t field, uint32_t v, size_t len) { set_bar(common_ + field, v, len); }
  uint32_t common(uint32_t field, size_t len) { return bar(common_ + field, len); }
  void add_status(uint8_t bits) { set_common(VIRTIO_PCI_COMMON_STATUS, common(VIRTIO_PCI_COMMON_STATUS, 1) | bits, 1); }

  // virtio_pci_find_capability for every cfg_type: the offset in BAR4 of each.
  void find_caps() {
    ASSERT_TRUE(cfg(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    for (uint32_t at = cfg(PCI_CAPABILITY_LIST, 1), hops = 0; at && hops < 48; at = cfg(at + 1, 1), ++hops) {
      if (cfg(at, 1) == PCI_CAP_ID_MSIX) msix_cap_ = at;
      if (cfg(at, 1) != PCI_CAP_ID_VNDR) continue;
      const uint32_t type = cfg(at + VIRTIO_PCI_CAP_CFG_TYPE, 1);
      if (caps_.count(type)) continue;  // the first of each type wins
      caps_[type] = at;
      if (type != VIRTIO_PCI_CAP_PCI_CFG) {
        EXPECT_EQ(cfg(at + VIRTIO_PCI_CAP_BAR, 1), 4u);
        EXPECT_LE(cfg(at + VIRTIO_PCI_CAP_OFFSET) + cfg(at + VIRTIO_PCI_CAP_LENGTH), 0x4000u);
      }
    }
    for (uint32_t t : {VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_CAP_ISR_CFG,
                       VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_CAP_PCI_CFG})
      ASSERT_TRUE(caps_.count(t)) << "missing cap " << t;
    common_ = cfg(caps_[VIRTIO_PCI_CAP_COMMON_CFG] + VIRTIO_PCI_CAP_OFFSET);
    notify_ = cfg(caps_[VIRTIO_PCI_CAP_NOTIFY_CFG] + VIRTIO_PCI_CAP_OFFSET);
    mult_ = cfg(caps_[VIRTIO_PCI_CAP_NOTIFY_CFG] + sizeof(virtio_pci_cap));
    isr_ = cfg(caps_[VIRTIO_PCI_CAP_ISR_CFG] + VIRTIO_PCI_CAP_OFFSET);
    ASSERT_GE(cfg(caps_[VIRTIO_PCI_CAP_COMMON_CFG] + VIRTIO_PCI_CAP_LENGTH), 0x40u);
  }
  void msix_table(uint16_t v, uint32_t data) {
    const uint64_t e = 0x4000 + v * PCI_MSIX_ENTRY_SIZE;
    set_bar(e + PCI_MSIX_ENTRY_LOWER_ADDR, 0xfee00000, 4);
    set_bar(e + PCI_MSIX_ENTRY_UPPER_ADDR, 0, 4);
    set_bar(e + PCI_MSIX_ENTRY_DATA, data, 4);
    set_bar(e + PCI_MSIX_ENTRY_VECTOR_CTRL, 0, 4);
  }
  void setup_queue(uint16_t q, uint64_t base, uint16_t vector) {
    set_common(VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
    ASSERT_GE(common(VIRTIO_PCI_COMMON_Q_SIZE, 2), 16u);
    set_common(VIRTIO_PCI_COMMON_Q_SIZE, 16, 2);
    set_common(VIRTIO_PCI_COMMON_Q_DESCLO, static_cast<uint32_t>(base), 4);
    set_common(VIRTIO_PCI_COMMON_Q_DESCHI, 0, 4);
    set_common(VIRTIO_PCI_COMMON_Q_AVAILLO, static_cast<uint32_t>(base + 0x1000), 4);
    set_common(VIRTIO_PCI_COMMON_Q_AVAILHI, 0, 4);
    set_common(VIRTIO_PCI_COMMON_Q_USEDLO, static_cast<uint32_t>(base + 0x2000), 4);
    set_common(VIRTIO_PCI_COMMON_Q_USEDHI, 0, 4);
    set_common(VIRTIO_PCI_COMMON_Q_MSIX, vector, 2);
    ASSERT_EQ(common(VIRTIO_PCI_COMMON_Q_MSIX, 2), vector);
    set_common(VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
  }
  // vp_modern_probe + virtio_dev_probe + vp_find_vqs (MSI-X, one vector per queue + config).
  void probe(bool use_msix) {
    find_caps();
    set_cfg(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    set_common(VIRTIO_PCI_COMMON_STATUS, 0, 1);
    ASSERT_EQ(common(VIRTIO_PCI_COMMON_STATUS, 1), 0u);
    add_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
    add_status(VIRTIO_CONFIG_S_DRIVER);
    set_common(VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
    ASSERT_EQ(common(VIRTIO_PCI_COMMON_DF, 4), kVersion1 >> 32);
    set_common(VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
    set_common(VIRTIO_PCI_COMMON_GF, static_cast<uint32_t>(kVersion1 >> 32), 4);
    add_status(VIRTIO_CONFIG_S_FEATURES_OK);
    ASSERT_TRUE(common(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_FEATURES_OK);
    ASSERT_EQ(common(VIRTIO_PCI_COMMON_NUMQ, 2), 2u);
    if (use_msix) {
      set_cfg(msix_cap_ + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
      for (uint16_t v = 0; v < 3; ++v) msix_table(v, 0x40 + v);
      set_cfg(msix_cap_ + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
      set_common(VIRTIO_PCI_COMMON_MSIX, 0, 2);
      ASSERT_EQ(common(VIRTIO_PCI_COMMON_MSIX, 2), 0u);
    }
    setup_queue(0, 0x10000, use_msix ? 1 : VIRTIO_MSI_NO_VECTOR);
    setup_queue(1, 0x20000, use_msix ? 2 : VIRTIO_MSI_NO_VECTOR);
    add_status(VIRTIO_CONFIG_S_DRIVER_OK);
    ASSERT_TRUE(wait_for([this] { return device_->activations == 1; }));
  }
  bool wait_for(const std::function<bool()>& cond) {
    for (int i = 0; i < 2000 && !cond(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return cond();
  }

  std::vector<uint8_t> ram_;
  GuestMemory memory_;
  testing::LoopThread loop_;
  std::shared_ptr<FakeDevice> device_ = std::make_shared<FakeDevice>(FakeDevice::Options{.type = 2, .id = "fakeblk0"});
  std::shared_ptr<testing::FakeBarHost> bars_ = std::make_shared<testing::FakeBarHost>();
  std::shared_ptr<testing::FakeMsiSink> msi_ = std::make_shared<testing::FakeMsiSink>();
  std::shared_ptr<testing::FakeIrq> intx_ = std::make_shared<testing::FakeIrq>();
  std::shared_ptr<VirtioPciTransport> transport_;
  std::map<uint32_t, uint32_t> caps_;
  uint32_t msix_cap_ = 0, common_ = 0, notify_ = 0, mult_ = 0, isr_ = 0;
};

TEST_F(PciTransportTest, IdentifiesAsModernVirtioBlock) {
  EXPECT_EQ(cfg(PCI_VENDOR_ID, 2), 0x1af4u);
  EXPECT_EQ(cfg(PCI_DEVICE_ID, 2), 0x1042u);
  EXPECT_EQ(cfg(PCI_REVISION_ID, 1), 1u);
  EXPECT_GE(cfg(PCI_SUBSYSTEM_ID, 2), 0x40u);
  EXPECT_EQ(cfg(PCI_INTERRUPT_PIN, 1), 1u);
}

TEST_F(PciTransportTest, LinuxProbeWithMsixActivatesBothQueuesAndSignalsTheirVectors) {
  probe(/*use_msix=*/true);
  ASSERT_EQ(device_->ctx_->queues.size(), 2u);
  EXPECT_EQ(device_->ctx_->features, kVersion1);
  device_->ctx_->interrupt->signal_used(1);
  device_->ctx_->interrupt->signal_config();
  EXPECT_EQ(msi_->fired_vectors(), (std::vector<uint16_t>{2, 0}));
  EXPECT_EQ(msi_->routes[2].data, 0x42u);
  EXPECT_EQ(intx_->raised, 0);
  EXPECT_EQ(bar(isr_, 1), 2u);  // config bit set in both modes; read clears
  EXPECT_EQ(bar(isr_, 1), 0u);
}

TEST_F(PciTransportTest, NotifySlotsAreRegisteredAndReachTheKickEventfd) {
  probe(true);
  EXPECT_EQ(mult_, 4u);
  for (uint16_t q = 0; q < 2; ++q) {
    const int fd = device_->ctx_->queues[q].kick_fd;
    EXPECT_TRUE(bars_->notifies.count({kBase + notify_ + q * mult_, fd}));
  }
  set_bar(notify_ + 1 * mult_, 1, 2);  // as if no ioeventfd took it
  pollfd p{device_->ctx_->queues[1].kick_fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 1);
}

TEST_F(PciTransportTest, WithoutMsixQueueInterruptsUseIsrAndALevelOnIntx) {
  probe(/*use_msix=*/false);
  device_->ctx_->interrupt->signal_used(0);
  EXPECT_TRUE(intx_->level);
  EXPECT_TRUE(cfg(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
  EXPECT_EQ(bar(isr_, 1), 1u);
  EXPECT_FALSE(intx_->level);
  EXPECT_TRUE(msi_->fired_vectors().empty());
}

TEST_F(PciTransportTest, IntxDisableBitHoldsTheLineLow) {
  probe(false);
  set_cfg(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE, 2);
  device_->ctx_->interrupt->signal_used(0);
  EXPECT_FALSE(intx_->level);
}

TEST_F(PciTransportTest, VectorBeyondTheTableReadsBackNoVector) {
  find_caps();
  set_common(VIRTIO_PCI_COMMON_MSIX, 7, 2);
  EXPECT_EQ(common(VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
}

TEST_F(PciTransportTest, OutOfRangeQueueSelectReadsSizeZero) {
  find_caps();
  set_common(VIRTIO_PCI_COMMON_Q_SELECT, 9, 2);
  EXPECT_EQ(common(VIRTIO_PCI_COMMON_Q_SIZE, 2), 0u);
  set_common(VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);  // harmless
}

TEST_F(PciTransportTest, ResetStopsTheDeviceAndForgetsVectors) {
  probe(true);
  set_common(VIRTIO_PCI_COMMON_STATUS, 0, 1);
  EXPECT_EQ(device_->resets, 1);
  EXPECT_EQ(common(VIRTIO_PCI_COMMON_STATUS, 1), 0u);
  EXPECT_EQ(common(VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
  set_common(VIRTIO_PCI_COMMON_Q_SELECT, 1, 2);
  EXPECT_EQ(common(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
  EXPECT_EQ(common(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0u);
}

TEST_F(PciTransportTest, MovingBar4MovesTheMappingAndTheNotifyEventfds) {
  probe(true);
  const uint64_t moved = 0xc1000000;
  set_cfg(PCI_BASE_ADDRESS_4, static_cast<uint32_t>(moved));
  uint32_t v = 0;
  ASSERT_TRUE(bars_->bus.read(moved + common_ + VIRTIO_PCI_COMMON_NUMQ, {reinterpret_cast<uint8_t*>(&v), 2}));
  EXPECT_EQ(v, 2u);
  EXPECT_FALSE(bars_->bus.read(kBase + common_, {reinterpret_cast<uint8_t*>(&v), 2}));
  EXPECT_TRUE(bars_->notifies.count({moved + notify_, device_->ctx_->queues[0].kick_fd}));
  EXPECT_EQ(bars_->notifies.size(), 2u);
}

TEST_F(PciTransportTest, DisablingMemoryDecodeUnmapsBarsAndNotifies) {
  probe(true);
  set_cfg(PCI_COMMAND, 0, 2);
  uint32_t v = 0;
  EXPECT_FALSE(bars_->bus.read(kBase + common_, {reinterpret_cast<uint8_t*>(&v), 2}));
  EXPECT_TRUE(bars_->notifies.empty());
  set_cfg(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
  EXPECT_TRUE(bars_->bus.read(kBase + common_, {reinterpret_cast<uint8_t*>(&v), 2}));
  EXPECT_EQ(bars_->notifies.size(), 2u);
}

// A hot-plugged function starts with its BARs unassigned and decode off: nothing
// on the bus until the guest (Linux's pci_assign_resource) places them, and its
// shutdown (the unplug) takes every mapping and notify ioeventfd back.
TEST_F(PciTransportTest, HotpluggedFunctionWaitsForTheGuestToAssignItsBarsAndUnplugReleasesThem) {
  find_caps();  // common_: the same layout as the fixture's function
  auto bars = std::make_shared<testing::FakeBarHost>();
  auto device = std::make_shared<FakeDevice>(FakeDevice::Options{.type = 2, .id = "fakeblk1"});
  auto hot = *VirtioPciTransport::create(device, memory_, loop_.loop(), {bars, msi_, intx_, 0});
  ASSERT_TRUE(hot->map_bars());
  auto hcfg = [&](uint32_t off, size_t len) {
    uint32_t v = 0;
    hot->config_read(off, {reinterpret_cast<uint8_t*>(&v), len});
    return v;
  };
  auto hset = [&](uint32_t off, uint32_t v, size_t len) {
    hot->config_write(off, {reinterpret_cast<const uint8_t*>(&v), len});
  };
  EXPECT_EQ(hcfg(PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, 0u);
  EXPECT_EQ(hcfg(PCI_BASE_ADDRESS_4, 4) & ~0xfu, 0u);
  EXPECT_EQ(hcfg(PCI_BASE_ADDRESS_1, 4) & ~0xfu, 0u);
  EXPECT_TRUE(bars->notifies.empty());
  const uint64_t bar4 = 0x800000000, bar1 = 0xc2000000;  // BAR4 above 4 GiB, as Linux may place it
  hset(PCI_BASE_ADDRESS_4, static_cast<uint32_t>(bar4), 4);
  hset(PCI_BASE_ADDRESS_5, static_cast<uint32_t>(bar4 >> 32), 4);
  hset(PCI_BASE_ADDRESS_1, static_cast<uint32_t>(bar1), 4);
  EXPECT_TRUE(bars->notifies.empty()) << "no decode before the command register enables it";
  hset(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
  uint32_t v = 0;
  EXPECT_TRUE(bars->bus.read(bar4, {reinterpret_cast<uint8_t*>(&v), 4}));
  EXPECT_TRUE(bars->bus.read(bar1, {reinterpret_cast<uint8_t*>(&v), 4}));
  EXPECT_EQ(bars->notifies.size(), 2u);
  hot->shutdown();
  EXPECT_FALSE(bars->bus.read(bar4, {reinterpret_cast<uint8_t*>(&v), 4}));
  EXPECT_FALSE(bars->bus.read(bar1, {reinterpret_cast<uint8_t*>(&v), 4}));
  EXPECT_TRUE(bars->notifies.empty());
  // A vCPU that found the function just before the unplug: its late accesses
  // change nothing (decode stays off, nothing maps again, config reads as empty).
  hset(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
  EXPECT_FALSE(bars->bus.read(bar4, {reinterpret_cast<uint8_t*>(&v), 4}));
  EXPECT_TRUE(bars->notifies.empty());
  EXPECT_EQ(hcfg(PCI_VENDOR_ID, 4), 0xffffffffu);
  const uint8_t driver_ok = 0xf;
  hot->write(common_ + VIRTIO_PCI_COMMON_STATUS, {&driver_ok, 1});
  EXPECT_EQ(hot->status(), 0u);
}

TEST_F(PciTransportTest, PciCfgCapabilityWindowReachesBar4) {
  find_caps();
  const uint32_t cap = caps_[VIRTIO_PCI_CAP_PCI_CFG];
  set_cfg(cap + VIRTIO_PCI_CAP_BAR, 4, 1);
  set_cfg(cap + VIRTIO_PCI_CAP_OFFSET, common_ + VIRTIO_PCI_COMMON_NUMQ);
  set_cfg(cap + VIRTIO_PCI_CAP_LENGTH, 2);
  EXPECT_EQ(cfg(cap + sizeof(virtio_pci_cap), 4) & 0xffff, 2u);
}

TEST_F(PciTransportTest, DeviceConfigIsReadThroughItsCapability) {
  find_caps();
  const uint32_t dev = cfg(caps_[VIRTIO_PCI_CAP_DEVICE_CFG] + VIRTIO_PCI_CAP_OFFSET);
  EXPECT_EQ(bar(dev + 2, 1), 0xa2u);
}

}  // namespace
}  // namespace franca::virtio
