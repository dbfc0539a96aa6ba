// libFuzzer target for virtio-balloon's guest-controlled parsers (balloon_parse.h):
// PFN arrays (inflate/deflate), free page report buffers, statistics buffers.
// Invariants: nothing is lost or invented — every whole input page is covered
// by exactly one output range and every output byte lies in some input;
// ranges are page-aligned, sorted, disjoint and not adjacent; stats keep one
// entry per tag, at most kMaxStats, and account for every byte.
//
// Input: [u8 which: 0 PFNs, 1 report buffers, 2 stats] then the request bytes;
// report buffers are [u64 gpa][u32 len] records (little-endian).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <span>
#include <vector>

#include "devices/virtio/balloon/balloon_parse.h"

namespace {

using namespace franca::virtio::balloon;

void check(bool ok) {
  if (!ok) std::abort();
}

// Sorted, disjoint, not adjacent, page-aligned, non-empty.
void check_ranges(const std::vector<Range>& ranges) {
  for (size_t i = 0; i < ranges.size(); ++i) {
    check(ranges[i].len > 0 && ranges[i].gpa % kPageSize == 0 && ranges[i].len % kPageSize == 0);
    check(ranges[i].len <= UINT64_MAX - ranges[i].gpa);
    if (i) check(ranges[i - 1].gpa + ranges[i - 1].len < ranges[i].gpa);
  }
}

// Whether [gpa, gpa+len) lies inside one of the sorted, disjoint `ranges`.
bool covered(const std::vector<Range>& ranges, uint64_t gpa, uint64_t len) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), gpa, [](uint64_t g, const Range& r) { return g < r.gpa; });
  if (it == ranges.begin()) return false;
  const Range& r = *--it;
  return gpa - r.gpa <= r.len && len <= r.len - (gpa - r.gpa);
}

void fuzz_pfns(std::span<const uint8_t> bytes) {
  const PfnList list = parse_pfns(bytes);
  check(list.trailing_bytes < 4 && list.pfns.size() * 4 + list.trailing_bytes == bytes.size());
  std::vector<uint64_t> pages;
  std::set<uint64_t> unique;
  for (uint32_t pfn : list.pfns) {
    pages.push_back(uint64_t{pfn} << kPfnShift);
    unique.insert(uint64_t{pfn} << kPfnShift);
  }
  const std::vector<Range> ranges = merge_pages(pages);
  check_ranges(ranges);
  uint64_t total = 0;
  for (const Range& r : ranges) total += r.len;
  check(total == unique.size() * kPageSize);  // no page twice, none invented
  for (uint64_t p : unique) check(covered(ranges, p, kPageSize));
}

void fuzz_report(std::span<const uint8_t> bytes) {
  constexpr size_t kRecord = 12;
  std::vector<Range> buffers;
  for (size_t at = 0; at + kRecord <= bytes.size() && buffers.size() < 256; at += kRecord) {
    Range b;
    uint32_t len;
    std::memcpy(&b.gpa, bytes.data() + at, 8);
    std::memcpy(&len, bytes.data() + at + 8, 4);
    b.len = len;
    buffers.push_back(b);
  }
  const std::vector<Range> ranges = aligned_interiors(buffers);
  check_ranges(ranges);
  // Every output page lies inside one input buffer (a page straddling two
  // overlapping or touching buffers is fine too: merge of their interiors).
  for (const Range& r : ranges) {
    for (uint64_t p = r.gpa; p - r.gpa < r.len && p - r.gpa < 64 * kPageSize; p += kPageSize) {
      bool inside = false;
      for (const Range& b : buffers) {
        if (b.len <= UINT64_MAX - b.gpa && p >= b.gpa && p + kPageSize <= b.gpa + b.len) inside = true;
      }
      check(inside);
    }
  }
  // Every whole page of every (non-wrapping) input buffer is released.
  for (const Range& b : buffers) {
    if (b.len > UINT64_MAX - b.gpa || b.gpa > UINT64_MAX - kPageSize) continue;
    const uint64_t start = (b.gpa + kPageSize - 1) & ~(kPageSize - 1);
    const uint64_t end = (b.gpa + b.len) & ~(kPageSize - 1);
    if (end > start) check(covered(ranges, start, end - start));
  }
}

void fuzz_stats(std::span<const uint8_t> bytes) {
  const StatList list = parse_stats(bytes);
  check(list.trailing_bytes == bytes.size() % kStatSize);
  check(list.stats.size() <= kMaxStats && list.stats.size() + list.dropped <= bytes.size() / kStatSize);
  std::set<uint16_t> tags;
  for (const Stat& s : list.stats) {
    check(tags.insert(s.tag).second);
    check(!stat_name(s.tag).empty());
  }
  // The last value of each kept tag wins.
  for (size_t i = bytes.size() / kStatSize; i-- > 0;) {
    uint16_t tag;
    uint64_t value;
    std::memcpy(&tag, bytes.data() + i * kStatSize, 2);
    std::memcpy(&value, bytes.data() + i * kStatSize + 2, 8);
    auto it = std::find_if(list.stats.begin(), list.stats.end(), [&](const Stat& s) { return s.tag == tag; });
    if (it != list.stats.end() && tags.erase(tag)) check(it->value == value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::span<const uint8_t> bytes(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      fuzz_pfns(bytes.first(std::min<size_t>(bytes.size(), 4096)));
      break;
    case 1:
      fuzz_report(bytes);
      break;
    default:
      fuzz_stats(bytes);
      break;
  }
  return 0;
}
