// Guest RAM layout, e820 and load_linux over heap-backed guest memory: zero page
// fields at their boot-protocol offsets (virtio-notes.md §7.4), and inputs that do not fit.
#include "firmware/boot_params.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "arch/x86_64/layout.h"

namespace franca::firmware {
namespace {

constexpr std::span<const uint8_t> kNoInitrd{};

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

template <class T>
void put(std::vector<uint8_t>& bytes, size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

// A minimal protocol-2.15 image: runs at 16 MiB and needs 32 MiB there (ends at 48 MiB).
std::vector<uint8_t> synthetic_bzimage(uint32_t initrd_addr_max = 0x7fffffff) {
  std::vector<uint8_t> b(5 * 512 + 4096, 0xcc);
  std::memset(b.data(), 0, 0x26c);  // header; 0xcc after it shows what is not copied
  b[0x1f1] = 4;
  put<uint32_t>(b, 0x1f4, 4096 / 16);
  put<uint16_t>(b, 0x1fe, 0xaa55);
  b[0x201] = 0x6a;
  std::memcpy(&b[0x202], "HdrS", 4);
  put<uint16_t>(b, 0x206, 0x020f);
  b[0x211] = 0x01;
  put<uint32_t>(b, 0x22c, initrd_addr_max);
  put<uint32_t>(b, 0x230, 0x200000);
  b[0x234] = 1;
  put<uint16_t>(b, 0x236, 0x3);
  put<uint32_t>(b, 0x238, 2047);
  put<uint64_t>(b, 0x258, 0x1000000);
  put<uint32_t>(b, 0x260, 0x2000000);
  return b;
}

BzImage synthetic_image(uint32_t initrd_addr_max = 0x7fffffff) {
  auto image = parse_bzimage(synthetic_bzimage(initrd_addr_max));
  EXPECT_TRUE(image) << image.error().message;
  return image ? std::move(*image) : BzImage{};
}

// The stock kernel CTest names in FRANCA_TEST_KERNEL (scripts/fetch-kernel.sh downloads it).
Result<BzImage> load_test_kernel() {
  const char* path = std::getenv("FRANCA_TEST_KERNEL");
  if (!path) {
    return usage_error(
        "FRANCA_TEST_KERNEL is not set: point it at a bzImage (scripts/fetch-kernel.sh puts "
        "the Debian kernel at ${FRANCA_CACHE:-build/cache}/kernel/vmlinuz)");
  }
  return load_bzimage_file(path);
}

// Guest RAM at GPA 0 in a std::vector, with a reader for zero-page fields.
class HeapGuest {
 public:
  explicit HeapGuest(uint64_t size) : ram_(size) {}
  template <class T>
  T at(uint64_t gpa) const {
    T value;
    std::memcpy(&value, ram_.data() + gpa, sizeof(T));
    return value;
  }
  template <class T>
  T zero_page(uint64_t offset) const {
    return at<T>(x86::kZeroPageAddr + offset);
  }
  const GuestMemory& memory() const { return mem_; }
  const std::vector<uint8_t>& bytes() const { return ram_; }

 private:
  std::vector<uint8_t> ram_;
  GuestMemory mem_ = GuestMemory::over(std::vector<MemoryRegion>{{0, ram_.size(), ram_.data()}});
};

// ---- guest_ram_layout and build_e820 ----

TEST(GuestRamLayout, SmallGuestIsOneRegionFromZero) {
  auto layout = guest_ram_layout(512 * kMiB);
  ASSERT_EQ(layout.size(), 1u);
  EXPECT_EQ(layout[0].gpa, 0u);
  EXPECT_EQ(layout[0].size, 512 * kMiB);
}

TEST(GuestRamLayout, GuestEndingAtTheHoleIsOneRegion) {
  auto layout = guest_ram_layout(3 * kGiB);
  ASSERT_EQ(layout.size(), 1u);
  EXPECT_EQ(layout[0].size, x86::kMmioHoleStart);
}

TEST(GuestRamLayout, LargeGuestIsSplitAroundTheHole) {
  auto layout = guest_ram_layout(8 * kGiB);
  ASSERT_EQ(layout.size(), 2u);
  EXPECT_EQ(layout[0].size, x86::kMmioHoleStart);
  EXPECT_EQ(layout[1].gpa, x86::kMmioHoleEnd);
  EXPECT_EQ(layout[1].size, 8 * kGiB - x86::kMmioHoleStart);
}

class E820Sizes : public ::testing::TestWithParam<uint64_t> {};

TEST_P(E820Sizes, IsSortedWithoutOverlaps) {
  const auto map = build_e820(GetParam());
  for (size_t i = 1; i < map.size(); ++i) EXPECT_LE(map[i - 1].addr + map[i - 1].size, map[i].addr) << i;
}

TEST_P(E820Sizes, RamAddsUpToTheGuestSizeLessTheBiosArea) {
  uint64_t ram = 0;
  for (const E820Entry& e : build_e820(GetParam())) ram += e.type == E820Type::kRam ? e.size : 0;
  EXPECT_EQ(ram, GetParam() - (x86::kHighMemStart - x86::kEbdaStart));
}

TEST_P(E820Sizes, NothingInTheMmioHole) {
  for (const E820Entry& e : build_e820(GetParam())) {
    EXPECT_TRUE(e.addr + e.size <= x86::kMmioHoleStart || e.addr >= x86::kMmioHoleEnd) << std::hex << e.addr;
  }
}

TEST_P(E820Sizes, LayoutAddsUpToTheGuestSize) {
  uint64_t mapped = 0;
  for (const MemoryRegion& r : guest_ram_layout(GetParam())) mapped += r.size;
  EXPECT_EQ(mapped, GetParam());
}

INSTANTIATE_TEST_SUITE_P(GuestSizes, E820Sizes,
                         ::testing::Values(256 * kMiB, 512 * kMiB, 3 * kGiB, 4 * kGiB, 8 * kGiB));

TEST(E820, SmallGuestHasLowRamReservedBiosAreaAndHighRam) {
  const std::vector<E820Entry> expected{
      {0, 0x9fc00, E820Type::kRam},
      {0x9fc00, 0x100000 - 0x9fc00, E820Type::kReserved},
      {0x100000, 512 * kMiB - 0x100000, E820Type::kRam},
  };
  EXPECT_EQ(build_e820(512 * kMiB), expected);
}

TEST(E820, GuestOfExactlyTheHoleStartHasNoHighRegion) {
  const auto map = build_e820(3 * kGiB);
  ASSERT_EQ(map.size(), 3u);
  EXPECT_EQ(map.back().addr + map.back().size, x86::kMmioHoleStart);
}

TEST(E820, LargeGuestPutsTheRestAbove4GiB) {
  for (uint64_t size : {4 * kGiB, 8 * kGiB}) {
    const auto map = build_e820(size);
    ASSERT_EQ(map.size(), 4u);
    EXPECT_EQ(map[2].addr + map[2].size, x86::kMmioHoleStart);
    EXPECT_EQ(map[3], (E820Entry{4 * kGiB, size - 3 * kGiB, E820Type::kRam}));
  }
}

// ---- load_linux ----

TEST(LoadLinux, FillsTheZeroPageForTheStockKernel) {
  auto image = load_test_kernel();
  ASSERT_TRUE(image) << image.error().message;
  HeapGuest guest(128 * kMiB);
  const std::vector<uint8_t> initrd(3 * kMiB + 5, 0x5a);

  auto boot = load_linux(guest.memory(), *image, initrd, "console=ttyS0 panic=1", 0xe0000);
  ASSERT_TRUE(boot) << boot.error().message;

  EXPECT_EQ(boot->entry, x86::kKernelLoadAddr + 0x200);
  EXPECT_EQ(boot->zero_page, x86::kZeroPageAddr);
  const auto payload = image->payload();
  EXPECT_EQ(std::memcmp(guest.bytes().data() + x86::kKernelLoadAddr, payload.data(), payload.size()), 0);
  EXPECT_EQ(guest.zero_page<uint16_t>(0x1fe), 0xaa55);       // setup header copied
  EXPECT_EQ(guest.zero_page<uint32_t>(0x202), 0x53726448u);  // "HdrS"
  EXPECT_EQ(guest.zero_page<uint8_t>(0x210), 0xff);          // type_of_loader
  EXPECT_EQ(guest.zero_page<uint8_t>(0x211) & 0x1, 0x1);     // LOADED_HIGH
  EXPECT_EQ(guest.zero_page<uint32_t>(0x228), x86::kCmdlineAddr);
  EXPECT_STREQ(reinterpret_cast<const char*>(guest.bytes().data() + x86::kCmdlineAddr), "console=ttyS0 panic=1");
  EXPECT_EQ(guest.zero_page<uint64_t>(0x70), 0xe0000u);                  // acpi_rsdp_addr
  EXPECT_EQ(guest.zero_page<uint8_t>(0x1e8), 3);                         // e820_entries
  EXPECT_EQ(guest.zero_page<uint64_t>(0x2d0 + 2 * 20 + 8), 127 * kMiB);  // third entry's size
  EXPECT_EQ(guest.zero_page<uint32_t>(0x2d0 + 2 * 20 + 16), 1u);         // ... RAM

  const uint64_t ramdisk = guest.zero_page<uint32_t>(0x218);
  EXPECT_EQ(guest.zero_page<uint32_t>(0x21c), initrd.size());
  EXPECT_EQ(ramdisk % 4096, 0u);
  EXPECT_LE(ramdisk + initrd.size(), uint64_t{guest.zero_page<uint32_t>(0x22c)} + 1);  // initrd_addr_max
  EXPECT_GE(ramdisk, image->pref_address + image->init_size);  // clear of the decompressed kernel
  EXPECT_EQ(guest.at<uint8_t>(ramdisk + initrd.size() - 1), 0x5a);
}

TEST(LoadLinux, RejectsMemoryTooSmallForTheStockKernel) {
  auto image = load_test_kernel();
  ASSERT_TRUE(image) << image.error().message;
  HeapGuest guest(64 * kMiB);  // Debian's init_size (~64 MiB) is needed from 16 MiB

  auto boot = load_linux(guest.memory(), *image, kNoInitrd, "", 0);

  ASSERT_FALSE(boot);
  EXPECT_EQ(boot.error().kind, ErrorKind::kUsage);
  EXPECT_NE(boot.error().message.find("--memory too small for this kernel"), std::string::npos) << boot.error().message;
}

TEST(LoadLinux, RejectsMemoryTooSmallForTheKernel) {
  HeapGuest guest(40 * kMiB);  // the synthetic kernel needs up to 48 MiB
  auto boot = load_linux(guest.memory(), synthetic_image(), kNoInitrd, "", 0);
  ASSERT_FALSE(boot);
  EXPECT_EQ(boot.error().message,
            "--memory too small for this kernel: it needs 48 MiB of RAM to decompress (up to 0x3000000), "
            "the guest has 40 MiB");
}

TEST(LoadLinux, PlacesTheInitrdAtTheTopOfRamPageAligned) {
  HeapGuest guest(64 * kMiB);
  const std::vector<uint8_t> initrd(10000, 1);
  ASSERT_TRUE(load_linux(guest.memory(), synthetic_image(), initrd, "", 0));
  EXPECT_EQ(guest.zero_page<uint32_t>(0x218), (64 * kMiB - 10000) / 4096 * 4096);
  EXPECT_EQ(guest.zero_page<uint32_t>(0xc0), 0u);  // ext_ramdisk_image
}

TEST(LoadLinux, KeepsTheInitrdBelowInitrdAddrMax) {
  HeapGuest guest(96 * kMiB);
  ASSERT_TRUE(load_linux(guest.memory(), synthetic_image(56 * kMiB - 1), std::vector<uint8_t>(4096, 1), "", 0));
  EXPECT_EQ(guest.zero_page<uint32_t>(0x218), 56 * kMiB - 4096);
}

TEST(LoadLinux, RejectsAnInitrdThatDoesNotFitAboveTheKernel) {
  HeapGuest guest(64 * kMiB);  // the kernel ends at 48 MiB: 16 MiB left
  auto boot = load_linux(guest.memory(), synthetic_image(), std::vector<uint8_t>(17 * kMiB), "", 0);
  ASSERT_FALSE(boot);
  EXPECT_EQ(boot.error().kind, ErrorKind::kUsage);
  EXPECT_EQ(boot.error().message,
            "--initrd (17825792 bytes) does not fit between the kernel's end at 0x3000000 and 0x4000000 "
            "(initrd_addr_max or the end of RAM below 3 GiB); raise --memory");
}

TEST(LoadLinux, LeavesRamdiskFieldsZeroWithoutAnInitrd) {
  HeapGuest guest(64 * kMiB);
  ASSERT_TRUE(load_linux(guest.memory(), synthetic_image(), kNoInitrd, "", 0));
  EXPECT_EQ(guest.zero_page<uint32_t>(0x218), 0u);
  EXPECT_EQ(guest.zero_page<uint32_t>(0x21c), 0u);
}

TEST(LoadLinux, AcceptsACmdlineOfExactlyCmdlineSize) {
  HeapGuest guest(64 * kMiB);
  const std::string cmdline(2047, 'x');
  ASSERT_TRUE(load_linux(guest.memory(), synthetic_image(), kNoInitrd, cmdline, 0));
  EXPECT_EQ(guest.at<uint8_t>(x86::kCmdlineAddr + 2046), 'x');
  EXPECT_EQ(guest.at<uint8_t>(x86::kCmdlineAddr + 2047), 0);
}

TEST(LoadLinux, RejectsACmdlineLongerThanCmdlineSize) {
  HeapGuest guest(64 * kMiB);
  auto boot = load_linux(guest.memory(), synthetic_image(), kNoInitrd, std::string(2048, 'x'), 0);
  ASSERT_FALSE(boot);
  EXPECT_EQ(boot.error().kind, ErrorKind::kUsage);
  EXPECT_EQ(boot.error().message, "--cmdline is 2048 bytes long, this kernel accepts at most 2047");
}

TEST(LoadLinux, ZeroPageOutsideTheHeaderIsClean) {
  HeapGuest guest(64 * kMiB);
  ASSERT_TRUE(load_linux(guest.memory(), synthetic_image(), kNoInitrd, "", 0));
  EXPECT_EQ(guest.zero_page<uint8_t>(0x1ef), 0);        // sentinel: nothing copied below the header
  EXPECT_EQ(guest.zero_page<uint64_t>(0x250), 0u);      // setup_data
  EXPECT_EQ(guest.zero_page<uint8_t>(0x26c), 0);        // past the header's end
  EXPECT_EQ(guest.zero_page<uint16_t>(0x1fa), 0xffff);  // vid_mode: normal
}

}  // namespace
}  // namespace franca::firmware

// The reset vector stub: a guest that jumps to F000:FFF0 asks the i8042 for a reset.
#include "firmware/reset_vector.h"

namespace franca::firmware {
namespace {

TEST(ResetVector, StubPulsesTheI8042ResetLine) {
  std::vector<uint8_t> ram(1 << 20);
  const std::vector<MemoryRegion> regions{{0, ram.size(), ram.data()}};
  const GuestMemory mem = GuestMemory::over(regions);
  ASSERT_TRUE(write_reset_vector(mem));
  const std::vector<uint8_t> expected{0xb0, 0xfe, 0xe6, 0x64};
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), ram.begin() + kResetVectorAddr));
}

TEST(ResetVector, FailsWithoutRamThere) {
  std::vector<uint8_t> ram(0x1000);
  const std::vector<MemoryRegion> regions{{0, ram.size(), ram.data()}};
  EXPECT_FALSE(write_reset_vector(GuestMemory::over(regions)));
}

}  // namespace
}  // namespace franca::firmware
