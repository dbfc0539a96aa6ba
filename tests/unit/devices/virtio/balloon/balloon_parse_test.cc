// The balloon's guest-controlled parsers: PFN arrays, page merging, report
// ranges, statistics buffers.
#include "devices/virtio/balloon/balloon_parse.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace franca::virtio::balloon {
namespace {

std::vector<uint8_t> le32s(std::initializer_list<uint32_t> values) {
  std::vector<uint8_t> out(values.size() * 4);
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

std::vector<uint8_t> stats_bytes(std::initializer_list<Stat> stats) {
  std::vector<uint8_t> out(stats.size() * kStatSize);
  size_t at = 0;
  for (const Stat& s : stats) {
    std::memcpy(out.data() + at, &s.tag, sizeof(s.tag));
    std::memcpy(out.data() + at + sizeof(s.tag), &s.value, sizeof(s.value));
    at += kStatSize;
  }
  return out;
}

TEST(BalloonParse, PfnsAreLittleEndianU32sAndATrailingPartialIsCounted) {
  auto bytes = le32s({1, 0x12345678, 7});
  bytes.resize(bytes.size() + 2, 0xff);
  const PfnList list = parse_pfns(bytes);
  EXPECT_EQ(list.pfns, (std::vector<uint32_t>{1, 0x12345678, 7}));
  EXPECT_EQ(list.trailing_bytes, 2u);
  EXPECT_TRUE(parse_pfns({}).pfns.empty());
}

TEST(BalloonParse, MergePagesSortsDeduplicatesAndJoinsNeighbours) {
  const auto ranges = merge_pages({0x3000, 0x1000, 0x2000, 0x2000, 0x9000, 0x8000, 0x20000});
  EXPECT_EQ(ranges, (std::vector<Range>{{0x1000, 0x3000}, {0x8000, 0x2000}, {0x20000, 0x1000}}));
  EXPECT_TRUE(merge_pages({}).empty());
}

TEST(BalloonParse, ReportRangesKeepWholePagesAndMergeOverlaps) {
  const std::vector<Range> buffers = {
      {0x200000, 0x200000},          // a 2 MiB block
      {0x300000, 0x200000},          // overlapping it
      {0x1001, 0x2000},              // unaligned: only page 0x2000 is whole
      {0x5000, 0x800},               // less than a page: nothing
      {0x10000, 0},                  // empty
      {UINT64_MAX - 0xfff, 0x2000},  // wraps
  };
  EXPECT_EQ(aligned_interiors(buffers), (std::vector<Range>{{0x2000, 0x1000}, {0x200000, 0x300000}}));
}

TEST(BalloonParse, StatsTakeTheLastValuePerTagAndCountWhatDoesNotFit) {
  auto bytes = stats_bytes({{4, 100}, {5, 500}, {4, 120}, {200, 9}});
  bytes.resize(bytes.size() + 1, 1);
  const StatList list = parse_stats(bytes);
  EXPECT_EQ(list.stats, (std::vector<Stat>{{4, 120}, {5, 500}, {200, 9}}));
  EXPECT_EQ(list.trailing_bytes, 1u);
  EXPECT_EQ(list.dropped, 0u);

  std::vector<uint8_t> many((kMaxStats + 5) * kStatSize);
  for (uint16_t t = 0; t < kMaxStats + 5; ++t) {
    const uint64_t v = t;
    std::memcpy(many.data() + t * kStatSize, &t, sizeof(t));
    std::memcpy(many.data() + t * kStatSize + sizeof(t), &v, sizeof(v));
  }
  const StatList capped = parse_stats(many);
  EXPECT_EQ(capped.stats.size(), kMaxStats);
  EXPECT_EQ(capped.dropped, 5u);
}

TEST(BalloonParse, StatNamesFollowLinuxTagsAndUnknownTagsKeepTheirNumber) {
  EXPECT_EQ(stat_name(0), "swap_in");
  EXPECT_EQ(stat_name(4), "free_memory");
  EXPECT_EQ(stat_name(5), "total_memory");
  EXPECT_EQ(stat_name(6), "available_memory");
  EXPECT_EQ(stat_name(7), "disk_caches");
  EXPECT_EQ(stat_name(99), "tag_99");
}

}  // namespace
}  // namespace franca::virtio::balloon
