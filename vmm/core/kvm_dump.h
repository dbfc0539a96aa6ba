// Human-readable x86 vCPU state for fatal exits (triple fault, failed entry):
// registers, control registers, segments, descriptor tables, and pending or
// injected events (KVM_GET_REGS / KVM_GET_SREGS / KVM_GET_VCPU_EVENTS).
#pragma once

#include <linux/kvm.h>

#include <string>
#include <vector>

namespace franca {

// One log line each: mode and rip/rsp/rflags, the general registers, control
// registers and EFER, cs/ss, gdt/idt, then the events (when `events` is given).
std::vector<std::string> format_vcpu_state(const kvm_regs& regs, const kvm_sregs& sregs, const kvm_vcpu_events* events);

// Whether the state is the one INIT/RESET leaves (cs f000:fff0, base
// 0xffff0000): KVM on AMD re-initialises a vCPU at a shutdown intercept, so a
// triple fault there shows this instead of the faulting state.
bool is_init_state(const kvm_regs& regs, const kvm_sregs& sregs);

// "#GP" for vector 13 and so on; "vector N" for one without a mnemonic.
std::string exception_name(unsigned vector);

}  // namespace franca
