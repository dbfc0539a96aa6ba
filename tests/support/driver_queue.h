// The driver (guest) side of one virtqueue, for unit tests, fuzz seeds and
// device tests: lays out a split (virtio 1.x §2.7) or packed (§2.8) ring in
// guest memory, adds and publishes chains, reads completions, and builds the
// corrupt chains a hostile driver could publish. Header-only: just include it.
//
//   franca::testing::TestRam ram;  // 1 MiB of zeroed heap memory at gpa 0
//   DriverQueue q(ram, {.size = 8, .packed = false, .event_idx = true, .indirect = true});
//   uint16_t id = q.add({{0x20000, 16, false}, {0x21000, 512, true}});
//   q.publish();
//   auto queue = Queue::activate(q.config(), q.features(), ram);  // the device side
//   ... queue->pop(chain); queue->push(chain, n); ...
//   EXPECT_EQ(q.used(), (std::vector<UsedBuffer>{{id, n}}));
//
// Memory plan: rings from `ring_base` (default 0x1000), then a 64 KiB area for
// indirect tables; put data buffers at or above data_base() (0x12000 for
// small rings). Misuse of the helper itself (ring full, unknown id) throws
// std::logic_error, which GoogleTest reports as a failure.
#pragma once

#include <linux/virtio_config.h>
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>
#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include "devices/virtio/queue/queue.h"
#include "vmm/core/guest_memory.h"

namespace franca::testing {

// Guest RAM for unit tests: `bytes` of zeroed heap memory at gpa 0 (through
// GuestMemory::over), plus optionally a PROT_NONE region at `reserved_gpa`
// that counts as RAM for validation but must never be touched (lets a test
// build chains longer than 4 GiB, or buffers crossing a region boundary).
class TestRam {
 public:
  static constexpr size_t kDefaultSize = 1 << 20;
  explicit TestRam(size_t bytes = kDefaultSize, uint64_t reserved_gpa = 0, uint64_t reserved_size = 0);
  TestRam(const TestRam&) = delete;
  TestRam& operator=(const TestRam&) = delete;
  ~TestRam() {
    if (reserved_ != MAP_FAILED) munmap(reserved_, reserved_size_);
  }
  const GuestMemory& memory() const { return memory_; }
  operator const GuestMemory&() const { return memory_; }  // NOLINT: pass a TestRam where GuestMemory is wanted
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
  void* reserved_ = MAP_FAILED;
  uint64_t reserved_size_ = 0;
  GuestMemory memory_;
};

struct DriverQueueOptions {
  uint16_t size = 8;
  bool packed = false;
  bool event_idx = false;
  bool indirect = false;
  uint64_t ring_base = 0x1000;  // 16-aligned; the rings, then the indirect-table area
  uint16_t max_size = 0;        // QueueConfig::max_size; 0 means `size`
};

// One buffer as the driver describes it. `extra_flags` is OR-ed into the
// descriptor verbatim (VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, ...) to build
// corrupt chains; a well-formed chain leaves it 0.
struct DriverBuffer {
  uint64_t gpa = 0;
  uint32_t len = 0;
  bool writable = false;
  uint16_t extra_flags = 0;
};

// One completion as the driver sees it (packed: len as written, WRITE or not).
struct UsedBuffer {
  uint16_t id = 0;
  uint32_t len = 0;
  bool operator==(const UsedBuffer&) const = default;
};

class DriverQueue {
 public:
  static constexpr uint64_t kTableArea = 64 * 1024;

  DriverQueue(const GuestMemory& memory, DriverQueueOptions options);

  // What the transport hands to Queue::activate() (ready, sizes, three areas).
  virtio::QueueConfig config() const;
  virtio::RingFeatures features() const { return {options_.packed, options_.event_idx, options_.indirect}; }
  uint64_t data_base() const { return table_base_ + kTableArea; }

  // Well-formed chains. Each returns the id the device reports: the head
  // descriptor index (split) or the buffer id (packed).
  uint16_t add(const std::vector<DriverBuffer>& buffers);
  // One descriptor pointing at an indirect table holding `table`.
  uint16_t add_indirect(const std::vector<DriverBuffer>& table);
  // `direct` descriptors followed by one indirect descriptor for `table`.
  uint16_t add_mixed(const std::vector<DriverBuffer>& direct, const std::vector<DriverBuffer>& table);
  // Writes an indirect table (chained with NEXT for split) and returns its gpa.
  uint64_t write_table(const std::vector<DriverBuffer>& table);
  // Makes everything added since the last publish() visible to the device:
  // split release-stores avail.idx; packed stores each head's flags last.
  void publish();
  // Completions the device wrote since the last call, in ring order.
  std::vector<UsedBuffer> used();

