// virtio-net as a device (virtio 1.x §5.1): offered features and their
// dependencies, config space, the control queue end to end, and moving
// running queue pairs between the in-process path and vhost-net (FakeVhost).
#include "devices/virtio/net/net.h"

#include <gtest/gtest.h>
#include <linux/virtio_ids.h>

#include <sys/eventfd.h>

#include <algorithm>
#include <cstddef>

#include <fmt/format.h>

#include "tests/unit/devices/virtio/net/net_fixture.h"

namespace franca::virtio::testing {
namespace {

using vhost::kRxRing;
using vhost::kTxRing;

constexpr MacAddress kMac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
constexpr MacAddress kOtherMac{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

class NetTest : public NetFixture {
 protected:
  uint64_t offered(const NetConfig& config) {
    create(config);
    return net_ ? net_->offered_features() : 0;
  }
  static NetConfig masked(uint64_t mask, uint16_t queues = 1) {
    NetConfig c;
    c.queues = queues;
    c.feature_mask = mask;
    return c;
  }
  static NetConfig with_backend(NetBackend backend, bool packed = false) {
    NetConfig c;
    c.backend = backend;
    c.packed = packed;
    return c;
  }
  static NetConfig packed_on() {
    NetConfig c;
    c.packed = true;
    return c;
  }

  // One control command (class, command, data) with a one-byte ack buffer;
  // returns the ack after checking the chain came back with length 1.
  uint8_t command(const std::vector<uint8_t>& request) {
    const uint64_t ack = alloc(1);
    ram_.bytes()[ack] = 0xff;
    const uint16_t id = ctrl().add({{put(request), static_cast<uint32_t>(request.size()), false}, {ack, 1, true}});
    ctrl().publish();
    kick(ctrl_index());
    EXPECT_EQ(wait_used(ctrl(), 1), (std::vector<UsedBuffer>{{id, 1}}));
    return ram_.bytes()[ack];
  }
  static std::vector<uint8_t> vq_pairs_set(uint16_t pairs) {
    return {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, static_cast<uint8_t>(pairs),
            static_cast<uint8_t>(pairs >> 8)};
  }

  // What the kernel does after using buffers of a split ring: used elements, then used.idx.
  void kernel_uses(DriverQueue& q, const std::vector<UsedBuffer>& entries) {
    const uint64_t used = q.config().device;
    const GuestMemory& memory = ram_.memory();
    auto idx = *memory.read_obj<uint16_t>(used + offsetof(vring_used, idx));
    for (const UsedBuffer& e : entries) {
      const vring_used_elem elem{e.id, e.len};
      memory.write_obj(used + offsetof(vring_used, ring) + sizeof(elem) * (idx % q.config().size), elem);
      ++idx;
    }
    memory.write_obj(used + offsetof(vring_used, idx), idx);
  }

  std::string backend_line(uint32_t ring, int fd) { return fmt::format("net_set_backend {} {}", ring, fd); }
  int tap_fd() const { return net_->tap().fd(0); }

  // Frames out of the TAP until `count` arrived; the in-process path is running.
  void send_frames(size_t count) {
    for (size_t i = 0; i < count; ++i) {
      const auto sent = packet(virtio_net_hdr_v1{}, ethernet_frame(60, static_cast<uint8_t>(i)));
      transmit({sent});
      ASSERT_EQ(tap_receive(), sent);
    }
    ASSERT_EQ(wait_used(tx(), count).size(), count);
  }
};

constexpr uint64_t kBaseOffer =
    bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_RING_F_EVENT_IDX) | bit(VIRTIO_RING_F_INDIRECT_DESC) | bit(VIRTIO_NET_F_CSUM) |
    bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | bit(VIRTIO_NET_F_MAC) |
    bit(VIRTIO_NET_F_GUEST_TSO4) | bit(VIRTIO_NET_F_GUEST_TSO6) | bit(VIRTIO_NET_F_GUEST_ECN) |
    bit(VIRTIO_NET_F_HOST_TSO4) | bit(VIRTIO_NET_F_HOST_TSO6) | bit(VIRTIO_NET_F_HOST_ECN) |
    bit(VIRTIO_NET_F_MRG_RXBUF) | bit(VIRTIO_NET_F_STATUS) | bit(VIRTIO_NET_F_CTRL_VQ) | bit(VIRTIO_NET_F_CTRL_RX) |
    bit(VIRTIO_NET_F_GUEST_ANNOUNCE) | bit(VIRTIO_NET_F_CTRL_MAC_ADDR);

// ---- offered features ----

TEST_F(NetTest, DefaultsOfferTheBaseFeatures) { EXPECT_EQ(offered({}), kBaseOffer); }

TEST_F(NetTest, MoreThanOneQueuePairAddsMq) { EXPECT_EQ(offered(masked(0, 2)), kBaseOffer | bit(VIRTIO_NET_F_MQ)); }

TEST_F(NetTest, AnMtuAddsMtu) {
  NetConfig c;
  c.mtu = 9000;
  EXPECT_EQ(offered(c), kBaseOffer | bit(VIRTIO_NET_F_MTU));
}

TEST_F(NetTest, PackedOnAddsRingPacked) { EXPECT_EQ(offered(packed_on()), kBaseOffer | bit(VIRTIO_F_RING_PACKED)); }

TEST_F(NetTest, FeaturesMaskHidesTheNamedFeatureOnly) {
  EXPECT_EQ(offered(masked(bit(VIRTIO_NET_F_MRG_RXBUF))), kBaseOffer & ~bit(VIRTIO_NET_F_MRG_RXBUF));
}

TEST_F(NetTest, HidingCtrlVqHidesEveryFeatureThatNeedsIt) {
  const uint64_t needs_ctrl_vq = bit(VIRTIO_NET_F_MQ) | bit(VIRTIO_NET_F_CTRL_RX) |
                                 bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | bit(VIRTIO_NET_F_GUEST_ANNOUNCE) |
                                 bit(VIRTIO_NET_F_CTRL_MAC_ADDR);
  EXPECT_EQ(offered(masked(bit(VIRTIO_NET_F_CTRL_VQ), 2)), kBaseOffer & ~bit(VIRTIO_NET_F_CTRL_VQ) & ~needs_ctrl_vq);
}

TEST_F(NetTest, HidingCsumHidesHostSegmentation) {
  EXPECT_EQ(offered(masked(bit(VIRTIO_NET_F_CSUM))),
            kBaseOffer & ~(bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO4) | bit(VIRTIO_NET_F_HOST_TSO6) |
                           bit(VIRTIO_NET_F_HOST_ECN)));
}

TEST_F(NetTest, HidingGuestCsumHidesGuestSegmentation) {
  EXPECT_EQ(offered(masked(bit(VIRTIO_NET_F_GUEST_CSUM))),
            kBaseOffer & ~(bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4) | bit(VIRTIO_NET_F_GUEST_TSO6) |
                           bit(VIRTIO_NET_F_GUEST_ECN)));
}

