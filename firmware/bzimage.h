// bzImage parsing and checks for the 64-bit Linux boot protocol
// (virtio-notes.md §7.4; Documentation/arch/x86/boot.rst "The Real-Mode Kernel Header").
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/core/error.h"
#include "vmm/core/fd.h"

namespace franca::firmware {

// Oldest boot protocol accepted: 2.12 brought xloadflags (XLF_KERNEL_64).
inline constexpr uint16_t kMinBootProtocol = 0x020c;

// A checked bzImage. Owns the file bytes; the fields are the setup header's.
struct BzImage {
  uint16_t protocol_version = 0;  // e.g. 0x020f for 2.15
  uint8_t setup_sects = 0;        // after the "0 means 4" rule
  uint8_t loadflags = 0;
  uint16_t xloadflags = 0;
  bool relocatable = false;
  uint32_t init_size = 0;     // bytes the kernel needs from where it runs
  uint64_t pref_address = 0;  // where it runs (decompresses) if loaded lower
  uint32_t kernel_alignment = 0;
  uint32_t initrd_addr_max = 0;       // highest address the initrd may occupy
  uint32_t cmdline_size = 0;          // longest command line, NUL excluded
  uint32_t syssize = 0;               // protected-mode kernel size in 16-byte units
  std::vector<uint8_t> setup_header;  // file bytes [0x1f1, header end): copy to the zero page
  uint64_t payload_offset = 0;        // file offset of the protected-mode kernel
  uint64_t file_size = 0;
  // The file's bytes: all of them (parse_bzimage), or only its head when the
  // image was opened from a file (load_bzimage_file), whose payload is then read
  // straight into guest RAM — no heap copy of the kernel, so no RSS for it.
  std::vector<uint8_t> file;
  std::shared_ptr<Fd> fd;  // set by load_bzimage_file / load_bzimage_fd

  uint64_t payload_size() const { return file_size - payload_offset; }
  // The protected-mode kernel (in-memory images only): loaded at kKernelLoadAddr, entered at +0x200.
  std::span<const uint8_t> payload() const { return std::span(file).subspan(payload_offset); }
  // Copies the protected-mode kernel into `dest` (payload_size() bytes), from memory or the file.
  Result<void> read_payload(std::span<uint8_t> dest) const {
    if (dest.size() != payload_size()) return host_error("kernel payload size mismatch");
    return read_payload_at(0, dest);
  }
  // Copies the protected-mode kernel's bytes [offset, offset + dest.size()) into
  // `dest` (an error when that range is not inside it); from memory or the file.
  Result<void> read_payload_at(uint64_t offset, std::span<uint8_t> dest) const;
};

// Checks `bytes` and copies them into a BzImage; one clear line per problem (usage errors).
// The BzImage a boot sector + setup header describes (no size checks: those
// are parse_bzimage's); the payload is taken to follow the setup sectors.
BzImage bzimage_from_setup_header(std::span<const uint8_t> header);
Result<BzImage> parse_bzimage(std::span<const uint8_t> bytes);

// Reads and checks the file at `path`; errors start with "<flag> <path>: ".
Result<BzImage> load_bzimage_file(const std::string& path, std::string_view flag = "--kernel");
// The same on a file already open as `fd` (`path` and `flag` only name it in errors).
Result<BzImage> load_bzimage_fd(std::shared_ptr<Fd> fd, const std::string& path, std::string_view flag = "--kernel");

}  // namespace franca::firmware
