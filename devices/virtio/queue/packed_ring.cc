// The device side of a packed virtqueue (virtio 1.x §2.8): polling the next
// descriptor by wrap counter (§2.8.1-2.8.6), indirect tables (§2.8.7), used
// descriptors in completion order (§2.8.9) and event suppression (§2.8.10).
#include "devices/virtio/queue/packed_ring.h"

#include <cstddef>
#include <utility>

#include <fmt/format.h>

namespace franca::virtio {
namespace {

using ring::shared_u16;

constexpr uint16_t kAvail = 1u << VRING_PACKED_DESC_F_AVAIL;
constexpr uint16_t kUsed = 1u << VRING_PACKED_DESC_F_USED;
constexpr uint32_t kMaxPackedSize = 1u << 15;  // §2.8: offsets are 15 bits
constexpr uint64_t kEventAlign = 4;            // §2.8.10.1 event suppression structures

// Available to the device: AVAIL matches the wrap counter, USED does not (§2.8.1).
bool is_available(uint16_t flags, bool wrap) { return bool(flags & kAvail) == wrap && bool(flags & kUsed) != wrap; }

// Moves (offset, wrap) forward by n ring slots, flipping the wrap counter per lap.
void advance(uint16_t& offset, bool& wrap, uint32_t n, uint16_t size) {
  const uint32_t position = offset + n;
  if ((position / size) & 1) wrap = !wrap;
  offset = static_cast<uint16_t>(position % size);
}

}  // namespace

std::expected<PackedRing, QueueError> PackedRing::create(const QueueConfig& config, RingFeatures features,
                                                         const GuestMemory& memory) {
  const uint16_t n = config.size;
  if (n == 0 || n > config.max_size || n > kMaxPackedSize) return std::unexpected(QueueError::kBadSize);
  PackedRing r(memory, n, features);
  auto desc = ring::ring_area(memory, config.desc, sizeof(vring_packed_desc) * n, VRING_DESC_ALIGN_SIZE);
  if (!desc) return std::unexpected(desc.error());
  auto driver = ring::ring_area(memory, config.driver, sizeof(vring_packed_desc_event), kEventAlign);
  if (!driver) return std::unexpected(driver.error());
  auto device = ring::ring_area(memory, config.device, sizeof(vring_packed_desc_event), kEventAlign);
  if (!device) return std::unexpected(device.error());
  r.desc_ = *desc;
  r.driver_ = *driver;
  r.device_ = *device;
  return r;
}

uint16_t PackedRing::head_flags() const {
  // Acquire pairs with the driver's write barrier before it stores the head
  // descriptor's flags (Linux virtqueue_add_packed: virtio_wmb): the rest of
  // the chain is visible to the reads that follow.
  return shared_u16(desc_at(next_avail_) + offsetof(vring_packed_desc, flags)).load(std::memory_order_acquire);
}

std::expected<bool, QueueError> PackedRing::pop(DescriptorChain& out) {
  out.clear();
  const uint16_t flags = head_flags();
  if (!is_available(flags, avail_wrap_)) return false;
  uint16_t slots = 0;
  auto id = walk(flags, slots, out);
  if (!id) return std::unexpected(id.error());
  out.set_id(*id, slots);
  advance(next_avail_, avail_wrap_, slots, size_);
  return true;
}

// Walks the ring descriptors of one chain (at most size_ of them) and returns
// its buffer id, taken from the last descriptor (§2.8.6).
std::expected<uint16_t, QueueError> PackedRing::walk(uint16_t first_flags, uint16_t& slots,
                                                     DescriptorChain& out) const {
  uint16_t offset = next_avail_;
  for (slots = 0;;) {
    if (slots == size_) return std::unexpected(QueueError::kChainTooLong);
    auto desc = ring::load_once<vring_packed_desc>(desc_at(offset));
    if (slots == 0) desc.flags = first_flags;  // the acquired copy, never a second read
    ++slots;
    offset = offset + 1 == size_ ? 0 : offset + 1;
    auto added = (desc.flags & VRING_DESC_F_INDIRECT)
                     ? walk_indirect(desc, out)
                     : ring::append_buffer(*memory_, desc.addr, desc.len, desc.flags & VRING_DESC_F_WRITE, out);
    if (!added) return std::unexpected(added.error());
    if (!(desc.flags & VRING_DESC_F_NEXT)) {
      if (desc.id >= size_) return std::unexpected(QueueError::kBadHead);
      return desc.id;
    }
  }
}

// Every entry of an indirect table belongs to the chain, in order; entries may
// carry only WRITE (§2.8.7). Like DPDK, NEXT on the pointing descriptor
// continues the chain in the ring after the table.
std::expected<void, QueueError> PackedRing::walk_indirect(const vring_packed_desc& desc, DescriptorChain& out) const {
  if (!features_.indirect) return std::unexpected(QueueError::kIndirectNotOffered);
  auto table = ring::indirect_table(*memory_, desc.addr, desc.len, size_);
  if (!table) return std::unexpected(table.error());
  for (size_t at = 0; at < table->size(); at += sizeof(vring_packed_desc)) {
    const auto entry = ring::load_once<vring_packed_desc>(table->data() + at);
    if (entry.flags & VRING_DESC_F_INDIRECT) return std::unexpected(QueueError::kIndirectNested);
    auto added = ring::append_buffer(*memory_, entry.addr, entry.len, entry.flags & VRING_DESC_F_WRITE, out);
    if (!added) return added;
  }
  return {};
}

// Writes id and len of the next used descriptor and advances past the chain;
// returns the flags to store, which make it used.
uint16_t PackedRing::write_used(const UsedChain& chain) {
  uint8_t* desc = desc_at(next_used_);
  std::memcpy(desc + offsetof(vring_packed_desc, id), &chain.id, sizeof(chain.id));
  std::memcpy(desc + offsetof(vring_packed_desc, len), &chain.written, sizeof(chain.written));
  const auto flags =
      static_cast<uint16_t>((used_wrap_ ? kAvail | kUsed : 0) | (chain.written > 0 ? VRING_DESC_F_WRITE : 0));
  const uint16_t slots = chain.ring_slots == 0 ? 1 : chain.ring_slots;
  advance(next_used_, used_wrap_, slots, size_);
  unsignalled_ += slots;
  return flags;
}

void PackedRing::push_batch(std::span<const UsedChain> chains) {
  uint8_t* first = desc_at(next_used_);
  const uint16_t first_flags = write_used(chains.front());
  for (const UsedChain& c : chains.subspan(1)) {
    uint8_t* desc = desc_at(next_used_);
    const uint16_t flags = write_used(c);
    // Relaxed: ordered before the driver's reads by the release store below.
    shared_u16(desc + offsetof(vring_packed_desc, flags)).store(flags, std::memory_order_relaxed);
  }
  // The first descriptor's flags last. Release pairs with the driver's read
  // barrier after it sees the used flags (Linux virtqueue_get_buf_ctx_packed:
  // virtio_rmb): ids, lens, the later descriptors' flags and the data written
  // into the buffers are visible first. The driver reads used descriptors in
  // ring order, so it sees the whole batch or none of it.
  shared_u16(first + offsetof(vring_packed_desc, flags)).store(first_flags, std::memory_order_release);
}

bool PackedRing::should_signal() {
  const uint64_t batch = std::exchange(unsignalled_, 0);
  if (batch == 0) return false;
  // Pairs with the driver's full barrier between writing its event suppression
  // structure and re-checking the used descriptor (Linux
  // virtqueue_enable_cb_prepare_packed → virtqueue_poll_packed: virtio_mb).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Acquire pairs with the driver's write barrier between off_wrap and flags
  // (virtqueue_enable_cb_prepare_packed writes off_wrap, virtio_wmb, flags).
  const uint16_t flags = shared_u16(driver_ + offsetof(vring_packed_desc_event, flags)).load(std::memory_order_acquire);
  if (flags == VRING_PACKED_EVENT_FLAG_DISABLE) return false;
  if (flags != VRING_PACKED_EVENT_FLAG_DESC || !features_.event_idx || batch >= size_) return true;
  const uint16_t off_wrap =
      shared_u16(driver_ + offsetof(vring_packed_desc_event, off_wrap)).load(std::memory_order_relaxed);
  auto event = static_cast<uint16_t>(off_wrap & ~(1u << VRING_PACKED_EVENT_F_WRAP_CTR));
  // An event in the previous lap sits at a "negative" offset (virtio-notes §1.7).
  if (bool(off_wrap >> VRING_PACKED_EVENT_F_WRAP_CTR) != used_wrap_) event = static_cast<uint16_t>(event - size_);
  return vring_need_event(event, next_used_, static_cast<uint16_t>(next_used_ - batch));
}

void PackedRing::disable_notifications() {
  shared_u16(device_ + offsetof(vring_packed_desc_event, flags))
      .store(VRING_PACKED_EVENT_FLAG_DISABLE, std::memory_order_relaxed);
}

bool PackedRing::enable_notifications() {
  shared_u16(device_ + offsetof(vring_packed_desc_event, flags))
      .store(VRING_PACKED_EVENT_FLAG_ENABLE, std::memory_order_relaxed);
  // Pairs with the driver's full barrier between making descriptors available
  // and reading our event flags (Linux virtqueue_kick_prepare_packed:
  // virtio_mb): either it sees kicks enabled or we see its new buffers here.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return has_available();
}

bool PackedRing::has_available() const { return is_available(head_flags(), avail_wrap_); }

std::string PackedRing::describe_state() const {
  const auto event = [](uint8_t* at) {
    const auto e = ring::load_once<vring_packed_desc_event>(at);
    return fmt::format("off_wrap {:#x} flags {}", e.off_wrap, e.flags);
  };
  return fmt::format(
      "packed size {}: next_avail {}/wrap {} (head flags {:#x}), next_used {}/wrap {}, driver event {}, device event "
      "{}, {} used unsignalled",
      size_, next_avail_, int{avail_wrap_}, head_flags(), next_used_, int{used_wrap_}, event(driver_), event(device_),
      unsignalled_);
}

}  // namespace franca::virtio
