// Checks shared by the split and packed rings: ring areas, buffers in guest
// RAM, indirect tables (virtio 1.x §2.7.5.3, §2.8.7, §2.7.4 message framing).
#include "devices/virtio/queue/ring.h"

#include <algorithm>
#include <optional>

namespace franca::virtio::ring {
namespace {

constexpr uint32_t kMinIndirectCap = 1024;  // QEMU's VIRTQUEUE_MAX_SIZE

// The longest prefix of [addr, addr+len) that lies inside one memory region.
std::optional<std::span<uint8_t>> region_prefix(const GuestMemory& memory, uint64_t addr, uint64_t len) {
  if (auto whole = memory.slice(addr, len)) return whole;
  for (const MemoryRegion& r : memory.regions()) {
    if (addr < r.gpa || addr - r.gpa >= r.size) continue;
    const uint64_t offset = addr - r.gpa;
    return std::span<uint8_t>(r.host + offset, std::min(len, r.size - offset));
  }
  return std::nullopt;
}

}  // namespace

std::expected<uint8_t*, QueueError> ring_area(const GuestMemory& memory, uint64_t gpa, uint64_t len, uint64_t align) {
  if (gpa % align != 0) return std::unexpected(QueueError::kMisaligned);
  auto bytes = memory.slice(gpa, len);
  if (!bytes) return std::unexpected(QueueError::kRingOutsideRam);
  return bytes->data();
}

std::expected<void, QueueError> append_buffer(const GuestMemory& memory, uint64_t addr, uint32_t len, bool writable,
                                              DescriptorChain& out) {
  if (len == 0) return {};
  if (!writable && !out.writable().empty()) return std::unexpected(QueueError::kReadableAfterWritable);
  // Split at region boundaries; each step consumes a whole region's share, so
  // this loop runs at most once per region.
  while (len > 0) {
    auto piece = region_prefix(memory, addr, len);
    if (!piece) return std::unexpected(QueueError::kBufferOutsideRam);
    const auto n = static_cast<uint32_t>(piece->size());
    if (!out.add({addr, n, piece->data()}, writable)) return std::unexpected(QueueError::kTooLong);
    addr += n;
    len -= n;
  }
  return {};
}

std::expected<std::span<uint8_t>, QueueError> indirect_table(const GuestMemory& memory, uint64_t addr, uint32_t len,
                                                             uint16_t queue_size) {
  const uint32_t cap = std::max<uint32_t>(queue_size, kMinIndirectCap);
  if (len == 0 || len % sizeof(vring_desc) != 0 || len / sizeof(vring_desc) > cap) {
    return std::unexpected(QueueError::kIndirectBadLength);
  }
  auto table = memory.slice(addr, len);
  if (!table) return std::unexpected(QueueError::kBufferOutsideRam);
  return *table;
}

}  // namespace franca::virtio::ring
