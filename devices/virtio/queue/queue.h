// The one virtqueue core (virtio 1.x §2.7 split and §2.8 packed virtqueues),
// shared by every device and both transports. It knows nothing of transports:
// it deals in guest addresses and indices over the GuestMemory passed in, and a
// device cannot tell which ring format the driver chose.
//
// Hostile-driver rules (STYLE.md "The virtio core"): every shared field is read
// once into a local copy before use; chains are walked with a hop limit (queue
// size), indirect tables nest at most once, readable buffers precede writable
// ones, the total length fits in u32, every range lies inside guest RAM. Any
// violation is a QueueError: the caller sets NEEDS_RESET on its device and stops
// using the queue; nothing here aborts or throws.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "devices/virtio/queue/chain.h"
#include "devices/virtio/queue/queue_config.h"
#include "vmm/core/guest_memory.h"

namespace franca::virtio {

enum class QueueError : uint8_t {
  kBadSize,             // 0, above max, or not a power of two (split)
  kMisaligned,          // a ring area breaks its alignment rule
  kRingOutsideRam,      // a ring area does not lie inside guest RAM
  kAvailIdxJump,        // split: avail.idx moved more than the queue size ahead
  kBadHead,             // head / buffer index >= queue size
  kBadNext,             // next index >= table size
  kChainTooLong,        // more hops than the table has entries (a loop)
  kIndirectNotOffered,  // INDIRECT flag without VIRTIO_F_INDIRECT_DESC
  kIndirectNested,      // INDIRECT inside an indirect table
  kIndirectWithNext,    // split: INDIRECT together with NEXT
  kIndirectBadLength,   // table length 0 or not a multiple of 16
  kBufferOutsideRam,    // a buffer (or indirect table) not inside guest RAM
  kReadableAfterWritable,
  kTooLong,  // total chain length above u32
};
std::string_view describe(QueueError error);

// Which ring-level features the driver accepted.
struct RingFeatures {
  bool packed = false;     // VIRTIO_F_RING_PACKED
  bool event_idx = false;  // VIRTIO_RING_F_EVENT_IDX
  bool indirect = false;   // VIRTIO_RING_F_INDIRECT_DESC
  static RingFeatures from(uint64_t negotiated);
};

// One chain returned to the driver by Queue::push_batch().
struct UsedChain {
  uint16_t id = 0;
  uint16_t ring_slots = 1;  // DescriptorChain::ring_slots()
  uint32_t written = 0;     // bytes written into its writable part
  static UsedChain of(const DescriptorChain& chain, uint32_t written) {
    return {chain.id(), chain.ring_slots(), written};
  }
};

class Queue {
 public:
  // Validates the configuration against `memory` (size rules, alignment
  // 16/2/4 split and 16/4/4 packed, every area inside RAM). `memory` must
  // outlive the Queue.
  static std::expected<Queue, QueueError> activate(const QueueConfig& config, RingFeatures features,
                                                   const GuestMemory& memory);

  Queue(Queue&&) noexcept;
  Queue& operator=(Queue&&) noexcept;
  ~Queue();

  // The next available chain into `out`; false when the ring is empty.
  std::expected<bool, QueueError> pop(DescriptorChain& out);
  // Gives back `chains`, popped but not used (a frame that does not fit, a
  // wait for more buffers): the ring goes back to where it was before the
  // first of them was popped, so the next pop() walks them again from guest
  // memory. `chains` must be the most recent pops, in the order they were
  // popped (all of them or just the last few; none is a no-op), with no push since: a push,
  // set_next_avail() or set_next_used() ends what can be undone. Anything else
  // is refused and changes nothing (returns false): the ring never rewinds
  // over a slot a used entry may have taken (packed writes used descriptors
  // into the same ring). Notification state is left as it is.
  [[nodiscard]] bool undo_pop(std::span<const DescriptorChain> chains);
  [[nodiscard]] bool undo_pop(const DescriptorChain& chain) { return undo_pop({&chain, 1}); }
  // Returns a chain to the driver with `written` bytes written into its
  // writable part. Chains may be returned in any order (out-of-order use).
  void push(uint16_t id, uint16_t ring_slots, uint32_t written);
  void push(const DescriptorChain& chain, uint32_t written) { push(chain.id(), chain.ring_slots(), written); }
  // Returns `chains` in this order and makes them visible to the driver all
  // at once: split stores used.idx once for the batch; packed writes every
  // used descriptor and stores the first one's flags last. For a message the
  // driver must see whole, e.g. a virtio-net frame spread over several
  // receive buffers (§5.1.6.4). At most size() ring slots per batch.
  void push_batch(std::span<const UsedChain> chains);
  // After a batch of push(): whether the driver wants a used-buffer
  // notification (flags, or EVENT_IDX used_event / packed DESC mode). Starts a
  // new batch.
  bool should_signal();

  // Kick suppression idiom: disable, drain, enable; loop while enable() says
  // buffers arrived in between (otherwise a kick that raced the flag is lost).
  void disable_notifications();
  bool enable_notifications();

  // Ring state, carried across backend switches (vhost VHOST_GET/SET_VRING_BASE).
  // Split: the free-running index. Packed: index in bits 0-14, wrap counter in bit 15.
  // The setters are for that hand-over (and tests) only, not for a data path:
  // to give back chains it popped, a device calls undo_pop().
  uint16_t next_avail() const;
  uint16_t next_used() const;
  void set_next_avail(uint16_t value);
  void set_next_used(uint16_t value);

  uint16_t size() const;
  bool packed() const;
  // One line for a diagnosis of a stopped queue: the device's indices against
  // what the driver last published (split: avail.idx, used.idx, flags,
  // used_event/avail_event; packed: the head descriptor's flags, both event
  // suppression structures). Reads guest memory; on the data path's thread.
  std::string describe_state() const;
  // Whether the driver has published a chain pop() has not taken yet (a peek:
  // nothing is validated or consumed). On the data path's thread.
  bool has_available() const;
  // Whether chains were popped and not yet pushed back (next_avail != next_used).
  bool has_outstanding() const { return next_avail() != next_used(); }
  const QueueConfig& config() const;

 private:
  struct Impl;
  explicit Queue(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace franca::virtio
