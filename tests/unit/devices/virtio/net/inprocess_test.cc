// The in-process virtio-net data path end to end (virtio 1.x §5.1.6.2-4): real
// frames between driver-side rings (split and packed) and a SOCK_SEQPACKET
// socketpair standing in for the TAP, through Net's activation.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/unit/devices/virtio/net/net_fixture.h"

namespace franca::virtio::testing {
namespace {

class NetDataPathTest : public RingsNetFixture {};

TEST_P(NetDataPathTest, TransmitChainReachesTheTapAsHeaderAndFrame) {
  activate(features());
  const auto sent = packet(virtio_net_hdr_v1{}, ethernet_frame(60));
  transmit({sent});
  EXPECT_EQ(tap_receive(), sent);
}

TEST_P(NetDataPathTest, TransmitHeaderAndFrameInSeparateDescriptorsAreJoined) {
  activate(features());
  const virtio_net_hdr_v1 h{};
  const auto frame = ethernet_frame(90);
  transmit({header_bytes(h), {frame.begin(), frame.begin() + 20}, {frame.begin() + 20, frame.end()}});
  EXPECT_EQ(tap_receive(), packet(h, frame));
}

TEST_P(NetDataPathTest, TransmitHeaderSplitAcrossDescriptorsIsJoined) {
  activate(features());
  const auto sent = packet(virtio_net_hdr_v1{}, ethernet_frame(60));
  transmit({{sent.begin(), sent.begin() + 5}, {sent.begin() + 5, sent.end()}});
  EXPECT_EQ(tap_receive(), sent);
}

TEST_P(NetDataPathTest, TransmitPassesASegmentationHeaderThroughUnchanged) {
  activate(features());
  virtio_net_hdr_v1 h{};
  h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
  h.hdr_len = 66;
  h.gso_size = 1448;
  h.csum_start = 34;
  h.csum_offset = 16;
  const auto sent = packet(h, ethernet_frame(66 + 2 * 1448));
  transmit({sent});
  EXPECT_EQ(tap_receive(), sent);
}

TEST_P(NetDataPathTest, TransmitCompletesTheChainWithLengthZeroAndSignals) {
  activate(features());
  const uint16_t id = transmit({packet(virtio_net_hdr_v1{}, ethernet_frame(60))});
  EXPECT_EQ(wait_used(tx(), 1), (std::vector<UsedBuffer>{{id, 0}}));
  EXPECT_TRUE(wait_until([&] { return signals().used[1] >= 1; }));
}

TEST_P(NetDataPathTest, ChainsPublishedBeforeActivationAreSentAtActivation) {
  lay_out(features());
  const auto first = packet(virtio_net_hdr_v1{}, ethernet_frame(60, 1));
  const auto second = packet(virtio_net_hdr_v1{}, ethernet_frame(70, 2));
  const uint16_t a = add_tx({first});
  const uint16_t b = add_tx({second});
  tx().publish();
  ASSERT_TRUE(start_device().has_value());
  EXPECT_EQ(wait_used(tx(), 2), (std::vector<UsedBuffer>{{a, 0}, {b, 0}}));
  EXPECT_EQ(tap_receive(), first);
  EXPECT_EQ(tap_receive(), second);
}

TEST_P(NetDataPathTest, MalformedTransmitHeaderDropsTheFrameButCompletesTheChain) {
  activate(features());
  virtio_net_hdr_v1 h{};
  h.flags = 0x80;  // no such flag
  const uint16_t id = transmit({packet(h, ethernet_frame(60))});
  EXPECT_EQ(wait_used(tx(), 1), (std::vector<UsedBuffer>{{id, 0}}));
  EXPECT_EQ(tap_receive(0, 0), std::nullopt);
  EXPECT_EQ(counter("tx_dropped"), 1u);
  EXPECT_EQ(counter("tx0_packets"), 0u);
}

TEST_P(NetDataPathTest, SegmentationOffloadNotNegotiatedDropsTheFrame) {
  activate(features() & ~bit(VIRTIO_NET_F_HOST_TSO4));
  virtio_net_hdr_v1 h{};
  h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
  h.gso_size = 1448;
  h.csum_start = 34;
  h.csum_offset = 16;
  const uint16_t id = transmit({packet(h, ethernet_frame(3000))});
  EXPECT_EQ(wait_used(tx(), 1), (std::vector<UsedBuffer>{{id, 0}}));
  EXPECT_EQ(tap_receive(0, 0), std::nullopt);
  EXPECT_EQ(counter("tx_dropped"), 1u);
}

TEST_P(NetDataPathTest, TransmitChainShorterThanTheHeaderIsDroppedAndCompleted) {
  activate(features());
  const uint16_t id = transmit({std::vector<uint8_t>(kNetHdrSize - 1, 0)});
  EXPECT_EQ(wait_used(tx(), 1), (std::vector<UsedBuffer>{{id, 0}}));
  EXPECT_EQ(tap_receive(0, 0), std::nullopt);
  EXPECT_EQ(counter("tx_dropped"), 1u);
}

TEST_P(NetDataPathTest, ReceivedFrameLandsInOneBufferWithNumBuffersOne) {
  activate(features());
  const auto buffers = post_rx(1, 2048);
  const auto frame = ethernet_frame(100);
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  EXPECT_EQ(wait_used(rx(), 1), (std::vector<UsedBuffer>{{buffers[0].id, kNetHdrSize + 100}}));
  EXPECT_EQ(guest_bytes(buffers[0].gpa, kNetHdrSize + 100), packet(rx_header(1), frame));
  EXPECT_TRUE(wait_until([&] { return signals().used[0] >= 1; }));
}

TEST_P(NetDataPathTest, ReceivedFrameLargerThanOneBufferSpansSeveralWithMrgRxbuf) {
  activate(features(bit(VIRTIO_NET_F_MRG_RXBUF)));
  const auto b = post_rx(4, 64);
  const auto frame = ethernet_frame(150);  // 162 bytes with the header: 64 + 64 + 34
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  EXPECT_EQ(wait_used(rx(), 3), (std::vector<UsedBuffer>{{b[0].id, 64}, {b[1].id, 64}, {b[2].id, 34}}));
  std::vector<uint8_t> got = guest_bytes(b[0].gpa, 64);
  for (const auto& part : {guest_bytes(b[1].gpa, 64), guest_bytes(b[2].gpa, 34)})
    got.insert(got.end(), part.begin(), part.end());
  EXPECT_EQ(got, packet(rx_header(3), frame));
}

// The driver polls while the device delivers: its first completions are all
// of the frame's buffers, never a head whose num_buffers promises more than
// the used ring shows (Linux: "rx error: buffers out of N missing").
TEST_P(NetDataPathTest, MultiBufferFrameBecomesVisibleAllAtOnce) {
  queue_size_ = 256;
  activate(features(bit(VIRTIO_NET_F_MRG_RXBUF)));
  const auto b = post_rx(220, 256);
  const auto frame = ethernet_frame(50000);  // 50012 bytes with the header: 195 x 256 + 92
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  std::vector<UsedBuffer> first;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (first.empty() && std::chrono::steady_clock::now() < deadline) first = rx().used();  // spin: no sleep
  ASSERT_EQ(first.size(), 196u);
  EXPECT_EQ(first.back(), (UsedBuffer{b[195].id, 92}));
  EXPECT_EQ(guest_bytes(b[0].gpa, kNetHdrSize), header_bytes(rx_header(196)));
}

TEST_P(NetDataPathTest, ReceiveChainWithoutAWritableBufferFailsTheDevice) {
  activate(features(bit(VIRTIO_NET_F_MRG_RXBUF)));
  rx().add({{alloc(64), 64, false}});
  rx().publish();
  tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(60)));
  ASSERT_TRUE(wait_until([&] { return !failures().empty(); }));
  EXPECT_EQ(net_->counters().ring_errors, 1u);
  EXPECT_TRUE(rx().used().empty());
}

