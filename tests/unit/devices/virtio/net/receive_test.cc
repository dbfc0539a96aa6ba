// The in-process receive path reads the TAP straight into the guest's receive
// chains (virtio 1.x §5.1.6.3-4): no copy for a frame that fits the buffers
// posted, several chains per frame with MRG_RXBUF, the chains a frame did not
// fill given back unpublished, a batch published at once.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/unit/devices/virtio/net/net_fixture.h"

namespace franca::virtio::testing {
namespace {

class NetReceiveTest : public RingsNetFixture {
 protected:
  void expect_bad_chain_behind_a_good_one_fails(DriverBuffer bad) {
    activate(features(bit(VIRTIO_NET_F_MRG_RXBUF)));
    post_rx(1, 2048);
    rx().add({bad});
    rx().publish();
    tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(60)));
    ASSERT_TRUE(wait_until([&] { return !failures().empty(); }));
    EXPECT_EQ(net_->counters().ring_errors, 1u);
    settle();
    EXPECT_TRUE(rx().used().empty());
  }
  // The bytes of consecutive buffers, `lens[i]` from buffers[i].
  std::vector<uint8_t> joined(const std::vector<RxBuffer>& buffers, const std::vector<size_t>& lens) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < lens.size(); ++i) {
      const auto part = guest_bytes(buffers[i].gpa, lens[i]);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  }
};

TEST_P(NetReceiveTest, FrameThatFitsTheChainIsReadIntoItWithoutABounceCopy) {
  activate(features());
  const auto b = post_rx(1, 2048);
  const auto frame = ethernet_frame(1500);
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  EXPECT_EQ(wait_used(rx(), 1), (std::vector<UsedBuffer>{{b[0].id, kNetHdrSize + 1500}}));
  EXPECT_EQ(guest_bytes(b[0].gpa, kNetHdrSize + 1500), packet(rx_header(1), frame));
  EXPECT_EQ(counter("rx_bounced"), 0u);
}

// Linux with MRG_RXBUF posts one buffer of up to a page per chain: a 64 KiB
// segmentation-offload frame fills sixteen of them, read in one go.
TEST_P(NetReceiveTest, GsoSizedFrameSpansPageSizedChainsWithoutABounceCopy) {
  queue_size_ = 64;
  activate(features(bit(VIRTIO_NET_F_MRG_RXBUF)));
  const auto b = post_rx(20, 4096);
  const auto frame = ethernet_frame(65000);  // 65012 bytes with the header: 15 x 4096 + 3572
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  const auto used = wait_used(rx(), 16);
  ASSERT_EQ(used.size(), 16u);
  for (size_t i = 0; i < 15; ++i) EXPECT_EQ(used[i], (UsedBuffer{b[i].id, 4096})) << i;
  EXPECT_EQ(used[15], (UsedBuffer{b[15].id, 3572}));
  std::vector<size_t> lens(15, 4096);
  lens.push_back(3572);
  EXPECT_EQ(joined(b, lens), packet(rx_header(16), frame));
  EXPECT_EQ(counter("rx_bounced"), 0u);
}

// Chains are taken ahead for the largest frame; those a small frame leaves
// go back to the driver unpublished, and the next frame starts in them.
TEST_P(NetReceiveTest, ChainsAFrameDidNotFillAreGivenBackUnpublished) {
  activate(features(bit(VIRTIO_NET_F_MRG_RXBUF)));
  const auto b = post_rx(16, 4096);
  const auto first = ethernet_frame(100, 1), second = ethernet_frame(200, 2);
  tap_send(packet(virtio_net_hdr_v1{}, first));
  EXPECT_EQ(wait_used(rx(), 1), (std::vector<UsedBuffer>{{b[0].id, kNetHdrSize + 100}}));
  settle();
  EXPECT_TRUE(rx().used().empty());  // nothing else published
  tap_send(packet(virtio_net_hdr_v1{}, second));
  EXPECT_EQ(wait_used(rx(), 1), (std::vector<UsedBuffer>{{b[1].id, kNetHdrSize + 200}}));
  EXPECT_EQ(guest_bytes(b[1].gpa, kNetHdrSize + 200), packet(rx_header(1), second));
  EXPECT_TRUE(failures().empty());
}

// Less posted than the largest frame: the read's tail is the device's own
// buffer; a frame that runs into it is copied whole and waits for more chains.
TEST_P(NetReceiveTest, FrameLongerThanThePostedBuffersIsCopiedOnceAndDeliveredWhenMoreArrive) {
  activate(features(bit(VIRTIO_NET_F_MRG_RXBUF)));
  auto b = post_rx(2, 1024);
  const auto frame = ethernet_frame(3000);  // 3012 bytes with the header: 1024 + 1024 + 964
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  ASSERT_TRUE(wait_until([&] { return counter("rx_ring_full") >= 1; }));
  EXPECT_EQ(counter("rx_bounced"), 1u);
  EXPECT_TRUE(rx().used().empty());
  const auto more = post_rx(2, 1024);
  b.insert(b.end(), more.begin(), more.end());
  kick_rx();
  EXPECT_EQ(wait_used(rx(), 3), (std::vector<UsedBuffer>{{b[0].id, 1024}, {b[1].id, 1024}, {b[2].id, 964}}));
  EXPECT_EQ(joined(b, {1024, 1024, 964}), packet(rx_header(3), frame));
  EXPECT_EQ(counter("rx_dropped"), 0u);
}

