// Guest-physical memory: a set of regions, every access checked as a whole range.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "vmm/core/error.h"

namespace franca {

struct MemoryRegion {
  uint64_t gpa = 0;
  uint64_t size = 0;
  uint8_t* host = nullptr;
};

// Owns its mappings (anonymous mmap) unless built over caller memory for tests.
class GuestMemory {
 public:
  // Maps `layout` (gpa, size pairs; host field ignored) with anonymous memory.
  static Result<GuestMemory> map_anonymous(std::span<const MemoryRegion> layout);
  // Wraps caller-owned memory (e.g. a std::vector in unit tests); no ownership.
  static GuestMemory over(std::span<const MemoryRegion> regions);

  GuestMemory() = default;
  GuestMemory(GuestMemory&& other) noexcept;
  GuestMemory& operator=(GuestMemory&& other) noexcept;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory();

  // The host bytes of [gpa, gpa+len) if the whole range lies in one region.
  std::optional<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const;
  bool contains(uint64_t gpa, uint64_t len) const { return slice(gpa, len).has_value(); }

  bool write(uint64_t gpa, std::span<const uint8_t> bytes) const;
  bool read(uint64_t gpa, std::span<uint8_t> bytes) const;

  template <class T>
  bool write_obj(uint64_t gpa, const T& value) const {
    return write(gpa, {reinterpret_cast<const uint8_t*>(&value), sizeof(T)});
  }
  template <class T>
  std::optional<T> read_obj(uint64_t gpa) const {
    T value;
    if (!read(gpa, {reinterpret_cast<uint8_t*>(&value), sizeof(T)})) return std::nullopt;
    return value;
  }

  const std::vector<MemoryRegion>& regions() const { return regions_; }
  uint64_t total_size() const;

 private:
  void unmap();
  std::vector<MemoryRegion> regions_;
  bool owned_ = false;
};

}  // namespace franca
