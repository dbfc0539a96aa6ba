// MSI-X: delivery only while enabled and unmasked; a vector raised while masked
// sets its PBA bit and fires on unmask; routes follow the programmed message.
#include "devices/pci/msix.h"

#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include "tests/unit/devices/pci/pci_fakes.h"

namespace franca::pci {
namespace {

class MsixTest : public ::testing::Test {
 protected:
  void wr(uint64_t off, uint32_t v) { msix_.write(off, {reinterpret_cast<const uint8_t*>(&v), 4}); }
  uint32_t rd(uint64_t off) {
    uint32_t v = 0;
    msix_.read(off, {reinterpret_cast<uint8_t*>(&v), 4});
    return v;
  }
  // What Linux's msix_setup_msi_descs + __pci_write_msi_msg do for one vector.
  void program(uint16_t v, uint32_t addr, uint32_t data) {
    wr(v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_LOWER_ADDR, addr);
    wr(v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
    wr(v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_DATA, data);
  }
  void unmask(uint16_t v) { wr(v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL, 0); }
  void mask(uint16_t v) { wr(v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL, 1); }

  std::shared_ptr<testing::FakeMsiSink> sink_ = std::make_shared<testing::FakeMsiSink>();
  Msix msix_{3, sink_};
};

TEST_F(MsixTest, CapabilityAdvertisesTableSizeAndBir) {
  const auto cap = msix_.capability(1);
  EXPECT_EQ(cap[0], PCI_CAP_ID_MSIX);
  EXPECT_EQ(cap[2] | cap[3] << 8, 2);  // N - 1
  EXPECT_EQ(cap[4], 1);                // table at 0 in BAR1
  EXPECT_EQ(cap[8] | cap[9] << 8, Msix::kPbaOffset | 1);
}

TEST_F(MsixTest, EntriesStartMasked) { EXPECT_EQ(rd(PCI_MSIX_ENTRY_VECTOR_CTRL), 1u); }

TEST_F(MsixTest, UnmaskedVectorFiresWithItsRoute) {
  msix_.set_control(PCI_MSIX_FLAGS_ENABLE);
  program(1, 0xfee00000, 0x41);
  unmask(1);
  msix_.signal(1);
  EXPECT_EQ(sink_->fired_vectors(), std::vector<uint16_t>{1});
  EXPECT_EQ(sink_->routes[1].address, 0xfee00000u);
  EXPECT_EQ(sink_->routes[1].data, 0x41u);
}

TEST_F(MsixTest, MaskedVectorSetsPendingBitAndFiresOnUnmask) {
  msix_.set_control(PCI_MSIX_FLAGS_ENABLE);
  program(2, 0xfee00000, 0x42);
  msix_.signal(2);
  EXPECT_TRUE(sink_->fired_vectors().empty());
  EXPECT_EQ(rd(Msix::kPbaOffset), 1u << 2);
  unmask(2);
  EXPECT_EQ(sink_->fired_vectors(), std::vector<uint16_t>{2});
  EXPECT_EQ(rd(Msix::kPbaOffset), 0u);
}

TEST_F(MsixTest, FunctionMaskHoldsEveryVectorUntilCleared) {
  msix_.set_control(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
  program(0, 0xfee00000, 0x40);
  unmask(0);
  msix_.signal(0);
  EXPECT_TRUE(sink_->fired_vectors().empty());
  EXPECT_TRUE(msix_.pending(0));
  msix_.set_control(PCI_MSIX_FLAGS_ENABLE);
  EXPECT_EQ(sink_->fired_vectors(), std::vector<uint16_t>{0});
}

TEST_F(MsixTest, DisabledMsixHoldsVectorsPendingUntilEnabled) {
  program(0, 0xfee00000, 0x40);
  unmask(0);
  msix_.signal(0);
  EXPECT_TRUE(sink_->fired_vectors().empty());
  msix_.set_control(PCI_MSIX_FLAGS_ENABLE);
  EXPECT_EQ(sink_->fired_vectors(), std::vector<uint16_t>{0});
}

TEST_F(MsixTest, ReprogrammedMessageIsRoutedBeforeTheNextDelivery) {
  msix_.set_control(PCI_MSIX_FLAGS_ENABLE);
  program(0, 0xfee00000, 0x40);
  unmask(0);
  mask(0);
  program(0, 0xfee01000, 0x51);  // affinity change: new message while masked
  unmask(0);
  EXPECT_EQ(sink_->routes[0].address, 0xfee01000u);
  EXPECT_EQ(sink_->routes[0].data, 0x51u);
}

// A notifier written by someone else (vhost) is gated by the sink: the vector
// opens only once routed and deliverable, and closes on every kind of mask.
TEST_F(MsixTest, SinkIsOpenExactlyWhileTheVectorIsDeliverable) {
  using V = std::vector<std::string>;
  EXPECT_EQ(msix_.notifier(1), 101);
  EXPECT_EQ(msix_.notifier(3), -1);  // out of range
  program(1, 0xfee00000, 0x41);
  unmask(1);
  EXPECT_EQ(sink_->open_log(), V{});  // MSI-X still off
  msix_.set_control(PCI_MSIX_FLAGS_ENABLE);
  EXPECT_EQ(sink_->open_log(), V{"+1"});
  mask(1);
  unmask(1);
  msix_.set_control(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
  msix_.set_control(PCI_MSIX_FLAGS_ENABLE);
  msix_.set_control(0);
  EXPECT_EQ(sink_->open_log(), (V{"+1", "-1", "+1", "-1", "+1", "-1"}));
  EXPECT_FALSE(sink_->opened_unrouted);
  mask(1);  // closed already: no call
  EXPECT_EQ(sink_->open_log().size(), 6u);
}

TEST_F(MsixTest, HostileAccessesAreIgnored) {
  msix_.signal(7);  // beyond the table
  const uint8_t byte = 0;
  msix_.write(1, {&byte, 1});                  // unaligned byte
  wr(Msix::kPbaOffset, 0xffffffff);            // PBA is read-only
  wr(3 * PCI_MSIX_ENTRY_SIZE, 0x1234);         // past the last entry
  wr(PCI_MSIX_ENTRY_VECTOR_CTRL, 0xfffffffe);  // reserved control bits
  EXPECT_EQ(rd(Msix::kPbaOffset), 0u);
  EXPECT_EQ(rd(PCI_MSIX_ENTRY_VECTOR_CTRL), 0u);
  EXPECT_TRUE(sink_->fired_vectors().empty());
}

}  // namespace
}  // namespace franca::pci