TEST_F(NetTest, HidingBothHostTsoHidesHostEcn) {
  const uint64_t tso = bit(VIRTIO_NET_F_HOST_TSO4) | bit(VIRTIO_NET_F_HOST_TSO6);
  EXPECT_EQ(offered(masked(tso)), kBaseOffer & ~tso & ~bit(VIRTIO_NET_F_HOST_ECN));
}

TEST_F(NetTest, HidingOneHostTsoKeepsHostEcn) {
  EXPECT_EQ(offered(masked(bit(VIRTIO_NET_F_HOST_TSO6))), kBaseOffer & ~bit(VIRTIO_NET_F_HOST_TSO6));
}

TEST_F(NetTest, VhostBackendDoesNotOfferPackedRingsEvenWithPackedOn) {
  EXPECT_EQ(offered(with_backend(NetBackend::kVhost, true)), kBaseOffer);
}

TEST_F(NetTest, VhostBackendHidesRingFeaturesTheKernelLacks) {
  vhost_.kernel_features = FakeVhost::kLinux61Features & ~bit(VIRTIO_RING_F_EVENT_IDX);
  EXPECT_EQ(offered(with_backend(NetBackend::kVhost)), kBaseOffer & ~bit(VIRTIO_RING_F_EVENT_IDX));
}