// More than the whole ring can never arrive (at most size() chains are the
// driver's to post): the frame is dropped at once instead of waiting forever.
TEST_P(NetDataPathTest, FrameLargerThanTheWholeReceiveRingIsDroppedAndTheBuffersKept) {
  activate(features(bit(VIRTIO_NET_F_MRG_RXBUF)));
  const auto b = post_rx(queue_size_, 16);  // 256 bytes in all
  tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(300)));
  ASSERT_TRUE(wait_until([&] { return counter("rx_dropped") == 1; }));
  tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(60)));  // 72 bytes with the header
  const auto used = wait_used(rx(), 5);
  ASSERT_EQ(used.size(), 5u);
  EXPECT_EQ(used.front(), (UsedBuffer{b[0].id, 16}));
  EXPECT_EQ(used.back(), (UsedBuffer{b[4].id, 8}));
  EXPECT_TRUE(failures().empty());
}

// Reset with a frame held for want of buffers (it overran the one posted)
// while the driver has posted a receive chain with nothing writable: stop()
// makes one bounded attempt, fails the ring, drops the frame and returns.
TEST_P(NetDataPathTest, ResetWithAFrameHeldOverAChainWithoutWritableBuffersDropsTheFrame) {
  activate(features(bit(VIRTIO_NET_F_MRG_RXBUF)));
  post_rx(1, 32);
  tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(60)));
  ASSERT_TRUE(wait_until([&] { return counter("rx_ring_full") >= 1; }));
  EXPECT_EQ(counter("rx_bounced"), 1u);
  rx().add({{alloc(64), 64, false}});
  rx().publish();  // not kicked: the frame is still held when the reset comes
  reset_device();
  EXPECT_EQ(counter("rx_dropped"), 1u);
  EXPECT_EQ(net_->counters().ring_errors, 1u);
  EXPECT_TRUE(rx().used().empty());
}

