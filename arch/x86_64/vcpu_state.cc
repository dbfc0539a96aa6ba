// Formats a vCPU's KVM state (Intel SDM vol. 3 §2.5 control registers, §10.4
// local APIC register offsets) for the triple-fault report and `franca ctl vcpus`.
#include "arch/x86_64/vcpu_state.h"

#include <cstdint>
#include <cstring>

#include <fmt/format.h>

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

const char* mode(const kvm_sregs& s) {
  if (!(s.cr0 & 1)) return "real";
  if (s.efer & (1u << 10)) return s.cs.l ? "long" : "compat";  // EFER.LMA
  return "protected";
}

std::string segments(const kvm_sregs& s) {
  return fmt::format("cs={:#x}/{:#x} ss={:#x} ds={:#x} tr={:#x} gdt={:#x}+{:#x} idt={:#x}+{:#x}", s.cs.selector,
                     s.cs.base, s.ss.selector, s.ds.selector, s.tr.selector, s.gdt.base, s.gdt.limit, s.idt.base,
                     s.idt.limit);
}

std::string general(const kvm_regs& r) {
  return fmt::format(
      "rax={:#x} rbx={:#x} rcx={:#x} rdx={:#x} rsi={:#x} rdi={:#x} rbp={:#x}\n"
      "r8={:#x} r9={:#x} r10={:#x} r11={:#x} r12={:#x} r13={:#x} r14={:#x} r15={:#x}",
      r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15);
}

std::string events(const kvm_vcpu_events& e) {
  return fmt::format(
      "exception: injected={} pending={} nr={} error_code={:#x}; interrupt: injected={} nr={} shadow={}; "
      "nmi: injected={} pending={} masked={}",
      e.exception.injected, e.exception.pending, e.exception.nr,
      e.exception.has_error_code ? e.exception.error_code : 0, e.interrupt.injected, e.interrupt.nr, e.interrupt.shadow,
      e.nmi.injected, e.nmi.pending, e.nmi.masked);
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
  if (s.have_regs) {
    line(fmt::format("rip={:#x} rsp={:#x} rflags={:#x} (IF={}) mode={} mp_state={}", s.regs.rip, s.regs.rsp,
                     s.regs.rflags, (s.regs.rflags & kRflagsIf) ? 1 : 0, s.have_sregs ? mode(s.sregs) : "?",
                     s.have_mp ? mp_state_name(s.mp.mp_state) : "?"));
  }
  if (s.have_sregs) {
    line(fmt::format("cr0={:#x} cr2={:#x} cr3={:#x} cr4={:#x} efer={:#x} apic_base={:#x}", s.sregs.cr0, s.sregs.cr2,
                     s.sregs.cr3, s.sregs.cr4, s.sregs.efer, s.sregs.apic_base));
    line(segments(s.sregs));
  }
  if (s.have_regs) line(general(s.regs));
  if (s.have_events) line(events(s.events));
  if (s.have_lapic) line(lapic(s));
  return out.empty() ? "no state could be read" : out;
}

}  // namespace franca::x86
