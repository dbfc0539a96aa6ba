// The decompressed-kernel cache over the stock Debian kernel (FRANCA_TEST_KERNEL):
// a miss stores an entry, a hit loads the same bytes from it, a damaged entry is
// replaced, an unwritable directory costs only the cache, off means no
// decompression at all.
#include "vmm/kernel_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace franca {
namespace {

namespace fs = std::filesystem;

class KernelCache : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* path = std::getenv("FRANCA_TEST_KERNEL");
    ASSERT_TRUE(path && *path) << "FRANCA_TEST_KERNEL is not set (scripts/fetch-kernel.sh)";
    auto image = firmware::load_bzimage_file(path);
    ASSERT_TRUE(image) << image.error().message;
    image_ = std::move(*image);
    dir_ = fs::temp_directory_path() / ("franca-kcache-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }
  std::vector<uint8_t> segment_bytes(const DecompressedKernel& k) {
    const auto& s = k.elf.segments.front();
    std::vector<uint8_t> out(std::min<uint64_t>(s.filesz, 1 << 20));
    EXPECT_TRUE(k.file(s.offset, out));
    return out;
  }
  std::vector<fs::path> entries() {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path());
    return out;
  }
  firmware::BzImage image_;
  fs::path dir_;
};

TEST_F(KernelCache, MissStoresHitLoadsTheSameKernel) {
  KernelCacheOption option{true, dir_.string()};
  auto cold = decompressed_kernel(image_, option);
  ASSERT_TRUE(cold) << cold.error().message;
  ASSERT_TRUE(cold->has_value());
  EXPECT_NE((*cold)->origin.find("stored in the kernel cache"), std::string::npos) << (*cold)->origin;
  ASSERT_EQ(entries().size(), 1u);  // no temporary file left behind
  auto warm = decompressed_kernel(image_, option);
  ASSERT_TRUE(warm && warm->has_value());
  EXPECT_NE((*warm)->origin.find("from the kernel cache"), std::string::npos) << (*warm)->origin;
  EXPECT_EQ((*warm)->elf.entry, (*cold)->elf.entry);
  EXPECT_EQ((*warm)->elf.end, (*cold)->elf.end);
  EXPECT_EQ(segment_bytes(**warm), segment_bytes(**cold));
}

TEST_F(KernelCache, DamagedEntryIsReplaced) {
  KernelCacheOption option{true, dir_.string()};
  ASSERT_TRUE(decompressed_kernel(image_, option));
  const auto entry = entries().at(0);
  { std::ofstream(entry, std::ios::binary | std::ios::trunc) << "garbage"; }
  auto again = decompressed_kernel(image_, option);
  ASSERT_TRUE(again && again->has_value());
  EXPECT_NE((*again)->origin.find("stored in"), std::string::npos) << (*again)->origin;
  EXPECT_GT(fs::file_size(entry), 1u << 20);
}

TEST_F(KernelCache, UnwritableDirectoryStillBoots) {
  if (::geteuid() == 0) {
    // root writes anywhere: use a path under a regular file instead
    std::ofstream(dir_.string() + ".file") << "x";
    KernelCacheOption option{true, dir_.string() + ".file/sub"};
    auto k = decompressed_kernel(image_, option);
    fs::remove(dir_.string() + ".file");
    ASSERT_TRUE(k && k->has_value());
    EXPECT_EQ((*k)->origin.find("stored"), std::string::npos);
    EXPECT_FALSE(segment_bytes(**k).empty());
    return;
  }
  fs::create_directories(dir_);
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  auto k = decompressed_kernel(image_, {true, dir_.string()});
  ASSERT_TRUE(k && k->has_value());
  EXPECT_EQ((*k)->origin.find("stored"), std::string::npos);
}

TEST_F(KernelCache, OffMeansTheGuestDecompresses) {
  auto k = decompressed_kernel(image_, {false, dir_.string()});
  ASSERT_TRUE(k);
  EXPECT_FALSE(k->has_value());
  EXPECT_FALSE(fs::exists(dir_));
}

TEST(KernelCacheDir, FollowsXdgThenHome) {
  const std::string saved_xdg = std::getenv("XDG_CACHE_HOME") ? std::getenv("XDG_CACHE_HOME") : "";
  ::setenv("XDG_CACHE_HOME", "/x/cache", 1);
  EXPECT_EQ(default_kernel_cache_dir(), "/x/cache/franca/kernels");
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(default_kernel_cache_dir(), "/home/u/.cache/franca/kernels");
  if (!saved_xdg.empty()) ::setenv("XDG_CACHE_HOME", saved_xdg.c_str(), 1);
}

}  // namespace
}  // namespace franca

namespace franca {
namespace {

// The key sees every byte: a change in a whole word or in the tail, and the length.
TEST(KernelHash, EveryByteAndTheLengthCount) {
  std::vector<uint8_t> bytes(8 * 1000 + 5, 0x5a);
  const uint64_t base = kernel_hash(bytes);
  for (size_t at : {size_t{0}, size_t{3}, size_t{7999}, size_t{8000}, size_t{8004}}) {
    auto changed = bytes;
    changed[at] ^= 1;
    EXPECT_NE(kernel_hash(changed), base) << at;
  }
  auto shorter = bytes;
  shorter.pop_back();
  EXPECT_NE(kernel_hash(shorter), base);
  EXPECT_EQ(kernel_hash(bytes), base);
  EXPECT_EQ(kernel_hash({}), 0xcbf29ce484222325ull);
}

}  // namespace
}  // namespace franca
