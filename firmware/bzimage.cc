// bzImage parsing and checks (virtio-notes.md §7.4; Documentation/arch/x86/boot.rst).
// Offsets and flags come from <asm/bootparam.h>: the setup header sits at 0x1f1.
#include "firmware/bzimage.h"

#include <asm/bootparam.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>

#include "vmm/core/fd.h"

namespace franca::firmware {
namespace {

constexpr size_t kHeaderStart = offsetof(boot_params, hdr);                           // 0x1f1
constexpr size_t kHeaderLimit = offsetof(boot_params, edd_mbr_sig_buffer);            // 0x290
constexpr size_t kBootFlagOffset = kHeaderStart + offsetof(setup_header, boot_flag);  // 0x1fe
constexpr size_t kJumpOffset = kHeaderStart + offsetof(setup_header, jump) + 1;       // 0x201
constexpr size_t kMagicOffset = kHeaderStart + offsetof(setup_header, header);        // 0x202
constexpr size_t kVersionOffset = kHeaderStart + offsetof(setup_header, version);     // 0x206
// Every field read here (through init_size, protocol 2.10) must lie in the header.
constexpr size_t kMinHeaderEnd = kHeaderStart + offsetof(setup_header, handover_offset);  // 0x264
constexpr uint16_t kBootFlag = 0xaa55;
constexpr uint32_t kHdrsMagic = 0x53726448;  // "HdrS", little-endian
constexpr size_t kSectorSize = 512;
constexpr uint8_t kDefaultSetupSects = 4;
constexpr size_t kMaxImageSize = size_t{512} << 20;
constexpr size_t kHeadBytes = 64 * 1024;  // the setup header lives in the first KiB

template <class T>
T load_le(std::span<const uint8_t> bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

std::string protocol_string(uint16_t version) { return fmt::format("{}.{:02}", version >> 8, version & 0xff); }

// Size, boot flag, "HdrS" and protocol version: is this a bzImage we can boot at all?
Result<void> check_identity(std::span<const uint8_t> bytes) {
  if (bytes.size() < kMinHeaderEnd) {
    return usage_error(fmt::format("too small for a bzImage ({} bytes, truncated?)", bytes.size()));
  }
  if (load_le<uint16_t>(bytes, kBootFlagOffset) != kBootFlag) {
    return usage_error(fmt::format("not a bzImage (no boot flag 0xAA55 at {:#x})", kBootFlagOffset));
  }
  if (load_le<uint32_t>(bytes, kMagicOffset) != kHdrsMagic) {
    return usage_error(fmt::format("not a bzImage (no \"HdrS\" magic at {:#x})", kMagicOffset));
  }
  const auto version = load_le<uint16_t>(bytes, kVersionOffset);
  if (version < kMinBootProtocol) {
    return usage_error(
        fmt::format("boot protocol {} too old, need {}", protocol_string(version), protocol_string(kMinBootProtocol)));
  }
  return {};
}

// The setup header bytes [0x1f1, 0x202 + jump byte at 0x201). Fields past the zero
// page's header area (0x290) would be a future protocol's; they are left out.
Result<std::span<const uint8_t>> header_bytes(std::span<const uint8_t> bytes) {
  const size_t end = std::min(kJumpOffset + 1 + bytes[kJumpOffset], kHeaderLimit);
  if (end < kMinHeaderEnd) {
    return usage_error(fmt::format("setup header ends at {:#x}, before init_size (corrupt header)", end));
  }
  return bytes.subspan(kHeaderStart, end - kHeaderStart);
}

Result<void> check_flags(const BzImage& image) {
  if (!(image.xloadflags & XLF_KERNEL_64)) {
    return usage_error("kernel has no 64-bit entry point (XLF_KERNEL_64 not set in xloadflags)");
  }
  if (!(image.loadflags & LOADED_HIGH)) {
    return usage_error("kernel cannot be loaded at 1 MiB (LOADED_HIGH not set: a zImage?)");
  }
  return {};
}

// The protected-mode kernel starts after the boot sector and setup_sects sectors.
Result<void> check_payload(const BzImage& image) {
  const uint64_t size = image.file_size;
  if (image.payload_offset >= size) {
    return usage_error(fmt::format("setup_sects {} puts the kernel at {:#x}, past the end of the file ({} bytes)",
                                   image.setup_sects, image.payload_offset, size));
  }
  const uint64_t expected = uint64_t{image.syssize} * 16;
  if (size - image.payload_offset < expected) {
    return usage_error(fmt::format("truncated: the protected-mode kernel has {} bytes, the header says {}",
                                   size - image.payload_offset, expected));
  }
  return {};
}

}  // namespace

BzImage bzimage_from_setup_header(std::span<const uint8_t> header) {
  setup_header hdr{};
  std::memcpy(&hdr, header.data(), std::min(header.size(), sizeof(hdr)));
  BzImage image;
  image.protocol_version = hdr.version;
  image.setup_sects = hdr.setup_sects == 0 ? kDefaultSetupSects : hdr.setup_sects;
  image.loadflags = hdr.loadflags;
  image.xloadflags = hdr.xloadflags;
  image.relocatable = hdr.relocatable_kernel != 0;
  image.init_size = hdr.init_size;
  image.pref_address = hdr.pref_address;
  image.kernel_alignment = hdr.kernel_alignment;
  image.initrd_addr_max = hdr.initrd_addr_max;
  image.cmdline_size = hdr.cmdline_size;
  image.syssize = hdr.syssize;
  image.setup_header.assign(header.begin(), header.end());
  image.payload_offset = (uint64_t{image.setup_sects} + 1) * kSectorSize;
  return image;
}

namespace {

// `bytes` is the whole file, or its first bytes when `file_size` is larger.
Result<BzImage> parse_owned(std::vector<uint8_t> bytes, uint64_t file_size) {
  if (auto ok = check_identity(bytes); !ok) return std::unexpected(ok.error());
  auto header = header_bytes(bytes);
  if (!header) return std::unexpected(header.error());
  BzImage image = bzimage_from_setup_header(*header);
  image.file = std::move(bytes);
  image.file_size = file_size;
  if (auto ok = check_flags(image); !ok) return std::unexpected(ok.error());
  if (auto ok = check_payload(image); !ok) return std::unexpected(ok.error());
  return image;
}

// The file's head (enough for the setup header) and its size; errors carry strerror only.
Result<std::pair<std::vector<uint8_t>, uint64_t>> read_head(int fd) {
  struct stat st {};
  if (fstat(fd, &st) < 0) return usage_error(std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return usage_error(std::strerror(EISDIR));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > kMaxImageSize) return usage_error(fmt::format("larger than {} MiB, not a kernel", kMaxImageSize >> 20));
  std::vector<uint8_t> head(std::min<uint64_t>(size, kHeadBytes));
  if (!pread_all(fd, head, 0)) return usage_error(fmt::format("read error: {}", std::strerror(errno)));
  return std::pair{std::move(head), size};
}

}  // namespace

Result<void> BzImage::read_payload_at(uint64_t offset, std::span<uint8_t> dest) const {
  if (offset > payload_size() || dest.size() > payload_size() - offset) {
    return host_error("kernel payload range outside the image");
  }
  if (!fd) {
    std::memcpy(dest.data(), file.data() + payload_offset + offset, dest.size());
    return {};
  }
  if (!pread_all(fd->get(), dest, payload_offset + offset))
    return host_error("cannot read the kernel file (changed while loading?)");
  return {};
}

Result<BzImage> parse_bzimage(std::span<const uint8_t> bytes) {
  return parse_owned(std::vector<uint8_t>(bytes.begin(), bytes.end()), bytes.size());
}

Result<BzImage> load_bzimage_file(const std::string& path, std::string_view flag) {
  auto fd = std::make_shared<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd->valid()) return usage_error(fmt::format("{} {}: {}", flag, path, std::strerror(errno)));
  return load_bzimage_fd(std::move(fd), path, flag);
}

Result<BzImage> load_bzimage_fd(std::shared_ptr<Fd> fd, const std::string& path, std::string_view flag) {
  auto head = read_head(fd->get());
  if (!head) return usage_error(fmt::format("{} {}: {}", flag, path, head.error().message));
  auto image = parse_owned(std::move(head->first), head->second);
  if (!image) return usage_error(fmt::format("{} {}: {}", flag, path, image.error().message));
  image->fd = std::move(fd);
  return image;
}

}  // namespace franca::firmware
