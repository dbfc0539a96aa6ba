// The vCPU state report: where the vCPU is, its interrupt state and the local
// APIC vectors a diagnosis of a stopped guest needs.
#include "arch/x86_64/vcpu_state.h"

#include <gtest/gtest.h>

#include <cstring>

namespace franca::x86 {
namespace {

void set_apic(kvm_lapic_state& l, uint32_t offset, uint32_t value) { std::memcpy(l.regs + offset, &value, 4); }

VcpuState halted_long_mode() {
  VcpuState s;
  s.have_regs = s.have_sregs = s.have_mp = s.have_events = s.have_lapic = true;
  s.regs.rip = 0xffffffff81c0e2a1;
  s.regs.rflags = 0x246;  // IF set
  s.sregs.cr0 = 0x80050033;
  s.sregs.efer = 0xd01;  // LME, LMA, NXE, SCE
  s.sregs.cs.l = 1;
  s.mp.mp_state = KVM_MP_STATE_HALTED;
  return s;
}

TEST(VcpuState, FirstLineSaysWhetherTheVcpuIsHaltedAndTakesInterrupts) {
  const std::string text = describe(halted_long_mode());
  EXPECT_EQ(text.substr(0, text.find('\n')), "mp_state HALTED, interrupts enabled (rflags.IF=1)");
}

TEST(VcpuState, RegistersFollowInTheFatalExitFormat) {
  EXPECT_NE(describe(halted_long_mode()).find("\n64-bit: rip 0xffffffff81c0e2a1"), std::string::npos);
}

TEST(VcpuState, LapicLineListsInServiceAndRequestedVectors) {
  VcpuState s = halted_long_mode();
  set_apic(s.lapic, 0x100 + 0x10 * 1, 1u << 1);   // ISR: vector 0x21
  set_apic(s.lapic, 0x200 + 0x10 * 7, 1u << 31);  // IRR: vector 0xff
  set_apic(s.lapic, 0x200 + 0x10 * 1, 1u << 2);   // IRR: vector 0x22
  set_apic(s.lapic, 0x80, 0x10);
  EXPECT_NE(describe(s).find("lapic: tpr=0x10 isr=0x21 irr=0x22,0xff "), std::string::npos) << describe(s);
}

TEST(VcpuState, InjectedExceptionIsReportedWithItsVector) {
  VcpuState s = halted_long_mode();
  s.events.exception.injected = 1;
  s.events.exception.nr = 14;
  s.events.exception.has_error_code = 1;
  s.events.exception.error_code = 2;
  EXPECT_NE(describe(s).find("exception: injected #PF (14) error code 0x2"), std::string::npos) << describe(s);
}

TEST(VcpuState, ATscDeadlineIsShownRelativeToTheTsc) {
  VcpuState s = halted_long_mode();
  s.have_tsc = true;
  s.tsc = 1000;
  s.tsc_deadline = 400;  // in the past: an interrupt that never came
  EXPECT_NE(describe(s).find(" tsc_deadline=tsc-600"), std::string::npos) << describe(s);
}

TEST(VcpuState, NothingReadableSaysSo) { EXPECT_EQ(describe(VcpuState{}), "no state could be read"); }

}  // namespace
}  // namespace franca::x86
