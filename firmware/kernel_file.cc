// --kernel: a bzImage or an uncompressed vmlinux, by magic (kernel_file.h).
#include "firmware/kernel_file.h"

#include <asm/bootparam.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "vmm/core/fd.h"

namespace franca::firmware {
namespace {

constexpr uint16_t kProtocol215 = 0x020f;
constexpr uint32_t kCmdlineSize = 2047;          // COMMAND_LINE_SIZE (2048) without the NUL
constexpr uint32_t kInitrdAddrMax = 0x7fffffff;  // what boot.rst says protocol >= 2.03 kernels take
constexpr uint32_t kKernelAlignment = 0x200000;  // CONFIG_PHYSICAL_ALIGN's default

// An ELF vmlinux at `path` (opened as `fd`, `size` bytes long), read later straight into guest RAM.
Result<KernelFile> open_vmlinux(std::shared_ptr<Fd> fd, uint64_t size) {
  std::vector<uint8_t> head(std::min<uint64_t>(size, kVmlinuxHeadBytes));
  if (!pread_all(fd->get(), head, 0)) return usage_error(fmt::format("read error: {}", std::strerror(errno)));
  auto elf = parse_vmlinux(head, size);
  if (!elf) return usage_error(fmt::format("vmlinux: {}", elf.error().message));
  KernelFile out{vmlinux_setup_header(*elf), std::move(*elf), {}};
  out.file = [fd](uint64_t offset, std::span<uint8_t> dest) { return pread_all(fd->get(), dest, offset); };
  return out;
}

}  // namespace

BzImage vmlinux_setup_header(const Vmlinux& kernel) {
  setup_header hdr{};
  hdr.boot_flag = 0xaa55;
  std::memcpy(&hdr.header, "HdrS", 4);
  hdr.version = kProtocol215;
  hdr.loadflags = LOADED_HIGH;
  hdr.kernel_alignment = kKernelAlignment;
  hdr.xloadflags = XLF_KERNEL_64;
  hdr.cmdline_size = kCmdlineSize;
  hdr.initrd_addr_max = kInitrdAddrMax;
  hdr.pref_address = kernel.lowest;
  hdr.init_size = static_cast<uint32_t>(kernel.end - kernel.lowest);
  BzImage image = bzimage_from_setup_header({reinterpret_cast<const uint8_t*>(&hdr), sizeof(hdr)});
  image.setup_sects = 0;
  image.payload_offset = 0;  // no payload: payload_offset == file_size == 0
  return image;
}

Result<KernelFile> load_kernel_file(const std::string& path, std::string_view flag) {
  auto fd = std::make_shared<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd->valid()) return usage_error(fmt::format("{} {}: {}", flag, path, std::strerror(errno)));
  struct stat st {};
  if (fstat(fd->get(), &st) < 0) return usage_error(fmt::format("{} {}: {}", flag, path, std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) return usage_error(fmt::format("{} {}: {}", flag, path, std::strerror(EISDIR)));
  std::array<uint8_t, 4> magic{};
  if (pread_all(fd->get(), magic, 0) && is_elf(magic)) {
    auto kernel = open_vmlinux(std::move(fd), static_cast<uint64_t>(st.st_size));
    if (!kernel) return usage_error(fmt::format("{} {}: {}", flag, path, kernel.error().message));
    return kernel;
  }
  auto image = load_bzimage_fd(std::move(fd), path, flag);  // the file opened once
  if (!image) {
    std::string why = image.error().message;
    if (why.find(": not a bzImage") != std::string::npos) why += " nor an ELF vmlinux (no ELF magic)";
    return usage_error(std::move(why));
  }
  return KernelFile{std::move(*image), std::nullopt, {}};
}

}  // namespace franca::firmware