TEST_P(NetDataPathTest, ReceivedFrameTooLargeForTheBufferWithoutMrgRxbufIsDroppedAndTheBufferKept) {
  activate(features());
  const auto buffers = post_rx(1, 64);
  tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(150)));
  ASSERT_TRUE(wait_until([&] { return counter("rx_dropped") == 1; }));
  const auto small = ethernet_frame(40);
  tap_send(packet(virtio_net_hdr_v1{}, small));
  EXPECT_EQ(wait_used(rx(), 1), (std::vector<UsedBuffer>{{buffers[0].id, kNetHdrSize + 40}}));
  EXPECT_EQ(guest_bytes(buffers[0].gpa, kNetHdrSize + 40), packet(rx_header(1), small));
}

TEST_P(NetDataPathTest, FrameArrivingWithTheReceiveRingEmptyIsHeldUntilBuffersAreKicked) {
  activate(features());
  const auto frame = ethernet_frame(80);
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  ASSERT_TRUE(wait_until([&] { return counter("rx_ring_full") >= 1; }));
  EXPECT_TRUE(rx().kick_needed());  // the device asked to hear about new buffers

  const auto buffers = post_rx(1, 2048);
  kick_rx();
  EXPECT_EQ(wait_used(rx(), 1), (std::vector<UsedBuffer>{{buffers[0].id, kNetHdrSize + 80}}));
  EXPECT_EQ(guest_bytes(buffers[0].gpa, kNetHdrSize + 80), packet(rx_header(1), frame));
  EXPECT_EQ(counter("rx_dropped"), 0u);
}

TEST_P(NetDataPathTest, FramesHeldForWantOfBuffersArriveInOrder) {
  activate(features());
  const auto first = ethernet_frame(60, 1), second = ethernet_frame(61, 2);
  tap_send(packet(virtio_net_hdr_v1{}, first));
  tap_send(packet(virtio_net_hdr_v1{}, second));
  ASSERT_TRUE(wait_until([&] { return counter("rx_ring_full") >= 1; }));

  const auto buffers = post_rx(2, 2048);
  kick_rx();
  EXPECT_EQ(wait_used(rx(), 2),
            (std::vector<UsedBuffer>{{buffers[0].id, kNetHdrSize + 60}, {buffers[1].id, kNetHdrSize + 61}}));
  EXPECT_EQ(guest_bytes(buffers[0].gpa, kNetHdrSize + 60), packet(rx_header(1), first));
  EXPECT_EQ(guest_bytes(buffers[1].gpa, kNetHdrSize + 61), packet(rx_header(1), second));
  EXPECT_EQ(counter("rx_dropped"), 0u);
}