TEST_F(NetTest, VhostBackendWithoutVhostNetIsAUsageError) {
  vhost_.refuse = true;
  auto net = try_create(with_backend(NetBackend::kVhost));
  ASSERT_FALSE(net.has_value());
  EXPECT_EQ(net.error().kind, ErrorKind::kUsage);
  EXPECT_NE(net.error().message.find("backend=vhost"), std::string::npos) << net.error().message;
}

TEST_F(NetTest, AutoBackendWithoutVhostNetFallsBackToInProcess) {
  vhost_.refuse = true;
  EXPECT_EQ(offered(with_backend(NetBackend::kAuto, true)), kBaseOffer | bit(VIRTIO_F_RING_PACKED));
  EXPECT_EQ(net_->backend_name(), "inprocess");
}

TEST_F(NetTest, AutoBackendWithVhostNetUsesVhost) {
  EXPECT_EQ(offered(with_backend(NetBackend::kAuto, true)), kBaseOffer);
  EXPECT_EQ(net_->backend_name(), "vhost");
}

// A queue with an MSI-X vector (the Interrupt has a notifier for it) gets that
// eventfd as vhost's call fd: no relay through the loop; the others are relayed.
TEST_F(NetTest, VhostCallsGoStraightToAQueuesNotifierWhereItHasOne) {
  create(with_backend(NetBackend::kVhost));
  lay_out_direct(kGuestFeatures);
  Fd irqfd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  direct_->irq->notifiers[0] = irqfd.get();  // rx0 has a vector, tx0 does not
  ASSERT_TRUE(start_direct().has_value());
  EXPECT_TRUE(logged(vhost_.last_log(), fmt::format("set_vring_call 0 {}", irqfd.get())));
  const auto tx_call = std::find_if(vhost_.last_log().begin(), vhost_.last_log().end(),
                                    [](const std::string& l) { return l.starts_with("set_vring_call 1 "); });
  ASSERT_NE(tx_call, vhost_.last_log().end());
  EXPECT_NE(*tx_call, fmt::format("set_vring_call 1 {}", irqfd.get()));
  EXPECT_EQ(counter("vhost_direct_queues"), 1u);
  loop_.sync([&] { net_->reset(); });
  EXPECT_EQ(counter("vhost_direct_queues"), 0u);
}

TEST_F(NetTest, InProcessBackendNeverOpensVhostNet) {
  create();
  activate();
  EXPECT_EQ(vhost_.opened(), 0u);
}

// ---- identity and config space ----

TEST_F(NetTest, DeviceTypeIsNet) {
  create();
  EXPECT_EQ(net_->device_type(), uint32_t{VIRTIO_ID_NET});
}

TEST_F(NetTest, NumQueuesIsTwoPerPairPlusTheControlQueue) {
  create(masked(0, 4));
  EXPECT_EQ(net_->num_queues(), 9);
}

TEST_F(NetTest, ConfigSpaceStartsWithTheMac) {
  NetConfig c;
  c.mac = kOtherMac;
  create(c);
  EXPECT_EQ(config_bytes(offsetof(virtio_net_config, mac), 6),
            std::vector<uint8_t>(kOtherMac.begin(), kOtherMac.end()));
}

TEST_F(NetTest, ConfigStatusHasLinkUp) {
  create();
  EXPECT_EQ(config_bytes(offsetof(virtio_net_config, status), 2), (std::vector<uint8_t>{VIRTIO_NET_S_LINK_UP, 0}));
}

TEST_F(NetTest, ConfigStatusLosesLinkUpWhenTheLinkGoesDown) {
  create();
  ASSERT_TRUE(net_->set_link(false).has_value());
  EXPECT_EQ(config_bytes(offsetof(virtio_net_config, status), 2), (std::vector<uint8_t>{0, 0}));
}

