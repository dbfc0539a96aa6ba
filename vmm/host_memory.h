// Host memory checks for --memory.
#pragma once

#include <cstdint>

#include "vmm/core/error.h"

namespace franca {

// Usage error when `guest_ram` exceeds the host's RAM plus swap (/proc/meminfo).
Result<void> check_memory_fits_host(uint64_t guest_ram);

}  // namespace franca
