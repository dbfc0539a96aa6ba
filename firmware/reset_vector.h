// The x86 reset vector (F000:FFF0, physical 0xffff0). franca has no BIOS; when
// a guest jumps there to reboot — Linux does so on hardware-reduced ACPI
// machines, where it picks EFI then BIOS reboot (arch/x86/kernel/reboot.c) —
// this stub asks the i8042 for a reset, which ends the VM as a guest reset.
#pragma once

#include "vmm/core/error.h"
#include "vmm/core/guest_memory.h"

namespace franca::firmware {

inline constexpr uint64_t kResetVectorAddr = 0xffff0;

Result<void> write_reset_vector(const GuestMemory& mem);

}  // namespace franca::firmware
