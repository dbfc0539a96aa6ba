// Why a VM stops, and the exit status franca reports for it (README "Exit status").
#pragma once

#include <functional>

namespace franca {

enum class StopReason {
  kPowerOff,  // ACPI S5 from the guest: exit 0
  kReset,     // reboot, triple fault, panic with panic=-1: exit kExitGuestReset
  kVerdict,   // byte written to the test-exit port: exit with that byte
  kTimeout,   // --timeout elapsed: exit kExitTimeout
  kSignal,    // SIGINT/SIGTERM: exit 128 + signal number
  kError,     // VMM-side failure (KVM error, vCPU internal error): exit kExitHostError
  kApi,       // `shutdown` on the control socket: exit 0, like a guest power-off
};

inline constexpr int kExitHostError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitTimeout = 124;
inline constexpr int kExitGuestReset = 125;

// Devices that end the VM (power-off register, test-exit port, i8042 reset)
// call this; it is thread-safe and the first call wins.
using StopFn = std::function<void(StopReason reason, int exit_code)>;

}  // namespace franca
