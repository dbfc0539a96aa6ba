// The transmit header checks and the TAP offload mapping (virtio 1.x §5.1.6.2,
// §5.1.6.4): the headers Linux's virtio_net_hdr_from_skb() produces pass, each
// malformed one is refused with its own error.
#include "devices/virtio/net/vnet_hdr.h"

#include <gtest/gtest.h>
#include <linux/if_tun.h>

#include <set>
#include <string>

namespace franca::virtio {
namespace {

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

constexpr uint64_t kTsoFeatures = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO4) |
                                  bit(VIRTIO_NET_F_HOST_TSO6) | bit(VIRTIO_NET_F_HOST_ECN);
constexpr size_t kIpv4Tcp = 14 + 20;  // csum_start of TCP over IPv4
constexpr size_t kIpv6Tcp = 14 + 40;
constexpr uint16_t kTcpCsumOffset = 16;

virtio_net_hdr_v1 csum_header(uint16_t start = kIpv4Tcp, uint16_t offset = kTcpCsumOffset) {
  virtio_net_hdr_v1 h{};
  h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h.csum_start = start;
  h.csum_offset = offset;
  return h;
}

virtio_net_hdr_v1 tso_header(uint8_t gso_type, uint16_t start) {
  virtio_net_hdr_v1 h = csum_header(start);
  h.gso_type = gso_type;
  h.gso_size = 1448;
  h.hdr_len = static_cast<uint16_t>(start + 32);
  return h;
}

TEST(CheckTxHeader, AcceptsLinuxHeaderWithoutOffloads) {
  virtio_net_hdr_v1 h{};
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_F_VERSION_1), 60), TxHeaderError::kNone);
}

TEST(CheckTxHeader, AcceptsPartialTcpChecksumWithCsum) {
  virtio_net_hdr_v1 h = csum_header();
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_NET_F_CSUM), 54), TxHeaderError::kNone);
}

TEST(CheckTxHeader, AcceptsChecksumFieldEndingAtTheLastByte) {
  virtio_net_hdr_v1 h = csum_header(kIpv4Tcp, kTcpCsumOffset);
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_NET_F_CSUM), kIpv4Tcp + kTcpCsumOffset + 2), TxHeaderError::kNone);
}

TEST(CheckTxHeader, AcceptsTso4WithHostTso4) {
  virtio_net_hdr_v1 h = tso_header(VIRTIO_NET_HDR_GSO_TCPV4, kIpv4Tcp);
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO4), 66 + 2 * 1448),
            TxHeaderError::kNone);
}

TEST(CheckTxHeader, AcceptsTso6WithHostTso6) {
  virtio_net_hdr_v1 h = tso_header(VIRTIO_NET_HDR_GSO_TCPV6, kIpv6Tcp);
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO6), 86 + 2 * 1448),
            TxHeaderError::kNone);
}

TEST(CheckTxHeader, AcceptsTsoWithEcnWhenHostEcnNegotiated) {
  virtio_net_hdr_v1 h = tso_header(VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, kIpv4Tcp);
  EXPECT_EQ(check_tx_header(h, kTsoFeatures, 66 + 2 * 1448), TxHeaderError::kNone);
}

TEST(CheckTxHeader, ClearsDataValid) {
  virtio_net_hdr_v1 h{};
  h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_F_VERSION_1), 60), TxHeaderError::kNone);
  EXPECT_EQ(h.flags, 0);
}

TEST(CheckTxHeader, ClearsDataValidButKeepsNeedsCsum) {
  virtio_net_hdr_v1 h = csum_header();
  h.flags |= VIRTIO_NET_HDR_F_DATA_VALID;
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_NET_F_CSUM), 60), TxHeaderError::kNone);
  EXPECT_EQ(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
}

TEST(CheckTxHeader, ZeroesNumBuffers) {
  virtio_net_hdr_v1 h{};
  h.num_buffers = 7;
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_F_VERSION_1), 60), TxHeaderError::kNone);
  EXPECT_EQ(h.num_buffers, 0);
}

TEST(CheckTxHeader, RefusesFrameShorterThanAnEthernetHeader) {
  virtio_net_hdr_v1 h{};
  EXPECT_EQ(check_tx_header(h, kTsoFeatures, kMinFrame - 1), TxHeaderError::kShortFrame);
}

TEST(CheckTxHeader, RefusesRscInfoFlag) {
  virtio_net_hdr_v1 h{};
  h.flags = VIRTIO_NET_HDR_F_RSC_INFO;
  EXPECT_EQ(check_tx_header(h, kTsoFeatures, 60), TxHeaderError::kBadFlags);
}

TEST(CheckTxHeader, RefusesUnknownFlag) {
  virtio_net_hdr_v1 h{};
  h.flags = 0x80;
  EXPECT_EQ(check_tx_header(h, kTsoFeatures, 60), TxHeaderError::kBadFlags);
}

TEST(CheckTxHeader, RefusesNeedsCsumWithoutCsum) {
  virtio_net_hdr_v1 h = csum_header();
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_F_VERSION_1), 60), TxHeaderError::kCsumNotNegotiated);
}