TEST_P(NetDataPathTest, ReceiveClearsHeaderFlagsWithoutGuestCsum) {
  activate(features() & ~bit(VIRTIO_NET_F_GUEST_CSUM));
  const auto buffers = post_rx(1, 2048);
  virtio_net_hdr_v1 h{};
  h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
  tap_send(packet(h, ethernet_frame(60)));
  ASSERT_EQ(wait_used(rx(), 1).size(), 1u);
  EXPECT_EQ(guest_bytes(buffers[0].gpa, kNetHdrSize), header_bytes(rx_header(1)));
}

TEST_P(NetDataPathTest, ReceiveKeepsHeaderFlagsWithGuestCsum) {
  activate(features());
  const auto buffers = post_rx(1, 2048);
  virtio_net_hdr_v1 h{};
  h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
  tap_send(packet(h, ethernet_frame(60)));
  ASSERT_EQ(wait_used(rx(), 1).size(), 1u);
  virtio_net_hdr_v1 want = rx_header(1);
  want.flags = VIRTIO_NET_HDR_F_DATA_VALID;
  EXPECT_EQ(guest_bytes(buffers[0].gpa, kNetHdrSize), header_bytes(want));
}

TEST_P(NetDataPathTest, CorruptTransmitRingFailsTheDevice) {
  activate(features());
  tx().add({{kOutsideRam, 64, false}});
  tx().publish();
  kick_tx();
  ASSERT_TRUE(wait_until([&] { return !failures().empty(); }));
  EXPECT_EQ(net_->counters().ring_errors, 1u);
  EXPECT_EQ(failures().size(), 1u);
}

TEST_P(NetDataPathTest, FailedDeviceIgnoresLaterKicks) {
  activate(features());
  tx().add({{kOutsideRam, 64, false}});
  tx().publish();
  kick_tx();
  ASSERT_TRUE(wait_until([&] { return !failures().empty(); }));
  post_rx(1, 2048);
  kick_rx();
  tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(60)));
  settle();
  EXPECT_TRUE(rx().used().empty());
  EXPECT_EQ(net_->counters().ring_errors, 1u);
}

TEST_P(NetDataPathTest, CorruptReceiveRingFailsTheDevice) {
  activate(features());
  rx().add({{kOutsideRam, 2048, true}});
  rx().publish();
  tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(60)));
  ASSERT_TRUE(wait_until([&] { return !failures().empty(); }));
  EXPECT_EQ(net_->counters().ring_errors, 1u);
  EXPECT_EQ(counter("rx_ring_full"), 0u);  // a failure is not a full ring
}

TEST_P(NetDataPathTest, LinkDownRaisesAConfigInterruptWithStatus) {
  activate(features());
  ASSERT_TRUE(net_->set_link(false).has_value());
  EXPECT_EQ(signals().config, 1);
  EXPECT_FALSE(net_->link_up());
}

TEST_P(NetDataPathTest, LinkDownWithoutStatusRaisesNoConfigInterrupt) {
  activate(features() & ~bit(VIRTIO_NET_F_STATUS));
  ASSERT_TRUE(net_->set_link(false).has_value());
  EXPECT_EQ(signals().config, 0);
}

TEST_P(NetDataPathTest, LinkDownStopsReceiveUntilTheLinkComesBack) {
  activate(features());
  const auto buffers = post_rx(1, 2048);
  ASSERT_TRUE(net_->set_link(false).has_value());
  const auto frame = ethernet_frame(60);
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  settle();
  EXPECT_TRUE(rx().used().empty());

  ASSERT_TRUE(net_->set_link(true).has_value());
  EXPECT_EQ(wait_used(rx(), 1), (std::vector<UsedBuffer>{{buffers[0].id, kNetHdrSize + 60}}));
  EXPECT_EQ(signals().config, 2);
}