TEST_F(NetTest, ConfigReportsMaxVirtqueuePairs) {
  create(masked(0, 3));
  EXPECT_EQ(config_bytes(offsetof(virtio_net_config, max_virtqueue_pairs), 2), (std::vector<uint8_t>{3, 0}));
}

TEST_F(NetTest, ConfigReportsTheMtu) {
  NetConfig c;
  c.mtu = 9000;
  create(c);
  EXPECT_EQ(config_bytes(offsetof(virtio_net_config, mtu), 2), (std::vector<uint8_t>{9000 & 0xff, 9000 >> 8}));
}

TEST_F(NetTest, ConfigReadsPastTheEndAreZero) {
  create();
  EXPECT_EQ(config_bytes(sizeof(virtio_net_config) - 1, 4).back(), 0);
  EXPECT_EQ(config_bytes(0x1000, 4), std::vector<uint8_t>(4, 0));
}

// ---- the control queue ----

TEST_F(NetTest, VqPairsSetAcksOkAndStartsPairOne) {
  create(masked(0, 2));
  activate(kGuestFeatures | bit(VIRTIO_NET_F_MQ));
  const auto sent = packet(virtio_net_hdr_v1{}, ethernet_frame(60));
  transmit({sent}, 1);
  EXPECT_EQ(tap_receive(1, 50), std::nullopt);  // pair 0 only until VQ_PAIRS_SET (§5.1.6.5.5)

  EXPECT_EQ(command(vq_pairs_set(2)), VIRTIO_NET_OK);
  EXPECT_EQ(tap_receive(1), sent);
  EXPECT_EQ(counter("ctrl_commands"), 1u);
}

TEST_F(NetTest, VqPairsSetBackToOneStopsPairOne) {
  create(masked(0, 2));
  activate(kGuestFeatures | bit(VIRTIO_NET_F_MQ));
  ASSERT_EQ(command(vq_pairs_set(2)), VIRTIO_NET_OK);
  ASSERT_EQ(command(vq_pairs_set(1)), VIRTIO_NET_OK);
  transmit({packet(virtio_net_hdr_v1{}, ethernet_frame(60))}, 1);
  EXPECT_EQ(tap_receive(1, 50), std::nullopt);
}

TEST_F(NetTest, LinkComingBackAsksTheDriverToAnnounce) {
  create();
  activate(kGuestFeatures | bit(VIRTIO_NET_F_GUEST_ANNOUNCE) | bit(VIRTIO_NET_F_STATUS));
  ASSERT_TRUE(net_->set_link(false).has_value());
  ASSERT_TRUE(net_->set_link(true).has_value());
  EXPECT_EQ(config_bytes(offsetof(virtio_net_config, status), 2),
            (std::vector<uint8_t>{VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE, 0}));
}

TEST_F(NetTest, AnnounceAckClearsTheAnnounceBit) {
  create();
  activate(kGuestFeatures | bit(VIRTIO_NET_F_GUEST_ANNOUNCE) | bit(VIRTIO_NET_F_STATUS));
  ASSERT_TRUE(net_->set_link(false).has_value());
  ASSERT_TRUE(net_->set_link(true).has_value());
  EXPECT_EQ(command({VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK}), VIRTIO_NET_OK);
  EXPECT_EQ(config_bytes(offsetof(virtio_net_config, status), 2), (std::vector<uint8_t>{VIRTIO_NET_S_LINK_UP, 0}));
}

TEST_F(NetTest, NoAnnounceWithoutGuestAnnounce) {
  create();
  activate(kGuestFeatures | bit(VIRTIO_NET_F_STATUS));
  ASSERT_TRUE(net_->set_link(false).has_value());
  ASSERT_TRUE(net_->set_link(true).has_value());
  EXPECT_EQ(config_bytes(offsetof(virtio_net_config, status), 2), (std::vector<uint8_t>{VIRTIO_NET_S_LINK_UP, 0}));
}

