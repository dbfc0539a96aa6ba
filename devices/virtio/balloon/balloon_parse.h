// The guest-controlled parts of virtio-balloon (virtio 1.x §5.5), parsed
// without touching host memory so they can be unit-tested and fuzzed on their
// own: PFN arrays (inflate/deflate), statistics buffers, free page reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace franca::virtio::balloon {

inline constexpr uint64_t kPageSize = 4096;  // VIRTIO_BALLOON_PFN_SHIFT 12, whatever the guest's page size
inline constexpr unsigned kPfnShift = 12;

// A range of guest-physical memory.
struct Range {
  uint64_t gpa = 0;
  uint64_t len = 0;
  bool operator==(const Range&) const = default;
};

// An inflate/deflate request: little-endian u32 PFNs of 4 KiB pages.
struct PfnList {
  std::vector<uint32_t> pfns;  // in the order given, duplicates kept
  size_t trailing_bytes = 0;   // a length not a multiple of 4: these bytes were ignored
};
PfnList parse_pfns(std::span<const uint8_t> bytes);

// Sorts `gpa`s of single pages and merges neighbours (and duplicates) into ranges.
std::vector<Range> merge_pages(std::vector<uint64_t> page_gpas);

// The page-aligned interior of each buffer [gpa, gpa+len) (a report of a free
// block; partial pages at either end are left alone), sorted, with overlapping
// and adjacent ranges merged: each byte is released once however the guest
// overlaps its buffers. Input ranges may be unaligned or empty.
std::vector<Range> aligned_interiors(std::span<const Range> buffers);

// One statistic of the stats queue: struct virtio_balloon_stat { le16 tag; le64 val; } (packed, 10 bytes).
struct Stat {
  uint16_t tag = 0;
  uint64_t value = 0;
  bool operator==(const Stat&) const = default;
};
struct StatList {
  std::vector<Stat> stats;     // the last value of each tag wins, in first-seen order
  size_t trailing_bytes = 0;   // a length not a multiple of 10
  size_t dropped = 0;          // entries beyond kMaxStats
};
inline constexpr size_t kStatSize = 10;
inline constexpr size_t kMaxStats = 64;  // Linux 6.x sends at most 16 tags
StatList parse_stats(std::span<const uint8_t> bytes);

// "swap_in", "free_memory", ... for VIRTIO_BALLOON_S_* tags; "tag_<N>" for
// tags this franca does not know.
std::string stat_name(uint16_t tag);

}  // namespace franca::virtio::balloon