TEST(CheckTxHeader, RefusesChecksumFieldPastTheFrame) {
  virtio_net_hdr_v1 h = csum_header(kIpv4Tcp, kTcpCsumOffset);
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_NET_F_CSUM), kIpv4Tcp + kTcpCsumOffset + 1),
            TxHeaderError::kCsumOutsideFrame);
}

TEST(CheckTxHeader, RefusesChecksumPositionThatWouldOverflow16Bits) {
  virtio_net_hdr_v1 h = csum_header(0xffff, 0xffff);
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_NET_F_CSUM), 65536), TxHeaderError::kCsumOutsideFrame);
}

TEST(CheckTxHeader, RefusesUdpFragmentationOffload) {
  virtio_net_hdr_v1 h = tso_header(VIRTIO_NET_HDR_GSO_UDP, kIpv4Tcp);
  EXPECT_EQ(check_tx_header(h, kTsoFeatures, 3000), TxHeaderError::kBadGsoType);
}

TEST(CheckTxHeader, RefusesUdpSegmentationOffload) {
  virtio_net_hdr_v1 h = tso_header(5, kIpv4Tcp);  // VIRTIO_NET_HDR_GSO_UDP_L4 (uapi 6.2+)
  EXPECT_EQ(check_tx_header(h, kTsoFeatures, 3000), TxHeaderError::kBadGsoType);
}

TEST(CheckTxHeader, RefusesEcnWithoutSegmentation) {
  virtio_net_hdr_v1 h{};
  h.gso_type = VIRTIO_NET_HDR_GSO_ECN;
  EXPECT_EQ(check_tx_header(h, kTsoFeatures, 60), TxHeaderError::kBadGsoType);
}

TEST(CheckTxHeader, RefusesTso4WithoutHostTso4) {
  virtio_net_hdr_v1 h = tso_header(VIRTIO_NET_HDR_GSO_TCPV4, kIpv4Tcp);
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO6), 3000),
            TxHeaderError::kGsoNotNegotiated);
}

TEST(CheckTxHeader, RefusesTso6WithoutHostTso6) {
  virtio_net_hdr_v1 h = tso_header(VIRTIO_NET_HDR_GSO_TCPV6, kIpv6Tcp);
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO4), 3000),
            TxHeaderError::kGsoNotNegotiated);
}

TEST(CheckTxHeader, RefusesEcnWithoutHostEcn) {
  virtio_net_hdr_v1 h = tso_header(VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, kIpv4Tcp);
  EXPECT_EQ(check_tx_header(h, bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO4), 3000),
            TxHeaderError::kGsoNotNegotiated);
}

TEST(CheckTxHeader, RefusesSegmentationWithoutNeedsCsum) {
  virtio_net_hdr_v1 h = tso_header(VIRTIO_NET_HDR_GSO_TCPV4, kIpv4Tcp);
  h.flags = 0;
  EXPECT_EQ(check_tx_header(h, kTsoFeatures, 3000), TxHeaderError::kGsoWithoutCsum);
}

TEST(CheckTxHeader, RefusesSegmentationWithGsoSizeZero) {
  virtio_net_hdr_v1 h = tso_header(VIRTIO_NET_HDR_GSO_TCPV4, kIpv4Tcp);
  h.gso_size = 0;
  EXPECT_EQ(check_tx_header(h, kTsoFeatures, 3000), TxHeaderError::kGsoBadSize);
}

TEST(DescribeTxHeaderError, GivesEachErrorItsOwnText) {
  std::set<std::string> texts;
  for (int e = 0; e <= static_cast<int>(TxHeaderError::kGsoBadSize); ++e)
    texts.emplace(describe(static_cast<TxHeaderError>(e)));
  EXPECT_EQ(texts.size(), static_cast<size_t>(TxHeaderError::kGsoBadSize) + 1);
}

TEST(TapOffloadFlags, NoGuestCsumGivesNoOffloadsEvenWithTso) {
  EXPECT_EQ(
      tap_offload_flags(bit(VIRTIO_NET_F_GUEST_TSO4) | bit(VIRTIO_NET_F_GUEST_TSO6) | bit(VIRTIO_NET_F_GUEST_ECN)), 0u);
}

TEST(TapOffloadFlags, GuestCsumAloneGivesCsum) {
  EXPECT_EQ(tap_offload_flags(bit(VIRTIO_NET_F_GUEST_CSUM)), unsigned{TUN_F_CSUM});
}

TEST(TapOffloadFlags, GuestTso4AndTso6MapToTunTso4AndTso6) {
  EXPECT_EQ(
      tap_offload_flags(bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4) | bit(VIRTIO_NET_F_GUEST_TSO6)),
      unsigned{TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6});
}

TEST(TapOffloadFlags, EcnIsIgnoredWithoutTso) {
  EXPECT_EQ(tap_offload_flags(bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_ECN)), unsigned{TUN_F_CSUM});
}

TEST(TapOffloadFlags, EcnWithTsoGivesTsoEcn) {
  EXPECT_EQ(
      tap_offload_flags(bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO6) | bit(VIRTIO_NET_F_GUEST_ECN)),
      unsigned{TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN});
}

}  // namespace
}  // namespace franca::virtio
