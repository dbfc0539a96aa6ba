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

// What one step of a decoder did with the output room it was given.
struct Step {
  size_t written;
  bool done;  // the stream ended
};

// The loop the three decoders share: the output grows by kChunk at a time and
// `step` fills the new room, until it reports the stream's end, fails, or the
// output reaches kMaxVmlinuxSize (not a kernel).
template <class StepFn>
Result<std::vector<uint8_t>> decode_chunks(StepFn step) {
  std::vector<uint8_t> out;
  while (out.size() < kMaxVmlinuxSize) {
    const size_t have = out.size();
    out.resize(have + kChunk);
    Result<Step> r = step(std::span<uint8_t>(out.data() + have, kChunk));
    if (!r) return std::unexpected(r.error());
    out.resize(have + r->written);
    if (r->done) return out;
  }
  return usage_error(too_big());
}

Result<std::vector<uint8_t>> unxz(std::span<const uint8_t> in) {
  lzma_stream s = LZMA_STREAM_INIT;
  // The kernel's XZ streams use CRC32 and no concatenation; 128 MiB of
  // dictionary is far above what scripts/xz_wrap.sh uses.
  if (lzma_stream_decoder(&s, uint64_t{128} << 20, 0) != LZMA_OK) return host_error("liblzma: cannot start a decoder");
  s.next_in = in.data();
  s.avail_in = in.size();
  auto out = decode_chunks([&s](std::span<uint8_t> room) -> Result<Step> {
    s.next_out = room.data();
    s.avail_out = room.size();
    const lzma_ret ret = lzma_code(&s, LZMA_FINISH);
    if (ret != LZMA_OK && ret != LZMA_STREAM_END)
      return usage_error(fmt::format("corrupt XZ data (liblzma error {})", static_cast<int>(ret)));
    return Step{room.size() - s.avail_out, ret == LZMA_STREAM_END};
  });
  lzma_end(&s);
  return out;
}

Result<std::vector<uint8_t>> gunzip(std::span<const uint8_t> in) {
  z_stream s{};
  if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) return host_error("zlib: cannot start a decoder");
  s.next_in = const_cast<Bytef*>(in.data());
  s.avail_in = static_cast<uInt>(std::min<size_t>(in.size(), UINT32_MAX));
  auto out = decode_chunks([&s](std::span<uint8_t> room) -> Result<Step> {
    s.next_out = room.data();
    s.avail_out = static_cast<uInt>(room.size());
    const int ret = inflate(&s, Z_FINISH);
    const bool out_of_room = ret == Z_BUF_ERROR && s.avail_out == 0;
    if (ret != Z_OK && ret != Z_STREAM_END && !out_of_room)
      return usage_error(fmt::format("corrupt gzip data (zlib error {})", ret));
    return Step{room.size() - s.avail_out, ret == Z_STREAM_END};
  });
  inflateEnd(&s);
  return out;
}

Result<std::vector<uint8_t>> unzstd(std::span<const uint8_t> in) {
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  if (!ctx) return host_error("libzstd: cannot start a decoder");
  // The kernel's zstd frames use a window of up to 2^27 (scripts/Makefile.lib: --zstd22 -> 2^27).
  ZSTD_DCtx_setParameter(ctx, ZSTD_d_windowLogMax, 27);
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  auto out = decode_chunks([ctx, &src](std::span<uint8_t> room) -> Result<Step> {
    ZSTD_outBuffer dst{room.data(), room.size(), 0};
    const size_t ret = ZSTD_decompressStream(ctx, &dst, &src);
    if (ZSTD_isError(ret)) return usage_error(fmt::format("corrupt zstd data ({})", ZSTD_getErrorName(ret)));
    if (ret != 0 && src.pos == src.size && dst.pos < room.size()) return usage_error("truncated zstd data");
    return Step{dst.pos, ret == 0};  // 0: a frame ended and was flushed
  });
  ZSTD_freeDCtx(ctx);
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
