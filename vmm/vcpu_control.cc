// vCPU pause/resume/inspect under one lock (see vcpu_control.h).
#include "vmm/vcpu_control.h"

#include <fmt/format.h>

namespace franca {
namespace {

// One vCPU's id, thread and state, or why the state could not be read.
nlohmann::json inspect_one(Vcpu& vcpu, size_t id) {
  nlohmann::json one{{"id", id}, {"tid", vcpu.tid()}};
  if (auto state = vcpu.inspect(VcpuControl::kParkTimeout)) {
    one["state"] = x86::describe(*state);
  } else {
    one["error"] = fmt::format("did not leave KVM_RUN and park within {} ms: its thread is stuck in franca",
                               VcpuControl::kParkTimeout.count());
  }
  return one;
}

}  // namespace

bool VcpuControl::pause() {
  std::lock_guard lock(mutex_);
  if (paused_) return false;
  for (auto& vcpu : vcpus_) vcpu->pause();
  paused_ = true;
  return true;
}

bool VcpuControl::resume() {
  std::lock_guard lock(mutex_);
  if (!paused_) return false;
  for (auto& vcpu : vcpus_) vcpu->resume();
  paused_ = false;
  return true;
}

nlohmann::json VcpuControl::inspect() {
  std::lock_guard lock(mutex_);
  return inspect_locked();
}

std::optional<nlohmann::json> VcpuControl::try_inspect() {
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock) return std::nullopt;
  return inspect_locked();
}

nlohmann::json VcpuControl::inspect_locked() {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < vcpus_.size(); ++i) out.push_back(inspect_one(*vcpus_[i], i));
  return out;
}

}  // namespace franca
