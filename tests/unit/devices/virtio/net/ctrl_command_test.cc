// The control-queue command parser (virtio 1.x §5.1.6.5): every handled
// command applies with its feature, and is refused (state untouched) without
// it, without CTRL_VQ, truncated, or with trailing bytes.
#include "devices/virtio/net/ctrl_command.h"

#include <gtest/gtest.h>

#include <cstring>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "devices/virtio/net/virtio_net_uapi.h"
#include "devices/virtio/net/vnet_hdr.h"

namespace franca::virtio {
namespace {

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

constexpr uint64_t kGuestOffloads = bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4) |
                                    bit(VIRTIO_NET_F_GUEST_TSO6) | bit(VIRTIO_NET_F_GUEST_ECN);
constexpr uint64_t kAll = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_CTRL_VQ) | bit(VIRTIO_NET_F_CTRL_RX) |
                          bit(VIRTIO_NET_F_CTRL_MAC_ADDR) | bit(VIRTIO_NET_F_GUEST_ANNOUNCE) | bit(VIRTIO_NET_F_MQ) |
                          bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | kGuestOffloads;
constexpr uint16_t kMaxPairs = 4;

constexpr MacAddress kMacA{0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01};
constexpr MacAddress kMacB{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};

// Request bytes: class, command, then little-endian data.
class Request {
 public:
  Request(uint8_t cls, uint8_t cmd) : bytes_{cls, cmd} {}
  template <class T>
  Request& add(const T& value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
    return *this;
  }
  Request& macs(const std::vector<MacAddress>& list) {
    add(static_cast<uint32_t>(list.size()));
    for (const MacAddress& m : list) add(m);
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

std::vector<MacAddress> mac_list(size_t n) {
  std::vector<MacAddress> out;
  for (size_t i = 0; i < n; ++i) out.push_back({0x02, 0, 0, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)});
  return out;
}

// A state every handled command changes.
NetCtrlState initial_state() {
  NetCtrlState s;
  s.mac = {0x02, 0, 0, 0, 0, 0x01};
  s.pairs = 1;
  s.guest_offloads = bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4);
  s.announce = true;
  s.rx.unicast = {kMacA};
  return s;
}

auto fields(const NetCtrlState& s) {
  return std::tie(s.mac, s.pairs, s.guest_offloads, s.announce, s.rx.promisc, s.rx.allmulti, s.rx.unicast,
                  s.rx.multicast);
}
bool same(const NetCtrlState& a, const NetCtrlState& b) { return fields(a) == fields(b); }

uint8_t apply(const Request& r, NetCtrlState& s, uint64_t features = kAll, uint16_t max_pairs = kMaxPairs) {
  return apply_ctrl(r.bytes(), features, max_pairs, s);
}

// One well-formed instance of every handled command and the feature it needs.
struct Command {
  std::string name;
  Request request;
  unsigned feature;
};

std::vector<Command> commands() {
  return {
      {"RxPromisc", Request(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC).add(uint8_t{0}), VIRTIO_NET_F_CTRL_RX},
      {"RxAllmulti", Request(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI).add(uint8_t{1}), VIRTIO_NET_F_CTRL_RX},
      {"MacTableSet", Request(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET).macs({kMacB}).macs({kMacB}),
       VIRTIO_NET_F_CTRL_RX},
      {"MacAddrSet", Request(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET).add(kMacA), VIRTIO_NET_F_CTRL_MAC_ADDR},
      {"AnnounceAck", Request(VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK), VIRTIO_NET_F_GUEST_ANNOUNCE},
      {"VqPairsSet", Request(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET).add(uint16_t{2}), VIRTIO_NET_F_MQ},
      {"GuestOffloadsSet",
       Request(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET).add(bit(VIRTIO_NET_F_GUEST_CSUM)),
       VIRTIO_NET_F_CTRL_GUEST_OFFLOADS},
  };
}

void PrintTo(const Command& c, std::ostream* os) { *os << c.name; }

class EveryCommand : public ::testing::TestWithParam<Command> {};

TEST_P(EveryCommand, IsAcceptedWithItsFeatureAndChangesTheState) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(GetParam().request, s), VIRTIO_NET_OK);
  EXPECT_FALSE(same(s, initial_state()));
}