  // Interrupt suppression (driver area). Split: avail.flags NO_INTERRUPT or
  // used_event; packed: the driver event suppression structure, where
  // set_used_event() selects DESC mode with event = offset | wrap << 15.
  void set_no_interrupt(bool on);
  void set_used_event(uint16_t event);
  // Where the next used entry will appear: split used index, packed offset | wrap << 15.
  uint16_t used_position() const;
  // Whether the device asked for a kick for the chains of the last publish().
  bool kick_needed() const;

  // Starts both indices at `index` (split: free-running; packed: offset |
  // wrap << 15) before anything is added. Give the same value to
  // Queue::set_next_avail() and Queue::set_next_used().
  void start_at(uint16_t index);

  // Corruption. set_head: split rewrites the avail ring slot of chain `id`;
  // packed rewrites the buffer id in its last descriptor. set_next (split):
  // sets NEXT and `next` on descriptor `position` of chain `id`.
  // set_avail_idx (split): stores avail.idx verbatim.
  void set_head(uint16_t id, uint16_t value);
  void set_next(uint16_t id, size_t position, uint16_t next);
  void set_avail_idx(uint16_t value);

 private:
  uint8_t* at(uint64_t gpa, uint64_t len) const;
  std::atomic_ref<uint16_t> u16(uint64_t gpa) const {
    return std::atomic_ref(*reinterpret_cast<uint16_t*>(at(gpa, 2)));
  }
  void write_desc(uint64_t gpa, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next_or_id) const;
  uint16_t add_split(const std::vector<DriverBuffer>& buffers);
  uint16_t add_packed(const std::vector<DriverBuffer>& buffers);
  std::vector<UsedBuffer> used_split();
  std::vector<UsedBuffer> used_packed();
  static uint16_t buffer_flags(const DriverBuffer& b, bool more) {
    return static_cast<uint16_t>((b.writable ? VRING_DESC_F_WRITE : 0) | (more ? VRING_DESC_F_NEXT : 0) |
                                 b.extra_flags);
  }
  uint16_t size() const { return options_.size; }

