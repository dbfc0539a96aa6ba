// --kernel by magic: a vmlinux ELF is loaded behind the setup header franca
// writes (zero page, cmdline, initrd, e820), a bzImage stays a bzImage, and a
// file that is neither is one line naming both.
#include "firmware/kernel_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <asm/bootparam.h>

#include "firmware/boot_params.h"
#include "tests/unit/firmware/test_elf.h"

namespace franca::firmware {
namespace {

namespace fs = std::filesystem;

class KernelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("franca-kfile-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = dir_ / name;
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return path;
  }
  fs::path dir_;
};

TEST_F(KernelFileTest, VmlinuxIsLoadedWithAHeaderFrancaWrites) {
  const std::string path = write("vmlinux", elf(0x1000000, 8192, 3 << 20));
  auto kernel = load_kernel_file(path);
  ASSERT_TRUE(kernel) << kernel.error().message;
  ASSERT_TRUE(kernel->vmlinux);
  EXPECT_EQ(kernel->vmlinux->entry, 0x1000000u);

  std::vector<uint8_t> ram(64 << 20);
  const auto mem = GuestMemory::over(std::vector<MemoryRegion>{{0, ram.size(), ram.data()}});
  const std::vector<uint8_t> initrd(4096, 9);
  const DirectKernel direct{*kernel->vmlinux, kernel->file};
  auto boot = load_linux(mem, kernel->image, InitrdSource::from(initrd), "console=ttyS0 quiet", 0xe0000, &direct);
  ASSERT_TRUE(boot) << boot.error().message;
  EXPECT_EQ(boot->entry, 0x1000000u);
  EXPECT_EQ(ram[0x1000000], 1);  // the segment, read from the file
  auto params = mem.read_obj<boot_params>(boot->zero_page);
  ASSERT_TRUE(params);
  EXPECT_EQ(params->hdr.boot_flag, 0xaa55);
  EXPECT_EQ(std::memcmp(&params->hdr.header, "HdrS", 4), 0);
  EXPECT_EQ(params->hdr.version, 0x020f);
  EXPECT_EQ(params->hdr.type_of_loader, 0xff);
  EXPECT_TRUE(params->hdr.xloadflags & XLF_KERNEL_64);
  EXPECT_GE(params->hdr.ramdisk_image, 0x1000000u + (3 << 20));  // above the kernel's bss
  EXPECT_EQ(params->hdr.ramdisk_size, initrd.size());
  EXPECT_EQ(ram[params->hdr.ramdisk_image], 9);
  EXPECT_STREQ(reinterpret_cast<const char*>(&ram[params->hdr.cmd_line_ptr]), "console=ttyS0 quiet");
  EXPECT_EQ(params->acpi_rsdp_addr, 0xe0000u);
  EXPECT_EQ(params->e820_entries, 3);
  EXPECT_EQ(params->e820_table[2].addr, 0x100000u);
}

TEST_F(KernelFileTest, LongCmdlineIsRefusedForAVmlinux) {
  auto kernel = load_kernel_file(write("vmlinux", elf(0x1000000, 4096, 4096)));
  ASSERT_TRUE(kernel);
  std::vector<uint8_t> ram(64 << 20);
  const auto mem = GuestMemory::over(std::vector<MemoryRegion>{{0, ram.size(), ram.data()}});
  const DirectKernel direct{*kernel->vmlinux, kernel->file};
  auto boot = load_linux(mem, kernel->image, InitrdSource{}, std::string(3000, 'x'), 0, &direct);
  ASSERT_FALSE(boot);
  EXPECT_NE(boot.error().message.find("at most 2047"), std::string::npos);
}

TEST_F(KernelFileTest, HostileElfIsOneUsageLine) {
  auto bytes = elf(0x1000000, 4096, 4096);
  bytes[EI_CLASS] = ELFCLASS32;
  const std::string path = write("elf32", bytes);
  auto kernel = load_kernel_file(path);
  ASSERT_FALSE(kernel);
  EXPECT_EQ(kernel.error().kind, ErrorKind::kUsage);
  EXPECT_EQ(kernel.error().message, "--kernel " + path + ": vmlinux: not a 64-bit x86 ELF executable");
}

TEST_F(KernelFileTest, NeitherBzImageNorElfNamesBoth) {
  const std::string path = write("text", std::vector<uint8_t>(8192, 'x'));
  auto kernel = load_kernel_file(path);
  ASSERT_FALSE(kernel);
  EXPECT_EQ(kernel.error().kind, ErrorKind::kUsage);
  EXPECT_EQ(kernel.error().message,
            "--kernel " + path + ": not a bzImage (no boot flag 0xAA55 at 0x1fe) nor an ELF vmlinux (no ELF magic)");
}

// The stock kernel is a bzImage; its decompressed payload, written out, is a vmlinux entered at 16 MiB.
TEST_F(KernelFileTest, StockBzImageAndItsVmlinux) {
  const char* stock = std::getenv("FRANCA_TEST_KERNEL");
  ASSERT_TRUE(stock && *stock) << "FRANCA_TEST_KERNEL is not set (scripts/fetch-kernel.sh)";
  auto bz = load_kernel_file(stock);
  ASSERT_TRUE(bz) << bz.error().message;
  EXPECT_FALSE(bz->vmlinux);
  auto payload = read_compressed_kernel(bz->image);
  ASSERT_TRUE(payload) << payload.error().message;
  auto bytes = decompress_payload(*payload);
  ASSERT_TRUE(bytes) << bytes.error().message;
  auto vmlinux = load_kernel_file(write("vmlinux", *bytes));
  ASSERT_TRUE(vmlinux) << vmlinux.error().message;
  ASSERT_TRUE(vmlinux->vmlinux);
  EXPECT_EQ(vmlinux->vmlinux->entry, bz->image.pref_address);
  EXPECT_EQ(vmlinux->image.pref_address, bz->image.pref_address);
}

}  // namespace
}  // namespace franca::firmware
