// The one controller of vCPU pause, resume and inspect: the control API and
// --timeout both go through it, one at a time (docs/design.md "The locks").
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/vcpu.h"

namespace franca {

class VcpuControl {
 public:
  // How long inspect() waits for a vCPU to leave KVM_RUN and park.
  static constexpr std::chrono::milliseconds kParkTimeout{2000};

  // `vcpus` is Vm's list, filled before any of these is called.
  explicit VcpuControl(const std::vector<std::unique_ptr<Vcpu>>& vcpus) : vcpus_(vcpus) {}

  // Pause or release every vCPU; false (and nothing done) when they already are.
  bool pause();
  bool resume();
  bool paused() const { return paused_.load(); }
  // Every vCPU's {id, tid, state | error}, waiting for the lock.
  nlohmann::json inspect();
  // The same, or nothing when another controller holds the vCPUs (no wait).
  std::optional<nlohmann::json> try_inspect();

 private:
  nlohmann::json inspect_locked();

  const std::vector<std::unique_ptr<Vcpu>>& vcpus_;
  std::mutex mutex_;
  std::atomic<bool> paused_{false};
};

}  // namespace franca