// Frames waiting in the TAP when buffers come are read in one batch: the
// driver sees them all at once, with one interrupt.
TEST_P(NetReceiveTest, FramesQueuedInTheTapArePublishedAsOneBatchWithOneInterrupt) {
  activate(features());
  for (uint8_t i = 0; i < 3; ++i) tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(60 + i, i)));
  ASSERT_TRUE(wait_until([&] { return counter("rx_ring_full") >= 1; }));
  const int before = signals().used[0];
  const auto b = post_rx(3, 2048);
  kick_rx();
  std::vector<UsedBuffer> first;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (first.empty() && std::chrono::steady_clock::now() < deadline) first = rx().used();  // spin: no sleep
  EXPECT_EQ(first, (std::vector<UsedBuffer>{
                       {b[0].id, kNetHdrSize + 60}, {b[1].id, kNetHdrSize + 61}, {b[2].id, kNetHdrSize + 62}}));
  settle();
  EXPECT_EQ(signals().used[0] - before, 1);
  EXPECT_EQ(counter("rx_bounced"), 0u);
}

// One wakeup may fill every chain of the ring: the batch is published then,
// and the frames after it wait in the TAP, never copied.
TEST_P(NetReceiveTest, FramesBeyondARingsWorthInOneWakeupWaitInTheTapWithoutACopy) {
  activate(features());
  for (uint8_t i = 0; i < 20; ++i) tap_send(packet(virtio_net_hdr_v1{}, ethernet_frame(60, i)));
  ASSERT_TRUE(wait_until([&] { return counter("rx_ring_full") >= 1; }));
  post_rx(queue_size_, 2048);
  kick_rx();
  EXPECT_EQ(wait_used(rx(), queue_size_).size(), queue_size_);
  ASSERT_TRUE(wait_until([&] { return counter("rx_ring_full") >= 2; }));
  post_rx(4, 2048);
  kick_rx();
  EXPECT_EQ(wait_used(rx(), 4).size(), 4u);
  EXPECT_EQ(counter("rx0_packets"), 20u);
  EXPECT_EQ(counter("rx_bounced"), 0u);
  EXPECT_EQ(counter("rx_dropped"), 0u);
}

// num_buffers is written after the read, wherever the header's bytes are.
TEST_P(NetReceiveTest, HeaderSplitAcrossDescriptorsGetsItsNumBuffers) {
  activate(features());
  const uint64_t head = alloc(4), body = alloc(2048);
  const uint16_t id = rx().add({{head, 4, true}, {body, 2048, true}});
  rx().publish();
  const auto frame = ethernet_frame(100);
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  EXPECT_EQ(wait_used(rx(), 1), (std::vector<UsedBuffer>{{id, kNetHdrSize + 100}}));
  std::vector<uint8_t> got = guest_bytes(head, 4);
  const auto rest = guest_bytes(body, kNetHdrSize + 100 - 4);
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, packet(rx_header(1), frame));
}

// Chains are taken ahead of the frame: a corrupt one (`bad`) behind a good one
// is still a ring error, and nothing is published over a failed ring.
TEST_P(NetReceiveTest, ReceiveChainOutsideRamBehindAGoodOneFailsTheDevice) {
  expect_bad_chain_behind_a_good_one_fails({kOutsideRam, 2048, true});
}

TEST_P(NetReceiveTest, ReceiveChainWithoutWritableBytesBehindAGoodOneFailsTheDevice) {
  expect_bad_chain_behind_a_good_one_fails({alloc(64), 64, false});
}

// A ring of tiny buffers needs more iovecs than one read takes (IOV_MAX):
// the frame still arrives whole, through the copy.
TEST_P(NetReceiveTest, FrameOverMoreBuffersThanOneReadTakesArrivesWhole) {
  queue_size_ = 256;
  activate(features(bit(VIRTIO_NET_F_MRG_RXBUF) | bit(VIRTIO_RING_F_INDIRECT_DESC)));
  std::vector<DriverBuffer> table;
  for (int i = 0; i < 1024; ++i) table.push_back({alloc(16), 16, true});  // 16384 bytes in the most a table holds
  const uint16_t id = rx().add_indirect(table);
  rx().publish();
  const auto frame = ethernet_frame(16360);  // 16372 bytes with the header: past the 1023 buffers one read takes
  tap_send(packet(virtio_net_hdr_v1{}, frame));
  EXPECT_EQ(wait_used(rx(), 1), (std::vector<UsedBuffer>{{id, kNetHdrSize + 16360}}));
  std::vector<uint8_t> got;
  for (size_t i = 0; got.size() < kNetHdrSize + 16360; ++i) {
    const auto part = guest_bytes(table[i].gpa, 16);
    got.insert(got.end(), part.begin(), part.end());
  }
  got.resize(kNetHdrSize + 16360);
  EXPECT_EQ(got, packet(rx_header(1), frame));
  EXPECT_EQ(counter("rx_bounced"), 1u);
}

INSTANTIATE_TEST_SUITE_P(Rings, NetReceiveTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Packed" : "Split"; });

}  // namespace
}  // namespace franca::virtio::testing
