// Real-mode reset stub at the reset vector.
#include "firmware/reset_vector.h"

#include <array>
#include <cstdint>

namespace franca::firmware {

Result<void> write_reset_vector(const GuestMemory& mem) {
  const std::array<uint8_t, 7> stub = {
      0xb0, 0xfe,  // mov al, 0xfe   (i8042: pulse reset)
      0xe6, 0x64,  // out 0x64, al
      0xf4,        // hlt
      0xeb, 0xfd,  // jmp hlt        (never reached: the write ends the VM)
  };
  if (!mem.write(kResetVectorAddr, stub)) return host_error("guest RAM does not cover the reset vector");
  return {};
}

}  // namespace franca::firmware
