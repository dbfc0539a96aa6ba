// What the command line decides about the balloon (--balloon, see balloon.h),
// without the device model: vmm/device_options.h includes only this.
#pragma once

#include <cstdint>
#include <span>

#include "devices/virtio/features.h"

namespace franca::virtio {

struct BalloonConfig {
  uint64_t size_mib = 0;  // size=: the balloon's initial size (num_pages), taken from the guest at boot
  bool deflate_on_oom = false;
  bool free_page_reporting = false;
  unsigned stats_period_s = 0;  // 0: statistics only when asked (balloon-stats)
  uint64_t feature_mask = 0;    // bits hidden by features=
};

// "must_tell_host", "stats_vq", "deflate_on_oom", "reporting".
std::span<const FeatureName> balloon_feature_names();

}  // namespace franca::virtio