  const GuestMemory& memory_;
  DriverQueueOptions options_;
  uint64_t desc_ = 0, driver_ = 0, device_ = 0;  // the three areas
  uint64_t table_base_ = 0, table_next_ = 0;     // indirect-table bump allocator
  // Split: free descriptor indices, each chain's descriptors by head, indices.
  std::vector<uint16_t> free_;
  std::vector<std::vector<uint16_t>> chains_;
  std::vector<uint16_t> avail_slot_;  // avail index each head was placed at
  uint16_t avail_idx_ = 0, published_ = 0, last_used_ = 0, kick_old_ = 0;
  // Packed: offsets and wrap counters, free buffer ids, slots per id, unpublished heads.
  uint16_t next_ = 0, used_offset_ = 0;
  bool wrap_ = true, used_wrap_ = true;
  uint32_t free_slots_ = 0;
  std::vector<uint16_t> free_ids_, slots_, last_desc_;
  std::vector<std::pair<uint64_t, uint16_t>> pending_heads_;
};

// ---- implementation ----

inline TestRam::TestRam(size_t bytes, uint64_t reserved_gpa, uint64_t reserved_size) : bytes_(bytes) {
  std::vector<MemoryRegion> regions{{0, bytes, bytes_.data()}};
  if (reserved_size > 0) {
    reserved_ = mmap(nullptr, reserved_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reserved_ == MAP_FAILED) throw std::runtime_error("TestRam: cannot reserve address space");
    reserved_size_ = reserved_size;
    regions.push_back({reserved_gpa, reserved_size, static_cast<uint8_t*>(reserved_)});
  }
  memory_ = GuestMemory::over(regions);
}

inline DriverQueue::DriverQueue(const GuestMemory& memory, DriverQueueOptions options)
    : memory_(memory), options_(options) {
  const uint64_t n = size();
  desc_ = options.ring_base;
  if (options.packed) {
    driver_ = (desc_ + sizeof(vring_packed_desc) * n + 3) & ~uint64_t{3};
    device_ = driver_ + sizeof(vring_packed_desc_event);
    table_base_ = (device_ + sizeof(vring_packed_desc_event) + 0xfff) & ~uint64_t{0xfff};
  } else {
    driver_ = desc_ + sizeof(vring_desc) * n;
    device_ = (driver_ + offsetof(vring_avail, ring) + 2 * n + 2 + 3) & ~uint64_t{3};
    table_base_ = (device_ + offsetof(vring_used, ring) + sizeof(vring_used_elem) * n + 2 + 0xfff) & ~uint64_t{0xfff};
  }
  table_next_ = table_base_;
  std::memset(at(desc_, table_base_ - desc_), 0, table_base_ - desc_);  // the driver zeroes its rings
  for (uint16_t i = options.size; i > 0; --i) free_.push_back(i - 1);   // hands out 0, 1, 2, ...
  free_ids_ = free_;
  chains_.resize(n);
  avail_slot_.resize(n);
  slots_.resize(n);
  last_desc_.resize(n);
  free_slots_ = options.size;
}

inline virtio::QueueConfig DriverQueue::config() const {
  return {.max_size = options_.max_size ? options_.max_size : options_.size,
          .size = options_.size,
          .ready = true,
          .desc = desc_,
          .driver = driver_,
          .device = device_};
}

inline uint8_t* DriverQueue::at(uint64_t gpa, uint64_t len) const {
  auto bytes = memory_.slice(gpa, len);
  if (!bytes) throw std::logic_error("DriverQueue: gpa outside the test RAM");
  return bytes->data();
}

inline void DriverQueue::write_desc(uint64_t gpa, uint64_t addr, uint32_t len, uint16_t flags,
                                    uint16_t next_or_id) const {
  if (options_.packed) {
    // Fields first, flags last with release: the device polls flags with acquire.
    const vring_packed_desc d{.addr = addr, .len = len, .id = next_or_id, .flags = 0};
    std::memcpy(at(gpa, offsetof(vring_packed_desc, flags)), &d, offsetof(vring_packed_desc, flags));
    u16(gpa + offsetof(vring_packed_desc, flags)).store(flags, std::memory_order_release);
  } else {
    const vring_desc d{.addr = addr, .len = len, .flags = flags, .next = next_or_id};
    std::memcpy(at(gpa, sizeof(d)), &d, sizeof(d));
  }
}

inline uint16_t DriverQueue::add(const std::vector<DriverBuffer>& buffers) {
  if (buffers.empty()) throw std::logic_error("DriverQueue: empty chain");
  return options_.packed ? add_packed(buffers) : add_split(buffers);
}

inline uint16_t DriverQueue::add_split(const std::vector<DriverBuffer>& buffers) {
  if (buffers.size() > free_.size()) throw std::logic_error("DriverQueue: descriptor table full");
  std::vector<uint16_t> chain;
  for (size_t i = 0; i < buffers.size(); ++i) {
    chain.push_back(free_.back());
    free_.pop_back();
  }
  for (size_t i = 0; i < chain.size(); ++i) {
    const bool more = i + 1 < chain.size();
    write_desc(desc_ + sizeof(vring_desc) * chain[i], buffers[i].gpa, buffers[i].len, buffer_flags(buffers[i], more),
               more ? chain[i + 1] : 0);
  }
  const uint16_t head = chain.front();
  chains_[head] = std::move(chain);
  avail_slot_[head] = avail_idx_;
  u16(driver_ + offsetof(vring_avail, ring) + 2 * (avail_idx_ % size())).store(head, std::memory_order_relaxed);
  ++avail_idx_;
  return head;
}

inline uint16_t DriverQueue::add_packed(const std::vector<DriverBuffer>& buffers) {
  if (buffers.size() > free_slots_ || free_ids_.empty()) throw std::logic_error("DriverQueue: ring full");
  const uint16_t id = free_ids_.back();
  free_ids_.pop_back();
  for (size_t i = 0; i < buffers.size(); ++i) {
    const uint64_t gpa = desc_ + sizeof(vring_packed_desc) * next_;
    const auto flags =
        static_cast<uint16_t>(buffer_flags(buffers[i], i + 1 < buffers.size()) |
                              (wrap_ ? 1u << VRING_PACKED_DESC_F_AVAIL : 1u << VRING_PACKED_DESC_F_USED));
    if (i == 0) {  // the head's flags are stored last, by publish()
      const uint16_t old_flags = u16(gpa + offsetof(vring_packed_desc, flags)).load(std::memory_order_relaxed);
      write_desc(gpa, buffers[i].gpa, buffers[i].len, old_flags, id);
      pending_heads_.emplace_back(gpa, flags);
    } else {
      write_desc(gpa, buffers[i].gpa, buffers[i].len, flags, id);
    }
    last_desc_[id] = static_cast<uint16_t>((gpa - desc_) / sizeof(vring_packed_desc));
    if (++next_ == size()) {
      next_ = 0;
      wrap_ = !wrap_;
    }
  }
  slots_[id] = static_cast<uint16_t>(buffers.size());
  free_slots_ -= static_cast<uint32_t>(buffers.size());
  return id;
}

inline uint64_t DriverQueue::write_table(const std::vector<DriverBuffer>& table) {
  const uint64_t bytes = sizeof(vring_desc) * table.size();
  if (table_next_ + bytes > table_base_ + kTableArea) table_next_ = table_base_;  // reuse: tests are short
  const uint64_t gpa = table_next_;
  table_next_ += bytes;
  for (size_t i = 0; i < table.size(); ++i) {
    const bool more = !options_.packed && i + 1 < table.size();  // packed tables are sequential
    write_desc(gpa + sizeof(vring_desc) * i, table[i].gpa, table[i].len, buffer_flags(table[i], more),
               more ? static_cast<uint16_t>(i + 1) : 0);
  }
  return gpa;
}

inline uint16_t DriverQueue::add_indirect(const std::vector<DriverBuffer>& table) { return add_mixed({}, table); }

inline uint16_t DriverQueue::add_mixed(const std::vector<DriverBuffer>& direct,
                                       const std::vector<DriverBuffer>& table) {
  std::vector<DriverBuffer> chain = direct;
  chain.push_back(
      {write_table(table), static_cast<uint32_t>(sizeof(vring_desc) * table.size()), false, VRING_DESC_F_INDIRECT});
  return add(chain);
}

inline void DriverQueue::publish() {
  if (options_.packed) {
    for (const auto& [gpa, flags] : pending_heads_) {
      // Release: the rest of the chain before the head's flags (Linux: virtio_wmb).
      u16(gpa + offsetof(vring_packed_desc, flags)).store(flags, std::memory_order_release);
    }
    pending_heads_.clear();
    return;
  }
  kick_old_ = published_;
  published_ = avail_idx_;
  // Release: ring slots and descriptors before avail.idx (Linux: virtio_wmb).
  u16(driver_ + offsetof(vring_avail, idx)).store(avail_idx_, std::memory_order_release);
}

inline std::vector<UsedBuffer> DriverQueue::used() { return options_.packed ? used_packed() : used_split(); }

inline std::vector<UsedBuffer> DriverQueue::used_split() {
  std::vector<UsedBuffer> out;
  const uint16_t idx = u16(device_ + offsetof(vring_used, idx)).load(std::memory_order_acquire);
  for (; last_used_ != idx; ++last_used_) {
    vring_used_elem elem;
    std::memcpy(&elem, at(device_ + offsetof(vring_used, ring) + sizeof(elem) * (last_used_ % size()), sizeof(elem)),
                sizeof(elem));
    if (elem.id >= size() || chains_[elem.id].empty()) throw std::logic_error("DriverQueue: device used an unknown id");
    for (uint16_t d : chains_[elem.id]) free_.push_back(d);
    chains_[elem.id].clear();
    out.push_back({static_cast<uint16_t>(elem.id), elem.len});
  }
  return out;
}

inline std::vector<UsedBuffer> DriverQueue::used_packed() {
  std::vector<UsedBuffer> out;
  constexpr uint16_t kBoth = (1u << VRING_PACKED_DESC_F_AVAIL) | (1u << VRING_PACKED_DESC_F_USED);
  for (;;) {
    const uint64_t gpa = desc_ + sizeof(vring_packed_desc) * used_offset_;
    const uint16_t flags = u16(gpa + offsetof(vring_packed_desc, flags)).load(std::memory_order_acquire);
    if ((flags & kBoth) != (used_wrap_ ? kBoth : 0)) return out;
    vring_packed_desc d;
    std::memcpy(&d, at(gpa, sizeof(d)), sizeof(d));
    if (d.id >= size() || slots_[d.id] == 0) throw std::logic_error("DriverQueue: device used an unknown id");
    out.push_back({d.id, d.len});
    const uint32_t position = used_offset_ + slots_[d.id];
    if (position >= size()) used_wrap_ = !used_wrap_;
    used_offset_ = static_cast<uint16_t>(position % size());
    free_slots_ += slots_[d.id];
    slots_[d.id] = 0;
    free_ids_.push_back(d.id);
  }
}

inline void DriverQueue::set_no_interrupt(bool on) {
  if (options_.packed) {
    const uint16_t flags = on ? VRING_PACKED_EVENT_FLAG_DISABLE : VRING_PACKED_EVENT_FLAG_ENABLE;
    u16(driver_ + offsetof(vring_packed_desc_event, flags)).store(flags, std::memory_order_relaxed);
  } else {
    u16(driver_ + offsetof(vring_avail, flags)).store(on ? VRING_AVAIL_F_NO_INTERRUPT : 0, std::memory_order_relaxed);
  }
}

inline void DriverQueue::set_used_event(uint16_t event) {
  if (options_.packed) {
    u16(driver_ + offsetof(vring_packed_desc_event, off_wrap)).store(event, std::memory_order_relaxed);
    // Release: off_wrap before flags (Linux virtqueue_enable_cb_prepare_packed: virtio_wmb).
    u16(driver_ + offsetof(vring_packed_desc_event, flags))
        .store(VRING_PACKED_EVENT_FLAG_DESC, std::memory_order_release);
  } else {
    u16(driver_ + offsetof(vring_avail, ring) + 2 * size()).store(event, std::memory_order_relaxed);
  }
}

inline uint16_t DriverQueue::used_position() const {
  if (!options_.packed) return last_used_;
  return static_cast<uint16_t>(used_offset_ | (used_wrap_ << VRING_PACKED_EVENT_F_WRAP_CTR));
}

inline bool DriverQueue::kick_needed() const {
  // Pairs with the device's fence in Queue::enable_notifications() (Linux virtqueue_kick_prepare: virtio_mb).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (options_.packed) {
    // The device uses only ENABLE / DISABLE for kicks.
    return u16(device_ + offsetof(vring_packed_desc_event, flags)).load(std::memory_order_relaxed) !=
           VRING_PACKED_EVENT_FLAG_DISABLE;
  }
  if (!options_.event_idx) {
    return !(u16(device_ + offsetof(vring_used, flags)).load(std::memory_order_relaxed) & VRING_USED_F_NO_NOTIFY);
  }
  const uint16_t avail_event =
      u16(device_ + offsetof(vring_used, ring) + sizeof(vring_used_elem) * size()).load(std::memory_order_relaxed);
  return vring_need_event(avail_event, published_, kick_old_);
}