TEST_F(NetTest, RefusedCommandIsAckedWithErrAndCounted) {
  create(masked(0, 2));
  activate(kGuestFeatures | bit(VIRTIO_NET_F_MQ));
  EXPECT_EQ(command(vq_pairs_set(3)), VIRTIO_NET_ERR);
  EXPECT_EQ(counter("ctrl_errors"), 1u);
}

TEST_F(NetTest, MacAddrSetOverTheControlQueueChangesTheConfigMac) {
  create();
  activate(kGuestFeatures | bit(VIRTIO_NET_F_CTRL_MAC_ADDR));
  std::vector<uint8_t> request{VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET};
  request.insert(request.end(), kOtherMac.begin(), kOtherMac.end());
  EXPECT_EQ(command(request), VIRTIO_NET_OK);
  EXPECT_EQ(config_bytes(0, 6), std::vector<uint8_t>(kOtherMac.begin(), kOtherMac.end()));
}

TEST_F(NetTest, ResetRestoresTheConfiguredMac) {
  create();
  activate(kGuestFeatures | bit(VIRTIO_NET_F_CTRL_MAC_ADDR));
  std::vector<uint8_t> request{VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET};
  request.insert(request.end(), kOtherMac.begin(), kOtherMac.end());
  ASSERT_EQ(command(request), VIRTIO_NET_OK);
  reset_device();
  EXPECT_EQ(config_bytes(0, 6), std::vector<uint8_t>(kMac.begin(), kMac.end()));
}

TEST_F(NetTest, CommandWithoutRoomForTheAckIsCompletedWithLengthZero) {
  create();
  activate();
  const std::vector<uint8_t> request{VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1};
  const uint16_t id = ctrl().add({{put(request), 3, false}});
  ctrl().publish();
  kick(ctrl_index());
  EXPECT_EQ(wait_used(ctrl(), 1), (std::vector<UsedBuffer>{{id, 0}}));
  EXPECT_TRUE(failures().empty());
}

TEST_F(NetTest, CommandsQueuedBeforeActivationAreAnswered) {
  create(masked(0, 2));
  lay_out(kGuestFeatures | bit(VIRTIO_NET_F_MQ));
  const uint64_t ack = alloc(1);
  const auto request = vq_pairs_set(2);
  const uint16_t id = ctrl().add({{put(request), 4, false}, {ack, 1, true}});
  ctrl().publish();
  ASSERT_TRUE(start_device().has_value());
  EXPECT_EQ(wait_used(ctrl(), 1), (std::vector<UsedBuffer>{{id, 1}}));
  EXPECT_EQ(ram_.bytes()[ack], VIRTIO_NET_OK);
}

// ---- back-end switching ----

TEST_F(NetTest, SwitchToVhostHandsEachRingOverAtItsNextAvail) {
  create();
  activate();
  send_frames(3);
  post_rx(2, 2048);
  tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(60)));
  ASSERT_EQ(wait_used(rx(), 1).size(), 1u);

  ASSERT_TRUE(net_->set_backend("vhost").has_value());
  EXPECT_TRUE(logged(vhost_.last_log(), "set_vring_base 0 1"));
  EXPECT_TRUE(logged(vhost_.last_log(), "set_vring_base 1 3"));
  EXPECT_TRUE(logged(vhost_.last_log(), backend_line(kRxRing, tap_fd())));
  EXPECT_TRUE(logged(vhost_.last_log(), backend_line(kTxRing, tap_fd())));
  EXPECT_EQ(net_->backend_name(), "vhost");
}

TEST_F(NetTest, AfterSwitchingToVhostTheInProcessPathNoLongerTransmits) {
  create();
  activate();
  ASSERT_TRUE(net_->set_backend("vhost").has_value());
  transmit({packet(virtio_net_hdr_v1{}, ethernet_frame(60))});
  EXPECT_EQ(tap_receive(0, 100), std::nullopt);
}

