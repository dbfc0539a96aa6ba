// bzImage parsing: the stock Debian kernel (FRANCA_TEST_KERNEL) and corrupt images
// built in memory from a minimal synthetic header (virtio-notes.md §7.4 offsets).
#include "firmware/bzimage.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace franca::firmware {
namespace {

template <class T>
void put(std::vector<uint8_t>& bytes, size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

// The smallest image the parser accepts: 4 setup sectors, a 4 KiB payload, protocol 2.15.
std::vector<uint8_t> synthetic_bzimage() {
  constexpr size_t kPayload = 4096;
  std::vector<uint8_t> b(5 * 512 + kPayload);
  b[0x1f1] = 4;                            // setup_sects
  put<uint32_t>(b, 0x1f4, kPayload / 16);  // syssize
  put<uint16_t>(b, 0x1fe, 0xaa55);         // boot_flag
  b[0x200] = 0xeb;                         // jmp over the header to 0x26c
  b[0x201] = 0x6a;
  std::memcpy(&b[0x202], "HdrS", 4);
  put<uint16_t>(b, 0x206, 0x020f);      // version
  b[0x211] = 0x01;                      // loadflags: LOADED_HIGH
  put<uint32_t>(b, 0x22c, 0x7fffffff);  // initrd_addr_max
  put<uint32_t>(b, 0x230, 0x200000);    // kernel_alignment
  b[0x234] = 1;                         // relocatable_kernel
  put<uint16_t>(b, 0x236, 0x3);         // xloadflags: KERNEL_64 | CAN_BE_LOADED_ABOVE_4G
  put<uint32_t>(b, 0x238, 2047);        // cmdline_size
  put<uint64_t>(b, 0x258, 0x1000000);   // pref_address
  put<uint32_t>(b, 0x260, 0x2000000);   // init_size
  b[5 * 512] = 0x90;                    // first payload byte
  return b;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// CTest sets FRANCA_TEST_KERNEL to the stock kernel scripts/fetch-kernel.sh downloads.
std::string test_kernel_path() {
  const char* path = std::getenv("FRANCA_TEST_KERNEL");
  return path ? path : "";
}
constexpr const char* kNoKernel =
    "FRANCA_TEST_KERNEL is not set: point it at a bzImage (scripts/fetch-kernel.sh puts the Debian "
    "kernel at ${FRANCA_CACHE:-build/cache}/kernel/vmlinuz)";

std::string parse_error(const std::vector<uint8_t>& bytes) {
  auto image = parse_bzimage(bytes);
  if (image) return "(accepted)";
  EXPECT_EQ(image.error().kind, ErrorKind::kUsage);
  return image.error().message;
}

TEST(BzImageDebian, ParsesTheStockKernel) {
  const std::string path = test_kernel_path();
  ASSERT_FALSE(path.empty()) << kNoKernel;
  auto image = load_bzimage_file(path);
  ASSERT_TRUE(image) << image.error().message;
  const std::vector<uint8_t> file = read_bytes(path);
  EXPECT_GE(image->protocol_version, 0x020c);
  EXPECT_TRUE(image->xloadflags & 0x1);
  EXPECT_TRUE(image->relocatable);
  EXPECT_EQ(image->setup_sects, file[0x1f1]);
  EXPECT_EQ(image->payload_offset, (image->setup_sects + 1u) * 512);
  EXPECT_EQ(image->payload_size(), file.size() - image->payload_offset);
  EXPECT_EQ(image->setup_header.size(), 0x202u + file[0x201] - 0x1f1);
  EXPECT_TRUE(std::equal(image->setup_header.begin(), image->setup_header.end(), file.begin() + 0x1f1));
  EXPECT_GT(image->init_size, image->payload_size());
  EXPECT_GE(image->cmdline_size, 255u);
  EXPECT_GT(image->initrd_addr_max, 0x100000u);
}

TEST(BzImageDebian, FileImageKeepsOnlyItsHeadAndReadsThePayloadFromTheFile) {
  const std::string path = test_kernel_path();
  ASSERT_FALSE(path.empty()) << kNoKernel;
  auto image = load_bzimage_file(path);
  ASSERT_TRUE(image) << image.error().message;
  const std::vector<uint8_t> file = read_bytes(path);
  EXPECT_LE(image->file.size(), 64u * 1024);  // no heap copy of the whole kernel
  std::vector<uint8_t> payload(image->payload_size());
  ASSERT_TRUE(image->read_payload(payload));
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), file.begin() + image->payload_offset));
}

TEST(BzImageDebian, RejectsTheTruncatedStockKernel) {
  const std::string path = test_kernel_path();
  ASSERT_FALSE(path.empty()) << kNoKernel;
  std::vector<uint8_t> file = read_bytes(path);
  ASSERT_GT(file.size(), 1u << 20) << "FRANCA_TEST_KERNEL=" << path << " is not a kernel";
  file.resize(file.size() / 2);
  EXPECT_NE(parse_error(file).find("truncated"), std::string::npos) << parse_error(file);
}

