// Per-vCPU CPUID: KVM's supported set with the APIC id and topology patched
// in (Intel SDM vol. 2A "CPUID"; AMD APM vol. 3 leaf 0x8000_0008).
#pragma once

#include <linux/kvm.h>

#include <span>
#include <vector>

namespace franca::x86 {

std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(std::span<const kvm_cpuid_entry2> supported, unsigned vcpu_id,
                                             unsigned vcpu_count);

}  // namespace franca::x86