TEST_F(NetTest, SwitchBackToInProcessResumesTransmitWhereTheKernelStopped) {
  create();
  activate();
  send_frames(3);
  ASSERT_TRUE(net_->set_backend("vhost").has_value());
  vhost_.newest->set_consumed(kTxRing, 2);
  const uint16_t a = add_tx({packet(virtio_net_hdr_v1{}, ethernet_frame(60, 0xa))});
  const uint16_t b = add_tx({packet(virtio_net_hdr_v1{}, ethernet_frame(60, 0xb))});
  const auto third = packet(virtio_net_hdr_v1{}, ethernet_frame(60, 0xc));
  const uint16_t c = add_tx({third});
  tx().publish();
  kick_tx();
  kernel_uses(tx(), {{a, 0}, {b, 0}});  // the kernel sent a and b, not c

  ASSERT_TRUE(net_->set_backend("inprocess").has_value());
  EXPECT_TRUE(logged(vhost_.last_log(), "get_vring_base 1"));
  EXPECT_EQ(tap_receive(), third);
  std::vector<UsedBuffer> used;
  EXPECT_NO_THROW(used = wait_used(tx(), 3));  // DriverQueue throws on a chain used twice
  EXPECT_EQ(used, (std::vector<UsedBuffer>{{a, 0}, {b, 0}, {c, 0}}));
  EXPECT_EQ(tap_receive(0, 50), std::nullopt);
}

TEST_F(NetTest, SwitchBackToInProcessResumesReceiveWhereTheKernelStopped) {
  create();
  activate();
  const auto buffers = post_rx(2, 2048);
  ASSERT_TRUE(net_->set_backend("vhost").has_value());
  vhost_.newest->set_consumed(kRxRing, 1);
  kernel_uses(rx(), {{buffers[0].id, 72}});

  ASSERT_TRUE(net_->set_backend("inprocess").has_value());
  const auto frame = ethernet_frame(90);
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  std::vector<UsedBuffer> used;
  EXPECT_NO_THROW(used = wait_used(rx(), 2));
  EXPECT_EQ(used, (std::vector<UsedBuffer>{{buffers[0].id, 72}, {buffers[1].id, kNetHdrSize + 90}}));
  EXPECT_EQ(guest_bytes(buffers[1].gpa, kNetHdrSize + 90), packet(rx_header(1), frame));
}

TEST_F(NetTest, SwitchToVhostWithPackedRingsIsRefusedAndInProcessKeepsRunning) {
  create(packed_on());
  activate(kGuestFeatures | bit(VIRTIO_F_RING_PACKED));
  auto switched = net_->set_backend("vhost");
  ASSERT_FALSE(switched.has_value());
  EXPECT_NE(switched.error().message.find("packed"), std::string::npos) << switched.error().message;
  EXPECT_EQ(net_->backend_name(), "inprocess");
  const auto sent = packet(virtio_net_hdr_v1{}, ethernet_frame(60));
  transmit({sent});
  EXPECT_EQ(tap_receive(), sent);
}

TEST_F(NetTest, FailingVhostStartLeavesInProcessRunning) {
  create();
  activate();
  vhost_.fail_next = "net_set_backend 1";
  EXPECT_FALSE(net_->set_backend("vhost").has_value());
  EXPECT_EQ(net_->backend_name(), "inprocess");
  const auto sent = packet(virtio_net_hdr_v1{}, ethernet_frame(60));
  transmit({sent});
  EXPECT_EQ(tap_receive(), sent);
  EXPECT_TRUE(failures().empty());
}

TEST_F(NetTest, FailingVhostOpenLeavesInProcessRunning) {
  create();
  activate();
  vhost_.refuse = true;
  EXPECT_FALSE(net_->set_backend("vhost").has_value());
  EXPECT_EQ(net_->backend_name(), "inprocess");
  const auto sent = packet(virtio_net_hdr_v1{}, ethernet_frame(60));
  transmit({sent});
  EXPECT_EQ(tap_receive(), sent);
}

