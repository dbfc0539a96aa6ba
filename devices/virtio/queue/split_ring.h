// Private to the queue core: the device side of a split virtqueue (virtio 1.x
// §2.7: descriptor table, available and used rings, §2.7.7-2.7.10 event
// suppression with VIRTIO_F_EVENT_IDX).
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include "devices/virtio/queue/queue.h"
#include "devices/virtio/queue/ring.h"

namespace franca::virtio {

class SplitRing {
 public:
  static std::expected<SplitRing, QueueError> create(const QueueConfig& config, RingFeatures features,
                                                     const GuestMemory& memory);

  std::expected<bool, QueueError> pop(DescriptorChain& out);
  // Non-empty; split ignores ring_slots (one used element per chain).
  void push_batch(std::span<const UsedChain> chains);
  bool should_signal();
  void disable_notifications();
  bool enable_notifications();
  std::string describe_state() const;  // Queue::describe_state
  bool has_available() const;          // Queue::has_available

  uint16_t next_avail() const { return next_avail_; }
  uint16_t next_used() const { return next_used_; }
  void set_next_avail(uint16_t value) { next_avail_ = value; }
  void set_next_used(uint16_t value) {
    next_used_ = value;
    unsignalled_ = 0;
  }

 private:
  SplitRing(const GuestMemory& memory, uint16_t size, RingFeatures features)
      : memory_(&memory), size_(size), features_(features) {}
  std::expected<void, QueueError> walk(uint8_t* table, uint32_t entries, uint16_t index, bool in_indirect,
                                       DescriptorChain& out) const;
  std::expected<void, QueueError> walk_indirect(const vring_desc& desc, bool in_indirect, DescriptorChain& out) const;
  uint8_t* used_event() const;
  uint8_t* avail_event() const;

  const GuestMemory* memory_;
  uint16_t size_;
  RingFeatures features_;
  uint8_t* desc_ = nullptr;   // validated host address of the descriptor table
  uint8_t* avail_ = nullptr;  // ... of the available ring (incl. used_event)
  uint8_t* used_ = nullptr;   // ... of the used ring (incl. avail_event)
  uint16_t next_avail_ = 0;   // free-running, like avail.idx
  uint16_t next_used_ = 0;    // free-running, like used.idx
  uint64_t unsignalled_ = 0;  // chains pushed since the last should_signal()
  bool kicks_enabled_ = true;
};

}  // namespace franca::virtio