TEST_P(EveryCommand, IsRefusedWithoutItsFeatureLeavingTheStateAlone) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(GetParam().request, s, kAll & ~bit(GetParam().feature)), VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST_P(EveryCommand, IsRefusedWithoutCtrlVq) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(GetParam().request, s, kAll & ~bit(VIRTIO_NET_F_CTRL_VQ)), VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST_P(EveryCommand, IsRefusedOneByteShort) {
  NetCtrlState s = initial_state();
  std::vector<uint8_t> bytes = GetParam().request.bytes();
  bytes.pop_back();
  EXPECT_EQ(apply_ctrl(bytes, kAll, kMaxPairs, s), VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST_P(EveryCommand, IsRefusedWithATrailingByte) {
  NetCtrlState s = initial_state();
  std::vector<uint8_t> bytes = GetParam().request.bytes();
  bytes.push_back(0);
  EXPECT_EQ(apply_ctrl(bytes, kAll, kMaxPairs, s), VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

INSTANTIATE_TEST_SUITE_P(Ctrl, EveryCommand, ::testing::ValuesIn(commands()),
                         [](const auto& info) { return info.param.name; });

TEST(ApplyCtrl, RxPromiscOffTurnsPromiscuousModeOff) {
  NetCtrlState s;
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC).add(uint8_t{0}), s), VIRTIO_NET_OK);
  EXPECT_FALSE(s.rx.promisc);
}

TEST(ApplyCtrl, RxPromiscOnTurnsPromiscuousModeOn) {
  NetCtrlState s;
  s.rx.promisc = false;
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC).add(uint8_t{1}), s), VIRTIO_NET_OK);
  EXPECT_TRUE(s.rx.promisc);
}

TEST(ApplyCtrl, RxAllmultiOnTurnsAllMulticastOn) {
  NetCtrlState s;
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI).add(uint8_t{1}), s), VIRTIO_NET_OK);
  EXPECT_TRUE(s.rx.allmulti);
  EXPECT_TRUE(s.rx.promisc);  // untouched
}

TEST(ApplyCtrl, RxCommandsOfCtrlRxExtraAreRefused) {
  for (uint8_t cmd :
       {VIRTIO_NET_CTRL_RX_ALLUNI, VIRTIO_NET_CTRL_RX_NOMULTI, VIRTIO_NET_CTRL_RX_NOUNI, VIRTIO_NET_CTRL_RX_NOBCAST}) {
    NetCtrlState s = initial_state();
    EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_RX, cmd).add(uint8_t{1}), s), VIRTIO_NET_ERR) << int{cmd};
    EXPECT_TRUE(same(s, initial_state()));
  }
}

TEST(ApplyCtrl, MacTableSetReplacesBothLists) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET).macs(mac_list(2)).macs({kMacB}), s),
            VIRTIO_NET_OK);
  EXPECT_EQ(s.rx.unicast, mac_list(2));
  EXPECT_EQ(s.rx.multicast, std::vector<MacAddress>{kMacB});
}

TEST(ApplyCtrl, MacTableSetWithNoEntriesClearsBothLists) {
  NetCtrlState s = initial_state();
  s.rx.multicast = {kMacB};
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET).macs({}).macs({}), s), VIRTIO_NET_OK);
  EXPECT_TRUE(s.rx.unicast.empty());
  EXPECT_TRUE(s.rx.multicast.empty());
}

TEST(ApplyCtrl, MacTableSetAcceptsSixtyFourEntriesInEachList) {
  NetCtrlState s;
  const auto macs = mac_list(kMaxMacTableEntries);
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET).macs(macs).macs(macs), s), VIRTIO_NET_OK);
  EXPECT_EQ(s.rx.unicast.size(), kMaxMacTableEntries);
  EXPECT_EQ(s.rx.multicast.size(), kMaxMacTableEntries);
}

TEST(ApplyCtrl, MacTableSetRefusesSixtyFiveUnicastEntries) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(
      apply(
          Request(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET).macs(mac_list(kMaxMacTableEntries + 1)).macs({}),
          s),
      VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST(ApplyCtrl, MacTableSetRefusesSixtyFiveMulticastEntries) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(
      apply(
          Request(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET).macs({}).macs(mac_list(kMaxMacTableEntries + 1)),
          s),
      VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST(ApplyCtrl, MacTableSetRefusesACountLargerThanTheEntriesSent) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET).add(uint32_t{2}).add(kMacA).macs({}), s),
            VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST(ApplyCtrl, MacTableSetRefusesAMissingMulticastList) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET).macs({kMacA}), s), VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST(ApplyCtrl, MacAddrSetChangesTheMac) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET).add(kMacA), s), VIRTIO_NET_OK);
  EXPECT_EQ(s.mac, kMacA);
}

