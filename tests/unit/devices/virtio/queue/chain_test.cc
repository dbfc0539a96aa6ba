// DescriptorChain rules and the reader/writer cursors devices use (virtio 1.x
// §2.7.4 / §2.8 message framing: requests may be split anywhere).
#include "devices/virtio/queue/chain.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

namespace franca::virtio {
namespace {

class ChainTest : public ::testing::Test {
 protected:
  ChainBuffer buffer(size_t offset, uint32_t len) { return {0x1000 + offset, len, bytes_.data() + offset}; }
  std::array<uint8_t, 64> bytes_{};
  DescriptorChain chain_;
};

TEST_F(ChainTest, AddKeepsReadableAndWritableBuffersApart) {
  ASSERT_TRUE(chain_.add(buffer(0, 4), false));
  ASSERT_TRUE(chain_.add(buffer(8, 6), true));
  EXPECT_EQ(chain_.readable().size(), 1u);
  EXPECT_EQ(chain_.writable().size(), 1u);
  EXPECT_EQ(chain_.readable_bytes(), 4u);
  EXPECT_EQ(chain_.writable_bytes(), 6u);
}

TEST_F(ChainTest, AddRejectsReadableAfterWritable) {
  ASSERT_TRUE(chain_.add(buffer(0, 4), true));
  EXPECT_FALSE(chain_.add(buffer(8, 4), false));
}

TEST_F(ChainTest, AddRejectsTotalAboveU32) {
  ASSERT_TRUE(chain_.add({0, std::numeric_limits<uint32_t>::max(), nullptr}, false));
  EXPECT_FALSE(chain_.add({0, 1, nullptr}, true));
}

TEST_F(ChainTest, AddIgnoresZeroLengthBuffers) {
  ASSERT_TRUE(chain_.add(buffer(0, 0), true));
  EXPECT_TRUE(chain_.add(buffer(0, 4), false));
  EXPECT_TRUE(chain_.writable().empty());
}

TEST_F(ChainTest, ClearForgetsBuffersAndId) {
  chain_.set_id(5, 3);
  chain_.add(buffer(0, 4), false);
  chain_.clear();
  EXPECT_EQ(chain_.id(), 0u);
  EXPECT_EQ(chain_.ring_slots(), 1u);
  EXPECT_TRUE(chain_.readable().empty());
  EXPECT_EQ(chain_.readable_bytes(), 0u);
}

TEST_F(ChainTest, ReaderCopiesAcrossBufferBoundaries) {
  for (size_t i = 0; i < bytes_.size(); ++i) bytes_[i] = static_cast<uint8_t>(i);
  chain_.add(buffer(0, 3), false);
  chain_.add(buffer(10, 5), false);
  ChainReader reader(chain_);
  std::array<uint8_t, 6> out{};
  EXPECT_EQ(reader.read(out), 6u);
  EXPECT_EQ(out, (std::array<uint8_t, 6>{0, 1, 2, 10, 11, 12}));
  EXPECT_EQ(reader.remaining(), 2u);
}

TEST_F(ChainTest, ReaderStopsAtTheEndOfTheReadablePart) {
  chain_.add(buffer(0, 3), false);
  chain_.add(buffer(8, 8), true);
  ChainReader reader(chain_);
  std::array<uint8_t, 10> out{};
  EXPECT_EQ(reader.read(out), 3u);
  EXPECT_EQ(reader.remaining(), 0u);
}

TEST_F(ChainTest, ReadObjFailsWithoutConsumingWhenTooShort) {
  chain_.add(buffer(0, 3), false);
  ChainReader reader(chain_);
  EXPECT_FALSE(reader.read_obj<uint32_t>().has_value());
  EXPECT_EQ(reader.consumed(), 0u);
}

TEST_F(ChainTest, ReadObjReadsAValueSplitOverTwoBuffers) {
  bytes_[0] = 0x11;
  bytes_[32] = 0x22;
  chain_.add(buffer(0, 1), false);
  chain_.add(buffer(32, 1), false);
  ChainReader reader(chain_);
  EXPECT_EQ(reader.read_obj<uint16_t>(), uint16_t{0x2211});
}

TEST_F(ChainTest, WriterWritesAcrossBuffersAndCountsWritten) {
  chain_.add(buffer(0, 2), true);
  chain_.add(buffer(20, 4), true);
  ChainWriter writer(chain_);
  const std::array<uint8_t, 3> in{7, 8, 9};
  EXPECT_EQ(writer.write(in), 3u);
  EXPECT_EQ(bytes_[0], 7);
  EXPECT_EQ(bytes_[1], 8);
  EXPECT_EQ(bytes_[20], 9);
  EXPECT_EQ(writer.written(), 3u);
}

TEST_F(ChainTest, WriteObjFailsWhenTheValueDoesNotFit) {
  chain_.add(buffer(0, 2), true);
  ChainWriter writer(chain_);
  EXPECT_FALSE(writer.write_obj<uint32_t>(1));
  EXPECT_EQ(writer.written(), 0u);
}

TEST_F(ChainTest, SkipAdvancesAndClampsAtTheEnd) {
  chain_.add(buffer(0, 4), false);
  chain_.add(buffer(8, 4), false);
  ChainReader reader(chain_);
  EXPECT_EQ(reader.skip(5), 5u);
  EXPECT_EQ(reader.skip(10), 3u);
  EXPECT_EQ(reader.remaining(), 0u);
  EXPECT_EQ(reader.consumed(), 8u);
}

TEST_F(ChainTest, IovecsCoverTheNextBytesWithoutAdvancing) {
  chain_.add(buffer(0, 4), true);
  chain_.add(buffer(16, 8), true);
  ChainWriter writer(chain_);
  writer.skip(2);
  std::vector<iovec> iov;
  writer.iovecs(5, iov);
  ASSERT_EQ(iov.size(), 2u);
  EXPECT_EQ(iov[0].iov_base, bytes_.data() + 2);
  EXPECT_EQ(iov[0].iov_len, 2u);
  EXPECT_EQ(iov[1].iov_base, bytes_.data() + 16);
  EXPECT_EQ(iov[1].iov_len, 3u);
  EXPECT_EQ(writer.remaining(), 10u);
}

TEST_F(ChainTest, ReservedFooterIsTheLastWritableBytes) {
  chain_.add(buffer(0, 4), true);
  chain_.add(buffer(16, 2), true);
  ChainWriter writer(chain_);
  auto footer = writer.reserve_footer(3);
  ASSERT_TRUE(footer);
  EXPECT_EQ(footer->remaining(), 3u);
  const std::array<uint8_t, 3> in{7, 8, 9};
  EXPECT_EQ(footer->write(in), 3u);
  EXPECT_EQ(bytes_[3], 7);
  EXPECT_EQ(bytes_[16], 8);
  EXPECT_EQ(bytes_[17], 9);
}

TEST_F(ChainTest, WriterEndsBeforeItsReservedFooter) {
  chain_.add(buffer(0, 4), true);
  chain_.add(buffer(16, 2), true);
  ChainWriter writer(chain_);
  ASSERT_TRUE(writer.reserve_footer(1));
  EXPECT_EQ(writer.remaining(), 5u);
  std::vector<iovec> iov;
  writer.iovecs(100, iov);
  ASSERT_EQ(iov.size(), 2u);
  EXPECT_EQ(iov[1].iov_base, bytes_.data() + 16);
  EXPECT_EQ(iov[1].iov_len, 1u);
  const std::array<uint8_t, 6> in{1, 1, 1, 1, 1, 1};
  EXPECT_EQ(writer.write(in), 5u);
  EXPECT_EQ(bytes_[17], 0);
}

TEST_F(ChainTest, FooterLargerThanWhatRemainsIsRefused) {
  chain_.add(buffer(0, 2), true);
  ChainWriter writer(chain_);
  writer.skip(1);
  EXPECT_FALSE(writer.reserve_footer(2));
  EXPECT_EQ(writer.remaining(), 1u);
}

TEST_F(ChainTest, FooterOfAWriterWithNoWritablePartIsRefused) {
  chain_.add(buffer(0, 4), false);
  ChainWriter writer(chain_);
  EXPECT_FALSE(writer.reserve_footer(1));
}

TEST_F(ChainTest, CursorOverEmptyBuffersTerminates) {
  const std::array<ChainBuffer, 2> buffers{ChainBuffer{0, 0, nullptr}, buffer(0, 2)};
  ChainCursor cursor(buffers);
  EXPECT_EQ(cursor.skip(2), 2u);
  EXPECT_EQ(cursor.remaining(), 0u);
}

}  // namespace
}  // namespace franca::virtio
