// The kernel inside a bzImage, decompressed on the host: the stock Debian kernel
// (FRANCA_TEST_KERNEL, XZ) end to end, each decompressor on data compressed here,
// corrupt and truncated payloads, and hostile ELF files built in memory.
#include "firmware/vmlinux.h"

#include <elf.h>
#include <gtest/gtest.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <asm/bootparam.h>

#include "firmware/boot_params.h"
#include "tests/unit/firmware/test_elf.h"

namespace franca::firmware {
namespace {

// Guest RAM at GPA 0 in a std::vector.
class HeapGuest {
 public:
  explicit HeapGuest(uint64_t size) : ram_(size) {}
  const GuestMemory& memory() const { return mem_; }

 private:
  std::vector<uint8_t> ram_;
  GuestMemory mem_ = GuestMemory::over(std::vector<MemoryRegion>{{0, ram_.size(), ram_.data()}});
};

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 7) ^ (i >> 9));
  return v;
}

std::vector<uint8_t> xz(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(lzma_stream_buffer_bound(in.size()));
  size_t pos = 0;
  EXPECT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr, in.data(), in.size(), out.data(), &pos, out.size()),
            LZMA_OK);
  out.resize(pos);
  return out;
}

std::vector<uint8_t> gz(const std::vector<uint8_t>& in) {
  z_stream s{};
  EXPECT_EQ(deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<uint8_t> out(deflateBound(&s, in.size()) + 64);
  s.next_in = const_cast<Bytef*>(in.data());
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

std::vector<uint8_t> zst(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

TEST(KernelPayload, FormatsByMagic) {
  const auto data = pattern(1000);
  EXPECT_EQ(payload_format(xz(data)), PayloadFormat::kXz);
  EXPECT_EQ(payload_format(gz(data)), PayloadFormat::kGzip);
  EXPECT_EQ(payload_format(zst(data)), PayloadFormat::kZstd);
  EXPECT_EQ(payload_format(data), PayloadFormat::kOther);
  EXPECT_EQ(payload_format({}), PayloadFormat::kOther);
}

TEST(KernelPayload, EachDecompressorRoundTrips) {
  const auto data = pattern(9 << 20);  // several output chunks
  for (const auto& packed : {xz(data), gz(data), zst(data)}) {
    auto out = decompress_payload(packed);
    ASSERT_TRUE(out) << out.error().message;
    EXPECT_EQ(*out, data) << payload_format_name(payload_format(packed));
  }
}

TEST(KernelPayload, CorruptOrTruncatedIsOneLineError) {
  const auto data = pattern(1 << 20);
  for (auto packed : {xz(data), gz(data), zst(data)}) {
    const auto name = payload_format_name(payload_format(packed));
    auto truncated = packed;
    truncated.resize(truncated.size() / 2);
    auto r = decompress_payload(truncated);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    auto flipped = packed;
    for (size_t i = 32; i < flipped.size(); i += 97) flipped[i] ^= 0x5a;
    EXPECT_FALSE(decompress_payload(flipped)) << name;
  }
  EXPECT_FALSE(decompress_payload(pattern(64)));
}

Elf64_Phdr& phdr(std::vector<uint8_t>& b) { return *reinterpret_cast<Elf64_Phdr*>(b.data() + sizeof(Elf64_Ehdr)); }
Elf64_Ehdr& ehdr(std::vector<uint8_t>& b) { return *reinterpret_cast<Elf64_Ehdr*>(b.data()); }

TEST(Vmlinux, LoadsSegmentAndZeroesBss) {
  const auto file = elf(0x1000000, 4096, 3 * 4096);
  auto kernel = parse_vmlinux(file);
  ASSERT_TRUE(kernel) << kernel.error().message;
  EXPECT_EQ(kernel->entry, 0x1000000u);
  EXPECT_EQ(kernel->lowest, 0x1000000u);
  EXPECT_EQ(kernel->end, 0x1003000u);
  HeapGuest guest(64 << 20);
  auto bss = guest.memory().slice(0x1001000, 8192);
  std::memset(bss->data(), 0xee, bss->size());
  ASSERT_TRUE(load_vmlinux(guest.memory(), *kernel, reader_of(file)));
  auto text = guest.memory().slice(0x1000000, 4096);
  EXPECT_EQ((*text)[0], 1);
  EXPECT_EQ((*text)[4095], static_cast<uint8_t>(4096));
  EXPECT_EQ((*bss)[0], 0);
  EXPECT_EQ((*bss)[8191], 0);
}

TEST(Vmlinux, HostileHeadersAreRefused) {
  const auto good = elf(0x1000000, 4096, 4096);
  const auto refused = [](std::vector<uint8_t> b) { return !parse_vmlinux(b).has_value(); };
  EXPECT_TRUE(refused({}));
  EXPECT_TRUE(refused(std::vector<uint8_t>(good.begin(), good.begin() + 40)));
  auto b = good;
  b[0] = 0;
  EXPECT_TRUE(refused(b));  // magic
  b = good;
  ehdr(b).e_machine = EM_386;
  EXPECT_TRUE(refused(b));
  b = good;
  ehdr(b).e_phoff = 1ull << 40;
  EXPECT_TRUE(refused(b));  // program headers past the end
  b = good;
  ehdr(b).e_phnum = 0xffff;
  EXPECT_TRUE(refused(b));
  b = good;
  phdr(b).p_offset = b.size() - 10;
  EXPECT_TRUE(refused(b));  // segment data past the end
  b = good;
  phdr(b).p_filesz = ~0ull;
  EXPECT_TRUE(refused(b));  // offset + filesz overflows
  b = good;
  phdr(b).p_memsz = 100;
  EXPECT_TRUE(refused(b));  // filesz > memsz
  b = good;
  phdr(b).p_paddr = 0x7000;  // over the zero page
  ehdr(b).e_entry = 0x7000;
  EXPECT_TRUE(refused(b));
  b = good;
  ehdr(b).e_entry = 0x2000000;
  EXPECT_TRUE(refused(b));  // entry outside every segment
  b = good;
  phdr(b).p_type = PT_NOTE;
  EXPECT_TRUE(refused(b));  // nothing to load
}

TEST(Vmlinux, SegmentOutsideGuestRamIsUsageError) {
  const auto file = elf(0x1000000, 4096, 4096);
  auto kernel = parse_vmlinux(file);
  ASSERT_TRUE(kernel);
  HeapGuest guest(8 << 20);
  auto r = load_vmlinux(guest.memory(), *kernel, reader_of(file));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kUsage);
}

// The stock Debian kernel: its XZ payload decompresses to an ELF whose entry is
// startup_64 at LOAD_PHYSICAL_ADDR (16 MiB), and load_linux enters it there.
TEST(Vmlinux, StockKernelDecompressesAndLoads) {
  const char* path = std::getenv("FRANCA_TEST_KERNEL");
  ASSERT_TRUE(path && *path) << "FRANCA_TEST_KERNEL is not set (scripts/fetch-kernel.sh)";
  auto image = load_bzimage_file(path);
  ASSERT_TRUE(image) << image.error().message;
  auto payload = read_compressed_kernel(*image);
  ASSERT_TRUE(payload) << payload.error().message;
  EXPECT_EQ(payload_format(*payload), PayloadFormat::kXz);
  auto bytes = decompress_payload(*payload);
  ASSERT_TRUE(bytes) << bytes.error().message;
  auto kernel = parse_vmlinux(*bytes);
  ASSERT_TRUE(kernel) << kernel.error().message;
  EXPECT_EQ(kernel->entry, image->pref_address);
  EXPECT_EQ(kernel->lowest, image->pref_address);
  EXPECT_GT(kernel->end, kernel->lowest + (16 << 20));
  EXPECT_LE(kernel->end, image->pref_address + image->init_size);

  HeapGuest guest(256 << 20);
  const std::vector<uint8_t> initrd(1 << 20, 7);
  const FileReader file = reader_of(*bytes);
  DirectKernel direct{*kernel, file};
  auto boot = load_linux(guest.memory(), *image, InitrdSource::from(initrd), "console=ttyS0", 0, &direct);
  ASSERT_TRUE(boot) << boot.error().message;
  EXPECT_EQ(boot->entry, kernel->entry);
  auto params = guest.memory().read_obj<boot_params>(boot->zero_page);
  ASSERT_TRUE(params);
  EXPECT_GE(params->hdr.ramdisk_image, kernel->end);  // the initrd stays clear of the kernel's bss
  EXPECT_EQ(std::memcmp(&params->hdr.header, "HdrS", 4), 0);

  HeapGuest small(48 << 20);  // too small to hold the kernel's _end
  auto too_small = load_linux(small.memory(), *image, InitrdSource{}, "", 0, &direct);
  ASSERT_FALSE(too_small);
  EXPECT_NE(too_small.error().message.find("--memory too small"), std::string::npos);
}

}  // namespace
}  // namespace franca::firmware