inline void DriverQueue::start_at(uint16_t index) {
  if (options_.packed) {
    next_ = used_offset_ = static_cast<uint16_t>((index & 0x7fff) % size());
    wrap_ = used_wrap_ = index >> VRING_PACKED_EVENT_F_WRAP_CTR;
    // As if the driver had always run from the reset state: slots before the
    // start were used in this lap, the rest in the previous one (neither is
    // available to the device nor newly used for the driver).
    constexpr uint16_t kBoth = (1u << VRING_PACKED_DESC_F_AVAIL) | (1u << VRING_PACKED_DESC_F_USED);
    for (uint16_t i = 0; i < size(); ++i) {
      const bool lap_wrap = i < next_ ? wrap_ : !wrap_;
      u16(desc_ + sizeof(vring_packed_desc) * i + offsetof(vring_packed_desc, flags)).store(lap_wrap ? kBoth : 0);
    }
    return;
  }
  avail_idx_ = published_ = last_used_ = kick_old_ = index;
  u16(driver_ + offsetof(vring_avail, idx)).store(index);
  u16(device_ + offsetof(vring_used, idx)).store(index);
}

inline void DriverQueue::set_head(uint16_t id, uint16_t value) {
  if (options_.packed) {
    const uint64_t gpa = desc_ + sizeof(vring_packed_desc) * last_desc_.at(id) + offsetof(vring_packed_desc, id);
    u16(gpa).store(value, std::memory_order_relaxed);
  } else {
    const uint16_t slot = avail_slot_.at(id) % size();
    u16(driver_ + offsetof(vring_avail, ring) + 2 * slot).store(value, std::memory_order_relaxed);
  }
}

inline void DriverQueue::set_next(uint16_t id, size_t position, uint16_t next) {
  if (options_.packed) throw std::logic_error("DriverQueue::set_next: packed descriptors have no next field");
  const uint64_t gpa = desc_ + sizeof(vring_desc) * chains_.at(id).at(position);
  vring_desc d;
  std::memcpy(&d, at(gpa, sizeof(d)), sizeof(d));
  write_desc(gpa, d.addr, d.len, static_cast<uint16_t>(d.flags | VRING_DESC_F_NEXT), next);
}

inline void DriverQueue::set_avail_idx(uint16_t value) {
  if (options_.packed) throw std::logic_error("DriverQueue::set_avail_idx: packed rings have no avail.idx");
  u16(driver_ + offsetof(vring_avail, idx)).store(value, std::memory_order_release);
}

}  // namespace franca::testing
