// Formats a vCPU's KVM state for the fatal-exit report, --timeout and `franca ctl
// vcpus`: registers and events (vmm/core/kvm_dump), MP state, and the local APIC
// (Intel SDM vol. 3 §10.4 register offsets) with the TSC deadline.
#include "arch/x86_64/vcpu_state.h"

#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "vmm/core/kvm_dump.h"

namespace franca::x86 {
namespace {

constexpr uint64_t kRflagsIf = 1u << 9;
constexpr uint32_t kApicTpr = 0x80, kApicIsr = 0x100, kApicIrr = 0x200, kApicLvtTimer = 0x320;
constexpr uint32_t kApicTmict = 0x380, kApicTmcct = 0x390;

const char* mp_state_name(uint32_t s) {
  switch (s) {
    case KVM_MP_STATE_RUNNABLE:
      return "RUNNABLE";
    case KVM_MP_STATE_UNINITIALIZED:
      return "UNINITIALIZED";
    case KVM_MP_STATE_INIT_RECEIVED:
      return "INIT_RECEIVED";
    case KVM_MP_STATE_HALTED:
      return "HALTED";
    case KVM_MP_STATE_SIPI_RECEIVED:
      return "SIPI_RECEIVED";
    default:
      return "?";
  }
}

uint32_t apic_reg(const kvm_lapic_state& l, uint32_t offset) {
  uint32_t v;
  std::memcpy(&v, l.regs + offset, sizeof(v));
  return v;
}

// The vectors set in a 256-bit APIC register array (ISR, IRR: 8 words 16 bytes apart).
std::string vectors(const kvm_lapic_state& l, uint32_t base) {
  std::string out;
  for (uint32_t word = 0; word < 8; ++word) {
    const uint32_t bits = apic_reg(l, base + word * 0x10);
    for (uint32_t b = 0; b < 32; ++b) {
      if (bits & (1u << b)) out += fmt::format("{}{:#x}", out.empty() ? "" : ",", word * 32 + b);
    }
  }
  return out.empty() ? "-" : out;
}

std::string lapic(const VcpuState& s) {
  const kvm_lapic_state& l = s.lapic;
  std::string out = fmt::format("lapic: tpr={:#x} isr={} irr={} timer_lvt={:#x} tmict={:#x} tmcct={:#x}",
                                apic_reg(l, kApicTpr), vectors(l, kApicIsr), vectors(l, kApicIrr),
                                apic_reg(l, kApicLvtTimer), apic_reg(l, kApicTmict), apic_reg(l, kApicTmcct));
  if (s.have_tsc) {
    // A deadline armed but already in the past is a timer interrupt the vCPU never got.
    const auto ahead = static_cast<int64_t>(s.tsc_deadline - s.tsc);
    out += s.tsc_deadline == 0 ? " tsc_deadline=off" : fmt::format(" tsc_deadline=tsc{:+}", ahead);
  }
  return out;
}

}  // namespace

std::string describe(const VcpuState& s) {
  std::string out;
  auto line = [&out](const std::string& text) { out += (out.empty() ? "" : "\n") + text; };
  if (s.have_regs || s.have_mp) {
    line(fmt::format("mp_state {}, interrupts {} (rflags.IF={})", s.have_mp ? mp_state_name(s.mp.mp_state) : "?",
                     (s.regs.rflags & kRflagsIf) ? "enabled" : "disabled", (s.regs.rflags & kRflagsIf) ? 1 : 0));
  }
  if (s.have_regs && s.have_sregs) {
    for (const std::string& l : format_vcpu_state(s.regs, s.sregs, s.have_events ? &s.events : nullptr)) line(l);
    if (is_init_state(s.regs, s.sregs))
      line("(the INIT state: KVM on AMD resets the vCPU at a shutdown; the faulting state is lost)");
  }
  if (s.have_lapic) line(lapic(s));
  return out.empty() ? "no state could be read" : out;
}

}  // namespace franca::x86
