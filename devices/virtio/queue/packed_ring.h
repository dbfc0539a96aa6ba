// Private to the queue core: the device side of a packed virtqueue (virtio 1.x
// §2.8: one descriptor ring with wrap counters, §2.8.10 event suppression
// structures, §2.8.7 indirect tables, §2.8.9 out-of-order use).
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include "devices/virtio/queue/queue.h"
#include "devices/virtio/queue/ring.h"

namespace franca::virtio {

class PackedRing {
 public:
  static std::expected<PackedRing, QueueError> create(const QueueConfig& config, RingFeatures features,
                                                      const GuestMemory& memory);

  std::expected<bool, QueueError> pop(DescriptorChain& out);
  // Non-empty; the used descriptors go where the chains were, in batch order.
  void push_batch(std::span<const UsedChain> chains);
  bool should_signal();
  void disable_notifications();
  bool enable_notifications();
  std::string describe_state() const;  // Queue::describe_state
  bool has_available() const;          // Queue::has_available

  // Ring offset in bits 0-14, wrap counter in bit 15 (as VHOST_GET_VRING_BASE).
  uint16_t next_avail() const { return encode(next_avail_, avail_wrap_); }
  uint16_t next_used() const { return encode(next_used_, used_wrap_); }
  void set_next_avail(uint16_t value) { decode(value, next_avail_, avail_wrap_); }
  void set_next_used(uint16_t value) {
    decode(value, next_used_, used_wrap_);
    unsignalled_ = 0;
  }

 private:
  PackedRing(const GuestMemory& memory, uint16_t size, RingFeatures features)
      : memory_(&memory), size_(size), features_(features) {}
  std::expected<uint16_t, QueueError> walk(uint16_t first_flags, uint16_t& slots, DescriptorChain& out) const;
  std::expected<void, QueueError> walk_indirect(const vring_packed_desc& desc, DescriptorChain& out) const;
  uint16_t head_flags() const;
  uint16_t write_used(const UsedChain& chain);
  uint8_t* desc_at(uint16_t offset) const { return desc_ + sizeof(vring_packed_desc) * offset; }
  static uint16_t encode(uint16_t offset, bool wrap) {
    return static_cast<uint16_t>(offset | (wrap << VRING_PACKED_EVENT_F_WRAP_CTR));
  }
  void decode(uint16_t value, uint16_t& offset, bool& wrap) const {
    offset = static_cast<uint16_t>((value & ~(1u << VRING_PACKED_EVENT_F_WRAP_CTR)) % size_);
    wrap = value >> VRING_PACKED_EVENT_F_WRAP_CTR;
  }

  const GuestMemory* memory_;
  uint16_t size_;
  RingFeatures features_;
  uint8_t* desc_ = nullptr;    // validated host address of the descriptor ring
  uint8_t* driver_ = nullptr;  // ... of the driver event suppression structure
  uint8_t* device_ = nullptr;  // ... of the device event suppression structure
  uint16_t next_avail_ = 0;    // ring offset of the next descriptor to poll
  bool avail_wrap_ = true;     // both wrap counters start at 1 (§2.8.1)
  uint16_t next_used_ = 0;     // ring offset of the next used descriptor
  bool used_wrap_ = true;
  uint64_t unsignalled_ = 0;  // ring slots marked used since the last should_signal()
};

}  // namespace franca::virtio
