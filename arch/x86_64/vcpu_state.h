// A vCPU's architectural state as KVM reports it (registers, segments, control
// registers, pending events, MP state, local APIC), read while the vCPU is out
// of KVM_RUN, and its description for logs and the control API's `vcpus`.
#pragma once

#include <linux/kvm.h>

#include <string>

namespace franca::x86 {

inline constexpr uint32_t kMsrTsc = 0x10, kMsrTscDeadline = 0x6e0;

struct VcpuState {
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm_vcpu_events events{};
  kvm_mp_state mp{};
  kvm_lapic_state lapic{};
  uint64_t tsc = 0, tsc_deadline = 0;  // IA32_TSC, IA32_TSC_DEADLINE (the LAPIC timer in TSC-deadline mode)
  bool have_regs = false, have_sregs = false, have_events = false, have_mp = false, have_lapic = false;
  bool have_tsc = false;
};

// Several lines, no trailing newline: MP state and IF, then format_vcpu_state's
// lines (mode, rip, registers, segments, events), then the local APIC's TPR,
// in-service and requested vectors and timer (with the TSC deadline).
std::string describe(const VcpuState& s);

}  // namespace franca::x86
