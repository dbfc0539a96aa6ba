// virtio-blk device model: image checks (one usage error naming the path),
// offered features, config-space bytes and I/O engine selection.
#include "devices/virtio/block/block.h"

#include <endian.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#define VIRTIO_RING_NO_LEGACY
#include <linux/virtio_ring.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

#include "tests/unit/devices/virtio/block/block_test_support.h"

namespace franca::virtio {
namespace {

using testing::TempImage;

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

Result<std::unique_ptr<Block>> create(const std::string& path, bool readonly = false) {
  return Block::create({.path = path, .readonly = readonly}, "blk0");
}

void expect_usage_error(const Result<std::unique_ptr<Block>>& r, const std::string& path, const std::string& what) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kUsage);
  EXPECT_NE(r.error().message.find("--disk path=" + path + ": "), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
}

TEST(BlockImage, MissingFileIsAUsageError) {
  expect_usage_error(create("/nonexistent/franca.img"), "/nonexistent/franca.img", "no such file");
}

TEST(BlockImage, DirectoryIsAUsageError) {
  expect_usage_error(create("/tmp"), "/tmp", "directory");
  expect_usage_error(create("/tmp", true), "/tmp", "directory");
}

TEST(BlockImage, CharacterDeviceIsAUsageError) {
  expect_usage_error(create("/dev/null", true), "/dev/null", "not a regular file or block device");
}

TEST(BlockImage, EmptyFileIsAUsageError) {
  TempImage image(0);
  expect_usage_error(create(image.path()), image.path(), "empty");
}

TEST(BlockImage, SizeNotAMultipleOf512IsAUsageError) {
  TempImage image(1000);
  expect_usage_error(create(image.path()), image.path(), "multiple of 512");
}

TEST(BlockImage, UnwritableFileNeedsReadonly) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores file permissions";
  TempImage image(4096);
  ASSERT_EQ(chmod(image.path().c_str(), 0444), 0);
  expect_usage_error(create(image.path()), image.path(), "readonly=on");
  EXPECT_TRUE(create(image.path(), true).has_value());
}

TEST(BlockImage, SecondWriterIsRefusedWhileTheFirstHoldsTheLock) {
  TempImage image(4096);
  auto first = create(image.path());
  ASSERT_TRUE(first.has_value()) << first.error().message;
  expect_usage_error(create(image.path()), image.path(), "locked");
  expect_usage_error(create(image.path(), true), image.path(), "locked");
}

TEST(BlockImage, ReadersShareTheImage) {
  TempImage image(4096);
  auto first = create(image.path(), true);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(create(image.path(), true).has_value());
  expect_usage_error(create(image.path()), image.path(), "locked");
}

TEST(BlockImage, LockIsReleasedWithTheDevice) {
  TempImage image(4096);
  { ASSERT_TRUE(create(image.path()).has_value()); }
  EXPECT_TRUE(create(image.path()).has_value());
}

TEST(BlockImage, SerialLongerThanTwentyBytesIsAUsageError) {
  TempImage image(4096);
  auto r = Block::create({.path = image.path(), .serial = std::string(21, 'x')}, "blk0");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("serial"), std::string::npos);
}

TEST(BlockImage, ZeroQueuesIsAUsageError) {
  TempImage image(4096);
  EXPECT_FALSE(Block::create({.path = image.path(), .queues = 0}, "blk0").has_value());
  EXPECT_FALSE(Block::create({.path = image.path(), .queues = Block::kMaxQueues + 1}, "blk0").has_value());
}

TEST(BlockFeatures, ReadWriteDiskOffersDiscardAndWriteZeroes) {
  TempImage image(1 << 20);
  auto blk = create(image.path());
  ASSERT_TRUE(blk.has_value());
  const uint64_t f = (*blk)->offered_features();
  for (unsigned b : {VIRTIO_F_VERSION_1, VIRTIO_F_RING_PACKED, VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC,
                     VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_SIZE_MAX,
                     VIRTIO_BLK_F_TOPOLOGY, VIRTIO_BLK_F_MQ, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES}) {
    EXPECT_TRUE(f & bit(b)) << b;
  }
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_RO));
  EXPECT_EQ((*blk)->device_type(), uint32_t{VIRTIO_ID_BLOCK});
}

TEST(BlockFeatures, ReadOnlyDiskOffersRoAndNoDiscard) {
  TempImage image(1 << 20);
  auto blk = create(image.path(), true);
  ASSERT_TRUE(blk.has_value());
  const uint64_t f = (*blk)->offered_features();
  EXPECT_TRUE(f & bit(VIRTIO_BLK_F_RO));
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_DISCARD));
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_WRITE_ZEROES));
}

