// The x86_64 guest-physical memory map and fixed port numbers franca presents
// (virtio-notes.md §7.2). One place, so firmware, devices and arch agree.
#pragma once

#include <cstdint>

namespace franca::x86 {

inline constexpr uint64_t kGdtAddr = 0x500;
inline constexpr uint64_t kIdtAddr = 0x520;
inline constexpr uint64_t kZeroPageAddr = 0x7000;
inline constexpr uint64_t kBootStackAddr = 0x8ff0;
inline constexpr uint64_t kPml4Addr = 0x9000;
inline constexpr uint64_t kPdptAddr = 0xa000;
inline constexpr uint64_t kPdAddr = 0xb000;  // 4 pages: identity map of the first 4 GiB
inline constexpr uint64_t kCmdlineAddr = 0x20000;
inline constexpr uint64_t kCmdlineMax = 0x10000;  // bytes, including the NUL
inline constexpr uint64_t kEbdaStart = 0x9fc00;
inline constexpr uint64_t kHighMemStart = 0x100000;  // 1 MiB
inline constexpr uint64_t kKernelLoadAddr = 0x100000;

// ACPI tables live in the BIOS read-only area, found by the kernel via
// boot_params.acpi_rsdp_addr (and by scanning 0xe0000-0xfffff).
inline constexpr uint64_t kAcpiStart = 0xe0000;
inline constexpr uint64_t kAcpiSize = 0x20000;

// 32-bit MMIO hole: RAM below 4 GiB ends here when the guest is large.
inline constexpr uint64_t kMmioHoleStart = 0xc0000000;
inline constexpr uint64_t kMmioHoleEnd = 0x100000000;
// PCI: BARs are assigned up front from a 256 MiB window at the start of the
// hole (the host bridge's _CRS covers it); ECAM for bus 0 (1 MiB, ACPI MCFG).
inline constexpr uint64_t kPciMmio32Base = 0xc0000000;
inline constexpr uint64_t kPciMmio32Size = 0x10000000;
inline constexpr uint64_t kPciEcamBase = 0xe0000000;
inline constexpr uint64_t kPciEcamSize = 0x100000;  // bus 0 only
// 64-bit window above RAM (and 4 GiB); nothing is placed there yet.
inline constexpr uint64_t kPciMmio64Size = uint64_t{16} << 30;
// PCI INTA-INTD of slot s, pin p (0-based) -> kPciIntxGsis[(s + p) % 4], level, active low (_PRT).
inline constexpr uint32_t kPciIntxGsis[] = {16, 17, 18, 19};
// virtio-mmio devices: 4 KiB slots after the PCI window, each with its own
// edge-triggered IOAPIC pin (ISA-free pins first, then those PCI does not use).
inline constexpr uint64_t kVirtioMmioBase = 0xd0000000;
inline constexpr uint32_t kVirtioMmioGsis[] = {5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23};
// MSI-X vectors get KVM GSIs from here up (0-23 are the IOAPIC/PIC pins).
inline constexpr uint32_t kFirstMsiGsi = 24;
// ACPI PCI hotplug: the Generic Event Device's interrupt (a free ISA pin, edge)
// and the PCIU/PCID/B0EJ register block (devices/pci/hotplug.h).
inline constexpr uint32_t kGedGsi = 3;
inline constexpr uint16_t kPciHotplugPort = 0xae00;
inline constexpr uint64_t kIoapicAddr = 0xfec00000;
inline constexpr uint64_t kLapicAddr = 0xfee00000;
inline constexpr uint64_t kTssAddr = 0xfffbd000;

// Fixed I/O ports.
inline constexpr uint16_t kCom1Port = 0x3f8;
inline constexpr uint8_t kCom1Irq = 4;
inline constexpr uint16_t kI8042DataPort = 0x60;
inline constexpr uint16_t kI8042CommandPort = 0x64;
// HW-reduced ACPI sleep control/status registers (FADT) and the reset register.
inline constexpr uint16_t kAcpiSleepControlPort = 0x3c0;
inline constexpr uint16_t kAcpiSleepStatusPort = 0x3c1;
inline constexpr uint16_t kAcpiResetPort = 0x3c2;
inline constexpr uint8_t kAcpiResetValue = 0x1;
// The guest writes its verdict (one byte) here and franca exits with it
// (like QEMU's isa-debug-exit, but the value is the exit status unchanged).
inline constexpr uint16_t kTestExitPort = 0xf4;

}  // namespace franca::x86
