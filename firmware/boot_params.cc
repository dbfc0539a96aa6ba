// Linux loading for the 64-bit boot protocol (virtio-notes.md §7.4): RAM layout, e820,
// kernel, command line, initrd and the zero page (struct boot_params, <asm/bootparam.h>).
#include "firmware/boot_params.h"

#include <asm/bootparam.h>
#include <asm/e820.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>

#include "arch/x86_64/layout.h"

namespace franca::firmware {

static_assert(static_cast<uint32_t>(E820Type::kRam) == E820_RAM);
static_assert(static_cast<uint32_t>(E820Type::kReserved) == E820_RESERVED);
static_assert(static_cast<uint32_t>(E820Type::kAcpi) == E820_ACPI);
static_assert(sizeof(boot_params) == 4096);

using namespace franca::x86;

namespace {

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kEntryOffset = 0x200;  // startup_64 is 0x200 past startup_32 (boot.rst)
constexpr uint8_t kLoaderUndefined = 0xff;
constexpr uint16_t kVidModeNormal = 0xffff;  // "normal" VGA (boot.rst vid_mode)

uint64_t align_up(uint64_t value, uint64_t align) { return align <= 1 ? value : (value + align - 1) / align * align; }
uint64_t align_down(uint64_t value, uint64_t align) { return value / align * align; }
uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
uint64_t mib_ceil(uint64_t bytes) { return (bytes + (1ull << 20) - 1) >> 20; }

// End of the RAM region at GPA 0, where the kernel, initrd and boot data live.
uint64_t low_ram_end(const GuestMemory& mem) {
  for (const MemoryRegion& r : mem.regions()) {
    if (r.gpa == 0) return r.size;
  }
  return 0;
}

// End of what the kernel occupies. boot/compressed/head_64.S runs a kernel loaded below
// pref_address (LOAD_PHYSICAL_ADDR) from there, a relocatable one loaded higher from its
// load address aligned up; it needs init_size bytes from where it runs.
uint64_t kernel_end(const BzImage& image) {
  uint64_t run = image.pref_address;
  if (image.relocatable) run = std::max(align_up(kKernelLoadAddr, image.kernel_alignment), image.pref_address);
  return std::max(kKernelLoadAddr + image.payload_size(), sat_add(run, image.init_size));
}

Result<void> check_fits(const GuestMemory& mem, uint64_t end) {
  const uint64_t low_end = low_ram_end(mem);
  if (end > low_end) {
    return usage_error(
        fmt::format("--memory too small for this kernel: it needs {} MiB of RAM to decompress (up to {:#x}), "
                    "the guest has {} MiB",
                    mib_ceil(end), end, low_end >> 20));
  }
  return {};
}

Result<uint64_t> load_kernel(const GuestMemory& mem, const BzImage& image) {
  const uint64_t end = kernel_end(image);
  if (auto r = check_fits(mem, end); !r) return std::unexpected(r.error());
  auto dest = mem.slice(kKernelLoadAddr, image.payload_size());
  if (!dest) return host_error("cannot write the kernel to guest RAM");
  if (auto r = image.read_payload(*dest); !r) return std::unexpected(r.error());
  return end;
}

Result<void> write_cmdline(const GuestMemory& mem, const BzImage& image, const std::string& cmdline) {
  const uint64_t max = std::min<uint64_t>(image.cmdline_size, kCmdlineMax - 1);
  if (cmdline.size() > max) {
    return usage_error(fmt::format("--cmdline is {} bytes long, this kernel accepts at most {}", cmdline.size(), max));
  }
  std::vector<uint8_t> bytes(cmdline.begin(), cmdline.end());
  bytes.push_back(0);
  if (!mem.write(kCmdlineAddr, bytes)) return host_error("cannot write the command line to guest RAM");
  return {};
}

// The initrd goes page-aligned as high as possible: below initrd_addr_max + 1 and the end
// of low RAM, above the kernel's decompression area. Returns its GPA (0 if there is none).
Result<uint64_t> load_initrd(const GuestMemory& mem, const BzImage& image, const InitrdSource& initrd,
                             uint64_t kernel_end) {
  if (initrd.size == 0) return 0;
  const uint64_t limit = std::min(uint64_t{image.initrd_addr_max} + 1, low_ram_end(mem));
  const uint64_t lowest = align_up(kernel_end, kPageSize);
  const uint64_t size = initrd.size;
  const uint64_t addr = size <= limit ? align_down(limit - size, kPageSize) : 0;
  if (size > limit || addr < lowest) {
    return usage_error(
        fmt::format("--initrd ({} bytes) does not fit between the kernel's end at {:#x} and {:#x} "
                    "(initrd_addr_max or the end of RAM below 3 GiB); raise --memory",
                    size, lowest, limit));
  }
  auto dest = mem.slice(addr, size);
  if (!dest) return host_error("cannot write the initrd to guest RAM");
  if (!initrd.read(*dest)) return host_error("cannot read the initrd (file changed while loading?)");
  return addr;
}

struct ZeroPageInputs {
  uint64_t initrd_addr = 0;
  uint64_t initrd_size = 0;
  uint64_t rsdp_addr = 0;
  uint64_t ram_size = 0;
};

void fill_e820(boot_params& params, uint64_t ram_size) {
  const std::vector<E820Entry> map = build_e820(ram_size);
  params.e820_entries = static_cast<uint8_t>(map.size());  // at most 4 of E820_MAX_ENTRIES_ZEROPAGE
  for (size_t i = 0; i < map.size(); ++i) {
    params.e820_table[i].addr = map[i].addr;
    params.e820_table[i].size = map[i].size;
    params.e820_table[i].type = static_cast<uint32_t>(map[i].type);
  }
}

// A clean page with the image's setup header copied in, then the loader's fields (zero-page.rst).
void fill_zero_page(boot_params& params, const BzImage& image, const ZeroPageInputs& in) {
  std::memset(&params, 0, sizeof(params));
  auto* page = reinterpret_cast<uint8_t*>(&params);
  std::memcpy(page + offsetof(boot_params, hdr), image.setup_header.data(), image.setup_header.size());
  // loadflags stay the image's (LOADED_HIGH); CAN_USE_HEAP and KEEP_SEGMENTS are for
  // real-mode and 32-bit entry only.
  params.hdr.type_of_loader = kLoaderUndefined;  // non-zero, or the kernel ignores the initrd
  params.hdr.vid_mode = kVidModeNormal;
  params.hdr.cmd_line_ptr = static_cast<uint32_t>(kCmdlineAddr);
  params.ext_cmd_line_ptr = static_cast<uint32_t>(kCmdlineAddr >> 32);
  params.hdr.ramdisk_image = static_cast<uint32_t>(in.initrd_addr);
  params.ext_ramdisk_image = static_cast<uint32_t>(in.initrd_addr >> 32);
  params.hdr.ramdisk_size = static_cast<uint32_t>(in.initrd_size);
  params.ext_ramdisk_size = static_cast<uint32_t>(in.initrd_size >> 32);
  params.acpi_rsdp_addr = in.rsdp_addr;
  fill_e820(params, in.ram_size);
}

}  // namespace

std::vector<MemoryRegion> guest_ram_layout(uint64_t ram_size) {
  std::vector<MemoryRegion> layout{{0, std::min(ram_size, kMmioHoleStart), nullptr}};
  if (ram_size > kMmioHoleStart) layout.push_back({kMmioHoleEnd, ram_size - kMmioHoleStart, nullptr});
  return layout;
}

// The BIOS area is one reserved range: the kernel finds the ACPI tables at kAcpiStart
// through acpi_rsdp_addr (or its 0xe0000 scan), and reserved keeps it out of the page
// allocator like a PC BIOS does. The MMIO hole is left out so Linux uses it for PCI.
std::vector<E820Entry> build_e820(uint64_t ram_size) {
  const uint64_t low = std::min(ram_size, kMmioHoleStart);
  std::vector<E820Entry> map{
      {0, std::min(low, kEbdaStart), E820Type::kRam},
      {kEbdaStart, kHighMemStart - kEbdaStart, E820Type::kReserved},
  };
  if (low > kHighMemStart) map.push_back({kHighMemStart, low - kHighMemStart, E820Type::kRam});
  if (ram_size > kMmioHoleStart) map.push_back({kMmioHoleEnd, ram_size - kMmioHoleStart, E820Type::kRam});
  return map;
}

InitrdSource InitrdSource::from(std::span<const uint8_t> bytes) {
  return {bytes.size(), [bytes](std::span<uint8_t> dest) {
            std::memcpy(dest.data(), bytes.data(), dest.size());
            return true;
          }};
}

Result<BootInfo> load_linux(const GuestMemory& mem, const BzImage& image, std::span<const uint8_t> initrd,
                            const std::string& cmdline, uint64_t rsdp_addr) {
  return load_linux(mem, image, InitrdSource::from(initrd), cmdline, rsdp_addr);
}

// The decompressed kernel: its segments, and it ends at _end (init_size is the
// decompressor's need, which it no longer has).
Result<uint64_t> load_direct(const GuestMemory& mem, const DirectKernel& direct) {
  if (auto r = check_fits(mem, direct.elf.end); !r) return std::unexpected(r.error());
  if (auto r = load_vmlinux(mem, direct.elf, direct.file); !r) return std::unexpected(r.error());
  return direct.elf.end;
}

Result<BootInfo> load_linux(const GuestMemory& mem, const BzImage& image, const InitrdSource& initrd,
                            const std::string& cmdline, uint64_t rsdp_addr, const DirectKernel* direct) {
  auto kernel_end = direct ? load_direct(mem, *direct) : load_kernel(mem, image);
  if (!kernel_end) return std::unexpected(kernel_end.error());
  if (auto ok = write_cmdline(mem, image, cmdline); !ok) return std::unexpected(ok.error());
  auto initrd_addr = load_initrd(mem, image, initrd, *kernel_end);
  if (!initrd_addr) return std::unexpected(initrd_addr.error());

  boot_params params;
  fill_zero_page(params, image, {*initrd_addr, initrd.size, rsdp_addr, mem.total_size()});
  if (!mem.write_obj(kZeroPageAddr, params)) return host_error("cannot write the zero page to guest RAM");
  return BootInfo{direct ? direct->elf.entry : kKernelLoadAddr + kEntryOffset, kZeroPageAddr};
}

}  // namespace franca::firmware
