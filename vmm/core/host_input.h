// Where host stdin goes: the one device that owns stdio (COM1 for --serial
// stdio, hvc0 for --console stdio) takes the bytes the host types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace franca {

class HostInputSink {
 public:
  virtual ~HostInputSink() = default;
  // Host input for the guest (any thread). Returns how many bytes were taken;
  // the rest is not (the device's input buffer is bounded).
  virtual size_t input(std::span<const uint8_t> bytes) = 0;
};

}  // namespace franca