TEST(BlockFeatures, FeaturesMaskHidesNamedBits) {
  TempImage image(1 << 20);
  auto mask = parse_feature_mask("-discard,-ring_packed,-mq", block_feature_names(), "--disk");
  ASSERT_TRUE(mask.has_value()) << mask.error().message;
  auto blk = Block::create({.path = image.path(), .feature_mask = *mask}, "blk0");
  ASSERT_TRUE(blk.has_value());
  const uint64_t f = (*blk)->offered_features();
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_DISCARD));
  EXPECT_FALSE(f & bit(VIRTIO_F_RING_PACKED));
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_MQ));
  EXPECT_TRUE(f & bit(VIRTIO_BLK_F_WRITE_ZEROES));
}

TEST(BlockFeatures, EveryBlockFeatureHasAName) {
  for (const char* name :
       {"flush", "ro", "blk_size", "seg_max", "size_max", "topology", "discard", "write_zeroes", "mq"}) {
    EXPECT_TRUE(parse_feature_mask(std::string("-") + name, block_feature_names(), "--disk").has_value()) << name;
  }
}

class BlockConfigSpace : public ::testing::Test {
 protected:
  void SetUp() override {
    auto blk = Block::create({.path = image_.path(), .queues = 3}, "blk0");
    ASSERT_TRUE(blk.has_value());
    blk_ = std::move(*blk);
  }
  template <class T>
  T read(uint64_t offset) {
    T value{};
    blk_->read_config(offset, {reinterpret_cast<uint8_t*>(&value), sizeof(T)});
    return value;
  }

  TempImage image_{3 << 20};
  std::unique_ptr<Block> blk_;
};

TEST_F(BlockConfigSpace, FieldsAtTheirSpecOffsets) {
  EXPECT_EQ(le64toh(read<uint64_t>(0x00)), (3u << 20) / 512);  // capacity
  EXPECT_GE(le32toh(read<uint32_t>(0x08)), 4096u);             // size_max
  EXPECT_EQ(le32toh(read<uint32_t>(0x0c)), 254u);              // seg_max = queue size - 2
  EXPECT_EQ(le32toh(read<uint32_t>(0x14)), 512u);              // blk_size
  EXPECT_EQ(read<uint8_t>(0x18), 3u);                          // physical_block_exp
  EXPECT_EQ(read<uint8_t>(0x19), 0u);                          // alignment_offset
  EXPECT_EQ(le16toh(read<uint16_t>(0x1a)), 8u);                // min_io_size
  EXPECT_EQ(le16toh(read<uint16_t>(0x22)), 3u);                // num_queues
  EXPECT_GT(le32toh(read<uint32_t>(0x24)), 0u);                // max_discard_sectors
  EXPECT_EQ(le32toh(read<uint32_t>(0x28)), 1u);                // max_discard_seg
  EXPECT_EQ(le32toh(read<uint32_t>(0x2c)), 8u);                // discard_sector_alignment
  EXPECT_GT(le32toh(read<uint32_t>(0x30)), 0u);                // max_write_zeroes_sectors
  EXPECT_EQ(le32toh(read<uint32_t>(0x34)), 1u);                // max_write_zeroes_seg
  EXPECT_EQ(read<uint8_t>(0x38), 1u);                          // write_zeroes_may_unmap
}

TEST_F(BlockConfigSpace, ByteReadsAssembleTheSameValue) {
  uint64_t capacity = 0;
  for (unsigned i = 0; i < 8; ++i) capacity |= uint64_t{read<uint8_t>(i)} << (8 * i);
  EXPECT_EQ(capacity, blk_->capacity());
}

TEST_F(BlockConfigSpace, BytesPastTheEndReadZero) {
  EXPECT_EQ(read<uint32_t>(sizeof(virtio_blk_config)), 0u);
  EXPECT_EQ(read<uint64_t>(0x1000), 0u);
  // A read straddling the end: the in-range bytes, zeros after.
  const uint32_t tail = read<uint32_t>(sizeof(virtio_blk_config) - 2);
  EXPECT_EQ(tail >> 16, 0u);
}

TEST_F(BlockConfigSpace, WritesAreIgnored) {
  const uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  blk_->write_config(0, junk);
  EXPECT_EQ(le64toh(read<uint64_t>(0)), blk_->capacity());
}

TEST(BlockEngine, SyncIoConfigForcesTheFallback) {
  TempImage image(4096);
  auto blk = Block::create({.path = image.path(), .sync_io = true}, "blk0");
  ASSERT_TRUE(blk.has_value());
  EXPECT_EQ((*blk)->io_engine_name(), "sync");
}

TEST(BlockEngine, EnvironmentForcesTheFallback) {
  TempImage image(4096);
  setenv("FRANCA_BLK_NO_URING", "1", 1);
  auto blk = Block::create({.path = image.path()}, "blk0");
  unsetenv("FRANCA_BLK_NO_URING");
  ASSERT_TRUE(blk.has_value());
  EXPECT_EQ((*blk)->io_engine_name(), "sync");
}

}  // namespace
}  // namespace franca::virtio
