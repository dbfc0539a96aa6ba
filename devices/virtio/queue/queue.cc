// The virtqueue core's public face (virtio 1.x §2.7 split, §2.8 packed): queue
// activation and dispatch to the ring format the driver negotiated (§6).
#include "devices/virtio/queue/queue.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "devices/virtio/queue/packed_ring.h"
#include "devices/virtio/queue/split_ring.h"

namespace franca::virtio {

std::string_view describe(QueueError error) {
  switch (error) {
    case QueueError::kBadSize:
      return "queue size is 0, above the maximum, or not a power of two (split)";
    case QueueError::kMisaligned:
      return "a ring area is misaligned";
    case QueueError::kRingOutsideRam:
      return "a ring area is not inside guest RAM";
    case QueueError::kAvailIdxJump:
      return "avail.idx moved more than the queue size ahead";
    case QueueError::kBadHead:
      return "descriptor head or buffer id out of range";
    case QueueError::kBadNext:
      return "descriptor next index out of range";
    case QueueError::kChainTooLong:
      return "descriptor chain longer than its table (a loop)";
    case QueueError::kIndirectNotOffered:
      return "INDIRECT descriptor without VIRTIO_F_INDIRECT_DESC";
    case QueueError::kIndirectNested:
      return "INDIRECT descriptor inside an indirect table";
    case QueueError::kIndirectWithNext:
      return "INDIRECT descriptor with NEXT";
    case QueueError::kIndirectBadLength:
      return "indirect table length zero, not a multiple of 16, or too long";
    case QueueError::kBufferOutsideRam:
      return "buffer or indirect table not inside guest RAM";
    case QueueError::kReadableAfterWritable:
      return "device-readable buffer after a device-writable one";
    case QueueError::kTooLong:
      return "descriptor chain longer than 4 GiB";
  }
  return "unknown queue error";
}

RingFeatures RingFeatures::from(uint64_t negotiated) {
  const auto has = [negotiated](unsigned bit) { return (negotiated >> bit) & 1; };
  return {.packed = bool(has(VIRTIO_F_RING_PACKED)),
          .event_idx = bool(has(VIRTIO_RING_F_EVENT_IDX)),
          .indirect = bool(has(VIRTIO_RING_F_INDIRECT_DESC))};
}

// What undo_pop() may give back: the chains popped since the last push or
// index change, newest last, each with the ring state before its pop. At most
// the queue size (older pops fall off and can no longer be undone).
class PopHistory {
 public:
  explicit PopHistory(uint16_t size) : entries_(size) {}
  void record(const DescriptorChain& chain, uint16_t before) {
    entries_[top_] = {chain.id(), chain.ring_slots(), before};
    top_ = (top_ + 1) % entries_.size();
    count_ = std::min(count_ + 1, entries_.size());
  }
  void forget() { count_ = 0; }
  // The ring state before the first of `chains` was popped, if `chains` are
  // the newest entries in pop order; then they are forgotten.
  std::optional<uint16_t> take(std::span<const DescriptorChain> chains) {
    if (chains.empty() || chains.size() > count_) return std::nullopt;
    const size_t first = (top_ + entries_.size() - chains.size()) % entries_.size();
    for (size_t i = 0; i < chains.size(); ++i) {
      const Entry& e = entries_[(first + i) % entries_.size()];
      if (e.id != chains[i].id() || e.ring_slots != chains[i].ring_slots()) return std::nullopt;
    }
    top_ = first;
    count_ -= chains.size();
    return entries_[first].before;
  }

 private:
  struct Entry {
    uint16_t id = 0;
    uint16_t ring_slots = 0;
    uint16_t before = 0;  // next_avail() before the pop
  };
  std::vector<Entry> entries_;
  size_t top_ = 0;  // where the next pop is recorded
  size_t count_ = 0;
};

struct Queue::Impl {
  QueueConfig config;
  std::variant<SplitRing, PackedRing> ring;
  PopHistory popped;

  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), ring);
  }
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), ring);
  }
};

std::expected<Queue, QueueError> Queue::activate(const QueueConfig& config, RingFeatures features,
                                                 const GuestMemory& memory) {
  if (features.packed) {
    auto ring = PackedRing::create(config, features, memory);
    if (!ring) return std::unexpected(ring.error());
    return Queue(std::make_unique<Impl>(Impl{config, std::move(*ring), PopHistory(config.size)}));
  }
  auto ring = SplitRing::create(config, features, memory);
  if (!ring) return std::unexpected(ring.error());
  return Queue(std::make_unique<Impl>(Impl{config, std::move(*ring), PopHistory(config.size)}));
}

Queue::Queue(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Queue::Queue(Queue&&) noexcept = default;
Queue& Queue::operator=(Queue&&) noexcept = default;
Queue::~Queue() = default;

std::expected<bool, QueueError> Queue::pop(DescriptorChain& out) {
  const uint16_t before = next_avail();
  auto popped = impl_->visit([&](auto& r) { return r.pop(out); });
  if (!popped) impl_->popped.forget();
  if (popped && *popped) impl_->popped.record(out, before);
  return popped;
}

bool Queue::undo_pop(std::span<const DescriptorChain> chains) {
  if (chains.empty()) return true;
  const std::optional<uint16_t> before = impl_->popped.take(chains);
  if (!before) return false;
  impl_->visit([value = *before](auto& r) { r.set_next_avail(value); });
  return true;
}

void Queue::push(uint16_t id, uint16_t ring_slots, uint32_t written) {
  const UsedChain one{id, ring_slots, written};
  push_batch({&one, 1});
}

void Queue::push_batch(std::span<const UsedChain> chains) {
  if (chains.empty()) return;
  impl_->popped.forget();  // packed: the used entries may land in the slots of a popped chain
  impl_->visit([chains](auto& r) { r.push_batch(chains); });
}

bool Queue::should_signal() {
  return impl_->visit([](auto& r) { return r.should_signal(); });
}
void Queue::disable_notifications() {
  impl_->visit([](auto& r) { r.disable_notifications(); });
}
bool Queue::enable_notifications() {
  return impl_->visit([](auto& r) { return r.enable_notifications(); });
}

uint16_t Queue::next_avail() const {
  return impl_->visit([](const auto& r) { return r.next_avail(); });
}
uint16_t Queue::next_used() const {
  return impl_->visit([](const auto& r) { return r.next_used(); });
}
void Queue::set_next_avail(uint16_t value) {
  impl_->popped.forget();
  impl_->visit([value](auto& r) { r.set_next_avail(value); });
}
void Queue::set_next_used(uint16_t value) {
  impl_->popped.forget();
  impl_->visit([value](auto& r) { r.set_next_used(value); });
}

uint16_t Queue::size() const { return impl_->config.size; }
bool Queue::packed() const { return std::holds_alternative<PackedRing>(impl_->ring); }
const QueueConfig& Queue::config() const { return impl_->config; }

bool Queue::has_available() const {
  return impl_->visit([](const auto& r) { return r.has_available(); });
}

std::string Queue::describe_state() const {
  return impl_->visit([](const auto& r) { return r.describe_state(); });
}

}  // namespace franca::virtio
