// The input format of queue_fuzz (shared with its seed writer): a 16-byte
// header choosing the ring (virtio 1.x §2.7 split / §2.8 packed, §6 ring
// features), then the contents of guest RAM from gpa 0.
#pragma once

#include <cstdint>

namespace franca::fuzz {

struct QueueFuzzHeader {
  uint8_t flags = 0;  // kPacked | kEventIdx | kIndirect | kReverseCompletion
  uint8_t undo = 0;   // Queue::undo_pop of the last `undo` chains popped, then popped again
  uint8_t reserved[2] = {};
  uint16_t size = 0;  // queue size the driver chose (max_size is 0xffff)
  uint16_t desc = 0;  // the three areas' guest addresses
  uint16_t driver = 0;
  uint16_t device = 0;
  uint16_t next_avail = 0;  // Queue::set_next_avail / set_next_used (packed: wrap in bit 15)
  uint16_t next_used = 0;
};
static_assert(sizeof(QueueFuzzHeader) == 16);

inline constexpr uint8_t kPacked = 1;
inline constexpr uint8_t kEventIdx = 2;
inline constexpr uint8_t kIndirect = 4;
inline constexpr uint8_t kReverseCompletion = 8;  // push chains back in reverse (out of order)

// Guest RAM: [0, 64 KiB) and an adjacent 4 KiB region, so buffers can cross a
// region boundary.
inline constexpr uint64_t kLowRamSize = 0x10000;
inline constexpr uint64_t kHighRamSize = 0x1000;

}  // namespace franca::fuzz
