// What the command line decides for the virtio console (--console, see
// console.h), without the device model: vmm/device_options.h includes only this.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "devices/virtio/features.h"

namespace franca::virtio {

struct ConsoleConfig {
  enum class Mode { kStdio, kPty, kFile, kSocket, kNone };
  Mode mode = Mode::kStdio;
  std::string path;           // kFile, kSocket
  uint64_t feature_mask = 0;  // bits hidden by features=
};

// "size", "emerg_write" (multiport is never offered).
std::span<const FeatureName> console_feature_names();

}  // namespace franca::virtio