// The kernel may fill receive buffers between attaching the rx ring and
// failing to attach the tx ring; the in-process path must resume after them.
TEST_F(NetTest, FailingVhostStartTakesBackReceiveBuffersTheKernelUsed) {
  create();
  activate();
  const auto buffers = post_rx(2, 2048);
  vhost_.fail_next = "net_set_backend 1";
  vhost_.consumed_next = {kRxRing, 1};
  kernel_uses(rx(), {{buffers[0].id, 72}});  // published while the rx ring was attached
  ASSERT_FALSE(net_->set_backend("vhost").has_value());

  const auto frame = ethernet_frame(90);
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  std::vector<UsedBuffer> used;
  EXPECT_NO_THROW(used = wait_used(rx(), 2));  // DriverQueue throws on a chain used twice
  EXPECT_EQ(used, (std::vector<UsedBuffer>{{buffers[0].id, 72}, {buffers[1].id, kNetHdrSize + 90}}));
}

TEST_F(NetTest, FailingVhostStopDuringASwitchFailsTheDeviceAndLeavesNothingRunning) {
  create(with_backend(NetBackend::kVhost));
  activate();
  vhost_.newest->fail_once("get_vring_base 1");
  EXPECT_FALSE(net_->set_backend("inprocess").has_value());
  EXPECT_EQ(failures().size(), 1u);
  EXPECT_EQ(net_->counters().ring_errors, 1u);
  transmit({packet(virtio_net_hdr_v1{}, ethernet_frame(60))});
  EXPECT_EQ(tap_receive(0, 100), std::nullopt);  // a failed device touches no ring
}

TEST_F(NetTest, UnknownBackendNameIsRefused) {
  create();
  activate();
  auto switched = net_->set_backend("dpdk");
  ASSERT_FALSE(switched.has_value());
  EXPECT_EQ(switched.error().kind, ErrorKind::kUsage);
  EXPECT_EQ(net_->backend_name(), "inprocess");
}

TEST_F(NetTest, BackendSwitchesCountsCompletedSwitchesOnly) {
  create();
  activate();
  ASSERT_TRUE(net_->set_backend("vhost").has_value());
  ASSERT_TRUE(net_->set_backend("inprocess").has_value());
  vhost_.refuse = true;
  ASSERT_FALSE(net_->set_backend("vhost").has_value());
  EXPECT_EQ(counter("backend_switches"), 2u);
}

TEST_F(NetTest, SetBackendBeforeActivationChoosesTheBackendActivationUses) {
  create();
  ASSERT_TRUE(net_->set_backend("vhost").has_value());
  activate();
  EXPECT_EQ(net_->backend_name(), "vhost");
  EXPECT_TRUE(logged(vhost_.last_log(), backend_line(kTxRing, tap_fd())));
}

TEST_F(NetTest, VhostBackendRunsThePairOnVhostFromActivation) {
  create(with_backend(NetBackend::kVhost));
  activate();
  EXPECT_EQ(vhost_.opened(), 2u);  // the check at creation, then the pair's own
  EXPECT_TRUE(logged(vhost_.last_log(), "set_vring_base 0 0"));
  EXPECT_TRUE(logged(vhost_.last_log(), backend_line(kRxRing, tap_fd())));
  EXPECT_TRUE(logged(vhost_.last_log(), backend_line(kTxRing, tap_fd())));
}

TEST_F(NetTest, DeviceResetStopsVhost) {
  create(with_backend(NetBackend::kVhost));
  activate();
  reset_device();
  EXPECT_TRUE(logged(vhost_.last_log(), "net_set_backend 0 -1"));
  EXPECT_TRUE(logged(vhost_.last_log(), "net_set_backend 1 -1"));
}

TEST_F(NetTest, ReactivationAfterResetOpensANewVhost) {
  create(with_backend(NetBackend::kVhost));
  activate();
  reset_device();
  activate();
  EXPECT_EQ(vhost_.opened(), 3u);
  EXPECT_EQ(vhost_.last_log().front(), "set_owner");
  EXPECT_TRUE(logged(vhost_.last_log(), backend_line(kTxRing, tap_fd())));
  EXPECT_EQ(net_->backend_name(), "vhost");
}

}  // namespace
}  // namespace franca::virtio::testing
