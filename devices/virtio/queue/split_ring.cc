// The device side of a split virtqueue (virtio 1.x §2.7): chain walking with
// indirect tables (§2.7.5.3), the used ring (§2.7.8), and notification
// suppression with or without VIRTIO_F_EVENT_IDX (§2.7.7, §2.7.10).
#include "devices/virtio/queue/split_ring.h"

#include <cstddef>
#include <utility>

#include <fmt/format.h>

namespace franca::virtio {
namespace {

using ring::shared_u16;

constexpr size_t kAvailRing = offsetof(vring_avail, ring);
constexpr size_t kUsedRing = offsetof(vring_used, ring);

}  // namespace

std::expected<SplitRing, QueueError> SplitRing::create(const QueueConfig& config, RingFeatures features,
                                                       const GuestMemory& memory) {
  const uint16_t n = config.size;
  if (n == 0 || n > config.max_size || !std::has_single_bit(n)) return std::unexpected(QueueError::kBadSize);
  SplitRing r(memory, n, features);
  // Whole areas, including used_event / avail_event whether or not EVENT_IDX was negotiated.
  auto desc = ring::ring_area(memory, config.desc, sizeof(vring_desc) * n, VRING_DESC_ALIGN_SIZE);
  if (!desc) return std::unexpected(desc.error());
  auto avail = ring::ring_area(memory, config.driver, kAvailRing + 2 * n + 2, VRING_AVAIL_ALIGN_SIZE);
  if (!avail) return std::unexpected(avail.error());
  auto used =
      ring::ring_area(memory, config.device, kUsedRing + sizeof(vring_used_elem) * n + 2, VRING_USED_ALIGN_SIZE);
  if (!used) return std::unexpected(used.error());
  r.desc_ = *desc;
  r.avail_ = *avail;
  r.used_ = *used;
  return r;
}

uint8_t* SplitRing::used_event() const { return avail_ + kAvailRing + 2 * size_; }
uint8_t* SplitRing::avail_event() const { return used_ + kUsedRing + sizeof(vring_used_elem) * size_; }

std::expected<bool, QueueError> SplitRing::pop(DescriptorChain& out) {
  out.clear();
  // Acquire pairs with the driver's write barrier before it stores avail.idx
  // (Linux virtqueue_add_split: virtio_wmb): ring slots and descriptors the
  // driver wrote before publishing are visible to the reads below.
  const uint16_t avail_idx = shared_u16(avail_ + offsetof(vring_avail, idx)).load(std::memory_order_acquire);
  const auto pending = static_cast<uint16_t>(avail_idx - next_avail_);
  if (pending > size_) return std::unexpected(QueueError::kAvailIdxJump);
  if (pending == 0) return false;
  const uint16_t head = shared_u16(avail_ + kAvailRing + 2 * (next_avail_ % size_)).load(std::memory_order_relaxed);
  if (head >= size_) return std::unexpected(QueueError::kBadHead);
  if (auto walked = walk(desc_, size_, head, false, out); !walked) return std::unexpected(walked.error());
  out.set_id(head, 1);
  ++next_avail_;
  // Like QEMU: while kicks are wanted, keep avail_event just behind what we
  // consumed. Ordered by the fence in enable_notifications() for the idiom.
  if (features_.event_idx && kicks_enabled_) shared_u16(avail_event()).store(next_avail_, std::memory_order_relaxed);
  return true;
}

// Walks a chain through `table` (the ring's table or one indirect table) with
// at most `entries` hops, which also ends any loop through `next`.
std::expected<void, QueueError> SplitRing::walk(uint8_t* table, uint32_t entries, uint16_t index, bool in_indirect,
                                                DescriptorChain& out) const {
  for (uint32_t hops = 0;; ++hops) {
    if (hops == entries) return std::unexpected(QueueError::kChainTooLong);
    const auto desc = ring::load_once<vring_desc>(table + sizeof(vring_desc) * index);
    if (desc.flags & VRING_DESC_F_INDIRECT) return walk_indirect(desc, in_indirect, out);
    auto added = ring::append_buffer(*memory_, desc.addr, desc.len, desc.flags & VRING_DESC_F_WRITE, out);
    if (!added) return added;
    if (!(desc.flags & VRING_DESC_F_NEXT)) return {};
    if (desc.next >= entries) return std::unexpected(QueueError::kBadNext);
    index = desc.next;
  }
}

// An indirect descriptor ends the chain: "N direct descriptors, then one
// indirect" is legal, INDIRECT together with NEXT is not (§2.7.5.3.1).
std::expected<void, QueueError> SplitRing::walk_indirect(const vring_desc& desc, bool in_indirect,
                                                         DescriptorChain& out) const {
  if (!features_.indirect) return std::unexpected(QueueError::kIndirectNotOffered);
  if (in_indirect) return std::unexpected(QueueError::kIndirectNested);
  if (desc.flags & VRING_DESC_F_NEXT) return std::unexpected(QueueError::kIndirectWithNext);
  auto table = ring::indirect_table(*memory_, desc.addr, desc.len, size_);
  if (!table) return std::unexpected(table.error());
  return walk(table->data(), static_cast<uint32_t>(table->size() / sizeof(vring_desc)), 0, true, out);
}

void SplitRing::push_batch(std::span<const UsedChain> chains) {
  for (const UsedChain& c : chains) {
    const vring_used_elem elem{.id = c.id, .len = c.written};
    std::memcpy(used_ + kUsedRing + sizeof(vring_used_elem) * (next_used_ % size_), &elem, sizeof(elem));
    ++next_used_;
  }
  unsignalled_ += chains.size();
  // One store for the whole batch. Release pairs with the driver's read
  // barrier after it loads used.idx (Linux virtqueue_get_buf_ctx_split:
  // virtio_rmb): every element (and the data written into the buffers) is
  // visible before the new index, and no index shows part of the batch.
  shared_u16(used_ + offsetof(vring_used, idx)).store(next_used_, std::memory_order_release);
}

bool SplitRing::should_signal() {
  const uint64_t batch = std::exchange(unsignalled_, 0);
  if (batch == 0) return false;
  // Pairs with the driver's full barrier between writing used_event / avail.flags
  // and re-reading used.idx (Linux virtqueue_enable_cb → virtqueue_poll:
  // virtio_mb): either it sees our used.idx or we see its new event.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!features_.event_idx) {
    const uint16_t flags = shared_u16(avail_ + offsetof(vring_avail, flags)).load(std::memory_order_relaxed);
    return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
  }
  if (batch > UINT16_MAX) return true;  // the window covers every index
  const uint16_t event = shared_u16(used_event()).load(std::memory_order_relaxed);
  return vring_need_event(event, next_used_, static_cast<uint16_t>(next_used_ - batch));
}

