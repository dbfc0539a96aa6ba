// Booting a bzImage without its decompressor: the compressed kernel inside it
// (setup_header.payload_offset/payload_length) is decompressed on the host —
// XZ with liblzma, gzip with zlib, zstd with libzstd — into the ELF vmlinux the
// kernel's own decompressor would produce, whose PT_LOAD segments are then
// copied to their physical addresses and entered at e_entry (startup_64) with
// the 64-bit boot protocol (RSI = zero page), as Firecracker boots a vmlinux.
// The guest then runs at its link address, LOAD_PHYSICAL_ADDR: no relocation,
// and no KASLR — the decompressor randomises the image and sets KASLR_FLAG,
// which is also what makes the kernel proper randomise its memory regions.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "firmware/bzimage.h"
#include "vmm/core/error.h"
#include "vmm/core/guest_memory.h"

namespace franca::firmware {

// The compressed kernel's format, from its magic bytes.
enum class PayloadFormat { kXz, kGzip, kZstd, kOther };
std::string_view payload_format_name(PayloadFormat format);
PayloadFormat payload_format(std::span<const uint8_t> payload);

// Largest vmlinux accepted (decompression stops there: a hostile payload
// cannot make franca allocate without bound).
inline constexpr uint64_t kMaxVmlinuxSize = uint64_t{512} << 20;

// The compressed kernel of `image` (bytes [payload_offset, +payload_length) of
// its protected-mode part), read from memory or from the file.
Result<std::vector<uint8_t>> read_compressed_kernel(const BzImage& image);

// Decompresses a payload of a format other than kOther; a corrupt, truncated or
// oversized one is a usage error of one line.
Result<std::vector<uint8_t>> decompress_payload(std::span<const uint8_t> payload);

// A checked ELF64 x86-64 executable: the segments to load and the entry point.
struct VmlinuxSegment {
  uint64_t paddr = 0;
  uint64_t offset = 0;  // in the file
  uint64_t filesz = 0;
  uint64_t memsz = 0;
};
struct Vmlinux {
  uint64_t entry = 0;  // physical (vmlinux.lds: ENTRY(phys_startup_64))
  std::vector<VmlinuxSegment> segments;
  uint64_t lowest = 0;  // lowest paddr loaded
  uint64_t end = 0;     // highest paddr + memsz: where the kernel ends (_end)
};
bool is_elf(std::span<const uint8_t> bytes);
// Checks every header and segment against the file's size: a hostile file is a
// usage error, never an out-of-bounds read or a load below 1 MiB. `head` is the
// file's start (at least its program headers), `file_size` its whole size.
Result<Vmlinux> parse_vmlinux(std::span<const uint8_t> head, uint64_t file_size);
inline Result<Vmlinux> parse_vmlinux(std::span<const uint8_t> bytes) { return parse_vmlinux(bytes, bytes.size()); }
// Bytes to read for parse_vmlinux's `head`: the ELF header and up to 64 program headers.
inline constexpr size_t kVmlinuxHeadBytes = 64 + 64 * 56;

// Reads file bytes [offset, offset + dest.size()) into dest.
using FileReader = std::function<bool(uint64_t offset, std::span<uint8_t> dest)>;
FileReader reader_of(std::span<const uint8_t> bytes);  // non-owning

// Copies the segments of `kernel` straight from its file into guest RAM (no
// copy on the VMM's heap) and zeroes their bss; the RAM must hold [lowest, end).
Result<void> load_vmlinux(const GuestMemory& mem, const Vmlinux& kernel, const FileReader& file);

}  // namespace franca::firmware