TEST(BzImage, AcceptsTheSyntheticImage) {
  auto image = parse_bzimage(synthetic_bzimage());
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->protocol_version, 0x020f);
  EXPECT_EQ(image->payload_offset, 5u * 512);
  EXPECT_EQ(image->payload().size(), 4096u);
  EXPECT_EQ(image->payload()[0], 0x90);
  EXPECT_EQ(image->setup_header.size(), 0x26cu - 0x1f1);
  EXPECT_EQ(image->init_size, 0x2000000u);
  EXPECT_EQ(image->pref_address, 0x1000000u);
  EXPECT_EQ(image->kernel_alignment, 0x200000u);
  EXPECT_EQ(image->initrd_addr_max, 0x7fffffffu);
  EXPECT_EQ(image->cmdline_size, 2047u);
  EXPECT_EQ(image->xloadflags, 0x3);
}

TEST(BzImage, SetupSectsZeroMeansFour) {
  auto bytes = synthetic_bzimage();
  bytes[0x1f1] = 0;
  auto image = parse_bzimage(bytes);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->setup_sects, 4);
  EXPECT_EQ(image->payload_offset, 5u * 512);
}

TEST(BzImage, RejectsAFileTooSmallForTheHeader) {
  auto bytes = synthetic_bzimage();
  bytes.resize(0x200);
  EXPECT_EQ(parse_error(bytes), "too small for a bzImage (512 bytes, truncated?)");
}

TEST(BzImage, RejectsATruncatedPayload) {
  auto bytes = synthetic_bzimage();
  bytes.resize(bytes.size() - 16);
  EXPECT_EQ(parse_error(bytes), "truncated: the protected-mode kernel has 4080 bytes, the header says 4096");
}

TEST(BzImage, RejectsAMissingBootFlag) {
  auto bytes = synthetic_bzimage();
  put<uint16_t>(bytes, 0x1fe, 0);
  EXPECT_EQ(parse_error(bytes), "not a bzImage (no boot flag 0xAA55 at 0x1fe)");
}

TEST(BzImage, RejectsAMissingHdrSMagic) {
  auto bytes = synthetic_bzimage();
  std::memcpy(&bytes[0x202], "HdrX", 4);
  EXPECT_EQ(parse_error(bytes), "not a bzImage (no \"HdrS\" magic at 0x202)");
}

TEST(BzImage, RejectsProtocol206) {
  auto bytes = synthetic_bzimage();
  put<uint16_t>(bytes, 0x206, 0x0206);
  EXPECT_EQ(parse_error(bytes), "boot protocol 2.06 too old, need 2.12");
}

TEST(BzImage, AcceptsProtocol212) {
  auto bytes = synthetic_bzimage();
  put<uint16_t>(bytes, 0x206, 0x020c);
  EXPECT_EQ(parse_error(bytes), "(accepted)");
}

TEST(BzImage, RejectsAKernelWithout64BitEntry) {
  auto bytes = synthetic_bzimage();
  put<uint16_t>(bytes, 0x236, 0x2);
  EXPECT_EQ(parse_error(bytes), "kernel has no 64-bit entry point (XLF_KERNEL_64 not set in xloadflags)");
}

TEST(BzImage, RejectsAKernelNotLoadableHigh) {
  auto bytes = synthetic_bzimage();
  bytes[0x211] = 0;
  EXPECT_NE(parse_error(bytes).find("LOADED_HIGH"), std::string::npos);
}

TEST(BzImage, RejectsSetupSectsPastTheEndOfTheFile) {
  auto bytes = synthetic_bzimage();
  bytes[0x1f1] = 200;
  EXPECT_EQ(parse_error(bytes), "setup_sects 200 puts the kernel at 0x19200, past the end of the file (6656 bytes)");
}

TEST(BzImage, RejectsAHeaderEndingBeforeInitSize) {
  auto bytes = synthetic_bzimage();
  bytes[0x201] = 0x40;  // header would end at 0x242
  EXPECT_NE(parse_error(bytes).find("before init_size"), std::string::npos);
}

TEST(BzImage, KeepsOnlyTheZeroPageHeaderAreaOfALongHeader) {
  auto bytes = synthetic_bzimage();
  bytes[0x201] = 0xff;  // would end at 0x301, past boot_params' header area (0x290)
  auto image = parse_bzimage(bytes);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->setup_header.size(), 0x290u - 0x1f1);
}

TEST(BzImageFile, NamesTheFlagPathAndReasonWhenMissing) {
  auto image = load_bzimage_file("/nonexistent/vmlinuz");
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().kind, ErrorKind::kUsage);
  EXPECT_EQ(image.error().message, "--kernel /nonexistent/vmlinuz: No such file or directory");
}

TEST(BzImageFile, RejectsADirectory) {
  auto image = load_bzimage_file("/tmp", "--kernel");
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().message, "--kernel /tmp: Is a directory");
}

TEST(BzImageFile, PrefixesParseErrorsWithThePath) {
  const std::string path = ::testing::TempDir() + "franca_not_a_kernel";
  std::ofstream(path) << "just text\n";
  auto image = load_bzimage_file(path);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().message, "--kernel " + path + ": too small for a bzImage (10 bytes, truncated?)");
}

}  // namespace
}  // namespace franca::firmware
