// --kernel's file, told apart by its magic: a bzImage (the "HdrS" setup header,
// Documentation/arch/x86/boot.rst) or an uncompressed vmlinux (ELF), which has
// no setup header: franca writes the one the 64-bit boot protocol needs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "firmware/bzimage.h"
#include "firmware/vmlinux.h"
#include "vmm/core/error.h"

namespace franca::firmware {

struct KernelFile {
  BzImage image;                   // the bzImage; for a vmlinux, vmlinux_setup_header()
  std::optional<Vmlinux> vmlinux;  // set when the file is an ELF vmlinux
  FileReader file;                 // a vmlinux's bytes (pread from the file); unset for a bzImage
};

// The setup header a bootloader would find in a bzImage of this kernel, for a
// vmlinux: boot flag, "HdrS", protocol 2.15, LOADED_HIGH, XLF_KERNEL_64, the
// kernel's COMMAND_LINE_SIZE and initrd_addr_max; not relocatable (it runs at
// its link address, where its segments are loaded).
BzImage vmlinux_setup_header(const Vmlinux& kernel);

// Reads and checks the file at `path`: an ELF vmlinux or a bzImage; anything
// else is one usage error line starting with "<flag> <path>: ".
Result<KernelFile> load_kernel_file(const std::string& path, std::string_view flag = "--kernel");

}  // namespace franca::firmware
