// The virtio-blk device limits both block fuzz targets draw from one input byte:
// readonly, discard and write-zeroes offered, and a capacity from 1 sector to
// the largest the request parser accepts.
#pragma once

#include <cstdint>

#include "devices/virtio/block/request.h"

namespace franca::virtio::fuzz {

inline RequestLimits limits_from(uint8_t byte) {
  static constexpr uint64_t kCapacities[] = {1, 8, 2048, ~uint64_t{0} >> 9};
  return {.capacity = kCapacities[(byte >> 3) & 3],
          .readonly = (byte & 1) != 0,
          .discard = (byte & 2) != 0,
          .write_zeroes = (byte & 4) != 0,
          .max_discard_sectors = 1u << 22,
          .max_write_zeroes_sectors = 1u << 16};
}

}  // namespace franca::virtio::fuzz
