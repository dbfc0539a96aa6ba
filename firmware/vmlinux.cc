// The kernel inside a bzImage, decompressed on the host, and its ELF loaded into
// guest RAM (see vmlinux.h; arch/x86/boot/compressed/misc.c does the same in the guest).
#include "firmware/vmlinux.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "arch/x86_64/layout.h"

namespace franca::firmware {
namespace {

constexpr size_t kChunk = size_t{4} << 20;  // output grows by this much at a time

std::string too_big() { return fmt::format("decompresses to more than {} MiB, not a kernel", kMaxVmlinuxSize >> 20); }

Result<std::vector<uint8_t>> unxz(std::span<const uint8_t> in) {
  lzma_stream s = LZMA_STREAM_INIT;
  // The kernel's XZ streams use CRC32 and no concatenation; 128 MiB of
  // dictionary is far above what scripts/xz_wrap.sh uses.
  if (lzma_stream_decoder(&s, uint64_t{128} << 20, 0) != LZMA_OK) return host_error("liblzma: cannot start a decoder");
  std::vector<uint8_t> out;
  s.next_in = in.data();
  s.avail_in = in.size();
  lzma_ret ret = LZMA_OK;
  while (ret == LZMA_OK) {
    if (out.size() >= kMaxVmlinuxSize) break;
    const size_t have = out.size();
    out.resize(have + kChunk);
    s.next_out = out.data() + have;
    s.avail_out = kChunk;
    ret = lzma_code(&s, LZMA_FINISH);
    out.resize(out.size() - s.avail_out);
  }
  lzma_end(&s);
  if (ret == LZMA_OK) return usage_error(too_big());
  if (ret != LZMA_STREAM_END)
    return usage_error(fmt::format("corrupt XZ data (liblzma error {})", static_cast<int>(ret)));
  return out;
}

Result<std::vector<uint8_t>> gunzip(std::span<const uint8_t> in) {
  z_stream s{};
  if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) return host_error("zlib: cannot start a decoder");
  std::vector<uint8_t> out;
  s.next_in = const_cast<Bytef*>(in.data());
  s.avail_in = static_cast<uInt>(std::min<size_t>(in.size(), UINT32_MAX));
  int ret = Z_OK;
  while (ret == Z_OK) {
    if (out.size() >= kMaxVmlinuxSize) break;
    const size_t have = out.size();
    out.resize(have + kChunk);
    s.next_out = out.data() + have;
    s.avail_out = static_cast<uInt>(kChunk);
    ret = inflate(&s, Z_FINISH);
    if (ret == Z_BUF_ERROR && s.avail_out == 0) ret = Z_OK;  // only out of room
    out.resize(out.size() - s.avail_out);
  }
  inflateEnd(&s);
  if (ret == Z_OK) return usage_error(too_big());
  if (ret != Z_STREAM_END) return usage_error(fmt::format("corrupt gzip data (zlib error {})", ret));
  return out;
}

Result<std::vector<uint8_t>> unzstd(std::span<const uint8_t> in) {
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  if (!ctx) return host_error("libzstd: cannot start a decoder");
  // The kernel's zstd frames use a window of up to 2^27 (scripts/Makefile.lib: --zstd22 -> 2^27).
  ZSTD_DCtx_setParameter(ctx, ZSTD_d_windowLogMax, 27);
  std::vector<uint8_t> out;
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  size_t ret = 1;
  while (ret != 0 && out.size() < kMaxVmlinuxSize) {
    const size_t have = out.size();
    out.resize(have + kChunk);
    ZSTD_outBuffer dst{out.data() + have, kChunk, 0};
    ret = ZSTD_decompressStream(ctx, &dst, &src);
    out.resize(have + dst.pos);
    if (ZSTD_isError(ret)) {
      const std::string why = ZSTD_getErrorName(ret);
      ZSTD_freeDCtx(ctx);
      return usage_error(fmt::format("corrupt zstd data ({})", why));
    }
    if (ret != 0 && src.pos == src.size && dst.pos < kChunk) break;  // input ended inside a frame
  }
  ZSTD_freeDCtx(ctx);
  if (ret != 0) return usage_error(out.size() >= kMaxVmlinuxSize ? too_big() : "truncated zstd data");
  return out;
}

template <class T>
T load(std::span<const uint8_t> bytes, uint64_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

}  // namespace

std::string_view payload_format_name(PayloadFormat format) {
  switch (format) {
    case PayloadFormat::kXz:
      return "xz";
    case PayloadFormat::kGzip:
      return "gzip";
    case PayloadFormat::kZstd:
      return "zstd";
    case PayloadFormat::kOther:
      break;
  }
  return "other";
}

PayloadFormat payload_format(std::span<const uint8_t> p) {
  static constexpr uint8_t kXz[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
  static constexpr uint8_t kGzip[] = {0x1f, 0x8b};
  static constexpr uint8_t kZstd[] = {0x28, 0xb5, 0x2f, 0xfd};
  const auto starts = [p](std::span<const uint8_t> magic) {
    return p.size() >= magic.size() && std::equal(magic.begin(), magic.end(), p.begin());
  };
  if (starts(kXz)) return PayloadFormat::kXz;
  if (starts(kGzip)) return PayloadFormat::kGzip;
  if (starts(kZstd)) return PayloadFormat::kZstd;
  return PayloadFormat::kOther;
}

Result<std::vector<uint8_t>> read_compressed_kernel(const BzImage& image) {
  setup_header hdr{};
  std::memcpy(&hdr, image.setup_header.data(), std::min(image.setup_header.size(), sizeof(hdr)));
  // payload_offset/length arrived with protocol 2.08; 2.12 is the minimum here.
  const uint64_t offset = hdr.payload_offset, length = hdr.payload_length;
  if (length == 0 || offset + length > image.payload_size()) {
    return usage_error(fmt::format("compressed kernel [{:#x}, +{:#x}) outside the protected-mode kernel ({} bytes)",
                                   offset, length, image.payload_size()));
  }
  std::vector<uint8_t> bytes(length);
  if (auto r = image.read_payload_at(offset, bytes); !r) return std::unexpected(r.error());
  return bytes;
}

Result<std::vector<uint8_t>> decompress_payload(std::span<const uint8_t> payload) {
  switch (payload_format(payload)) {
    case PayloadFormat::kXz:
      return unxz(payload);
    case PayloadFormat::kGzip:
      return gunzip(payload);
    case PayloadFormat::kZstd:
      return unzstd(payload);
    case PayloadFormat::kOther:
      break;
  }
  return usage_error("compressed kernel in a format franca does not decompress (xz, gzip and zstd only)");
}

bool is_elf(std::span<const uint8_t> bytes) {
  return bytes.size() >= SELFMAG && std::memcmp(bytes.data(), ELFMAG, SELFMAG) == 0;
}

Result<Vmlinux> parse_vmlinux(std::span<const uint8_t> bytes, uint64_t file_size) {
  if (bytes.size() < sizeof(Elf64_Ehdr) || !is_elf(bytes) || file_size < bytes.size()) {
    return usage_error("not an ELF file");
  }
  const auto eh = load<Elf64_Ehdr>(bytes, 0);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64 ||
      eh.e_type != ET_EXEC) {
    return usage_error("not a 64-bit x86 ELF executable");
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 64 || eh.e_phoff > bytes.size() ||
      uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > bytes.size() - eh.e_phoff) {
    return usage_error("ELF program headers missing or outside the file");
  }
  Vmlinux out;
  out.entry = eh.e_entry;
  out.lowest = UINT64_MAX;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    const auto ph = load<Elf64_Phdr>(bytes, eh.e_phoff + uint64_t{i} * sizeof(Elf64_Phdr));
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (ph.p_filesz > ph.p_memsz || ph.p_offset > file_size || ph.p_filesz > file_size - ph.p_offset) {
      return usage_error(fmt::format("ELF segment {} lies outside the file", i));
    }
    if (ph.p_paddr < x86::kHighMemStart || ph.p_memsz > kMaxVmlinuxSize || ph.p_paddr > (uint64_t{1} << 32)) {
      return usage_error(fmt::format("ELF segment {} at physical {:#x} (+{:#x}) is not where a kernel loads", i,
                                     ph.p_paddr, ph.p_memsz));
    }
    out.segments.push_back({ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz});
    out.lowest = std::min(out.lowest, ph.p_paddr);
    out.end = std::max(out.end, ph.p_paddr + ph.p_memsz);
  }
  if (out.segments.empty()) return usage_error("ELF file has nothing to load");
  const bool entry_inside = std::any_of(out.segments.begin(), out.segments.end(), [&](const VmlinuxSegment& s) {
    return out.entry >= s.paddr && out.entry < s.paddr + s.filesz;
  });
  if (!entry_inside) return usage_error(fmt::format("ELF entry point {:#x} is not in a loaded segment", out.entry));
  return out;
}

FileReader reader_of(std::span<const uint8_t> bytes) {
  return [bytes](uint64_t offset, std::span<uint8_t> dest) {
    if (offset > bytes.size() || dest.size() > bytes.size() - offset) return false;
    std::memcpy(dest.data(), bytes.data() + offset, dest.size());
    return true;
  };
}

Result<void> load_vmlinux(const GuestMemory& mem, const Vmlinux& kernel, const FileReader& file) {
  for (const VmlinuxSegment& s : kernel.segments) {
    auto dest = mem.slice(s.paddr, s.memsz);
    if (!dest) {
      return usage_error(fmt::format("kernel segment at {:#x} (+{:#x}) is outside guest RAM", s.paddr, s.memsz));
    }
    if (!file(s.offset, dest->first(s.filesz))) {
      return host_error("cannot read the decompressed kernel (its cache entry changed?)");
    }
    std::memset(dest->data() + s.filesz, 0, s.memsz - s.filesz);
  }
  return {};
}

}  // namespace franca::firmware