TEST(ApplyCtrl, UnknownMacCommandIsRefused) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MAC, 2).add(kMacA), s), VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST(ApplyCtrl, AnnounceAckClearsAnnounce) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK), s), VIRTIO_NET_OK);
  EXPECT_FALSE(s.announce);
}

TEST(ApplyCtrl, VqPairsSetAcceptsOne) {
  NetCtrlState s;
  s.pairs = 3;
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET).add(uint16_t{1}), s), VIRTIO_NET_OK);
  EXPECT_EQ(s.pairs, 1);
}

TEST(ApplyCtrl, VqPairsSetAcceptsTheMaximum) {
  NetCtrlState s;
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET).add(kMaxPairs), s), VIRTIO_NET_OK);
  EXPECT_EQ(s.pairs, kMaxPairs);
}

TEST(ApplyCtrl, VqPairsSetRefusesZero) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET).add(uint16_t{0}), s), VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST(ApplyCtrl, VqPairsSetRefusesMoreThanTheMaximum) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET).add(uint16_t{kMaxPairs + 1}), s),
            VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST(ApplyCtrl, RssConfigIsRefused) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG).add(uint16_t{2}), s), VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST(ApplyCtrl, GuestOffloadsSetAcceptsASubsetOfTheNegotiatedOffloads) {
  NetCtrlState s = initial_state();
  const uint64_t want = bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO6);
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET).add(want), s),
            VIRTIO_NET_OK);
  EXPECT_EQ(s.guest_offloads, want);
}

TEST(ApplyCtrl, GuestOffloadsSetAcceptsTurningEverythingOff) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET).add(uint64_t{0}), s),
            VIRTIO_NET_OK);
  EXPECT_EQ(s.guest_offloads, 0u);
}

TEST(ApplyCtrl, GuestOffloadsSetRefusesAnOffloadNotNegotiated) {
  NetCtrlState s = initial_state();
  const uint64_t features = kAll & ~bit(VIRTIO_NET_F_GUEST_TSO6);
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET)
                      .add(bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO6)),
                  s, features),
            VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST(ApplyCtrl, GuestOffloadsSetRefusesABitThatIsNoGuestOffload) {
  NetCtrlState s = initial_state();
  EXPECT_EQ(apply(Request(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET)
                      .add(bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_MQ)),
                  s),
            VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST(ApplyCtrl, UnhandledClassesAreRefused) {
  for (uint8_t cls : {uint8_t{VIRTIO_NET_CTRL_VLAN}, uint8_t{6}, uint8_t{0xff}}) {
    NetCtrlState s = initial_state();
    EXPECT_EQ(apply(Request(cls, 0).add(uint16_t{1}), s), VIRTIO_NET_ERR) << int{cls};
    EXPECT_TRUE(same(s, initial_state()));
  }
}

TEST(ApplyCtrl, RequestsShorterThanClassAndCommandAreRefused) {
  NetCtrlState s = initial_state();
  const std::vector<uint8_t> one{VIRTIO_NET_CTRL_ANNOUNCE};
  EXPECT_EQ(apply_ctrl({}, kAll, kMaxPairs, s), VIRTIO_NET_ERR);
  EXPECT_EQ(apply_ctrl(one, kAll, kMaxPairs, s), VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

TEST(ApplyCtrl, RequestsLongerThanTheMaximumAreRefused) {
  NetCtrlState s = initial_state();
  std::vector<uint8_t> bytes(kMaxCtrlRequest + 1, 0);
  bytes[0] = VIRTIO_NET_CTRL_MAC;
  bytes[1] = VIRTIO_NET_CTRL_MAC_TABLE_SET;
  EXPECT_EQ(apply_ctrl(bytes, kAll, kMaxPairs, s), VIRTIO_NET_ERR);
  EXPECT_TRUE(same(s, initial_state()));
}

}  // namespace
}  // namespace franca::virtio
