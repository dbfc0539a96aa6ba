// virtio-blk request parser: good requests, and every malformed shape a
// hostile driver can send turning into an in-band status, never a crash.
#include "devices/virtio/block/request.h"

#include <linux/virtio_blk.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/devices/virtio/block/block_test_support.h"

namespace franca::virtio {
namespace {

using testing::header;
using testing::HeapRam;
using testing::segment;

constexpr uint64_t kCapacity = 2048;  // sectors (1 MiB)

RequestLimits limits(bool readonly = false) {
  return {.capacity = kCapacity,
          .readonly = readonly,
          .discard = true,
          .write_zeroes = true,
          .max_discard_sectors = 1024,
          .max_write_zeroes_sectors = 512};
}

// Host address of the byte the status footer covers; null without a footer.
const uint8_t* status_host(const Request& r) {
  if (!r.status_footer) return nullptr;
  std::vector<iovec> one;
  r.status_footer->iovecs(1, one);
  return one.empty() ? nullptr : static_cast<const uint8_t*>(one.front().iov_base);
}

size_t iov_bytes(const Request& r) {
  size_t n = 0;
  for (const iovec& v : r.iov) n += v.iov_len;
  return n;
}

class RequestTest : public ::testing::Test {
 protected:
  // header, optional readable payload, writable data of `in_bytes`, 1-byte status.
  DescriptorChain chain(uint32_t type, uint64_t sector, uint32_t out_bytes = 0, uint32_t in_bytes = 0) {
    DescriptorChain c;
    c.add(ram_.put_obj(header(type, sector)), false);
    if (out_bytes) c.add(ram_.alloc(out_bytes), false);
    if (in_bytes) c.add(ram_.alloc(in_bytes), true);
    status_ = ram_.alloc(1);
    c.add(status_, true);
    return c;
  }
  Request parse(const DescriptorChain& c, const RequestLimits& l = limits()) {
    Request r;
    parse_request(c, l, r);
    return r;
  }

