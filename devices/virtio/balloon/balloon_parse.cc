// Parsing of balloon requests (balloon_parse.h); every length comes from the guest.
#include "devices/virtio/balloon/balloon_parse.h"

#include <linux/virtio_balloon.h>

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

namespace franca::virtio::balloon {
namespace {

// Names as the stats appear in `balloon-stats` (VIRTIO_BALLOON_S_* in Linux's
// include/uapi/linux/virtio_balloon.h; 10-15 are Linux 6.10+).
constexpr std::array<const char*, 16> kStatNames = {
    "swap_in",     "swap_out",         "major_faults",   "minor_faults",   "free_memory",     "total_memory",
    "available_memory", "disk_caches", "hugetlb_allocations", "hugetlb_failures", "oom_kills",   "alloc_stalls",
    "async_scans", "direct_scans",     "async_reclaims", "direct_reclaims",
};

}  // namespace

PfnList parse_pfns(std::span<const uint8_t> bytes) {
  PfnList out;
  const size_t n = bytes.size() / sizeof(uint32_t);
  out.trailing_bytes = bytes.size() % sizeof(uint32_t);
  out.pfns.resize(n);
  if (n) std::memcpy(out.pfns.data(), bytes.data(), n * sizeof(uint32_t));  // little-endian host
  return out;
}

std::vector<Range> merge_pages(std::vector<uint64_t> page_gpas) {
  std::sort(page_gpas.begin(), page_gpas.end());
  std::vector<Range> out;
  for (uint64_t gpa : page_gpas) {
    if (!out.empty() && gpa <= out.back().gpa + out.back().len) {
      out.back().len = std::max(out.back().len, gpa + kPageSize - out.back().gpa);
      continue;
    }
    out.push_back({gpa, kPageSize});
  }
  return out;
}

std::vector<Range> aligned_interiors(std::span<const Range> buffers) {
  std::vector<Range> ranges;
  for (const Range& b : buffers) {
    if (b.len > UINT64_MAX - b.gpa) continue;  // wraps: no interior
    const uint64_t end = (b.gpa + b.len) & ~(kPageSize - 1);
    if (b.gpa > UINT64_MAX - (kPageSize - 1)) continue;
    const uint64_t start = (b.gpa + kPageSize - 1) & ~(kPageSize - 1);
    if (end > start) ranges.push_back({start, end - start});
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.gpa < b.gpa; });
  std::vector<Range> out;
  for (const Range& r : ranges) {
    if (!out.empty() && r.gpa <= out.back().gpa + out.back().len) {
      out.back().len = std::max(out.back().len, r.gpa + r.len - out.back().gpa);
      continue;
    }
    out.push_back(r);
  }
  return out;
}

StatList parse_stats(std::span<const uint8_t> bytes) {
  StatList out;
  const size_t n = bytes.size() / kStatSize;
  out.trailing_bytes = bytes.size() % kStatSize;
  for (size_t i = 0; i < n; ++i) {
    Stat s;
    std::memcpy(&s.tag, bytes.data() + i * kStatSize, sizeof(s.tag));
    std::memcpy(&s.value, bytes.data() + i * kStatSize + sizeof(s.tag), sizeof(s.value));
    auto same = std::find_if(out.stats.begin(), out.stats.end(), [&](const Stat& o) { return o.tag == s.tag; });
    if (same != out.stats.end()) {
      same->value = s.value;
    } else if (out.stats.size() < kMaxStats) {
      out.stats.push_back(s);
    } else {
      ++out.dropped;
    }
  }
  return out;
}

std::string stat_name(uint16_t tag) {
  static_assert(VIRTIO_BALLOON_S_HTLB_PGFAIL == 9, "kStatNames follows the VIRTIO_BALLOON_S_* numbering");
  if (tag < kStatNames.size()) return kStatNames[tag];
  return fmt::format("tag_{}", tag);
}

}  // namespace franca::virtio::balloon
