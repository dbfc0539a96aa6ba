// Guest-physical memory regions with whole-range checks.
#include "vmm/core/guest_memory.h"

#include <sys/mman.h>

#include <utility>

namespace franca {

Result<GuestMemory> GuestMemory::map_anonymous(std::span<const MemoryRegion> layout) {
  GuestMemory mem;
  mem.owned_ = true;
  for (const MemoryRegion& r : layout) {
    void* p = mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return errno_error("cannot map guest memory");
    madvise(p, r.size, MADV_MERGEABLE);
    mem.regions_.push_back({r.gpa, r.size, static_cast<uint8_t*>(p)});
  }
  return mem;
}

GuestMemory GuestMemory::over(std::span<const MemoryRegion> regions) {
  GuestMemory mem;
  mem.regions_.assign(regions.begin(), regions.end());
  return mem;
}

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : regions_(std::exchange(other.regions_, {})), owned_(std::exchange(other.owned_, false)) {}

GuestMemory& GuestMemory::operator=(GuestMemory&& other) noexcept {
  if (this != &other) {
    unmap();
    regions_ = std::exchange(other.regions_, {});
    owned_ = std::exchange(other.owned_, false);
  }
  return *this;
}

GuestMemory::~GuestMemory() { unmap(); }

void GuestMemory::unmap() {
  if (owned_) {
    for (const MemoryRegion& r : regions_) munmap(r.host, r.size);
  }
  regions_.clear();
  owned_ = false;
}

std::optional<std::span<uint8_t>> GuestMemory::slice(uint64_t gpa, uint64_t len) const {
  for (const MemoryRegion& r : regions_) {
    if (gpa < r.gpa || gpa - r.gpa > r.size) continue;
    const uint64_t offset = gpa - r.gpa;
    if (len > r.size - offset) return std::nullopt;  // crosses the region end (or overflows)
    return std::span<uint8_t>(r.host + offset, len);
  }
  return std::nullopt;
}

bool GuestMemory::write(uint64_t gpa, std::span<const uint8_t> bytes) const {
  auto dst = slice(gpa, bytes.size());
  if (!dst) return false;
  if (!bytes.empty()) std::memcpy(dst->data(), bytes.data(), bytes.size());
  return true;
}

bool GuestMemory::read(uint64_t gpa, std::span<uint8_t> bytes) const {
  auto src = slice(gpa, bytes.size());
  if (!src) return false;
  if (!bytes.empty()) std::memcpy(bytes.data(), src->data(), bytes.size());
  return true;
}

uint64_t GuestMemory::total_size() const {
  uint64_t total = 0;
  for (const MemoryRegion& r : regions_) total += r.size;
  return total;
}

}  // namespace franca
