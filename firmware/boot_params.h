// Linux loading for the 64-bit boot protocol: guest RAM layout, e820 map, kernel,
// command line, initrd and the zero page (virtio-notes.md §7.4; boot.rst, zero-page.rst).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "firmware/bzimage.h"
#include "firmware/vmlinux.h"
#include "vmm/core/error.h"
#include "vmm/core/guest_memory.h"

namespace franca::firmware {

// e820 types (the values of E820_RAM / E820_RESERVED / E820_ACPI in <asm/e820.h>).
enum class E820Type : uint32_t { kRam = 1, kReserved = 2, kAcpi = 3 };

struct E820Entry {
  uint64_t addr = 0;
  uint64_t size = 0;
  E820Type type = E820Type::kRam;
  bool operator==(const E820Entry&) const = default;
};

// The regions to map for `ram_size` bytes of RAM: [0, min(ram, 3 GiB)) and, when the
// guest is larger, the rest from 4 GiB (RAM is split around the 32-bit MMIO hole).
std::vector<MemoryRegion> guest_ram_layout(uint64_t ram_size);

// The e820 map of that layout, sorted: RAM below the EBDA, the EBDA/VGA/BIOS/ACPI area
// [kEbdaStart, 1 MiB) reserved, RAM from 1 MiB to the hole, RAM above 4 GiB.
std::vector<E820Entry> build_e820(uint64_t ram_size);

// Where the bootstrap processor starts: RIP = entry, RSI = zero_page (see arch/x86_64/boot_cpu.h).
struct BootInfo {
  uint64_t entry = 0;
  uint64_t zero_page = 0;
};

// Initrd bytes: `size` of them, copied by `read` straight into guest RAM (from
// memory, or pread from the file so it never sits on the VMM's heap).
struct InitrdSource {
  uint64_t size = 0;
  std::function<bool(std::span<uint8_t> dest)> read;
  static InitrdSource from(std::span<const uint8_t> bytes);  // non-owning
};

// The kernel of a bzImage decompressed on the host (vmlinux.h), read by `file`.
struct DirectKernel {
  const Vmlinux& elf;
  const FileReader& file;
};

// Loads the protected-mode kernel at kKernelLoadAddr (entered at +0x200) — or, with
// `direct`, the decompressed kernel's segments at their physical addresses (entered
// at its ELF entry) —, the command line at kCmdlineAddr, the initrd (may be empty) as
// high as the kernel allows below 4 GiB, and the zero page (the bzImage's setup
// header) at kZeroPageAddr. rsdp_addr 0 means no ACPI. Inputs that do not fit are
// usage errors.
Result<BootInfo> load_linux(const GuestMemory& mem, const BzImage& image, const InitrdSource& initrd,
                            const std::string& cmdline, uint64_t rsdp_addr, const DirectKernel* direct = nullptr);
Result<BootInfo> load_linux(const GuestMemory& mem, const BzImage& image, std::span<const uint8_t> initrd,
                            const std::string& cmdline, uint64_t rsdp_addr);

}  // namespace franca::firmware
