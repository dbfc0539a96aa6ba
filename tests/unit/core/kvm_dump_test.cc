// The fatal-exit vCPU report (vmm/core/kvm_dump.h) from filled-in KVM state:
// registers, control registers, segments, tables and events as log lines.
#include "vmm/core/kvm_dump.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace franca {
namespace {

kvm_segment segment(uint16_t selector, uint64_t base, uint32_t limit, uint8_t type) {
  kvm_segment seg{};
  seg.selector = selector;
  seg.base = base;
  seg.limit = limit;
  seg.type = type;
  seg.present = 1;
  return seg;
}

// A 64-bit kernel as franca boots it (virtio-notes §7.4), mid-run.
kvm_sregs long_mode_sregs() {
  kvm_sregs s{};
  s.cr0 = 0x80050033;
  s.cr2 = 0xffffc90000001000;
  s.cr3 = 0x1c0a000;
  s.cr4 = 0x3706f0;
  s.efer = 0xd01;
  s.cs = segment(0x10, 0, 0xffffffff, 0xb);
  s.cs.l = 1;
  s.ss = segment(0x18, 0, 0xffffffff, 0x3);
  s.ss.db = 1;
  s.gdt.base = 0xfffffe0000001000;
  s.gdt.limit = 0x7f;
  s.idt.base = 0xfffffe0000000000;
  s.idt.limit = 0xfff;
  return s;
}

kvm_regs some_regs() {
  kvm_regs r{};
  r.rip = 0xffffffff81000123;
  r.rsp = 0xffffc90000013f58;
  r.rflags = 0x10046;
  r.rax = 0xaa;
  r.r15 = 0xf15;
  return r;
}

bool has_line(const std::vector<std::string>& lines, const std::string& text) {
  return std::ranges::any_of(lines, [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

TEST(KvmDump, FirstLineNamesTheModeRipRspAndRflags) {
  const auto lines = format_vcpu_state(some_regs(), long_mode_sregs(), nullptr);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "64-bit: rip 0xffffffff81000123 rsp 0xffffc90000013f58 rflags 0x00010046");
}

TEST(KvmDump, GeneralRegistersAreListed) {
  const auto lines = format_vcpu_state(some_regs(), long_mode_sregs(), nullptr);
  EXPECT_TRUE(has_line(lines, "rax 0x00000000000000aa"));
  EXPECT_TRUE(has_line(lines, "r15 0x0000000000000f15"));
}

TEST(KvmDump, ControlRegistersAndEferAreListed) {
  const auto lines = format_vcpu_state(some_regs(), long_mode_sregs(), nullptr);
  EXPECT_TRUE(has_line(lines, "cr0 0x80050033 cr2 0xffffc90000001000 cr3 0x1c0a000 cr4 0x3706f0 efer 0xd01"));
}

TEST(KvmDump, CsAndSsShowSelectorAndBase) {
  const auto lines = format_vcpu_state(some_regs(), long_mode_sregs(), nullptr);
  EXPECT_TRUE(has_line(lines, "cs 0x0010 base 0x0 limit 0xffffffff"));
  EXPECT_TRUE(has_line(lines, "ss 0x0018 base 0x0 limit 0xffffffff"));
}

TEST(KvmDump, DescriptorTablesShowBaseAndLimit) {
  const auto lines = format_vcpu_state(some_regs(), long_mode_sregs(), nullptr);
  EXPECT_TRUE(has_line(lines, "gdt base 0xfffffe0000001000 limit 0x7f; idt base 0xfffffe0000000000 limit 0xfff"));
}

TEST(KvmDump, RealModeIsNamedWhenProtectionIsOff) {
  kvm_sregs s{};
  s.cs = segment(0xf000, 0xffff0000, 0xffff, 0xb);
  EXPECT_TRUE(format_vcpu_state(some_regs(), s, nullptr)[0].starts_with("real mode:"));
}

TEST(KvmDump, InjectedExceptionIsNamedWithItsErrorCode) {
  kvm_vcpu_events e{};
  e.exception = {.injected = 1, .nr = 13, .has_error_code = 1, .pending = 0, .error_code = 0x18};
  const auto lines = format_vcpu_state(some_regs(), long_mode_sregs(), &e);
  EXPECT_TRUE(has_line(lines, "exception: injected #GP (13) error code 0x18"));
}

TEST(KvmDump, PendingExceptionShowsItsPayload) {
  kvm_vcpu_events e{};
  e.exception = {.injected = 0, .nr = 14, .has_error_code = 1, .pending = 1, .error_code = 2};
  e.exception_has_payload = 1;
  e.exception_payload = 0xdead000;
  const auto lines = format_vcpu_state(some_regs(), long_mode_sregs(), &e);
  EXPECT_TRUE(has_line(lines, "exception: pending #PF (14) error code 0x2 payload 0xdead000"));
}

TEST(KvmDump, NoEventsSaysNoneAndShowsTheNmiState) {
  kvm_vcpu_events e{};
  e.nmi.masked = 1;
  const auto lines = format_vcpu_state(some_regs(), long_mode_sregs(), &e);
  EXPECT_TRUE(has_line(lines, "exception: none"));
  EXPECT_TRUE(has_line(lines, "nmi: injected 0 pending 0 masked 1"));
}

TEST(KvmDump, WithoutEventsNoEventLinesAppear) {
  const auto lines = format_vcpu_state(some_regs(), long_mode_sregs(), nullptr);
  EXPECT_FALSE(has_line(lines, "exception:"));
  EXPECT_FALSE(has_line(lines, "nmi:"));
}

TEST(KvmDump, ReservedVectorIsShownByNumber) { EXPECT_EQ(exception_name(15), "vector 15"); }

TEST(KvmDump, ResetStateIsRecognised) {
  kvm_regs r{};
  r.rip = 0xfff0;
  kvm_sregs s{};
  s.cs = segment(0xf000, 0xffff0000, 0xffff, 0xb);
  EXPECT_TRUE(is_init_state(r, s));
  EXPECT_FALSE(is_init_state(some_regs(), long_mode_sregs()));
}

}  // namespace
}  // namespace franca