  HeapRam ram_;
  ChainBuffer status_{};
};

TEST_F(RequestTest, ReadCoversWritablePartExceptStatusByte) {
  const Request r = parse(chain(VIRTIO_BLK_T_IN, 8, 0, 4096));
  EXPECT_EQ(r.op, BlockOp::kRead);
  EXPECT_EQ(r.offset, 8 * 512u);
  EXPECT_EQ(r.length, 4096u);
  EXPECT_EQ(iov_bytes(r), 4096u);
  EXPECT_EQ(status_host(r), status_.host);
  EXPECT_EQ(r.used_len(VIRTIO_BLK_S_OK), 4097u);
}

TEST_F(RequestTest, StatusByteMayShareTheLastDataBuffer) {
  DescriptorChain c;
  c.add(ram_.put_obj(header(VIRTIO_BLK_T_IN, 0)), false);
  const ChainBuffer data = ram_.alloc(513);
  c.add(data, true);
  const Request r = parse(c);
  EXPECT_EQ(r.op, BlockOp::kRead);
  EXPECT_EQ(r.length, 512u);
  EXPECT_EQ(status_host(r), data.host + 512);
}

TEST_F(RequestTest, StatusIsWrittenIntoTheLastWritableByteOnly) {
  DescriptorChain c;
  c.add(ram_.put_obj(header(VIRTIO_BLK_T_IN, 0)), false);
  const ChainBuffer data = ram_.alloc(513);
  c.add(data, true);
  Request r = parse(c);
  std::memset(data.host, 0xee, 513);
  ASSERT_TRUE(r.write_status(VIRTIO_BLK_S_UNSUPP));
  EXPECT_EQ(data.host[512], VIRTIO_BLK_S_UNSUPP);
  EXPECT_EQ(data.host[511], 0xee);
}

TEST_F(RequestTest, StatusIsWrittenOnce) {
  Request r = parse(chain(VIRTIO_BLK_T_FLUSH, 0));
  ASSERT_TRUE(r.write_status(VIRTIO_BLK_S_OK));
  EXPECT_FALSE(r.write_status(VIRTIO_BLK_S_IOERR));
  EXPECT_EQ(*status_.host, VIRTIO_BLK_S_OK);
}

TEST_F(RequestTest, NoWritableByteRefusesTheStatus) {
  DescriptorChain c;
  c.add(ram_.put_obj(header(VIRTIO_BLK_T_FLUSH, 0)), false);
  Request r = parse(c);
  EXPECT_FALSE(r.write_status(VIRTIO_BLK_S_IOERR));
}

TEST_F(RequestTest, HeaderSplitAcrossBuffersIsParsed) {
  const auto h = header(VIRTIO_BLK_T_OUT, 3);
  const auto* bytes = reinterpret_cast<const uint8_t*>(&h);
  DescriptorChain c;
  c.add(ram_.put({bytes, 5}), false);
  c.add(ram_.put({bytes + 5, 11}), false);
  c.add(ram_.alloc(1024), false);
  c.add(ram_.alloc(1), true);
  const Request r = parse(c);
  EXPECT_EQ(r.op, BlockOp::kWrite);
  EXPECT_EQ(r.offset, 3 * 512u);
  EXPECT_EQ(r.length, 1024u);
}

TEST_F(RequestTest, WriteCoversReadablePartAfterHeader) {
  const Request r = parse(chain(VIRTIO_BLK_T_OUT, 1, 1536));
  EXPECT_EQ(r.op, BlockOp::kWrite);
  EXPECT_EQ(r.length, 1536u);
  EXPECT_EQ(iov_bytes(r), 1536u);
  EXPECT_EQ(r.used_len(VIRTIO_BLK_S_OK), 1u);
}

TEST_F(RequestTest, NoWritableByteHasNoStatusAndZeroUsedLength) {
  DescriptorChain c;
  c.add(ram_.put_obj(header(VIRTIO_BLK_T_OUT, 0)), false);
  c.add(ram_.alloc(512), false);
  const Request r = parse(c);
  EXPECT_EQ(r.op, BlockOp::kNone);
  EXPECT_EQ(status_host(r), nullptr);
  EXPECT_EQ(r.used_len(r.status), 0u);
}

TEST_F(RequestTest, ShortHeaderIsIoError) {
  DescriptorChain c;
  c.add(ram_.alloc(8), false);
  c.add(ram_.alloc(1), true);
  const Request r = parse(c);
  EXPECT_EQ(r.op, BlockOp::kNone);
  EXPECT_EQ(r.status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(r.used_len(r.status), 1u);
}

TEST_F(RequestTest, OnlyAStatusByteIsIoError) {
  DescriptorChain c;
  c.add(ram_.alloc(1), true);
  const Request r = parse(c);
  EXPECT_EQ(r.status, VIRTIO_BLK_S_IOERR);
  EXPECT_NE(status_host(r), nullptr);
}

TEST_F(RequestTest, SectorOverflowIsIoError) {
  const Request r = parse(chain(VIRTIO_BLK_T_IN, std::numeric_limits<uint64_t>::max() - 1, 0, 1024));
  EXPECT_EQ(r.op, BlockOp::kNone);
  EXPECT_EQ(r.status, VIRTIO_BLK_S_IOERR);
}

TEST_F(RequestTest, RangeEndingPastCapacityIsIoError) {
  EXPECT_EQ(parse(chain(VIRTIO_BLK_T_IN, kCapacity - 1, 0, 1024)).status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(parse(chain(VIRTIO_BLK_T_OUT, kCapacity + 1, 0, 0)).status, VIRTIO_BLK_S_IOERR);
}

TEST_F(RequestTest, RangeEndingAtCapacityIsAccepted) {
  EXPECT_EQ(parse(chain(VIRTIO_BLK_T_IN, kCapacity - 2, 0, 1024)).op, BlockOp::kRead);
}

TEST_F(RequestTest, DataNotAMultipleOf512IsIoError) {
  EXPECT_EQ(parse(chain(VIRTIO_BLK_T_IN, 0, 0, 1000)).status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(parse(chain(VIRTIO_BLK_T_OUT, 0, 100)).status, VIRTIO_BLK_S_IOERR);
}

TEST_F(RequestTest, WriteToReadOnlyDiskIsIoError) {
  const Request r = parse(chain(VIRTIO_BLK_T_OUT, 0, 512), limits(true));
  EXPECT_EQ(r.op, BlockOp::kNone);
  EXPECT_EQ(r.status, VIRTIO_BLK_S_IOERR);
}

TEST_F(RequestTest, ReadFromReadOnlyDiskIsAccepted) {
  EXPECT_EQ(parse(chain(VIRTIO_BLK_T_IN, 0, 0, 512), limits(true)).op, BlockOp::kRead);
}

TEST_F(RequestTest, UnknownTypesAreUnsupported) {
  for (uint32_t type : {2u, 5u, 10u, 14u, 15u, 0x80000000u, 0xffffffffu}) {
    const Request r = parse(chain(type, 0, 0, 512));
    EXPECT_EQ(r.op, BlockOp::kNone) << type;
    EXPECT_EQ(r.status, VIRTIO_BLK_S_UNSUPP) << type;
    EXPECT_EQ(r.used_len(r.status), 1u) << type;
  }
}

TEST_F(RequestTest, FlushIsAccepted) { EXPECT_EQ(parse(chain(VIRTIO_BLK_T_FLUSH, 0)).op, BlockOp::kFlush); }

TEST_F(RequestTest, GetIdWritesAtMostTwentyBytes) {
  const Request r = parse(chain(VIRTIO_BLK_T_GET_ID, 0, 0, 64));
  EXPECT_EQ(r.op, BlockOp::kGetId);
  EXPECT_EQ(r.length, size_t{VIRTIO_BLK_ID_BYTES});
  EXPECT_EQ(r.used_len(VIRTIO_BLK_S_OK), VIRTIO_BLK_ID_BYTES + 1u);
  EXPECT_EQ(parse(chain(VIRTIO_BLK_T_GET_ID, 0, 0, 4)).length, 4u);
}

TEST_F(RequestTest, DiscardSegmentGivesTheRange) {
  DescriptorChain c;
  c.add(ram_.put_obj(header(VIRTIO_BLK_T_DISCARD, 0)), false);
  c.add(ram_.put_obj(segment(16, 64)), false);
  c.add(ram_.alloc(1), true);
  const Request r = parse(c);
  EXPECT_EQ(r.op, BlockOp::kDiscard);
  EXPECT_EQ(r.offset, 16 * 512u);
  EXPECT_EQ(r.length, 64 * 512u);
}

class RangeTest : public RequestTest {
 protected:
  Request parse_range(uint32_t type, std::span<const virtio_blk_discard_write_zeroes> segs,
                      const RequestLimits& l = limits()) {
    DescriptorChain c;
    c.add(ram_.put_obj(header(type, 0)), false);
    for (const auto& s : segs) c.add(ram_.put_obj(s), false);
    c.add(ram_.alloc(1), true);
    return parse(c, l);
  }
};

TEST_F(RangeTest, WriteZeroesCarriesTheUnmapFlag) {
  const auto seg = segment(0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
  const Request r = parse_range(VIRTIO_BLK_T_WRITE_ZEROES, std::span(&seg, 1));
  EXPECT_EQ(r.op, BlockOp::kWriteZeroes);
  EXPECT_TRUE(r.unmap);
}

TEST_F(RangeTest, DiscardWithUnmapFlagIsUnsupported) {
  const auto seg = segment(0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
  EXPECT_EQ(parse_range(VIRTIO_BLK_T_DISCARD, std::span(&seg, 1)).status, VIRTIO_BLK_S_UNSUPP);
}

TEST_F(RangeTest, UnknownFlagsAreUnsupported) {
  const auto seg = segment(0, 8, 2);
  EXPECT_EQ(parse_range(VIRTIO_BLK_T_WRITE_ZEROES, std::span(&seg, 1)).status, VIRTIO_BLK_S_UNSUPP);
}

TEST_F(RangeTest, TwoSegmentsAreUnsupported) {
  const virtio_blk_discard_write_zeroes segs[] = {segment(0, 8), segment(8, 8)};
  EXPECT_EQ(parse_range(VIRTIO_BLK_T_DISCARD, segs).status, VIRTIO_BLK_S_UNSUPP);
}

TEST_F(RangeTest, MissingSegmentIsIoError) {
  EXPECT_EQ(parse_range(VIRTIO_BLK_T_DISCARD, {}).status, VIRTIO_BLK_S_IOERR);
}

TEST_F(RangeTest, SegmentAboveTheLimitIsIoError) {
  const auto seg = segment(0, 1025);
  EXPECT_EQ(parse_range(VIRTIO_BLK_T_DISCARD, std::span(&seg, 1)).status, VIRTIO_BLK_S_IOERR);
}

TEST_F(RangeTest, SegmentPastCapacityIsIoError) {
  const auto seg = segment(std::numeric_limits<uint64_t>::max(), 8);
  EXPECT_EQ(parse_range(VIRTIO_BLK_T_WRITE_ZEROES, std::span(&seg, 1)).status, VIRTIO_BLK_S_IOERR);
}

TEST_F(RangeTest, EmptySegmentIsDoneAtOnce) {
  const auto seg = segment(0, 0);
  const Request r = parse_range(VIRTIO_BLK_T_DISCARD, std::span(&seg, 1));
  EXPECT_EQ(r.op, BlockOp::kNone);
  EXPECT_EQ(r.status, VIRTIO_BLK_S_OK);
}

TEST_F(RangeTest, NotNegotiatedIsUnsupported) {
  RequestLimits l = limits();
  l.discard = false;
  const auto seg = segment(0, 8);
  EXPECT_EQ(parse_range(VIRTIO_BLK_T_DISCARD, std::span(&seg, 1), l).status, VIRTIO_BLK_S_UNSUPP);
}

TEST_F(RangeTest, OnReadOnlyDiskIsIoError) {
  const auto seg = segment(0, 8);
  EXPECT_EQ(parse_range(VIRTIO_BLK_T_WRITE_ZEROES, std::span(&seg, 1), limits(true)).status, VIRTIO_BLK_S_IOERR);
}

TEST_F(RequestTest, ParsingResetsThePreviousRequest) {
  Request r;
  parse_request(chain(VIRTIO_BLK_T_IN, 0, 0, 4096), limits(), r);
  parse_request(chain(VIRTIO_BLK_T_FLUSH, 0), limits(), r);
  EXPECT_EQ(r.op, BlockOp::kFlush);
  EXPECT_TRUE(r.iov.empty());
  EXPECT_EQ(r.length, 0u);
}

}  // namespace
}  // namespace franca::virtio
