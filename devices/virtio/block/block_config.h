// What the command line decides for one virtio-blk device (--disk, see
// block.h), without the device model: vmm/device_options.h includes only this.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "devices/virtio/features.h"

namespace franca::virtio {

struct BlockConfig {
  std::string path{};
  bool readonly = false;
  std::string serial{};  // GET_ID, at most VIRTIO_BLK_ID_BYTES (20) bytes
  uint16_t queues = 1;
  uint64_t feature_mask = 0;  // bits to hide (parse_feature_mask with block_feature_names())
  bool sync_io = false;       // never use io_uring (also: FRANCA_BLK_NO_URING=1)
};

// Device feature names for features=: flush, ro, blk_size, seg_max, size_max,
// topology, discard, write_zeroes, mq.
std::span<const FeatureName> block_feature_names();

}  // namespace franca::virtio
