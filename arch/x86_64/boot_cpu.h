// The CPU state Linux's 64-bit boot protocol expects at entry
// (Documentation/arch/x86/boot.rst "64-bit Boot Protocol"): long mode, identity
// page tables, flat GDT, RSI = boot_params. Plus boot MSRs, FPU and LAPIC LINTs.
#pragma once

#include <cstdint>

#include "vmm/core/error.h"
#include "vmm/core/guest_memory.h"
#include "vmm/core/kvm.h"

namespace franca::x86 {

// Writes the GDT, an empty IDT and identity page tables (first 4 GiB, 2 MiB pages) into guest RAM.
Result<void> write_boot_tables(const GuestMemory& mem);

// Registers for the bootstrap processor entering the kernel at `entry` with boot_params at `zero_page`.
Result<void> setup_bsp_registers(const KvmVcpu& vcpu, uint64_t entry, uint64_t zero_page);

// State every vCPU needs: MSRs, FPU, LAPIC virtual-wire LINT0/LINT1.
Result<void> setup_common_vcpu_state(const KvmVcpu& vcpu);

}  // namespace franca::x86
