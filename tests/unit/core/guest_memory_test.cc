// Guest memory: whole-range checks at region edges and against overflow.
#include "vmm/core/guest_memory.h"

#include <gtest/gtest.h>

#include <vector>

namespace franca {
namespace {

class GuestMemoryTest : public ::testing::Test {
 protected:
  std::vector<uint8_t> low_ = std::vector<uint8_t>(0x1000);
  std::vector<uint8_t> high_ = std::vector<uint8_t>(0x1000);
  GuestMemory mem_ =
      GuestMemory::over(std::vector<MemoryRegion>{{0, 0x1000, low_.data()}, {0x10000, 0x1000, high_.data()}});
};

TEST_F(GuestMemoryTest, RoundTripsAnObject) {
  ASSERT_TRUE(mem_.write_obj<uint32_t>(0x10010, 0xdeadbeef));
  EXPECT_EQ(*mem_.read_obj<uint32_t>(0x10010), 0xdeadbeefu);
}

TEST_F(GuestMemoryTest, AcceptsARangeEndingExactlyAtTheRegionEnd) { EXPECT_TRUE(mem_.contains(0xff0, 0x10)); }
TEST_F(GuestMemoryTest, RejectsARangeCrossingTheRegionEnd) { EXPECT_FALSE(mem_.contains(0xff8, 0x10)); }
TEST_F(GuestMemoryTest, RejectsTheGapBetweenRegions) { EXPECT_FALSE(mem_.contains(0x2000, 1)); }
TEST_F(GuestMemoryTest, RejectsLengthOverflow) { EXPECT_FALSE(mem_.contains(0x10, UINT64_MAX)); }
TEST_F(GuestMemoryTest, RejectsAddressOverflow) { EXPECT_FALSE(mem_.contains(UINT64_MAX, 2)); }
TEST_F(GuestMemoryTest, FailedWriteLeavesMemoryUntouched) {
  EXPECT_FALSE(mem_.write_obj<uint64_t>(0xffc, ~0ull));
  EXPECT_EQ(low_[0xffc], 0);
}
TEST_F(GuestMemoryTest, TotalSizeSumsRegions) { EXPECT_EQ(mem_.total_size(), 0x2000u); }

TEST(GuestMemoryAnonymous, MapsZeroedMemory) {
  auto mem = GuestMemory::map_anonymous(std::vector<MemoryRegion>{{0, 1 << 20, nullptr}});
  ASSERT_TRUE(mem);
  EXPECT_EQ(*mem->read_obj<uint64_t>(0x1234), 0u);
}

// KVM maps a 2 MiB guest page only where host and guest addresses agree modulo
// 2 MiB (QEMU aligns its RAM the same way), so the host side of every region
// is laid out to match its guest address, whatever that address is.
TEST(GuestMemoryAnonymous, HostAddressesAreCongruentWithGuestAddressesModulo2MiB) {
  constexpr uint64_t k2M = 2ULL << 20;
  auto mem = GuestMemory::map_anonymous(std::vector<MemoryRegion>{
      {0, 6 * k2M, nullptr}, {0x100000000ULL, 3 * k2M, nullptr}, {0x10003000ULL, 5 * k2M + 0x5000, nullptr}});
  ASSERT_TRUE(mem);
  for (const MemoryRegion& r : mem->regions()) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r.host) % k2M, r.gpa % k2M) << std::hex << r.gpa;
  }
  ASSERT_TRUE(mem->write_obj<uint64_t>(0x10003000ULL + 5 * k2M + 0x5000 - 8, 7));  // the very last bytes are mapped
  EXPECT_EQ(*mem->read_obj<uint64_t>(0x10003000ULL + 5 * k2M + 0x5000 - 8), 7u);
}

}  // namespace
}  // namespace franca
