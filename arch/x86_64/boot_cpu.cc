// Long-mode entry state for the BSP, and MSR/FPU/LAPIC state for all vCPUs.
#include "arch/x86_64/boot_cpu.h"

#include <array>
#include <cstring>

#include "arch/x86_64/layout.h"

namespace franca::x86 {
namespace {

constexpr uint64_t kGdtNull = 0;
constexpr uint64_t kGdtCode64 = 0x00af9b000000ffff;  // selector 0x10
constexpr uint64_t kGdtData = 0x00cf93000000ffff;    // selector 0x18
constexpr uint64_t kGdtTss = 0x008f8b000000ffff;     // selector 0x20, unused but valid for TR
constexpr uint16_t kCodeSelector = 0x10;
constexpr uint16_t kDataSelector = 0x18;
constexpr uint16_t kTssSelector = 0x20;

constexpr uint64_t kCr0Pe = 1, kCr0Et = 1 << 4, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1 << 5;
constexpr uint64_t kEferLme = 1 << 8, kEferLma = 1 << 10;
constexpr uint64_t kPagePresentWrite = 0x3, kPageHuge = 0x80;

kvm_segment segment_from(uint64_t descriptor, uint16_t selector) {
  kvm_segment s{};
  s.base = ((descriptor >> 16) & 0xffffff) | (((descriptor >> 56) & 0xff) << 24);
  const uint32_t limit = static_cast<uint32_t>((descriptor & 0xffff) | (((descriptor >> 48) & 0xf) << 16));
  s.g = (descriptor >> 55) & 1;
  s.limit = s.g ? (limit << 12) | 0xfff : limit;
  s.selector = selector;
  s.type = (descriptor >> 40) & 0xf;
  s.present = (descriptor >> 47) & 1;
  s.dpl = (descriptor >> 45) & 3;
  s.db = (descriptor >> 54) & 1;
  s.s = (descriptor >> 44) & 1;
  s.l = (descriptor >> 53) & 1;
  s.avl = (descriptor >> 52) & 1;
  return s;
}

}  // namespace

Result<void> write_boot_tables(const GuestMemory& mem) {
  const std::array<uint64_t, 5> gdt = {kGdtNull, kGdtNull, kGdtCode64, kGdtData, kGdtTss};
  bool ok = mem.write_obj(kGdtAddr, gdt) && mem.write_obj(kIdtAddr, uint64_t{0});
  // PML4[0] -> PDPT; PDPT[0..3] -> four PDs; each PD maps 1 GiB with 2 MiB pages.
  ok = ok && mem.write_obj(kPml4Addr, kPdptAddr | kPagePresentWrite);
  for (uint64_t gib = 0; gib < 4 && ok; ++gib) {
    const uint64_t pd = kPdAddr + gib * 0x1000;
    ok = mem.write_obj(kPdptAddr + gib * 8, pd | kPagePresentWrite);
    for (uint64_t i = 0; i < 512 && ok; ++i) {
      ok = mem.write_obj(pd + i * 8, ((gib << 30) + (i << 21)) | kPagePresentWrite | kPageHuge);
    }
  }
  if (!ok) return host_error("guest RAM too small for the boot page tables");
  return {};
}

Result<void> setup_bsp_registers(const KvmVcpu& vcpu, uint64_t entry, uint64_t zero_page) {
  kvm_sregs sregs{};
  if (auto r = vcpu.get_sregs(sregs); !r) return r;
  sregs.gdt.base = kGdtAddr;
  sregs.gdt.limit = 5 * 8 - 1;
  sregs.idt.base = kIdtAddr;
  sregs.idt.limit = 7;
  sregs.cs = segment_from(kGdtCode64, kCodeSelector);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = segment_from(kGdtData, kDataSelector);
  sregs.tr = segment_from(kGdtTss, kTssSelector);
  sregs.cr0 = kCr0Pe | kCr0Et | kCr0Pg;
  sregs.cr3 = kPml4Addr;
  sregs.cr4 = kCr4Pae;
  sregs.efer = kEferLme | kEferLma;
  if (auto r = vcpu.set_sregs(sregs); !r) return r;

  kvm_regs regs{};
  regs.rflags = 0x2;
  regs.rip = entry;
  regs.rsi = zero_page;
  regs.rsp = regs.rbp = kBootStackAddr;
  return vcpu.set_regs(regs);
}

Result<void> setup_common_vcpu_state(const KvmVcpu& vcpu) {
  const std::array<kvm_msr_entry, 10> msrs = {{
      {0x174, 0, 0},       // IA32_SYSENTER_CS
      {0x175, 0, 0},       // IA32_SYSENTER_ESP
      {0x176, 0, 0},       // IA32_SYSENTER_EIP
      {0xc0000081, 0, 0},  // STAR
      {0xc0000082, 0, 0},  // LSTAR
      {0xc0000083, 0, 0},  // CSTAR
      {0xc0000084, 0, 0},  // SYSCALL_MASK
      {0xc0000102, 0, 0},  // KERNEL_GS_BASE
      {0x1a0, 0, 1},       // IA32_MISC_ENABLE: fast strings
      {0x2ff, 0, 0x806},   // MTRRdefType: MTRRs on, default write-back
  }};
  if (auto r = vcpu.set_msrs(msrs); !r) return r;

  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  if (auto r = vcpu.set_fpu(fpu); !r) return r;

  // LAPIC virtual wire: LINT0 = ExtINT, LINT1 = NMI (the PC wiring Linux expects).
  kvm_lapic_state lapic{};
  if (auto r = vcpu.get_lapic(lapic); !r) return r;
  auto set_lvt = [&](size_t offset, uint32_t mode) {
    uint32_t value;
    std::memcpy(&value, lapic.regs + offset, 4);
    value = (value & ~0x700u) | mode;
    value &= ~(1u << 16);  // unmask
    std::memcpy(lapic.regs + offset, &value, 4);
  };
  set_lvt(0x350, 0x700);
  set_lvt(0x360, 0x400);
  return vcpu.set_lapic(lapic);
}

}  // namespace franca::x86
