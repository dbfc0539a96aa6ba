// Feature names, the features= mask parser and a describer for negotiation logs.
#include "devices/virtio/features.h"

#include <linux/virtio_config.h>
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>

#include <array>

#include <fmt/format.h>

namespace franca::virtio {
namespace {

constexpr std::array<FeatureName, 8> kTransportNames = {{
    {"indirect_desc", VIRTIO_RING_F_INDIRECT_DESC},
    {"event_idx", VIRTIO_RING_F_EVENT_IDX},
    {"version_1", VIRTIO_F_VERSION_1},
    {"access_platform", VIRTIO_F_ACCESS_PLATFORM},
    {"ring_packed", VIRTIO_F_RING_PACKED},
    {"in_order", VIRTIO_F_IN_ORDER},
    {"notification_data", 38},  // VIRTIO_F_NOTIFICATION_DATA, absent from the 6.1 uapi header
    {"ring_reset", VIRTIO_F_RING_RESET},
}};

const FeatureName* find(std::string_view name, std::span<const FeatureName> device_names) {
  for (const auto& table : {std::span<const FeatureName>(kTransportNames), device_names}) {
    for (const FeatureName& f : table) {
      if (f.name == name) return &f;
    }
  }
  return nullptr;
}

std::string known_names(std::span<const FeatureName> device_names) {
  std::string out;
  for (const auto& table : {device_names, std::span<const FeatureName>(kTransportNames)}) {
    for (const FeatureName& f : table) out += (out.empty() ? "" : ", ") + std::string(f.name);
  }
  return out;
}

}  // namespace

std::span<const FeatureName> transport_feature_names() { return kTransportNames; }

Result<uint64_t> parse_feature_mask(std::string_view spec, std::span<const FeatureName> device_names,
                                    std::string_view flag) {
  uint64_t mask = 0;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string_view::npos) comma = spec.size();
    const std::string_view item = spec.substr(start, comma - start);
    start = comma + 1;
    if (item.size() < 2 || item[0] != '-') {
      return usage_error(fmt::format("{} features='{}': expected -name to hide a feature, got '{}'", flag, spec, item));
    }
    const FeatureName* f = find(item.substr(1), device_names);
    if (!f) {
      return usage_error(fmt::format("{} features: unknown feature '{}' (known: {})", flag, item.substr(1),
                                     known_names(device_names)));
    }
    if (f->bit == VIRTIO_F_VERSION_1) {
      return usage_error(fmt::format("{} features: version_1 cannot be hidden (modern virtio requires it)", flag));
    }
    mask |= uint64_t{1} << f->bit;
  }
  return mask;
}

std::string describe_features(uint64_t features, std::span<const FeatureName> device_names) {
  std::string out;
  for (uint32_t bit = 0; bit < 64; ++bit) {
    if (!(features & (uint64_t{1} << bit))) continue;
    std::string name = fmt::format("bit{}", bit);
    for (const auto& table : {device_names, std::span<const FeatureName>(kTransportNames)}) {
      for (const FeatureName& f : table) {
        if (f.bit == bit) name = f.name;
      }
    }
    out += (out.empty() ? "" : " ") + name;
  }
  return out;
}

}  // namespace franca::virtio
