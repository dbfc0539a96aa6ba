// A validated descriptor chain and the reader/writer cursors a device uses to
// move bytes (virtio 1.x §2.7.4 / §2.8 "Message Framing"). Devices never see
// raw descriptors: the queue core has already checked that every range lies in
// guest RAM, that readable buffers precede writable ones and that the total
// length fits in u32.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "vmm/core/guest_memory.h"

namespace franca::virtio {

// One buffer of a chain, already resolved to host memory.
struct ChainBuffer {
  uint64_t gpa;
  uint32_t len;
  uint8_t* host;
};

class DescriptorChain {
 public:
  DescriptorChain() = default;
  // Token the queue needs to return the chain: head index (split) or buffer id (packed).
  uint16_t id() const { return id_; }
  // Ring slots the chain occupied (packed ring: the used write-out skips this many).
  uint16_t ring_slots() const { return ring_slots_; }
  std::span<const ChainBuffer> readable() const { return readable_; }
  std::span<const ChainBuffer> writable() const { return writable_; }
  uint32_t readable_bytes() const { return readable_bytes_; }
  uint32_t writable_bytes() const { return writable_bytes_; }

  // For the queue core (and the test helper) only.
  void set_id(uint16_t id, uint16_t ring_slots) {
    id_ = id;
    ring_slots_ = ring_slots;
  }
  // Returns false when the buffer would break the rules (readable after writable, u32 overflow).
  bool add(const ChainBuffer& buffer, bool device_writable);
  void clear();

 private:
  uint16_t id_ = 0;
  uint16_t ring_slots_ = 1;
  std::vector<ChainBuffer> readable_;
  std::vector<ChainBuffer> writable_;
  uint32_t readable_bytes_ = 0;
  uint32_t writable_bytes_ = 0;
};

// Sequential cursor over a list of buffers; shared by ChainReader and ChainWriter.
class ChainCursor {
 public:
  explicit ChainCursor(std::span<const ChainBuffer> buffers);
  size_t remaining() const { return remaining_; }
  size_t consumed() const { return consumed_; }
  // Advances up to n bytes; returns how many.
  size_t skip(size_t n);
  // Appends host iovecs covering the next n bytes (n <= remaining()) without advancing.
  void iovecs(size_t n, std::vector<iovec>& out) const;

 protected:
  // Copies between the cursor position and `bytes`; `to_guest` picks the direction.
  size_t copy(uint8_t* bytes, size_t n, bool to_guest);
  // Ends the cursor n bytes early (n <= remaining()): skip, copy and iovecs stop there.
  void stop_short(size_t n) { remaining_ -= n; }

 private:
  std::span<const ChainBuffer> buffers_;
  size_t index_ = 0;   // current buffer
  size_t offset_ = 0;  // within it
  size_t remaining_ = 0;
  size_t consumed_ = 0;
};

// The device-readable part of a chain (the driver's request).
class ChainReader : public ChainCursor {
 public:
  explicit ChainReader(const DescriptorChain& chain) : ChainCursor(chain.readable()) {}
  size_t read(std::span<uint8_t> out) { return copy(out.data(), out.size(), false); }
  // A T copied out of guest memory (read once, then validated by the caller).
  template <class T>
  std::optional<T> read_obj() {
    T value;
    if (remaining() < sizeof(T)) return std::nullopt;
    copy(reinterpret_cast<uint8_t*>(&value), sizeof(T), false);
    return value;
  }
};

// The device-writable part of a chain (the device's response).
class ChainWriter : public ChainCursor {
 public:
  explicit ChainWriter(const DescriptorChain& chain) : ChainCursor(chain.writable()) {}
  size_t write(std::span<const uint8_t> in) { return copy(const_cast<uint8_t*>(in.data()), in.size(), true); }
  template <class T>
  bool write_obj(const T& value) {
    if (remaining() < sizeof(T)) return false;
    copy(reinterpret_cast<uint8_t*>(const_cast<T*>(&value)), sizeof(T), true);
    return true;
  }
  // Bytes written so far: the `len` to report in the used ring.
  uint32_t written() const { return static_cast<uint32_t>(consumed()); }
  // Reserves the last `n` bytes still ahead of this writer as a footer the
  // device fills in later (virtio-blk's status byte, §5.2.6): this writer then
  // ends before them, so its writes and iovecs never cover the footer, and
  // the returned writer is positioned at the footer's first byte with exactly
  // n bytes to go (its written() counts from the chain's start). Nothing, and
  // this writer unchanged, when fewer than n bytes remain. Both refer to the
  // chain, which must stay unchanged (not popped into again) while either is used.
  std::optional<ChainWriter> reserve_footer(size_t n) {
    if (remaining() < n) return std::nullopt;
    ChainWriter footer = *this;
    footer.skip(remaining() - n);
    stop_short(n);
    return footer;
  }
};

}  // namespace franca::virtio
