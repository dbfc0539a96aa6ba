// What the driver programs for one virtqueue through a transport (virtio 1.x
// §4.1.4.3 common cfg, §4.2.2 MMIO registers). It belongs to the transport; at
// DRIVER_OK it is validated and becomes an active Queue owned by the data path.
#pragma once

#include <cstdint>

namespace franca::virtio {

struct QueueConfig {
  uint16_t max_size = 256;        // what the device offers (QueueNumMax / queue_size at reset)
  uint16_t size = 256;            // what the driver chose
  bool ready = false;             // QueueReady / queue_enable
  uint64_t desc = 0;              // descriptor area
  uint64_t driver = 0;            // driver area: avail ring (split) or driver event suppression (packed)
  uint64_t device = 0;            // device area: used ring (split) or device event suppression (packed)
  uint16_t msix_vector = 0xffff;  // PCI only: VIRTIO_MSI_NO_VECTOR

  // Back to the reset state (size = max, not ready, no addresses, no vector).
  void reset() { *this = QueueConfig{.max_size = max_size, .size = max_size}; }
};

}  // namespace franca::virtio
