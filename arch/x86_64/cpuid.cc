// CPUID patching: APIC ids, logical-processor counts, hypervisor bit.
#include "arch/x86_64/cpuid.h"

#include <bit>
#include <cstdint>

namespace franca::x86 {
namespace {

constexpr uint32_t kLeaf1EcxHypervisor = 1u << 31;
constexpr uint32_t kLeaf1EdxHtt = 1u << 28;

// Bits needed to hold an id below `count` (x2APIC id shift for a topology level).
uint32_t id_bits(unsigned count) { return count <= 1 ? 0 : std::bit_width(count - 1); }

void patch_leaf_b(kvm_cpuid_entry2& e, unsigned id, unsigned count) {
  const uint32_t level = e.index;
  e.edx = id;
  if (level == 0) {  // SMT level: one thread per core
    e.eax = 0;
    e.ebx = 1;
    e.ecx = (1u << 8) | level;
  } else if (level == 1) {  // core level: every vCPU a core of one package
    e.eax = id_bits(count);
    e.ebx = count;
    e.ecx = (2u << 8) | level;
  } else {
    e.eax = e.ebx = 0;
    e.ecx = level;
  }
}

}  // namespace

std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(std::span<const kvm_cpuid_entry2> supported, unsigned vcpu_id,
                                             unsigned vcpu_count) {
  std::vector<kvm_cpuid_entry2> entries(supported.begin(), supported.end());
  for (kvm_cpuid_entry2& e : entries) {
    switch (e.function) {
      case 1:
        e.ebx = (vcpu_id << 24) | ((vcpu_count & 0xff) << 16) | (8u << 8) | (e.ebx & 0xff);
        e.ecx |= kLeaf1EcxHypervisor;
        if (vcpu_count > 1) e.edx |= kLeaf1EdxHtt;
        break;
      case 4:  // deterministic cache parameters: cores per package - 1 in EAX[31:26]
        e.eax = (e.eax & 0x03ffffff) | (((vcpu_count - 1) & 0x3f) << 26);
        break;
      case 0xb:
      case 0x1f:
        patch_leaf_b(e, vcpu_id, vcpu_count);
        break;
      case 0x80000008:  // AMD: NC = cores - 1, APIC id size
        e.ecx = (e.ecx & ~0xf0ffu) | (id_bits(vcpu_count) << 12) | ((vcpu_count - 1) & 0xff);
        break;
      default:
        break;
    }
  }
  return entries;
}

}  // namespace franca::x86