TEST_P(NetDataPathTest, TransmitWhileLinkDownIsDroppedAndCompleted) {
  activate(features());
  ASSERT_TRUE(net_->set_link(false).has_value());
  const uint16_t id = transmit({packet(virtio_net_hdr_v1{}, ethernet_frame(60))});
  EXPECT_EQ(wait_used(tx(), 1), (std::vector<UsedBuffer>{{id, 0}}));
  EXPECT_EQ(tap_receive(0, 0), std::nullopt);
  EXPECT_EQ(counter("tx_dropped"), 1u);
}

TEST_P(NetDataPathTest, PerQueueCountersCountPacketsAndFrameBytes) {
  activate(features());
  transmit({packet(virtio_net_hdr_v1{}, ethernet_frame(60))});
  transmit({packet(virtio_net_hdr_v1{}, ethernet_frame(100))});
  ASSERT_EQ(wait_used(tx(), 2).size(), 2u);
  post_rx(1, 2048);
  tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(80)));
  ASSERT_EQ(wait_used(rx(), 1).size(), 1u);

  EXPECT_EQ(counter("tx0_packets"), 2u);
  EXPECT_EQ(counter("tx0_bytes"), 160u);
  EXPECT_EQ(counter("rx0_packets"), 1u);
  EXPECT_EQ(counter("rx0_bytes"), 80u);
  EXPECT_EQ(counter("tx_dropped"), 0u);
  EXPECT_EQ(counter("rx_dropped"), 0u);
}

TEST_P(NetDataPathTest, ManyFramesInBothDirectionsAllArrive) {
  activate(features(bit(VIRTIO_NET_F_MRG_RXBUF)));
  constexpr int kFrames = 40;  // more than the ring holds: chains are recycled
  size_t sent = 0, received = 0, rx_used = 0;
  for (int i = 0; i < kFrames; ++i) {
    const auto out = packet(virtio_net_hdr_v1{}, ethernet_frame(60 + i, static_cast<uint8_t>(i)));
    transmit({out});
    EXPECT_EQ(tap_receive(), out);
    sent += wait_used(tx(), 1).size();
    post_rx(1, 1600);
    tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(200 + i)));
    rx_used += wait_used(rx(), 1).size();
    ++received;
  }
  EXPECT_EQ(sent, size_t{kFrames});
  EXPECT_EQ(rx_used, size_t{kFrames});
  EXPECT_EQ(counter("rx0_packets"), received);
}

// The queue core takes any power of two: 512 entries hold more chains than
// one transmit pass (256) takes, so the rest is left for a later pass. 260
// frames stay below what the unread socketpair buffers (~278 small messages;
// a TAP's send buffer is unbounded).
TEST_P(NetDataPathTest, TransmitBacklogLargerThanOnePassIsFinishedLater) {
  // Direct: 260 chains in one ring need more entries than QueueNumMax (256) allows a driver.
  queue_size_ = 512;
  lay_out_direct(features());
  for (int i = 0; i < 260; ++i) add_tx({packet(virtio_net_hdr_v1{}, ethernet_frame(60))});
  tx().publish();
  ASSERT_TRUE(start_direct().has_value());
  EXPECT_EQ(wait_used(tx(), 260).size(), 260u);
  EXPECT_EQ(counter("tx0_packets"), 260u);
}

TEST_P(NetDataPathTest, ResetWhileATransmitPassIsPendingLeavesNothingToRunOnTheOldPath) {
  // Direct: a 512-entry ring (over QueueNumMax), and the reset in the same loop
  // turn as the activation, before the pass it posts: no register write can do either.
  queue_size_ = 512;
  lay_out_direct(features());
  for (int i = 0; i < 300; ++i) add_tx({packet(virtio_net_hdr_v1{}, ethernet_frame(60))});
  tx().publish();
  loop_.sync([&] {
    ASSERT_TRUE(net_->activate(direct_context()).has_value());  // one pass of 256, the rest left for later
    net_->reset();
  });
  loop_.sync([] {});  // whatever activation left queued on the loop runs here
  EXPECT_EQ(counter("tx0_packets"), 256u);
  EXPECT_TRUE(failures().empty());
}

INSTANTIATE_TEST_SUITE_P(Rings, NetDataPathTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Packed" : "Split"; });

}  // namespace
}  // namespace franca::virtio::testing
