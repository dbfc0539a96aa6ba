// The features= mask: names to bits, clear errors, and the negotiation log text.
#include "devices/virtio/features.h"

#include <gtest/gtest.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>

#include <array>

namespace franca::virtio {
namespace {

constexpr std::array<FeatureName, 2> kBlkNames = {{{"flush", VIRTIO_BLK_F_FLUSH}, {"discard", VIRTIO_BLK_F_DISCARD}}};

TEST(FeatureMask, HidesTransportAndDeviceBitsByName) {
  auto mask = parse_feature_mask("-ring_packed,-event_idx,-discard", kBlkNames, "--disk");
  ASSERT_TRUE(mask) << mask.error().message;
  EXPECT_EQ(*mask, (1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_BLK_F_DISCARD));
}

TEST(FeatureMask, UnknownNameIsAUsageErrorListingKnownNames) {
  auto mask = parse_feature_mask("-warp_drive", kBlkNames, "--disk");
  ASSERT_FALSE(mask);
  EXPECT_EQ(mask.error().kind, ErrorKind::kUsage);
  EXPECT_NE(mask.error().message.find("warp_drive"), std::string::npos);
  EXPECT_NE(mask.error().message.find("flush"), std::string::npos);
}

TEST(FeatureMask, NamesMustBePrefixedWithMinus) {
  EXPECT_FALSE(parse_feature_mask("ring_packed", kBlkNames, "--disk"));
}
TEST(FeatureMask, EmptyItemsAreRejected) { EXPECT_FALSE(parse_feature_mask("-flush,", kBlkNames, "--disk")); }
TEST(FeatureMask, Version1CannotBeHidden) { EXPECT_FALSE(parse_feature_mask("-version_1", kBlkNames, "--disk")); }

TEST(DescribeFeatures, NamesKnownBitsAndNumbersTheRest) {
  const uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << 50);
  EXPECT_EQ(describe_features(f, kBlkNames), "flush version_1 bit50");
}

}  // namespace
}  // namespace franca::virtio