void SplitRing::disable_notifications() {
  kicks_enabled_ = false;
  // With EVENT_IDX, leaving avail_event behind is enough: the driver stops
  // kicking once avail.idx has passed it.
  if (!features_.event_idx) {
    shared_u16(used_ + offsetof(vring_used, flags)).store(VRING_USED_F_NO_NOTIFY, std::memory_order_relaxed);
  }
}

bool SplitRing::enable_notifications() {
  kicks_enabled_ = true;
  if (features_.event_idx) {
    shared_u16(avail_event()).store(next_avail_, std::memory_order_relaxed);
  } else {
    shared_u16(used_ + offsetof(vring_used, flags)).store(0, std::memory_order_relaxed);
  }
  // Pairs with the driver's full barrier between storing avail.idx and reading
  // avail_event / used.flags (Linux virtqueue_kick_prepare_split: virtio_mb):
  // either it sees kicks enabled or we see its new buffers here.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return has_available();
}

bool SplitRing::has_available() const {
  return shared_u16(avail_ + offsetof(vring_avail, idx)).load(std::memory_order_acquire) != next_avail_;
}

std::string SplitRing::describe_state() const {
  const auto u16 = [](uint8_t* at) { return shared_u16(at).load(std::memory_order_acquire); };
  const uint16_t avail_idx = u16(avail_ + offsetof(vring_avail, idx));
  const uint16_t used_idx = u16(used_ + offsetof(vring_used, idx));
  std::string out = fmt::format(
      "split size {}: next_avail {} avail.idx {} ({} not popped), next_used {} used.idx {}, avail.flags {:#x} "
      "used.flags {:#x}, kicks {}",
      size_, next_avail_, avail_idx, static_cast<uint16_t>(avail_idx - next_avail_), next_used_, used_idx,
      u16(avail_ + offsetof(vring_avail, flags)), u16(used_ + offsetof(vring_used, flags)),
      kicks_enabled_ ? "enabled" : "disabled");
  if (features_.event_idx) {
    out += fmt::format(", used_event {} avail_event {}, {} pushed unsignalled", u16(used_event()), u16(avail_event()),
                       unsignalled_);
  }
  return out;
}

}  // namespace franca::virtio
