// Private to the queue core: access to guest-shared ring fields (read once,
// atomic indices, virtio-notes §1.6) and the buffer and indirect-table checks
// both formats share (virtio 1.x §2.7.5.3 / §2.8.7 indirect descriptors).
#pragma once

#include <linux/virtio_config.h>
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <expected>
#include <span>

#include "devices/virtio/queue/queue.h"

namespace franca::virtio::ring {

static_assert(std::endian::native == std::endian::little, "virtio 1.x rings are little-endian");

// Copies a guest-shared structure once. The compiler-only barrier stops the
// compiler from re-reading guest memory in place of the local (no double fetch).
template <class T>
T load_once(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return value;
}

// A le16 ring field shared with the driver (2-byte aligned: activation checked the areas).
inline std::atomic_ref<uint16_t> shared_u16(uint8_t* p) { return std::atomic_ref(*reinterpret_cast<uint16_t*>(p)); }

// Host bytes of one ring area after the alignment and whole-range RAM checks.
std::expected<uint8_t*, QueueError> ring_area(const GuestMemory& memory, uint64_t gpa, uint64_t len, uint64_t align);

// Appends [addr, addr+len) to `out`, one buffer per memory region it covers; a
// zero-length buffer contributes nothing. Enforces RAM, ordering and u32 total.
std::expected<void, QueueError> append_buffer(const GuestMemory& memory, uint64_t addr, uint32_t len, bool writable,
                                              DescriptorChain& out);

// Host bytes of an indirect table: length a non-zero multiple of 16, at most
// max(queue size, 1024) entries (QEMU's limit), inside RAM.
std::expected<std::span<uint8_t>, QueueError> indirect_table(const GuestMemory& memory, uint64_t addr, uint32_t len,
                                                             uint16_t queue_size);

}  // namespace franca::virtio::ring
