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
