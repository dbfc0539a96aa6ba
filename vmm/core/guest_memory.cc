// Guest-physical memory regions with whole-range checks.
#include "vmm/core/guest_memory.h"

#include <sys/mman.h>

#include <utility>

namespace franca {

namespace {
constexpr uint64_t kHugePage = 2ULL << 20;
}  // namespace

Result<GuestMemory> GuestMemory::map_anonymous(std::span<const MemoryRegion> layout) {
  GuestMemory mem;
  mem.owned_ = true;
  for (const MemoryRegion& r : layout) {
    // Host and guest addresses congruent modulo 2 MiB, as QEMU does: only then can
    // the host back the region with transparent huge pages that KVM maps as 2 MiB
    // pages in the guest's page tables (one fault per 2 MiB instead of 512).
    // Over-map by one huge page, keep the aligned window, unmap the ends.
    const uint64_t slack = kHugePage - 1;
    void* raw =
        mmap(nullptr, r.size + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) return errno_error("cannot map guest memory");
    const uintptr_t base = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t start = ((base + slack - (r.gpa & slack)) & ~slack) + (r.gpa & slack);
    if (start > base) munmap(raw, start - base);
    if (const uintptr_t end = base + r.size + slack; end > start + r.size) {
      munmap(reinterpret_cast<void*>(start + r.size), end - (start + r.size));
    }
    auto* p = reinterpret_cast<uint8_t*>(start);
    madvise(p, r.size, MADV_HUGEPAGE);  // advice only: a host without THP keeps 4 KiB pages
    madvise(p, r.size, MADV_MERGEABLE);
    mem.regions_.push_back({r.gpa, r.size, p});
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
