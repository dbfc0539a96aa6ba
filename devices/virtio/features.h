// Virtio feature bits by name (virtio 1.x §6 "Reserved Feature Bits" and the
// device sections), and the `features=` option every virtio device takes to
// hide offered bits — the way around a buggy driver or device feature without
// a new release: `--disk path=x.img,features=-ring_packed,-event_idx`.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "vmm/core/error.h"

namespace franca::virtio {

struct FeatureName {
  std::string_view name;
  uint32_t bit;
};

// Bits 24-41, common to every device type.
std::span<const FeatureName> transport_feature_names();

// Parses "-name,-name,..." against the transport names plus `device_names`;
// returns the mask of bits to hide. Unknown names, a missing '-', or hiding
// version_1 (mandatory for modern devices) are usage errors naming `flag`.
Result<uint64_t> parse_feature_mask(std::string_view spec, std::span<const FeatureName> device_names,
                                    std::string_view flag);

// "version_1 ring_packed event_idx ..." for logs; unknown bits as "bit<N>".
std::string describe_features(uint64_t features, std::span<const FeatureName> device_names);

}  // namespace franca::virtio
