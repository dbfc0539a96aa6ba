// Formats a vCPU's architectural state (Intel SDM vol. 3 ch. 2 control
// registers, ch. 6 exception vectors) for the fatal-exit report.
#include "vmm/core/kvm_dump.h"

#include <fmt/format.h>

#include <array>
#include <string_view>

namespace franca {
namespace {

constexpr uint64_t kCr0Pe = 1;             // protected mode enable
constexpr uint64_t kEferLma = 1ull << 10;  // long mode active

// Exception mnemonics by vector (SDM vol. 3 table 6-1); empty: reserved.
constexpr std::array<std::string_view, 22> kExceptions = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
                                                          "#DF", "",    "#TS", "#NP", "#SS", "#GP", "#PF", "",
                                                          "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"};

std::string_view mode(const kvm_sregs& s) {
  if (!(s.cr0 & kCr0Pe)) return "real mode";
  if ((s.efer & kEferLma) && s.cs.l) return "64-bit";
  if (s.efer & kEferLma) return s.cs.db ? "compatibility 32-bit" : "compatibility 16-bit";
  return s.cs.db ? "protected 32-bit" : "protected 16-bit";
}

std::string segment(std::string_view name, const kvm_segment& s) {
  return fmt::format("{} {:#06x} base {:#x} limit {:#x} type {:#x} dpl {}{}", name, s.selector, s.base, s.limit, s.type,
                     s.dpl, s.present ? "" : " not present");
}

std::string exception_event(const kvm_vcpu_events& e) {
  const auto& x = e.exception;
  if (!x.injected && !x.pending) return "exception: none";
  std::string out =
      fmt::format("exception: {} {} ({})", x.injected ? "injected" : "pending", exception_name(x.nr), x.nr);
  if (x.has_error_code) out += fmt::format(" error code {:#x}", x.error_code);
  if (e.exception_has_payload) out += fmt::format(" payload {:#x}", e.exception_payload);
  return out;
}

std::string other_events(const kvm_vcpu_events& e) {
  std::string out = fmt::format("nmi: injected {} pending {} masked {}", e.nmi.injected, e.nmi.pending, e.nmi.masked);
  if (e.interrupt.injected) out += fmt::format("; interrupt: injected vector {:#x}", e.interrupt.nr);
  if ((e.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT) && e.triple_fault.pending) out += "; triple fault pending";
  return out;
}

}  // namespace

bool is_init_state(const kvm_regs& regs, const kvm_sregs& sregs) {
  return regs.rip == 0xfff0 && sregs.cs.selector == 0xf000 && sregs.cs.base == 0xffff0000 && !(sregs.cr0 & kCr0Pe);
}

std::string exception_name(unsigned vector) {
  if (vector < kExceptions.size() && !kExceptions[vector].empty()) return std::string(kExceptions[vector]);
  return fmt::format("vector {}", vector);
}

std::vector<std::string> format_vcpu_state(const kvm_regs& r, const kvm_sregs& s, const kvm_vcpu_events* events) {
  std::vector<std::string> out = {
      fmt::format("{}: rip {:#018x} rsp {:#018x} rflags {:#010x}", mode(s), r.rip, r.rsp, r.rflags),
      fmt::format("rax {:#018x} rbx {:#018x} rcx {:#018x} rdx {:#018x}", r.rax, r.rbx, r.rcx, r.rdx),
      fmt::format("rsi {:#018x} rdi {:#018x} rbp {:#018x} r8  {:#018x}", r.rsi, r.rdi, r.rbp, r.r8),
      fmt::format("r9  {:#018x} r10 {:#018x} r11 {:#018x} r12 {:#018x}", r.r9, r.r10, r.r11, r.r12),
      fmt::format("r13 {:#018x} r14 {:#018x} r15 {:#018x}", r.r13, r.r14, r.r15),
      fmt::format("cr0 {:#x} cr2 {:#x} cr3 {:#x} cr4 {:#x} efer {:#x}", s.cr0, s.cr2, s.cr3, s.cr4, s.efer),
      segment("cs", s.cs) + "; " + segment("ss", s.ss),
      fmt::format("gdt base {:#x} limit {:#x}; idt base {:#x} limit {:#x}", s.gdt.base, s.gdt.limit, s.idt.base,
                  s.idt.limit),
  };
  if (events) {
    out.push_back(exception_event(*events));
    out.push_back(other_events(*events));
  }
  return out;
}

}  // namespace franca
