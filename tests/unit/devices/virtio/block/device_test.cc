// virtio-blk end to end: the device probed through an mmio transport, requests
// published on a split or packed ring, a kick through QueueNotify, the device on
// its event loop with either I/O engine, completions read back from the used ring.
#include <linux/virtio_blk.h>
#include <linux/virtio_mmio.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/devices/virtio/block/device_fixture.h"

namespace franca::virtio::testing {
namespace {

class BlockIo : public BlockDeviceTest {
 protected:
  void SetUp() override {
    BlockDeviceTest::SetUp();
    create();
    activate();
  }
};

TEST_P(BlockIo, ReadReturnsImageDataAcrossBuffers) {
  const uint64_t a = alloc(4096), b = alloc(4096), st = put_status();
  const uint32_t len =
      roundtrip({{put_header(VIRTIO_BLK_T_IN, 16), 16}, {a, 4096, true}, {b, 4096, true}, {st, 1, true}});
  EXPECT_EQ(len, 8193u);
  EXPECT_EQ(status(st), VIRTIO_BLK_S_OK);
  const auto expected = pattern(kImageSize, 11);
  EXPECT_EQ(std::memcmp(host(a, 4096), expected.data() + 16 * 512, 4096), 0);
  EXPECT_EQ(std::memcmp(host(b, 4096), expected.data() + 16 * 512 + 4096, 4096), 0);
}

TEST_P(BlockIo, WrittenDataReachesTheImageAndReadsBack) {
  const auto data = pattern(4096, 200);
  const uint64_t st = put_status();
  EXPECT_EQ(roundtrip({{put_header(VIRTIO_BLK_T_OUT, 100), 16}, {put(data), 4096}, {st, 1, true}}), 1u);
  EXPECT_EQ(status(st), VIRTIO_BLK_S_OK);
  EXPECT_EQ(image_.read(100 * 512, 4096), data);
  const uint64_t back = alloc(4096), st2 = put_status();
  EXPECT_EQ(roundtrip({{put_header(VIRTIO_BLK_T_IN, 100), 16}, {back, 4096, true}, {st2, 1, true}}), 4097u);
  EXPECT_EQ(std::memcmp(host(back, 4096), data.data(), 4096), 0);
}

TEST_P(BlockIo, IndirectChainIsServed) {
  const auto data = pattern(1024, 77);
  const uint64_t st = put_status();
  const uint16_t id = driver(0).add_indirect({{put_header(VIRTIO_BLK_T_OUT, 8), 16}, {put(data), 1024}, {st, 1, true}});
  driver(0).publish();
  kick();
  const auto used = wait_used(1);
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, id);
  EXPECT_EQ(status(st), VIRTIO_BLK_S_OK);
  EXPECT_EQ(image_.read(8 * 512, 1024), data);
}

TEST_P(BlockIo, FlushCompletesOk) {
  const uint64_t st = put_status();
  EXPECT_EQ(roundtrip({{put_header(VIRTIO_BLK_T_FLUSH, 0), 16}, {st, 1, true}}), 1u);
  EXPECT_EQ(status(st), VIRTIO_BLK_S_OK);
}

TEST_P(BlockIo, GetIdReturnsTheSerialZeroPadded) {
  const uint64_t id = alloc(VIRTIO_BLK_ID_BYTES), st = put_status();
  std::memset(host(id, VIRTIO_BLK_ID_BYTES), 0xaa, VIRTIO_BLK_ID_BYTES);
  EXPECT_EQ(roundtrip({{put_header(VIRTIO_BLK_T_GET_ID, 0), 16}, {id, VIRTIO_BLK_ID_BYTES, true}, {st, 1, true}}),
            VIRTIO_BLK_ID_BYTES + 1u);
  EXPECT_EQ(status(st), VIRTIO_BLK_S_OK);
  char expected[VIRTIO_BLK_ID_BYTES] = "franca-serial-0";
  EXPECT_EQ(std::memcmp(host(id, VIRTIO_BLK_ID_BYTES), expected, VIRTIO_BLK_ID_BYTES), 0);
}

TEST_P(BlockIo, DiscardMakesTheImageSparser) {
  const int64_t before = image_.allocated_blocks();
  const auto seg = segment(0, 2048);  // 1 MiB
  const uint64_t st = put_status();
  roundtrip({{put_header(VIRTIO_BLK_T_DISCARD, 0), 16}, {put_obj(seg), 16}, {st, 1, true}});
  EXPECT_EQ(status(st), VIRTIO_BLK_S_OK);
  EXPECT_LT(image_.allocated_blocks(), before);
}

TEST_P(BlockIo, WriteZeroesZeroesTheRange) {
  for (uint32_t flags : {0u, uint32_t{VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP}}) {
    const auto seg = segment(flags ? 64 : 32, 16, flags);
    const uint64_t st = put_status();
    roundtrip({{put_header(VIRTIO_BLK_T_WRITE_ZEROES, 0), 16}, {put_obj(seg), 16}, {st, 1, true}});
    EXPECT_EQ(status(st), VIRTIO_BLK_S_OK);
    EXPECT_EQ(image_.read(seg.sector * 512, 16 * 512), std::vector<uint8_t>(16 * 512, 0)) << flags;
  }
  const auto original = pattern(kImageSize, 11);
  EXPECT_EQ(image_.read(48 * 512, 512), std::vector<uint8_t>(original.begin() + 48 * 512, original.begin() + 49 * 512));
}

TEST_P(BlockIo, ImageShrunkUnderTheDeviceGivesIoError) {
  image_.truncate(kImageSize - 1024);  // another process truncates the image
  const uint64_t st = put_status();
  roundtrip({{put_header(VIRTIO_BLK_T_IN, kImageSize / 512 - 4), 16}, {alloc(2048), 2048, true}, {st, 1, true}});
  EXPECT_EQ(status(st), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(blk_->counters().errors.load(), 1u);
}

TEST_P(BlockIo, ReadPastCapacityIsIoErrorAndCounted) {
  const uint64_t st = put_status();
  EXPECT_EQ(roundtrip({{put_header(VIRTIO_BLK_T_IN, kImageSize / 512), 16}, {alloc(512), 512, true}, {st, 1, true}}),
            1u);
  EXPECT_EQ(status(st), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(blk_->counters().errors.load(), 1u);
  EXPECT_TRUE(failures().empty());
}

TEST_P(BlockIo, UnknownTypeIsUnsupported) {
  const uint64_t st = put_status();
  roundtrip({{put_header(99, 0), 16}, {st, 1, true}});
  EXPECT_EQ(status(st), VIRTIO_BLK_S_UNSUPP);
}

TEST_P(BlockIo, ChainWithoutStatusByteIsReturnedWithLengthZero) {
  EXPECT_EQ(roundtrip({{put_header(VIRTIO_BLK_T_OUT, 0), 16}, {alloc(512), 512}}), 0u);
  EXPECT_EQ(blk_->counters().errors.load(), 1u);
  EXPECT_TRUE(failures().empty());
}

TEST_P(BlockIo, ManyRequestsInOneKickAllComplete) {
  constexpr int kRequests = kQueueSize / 3;  // three descriptors each
  std::vector<uint64_t> statuses;
  for (int i = 0; i < kRequests; ++i) {
    statuses.push_back(put_status());
    driver(0).add(
        {{put_header(VIRTIO_BLK_T_OUT, i * 8u), 16}, {put(pattern(4096, i)), 4096}, {statuses.back(), 1, true}});
  }
  driver(0).publish();
  kick();
  wait_used(kRequests);
  for (uint64_t st : statuses) EXPECT_EQ(status(st), VIRTIO_BLK_S_OK);
  EXPECT_GE(signals().used[0].load(), 1);
  // The synchronous engine completes the whole kick as one batch: one signal.
  // io_uring completions arrive as the host finishes them, in smaller batches.
  if (!uring()) {
    EXPECT_EQ(signals().used[0].load(), 1);
  }
  EXPECT_EQ(blk_->counters().requests.load(), uint64_t{kRequests});
  EXPECT_EQ(image_.read(7 * 8 * 512, 4096), pattern(4096, 7));
}

TEST_P(BlockIo, CorruptHeadFailsTheDeviceWithoutCrashing) {
  const uint16_t id = driver(0).add({{put_header(VIRTIO_BLK_T_FLUSH, 0), 16}, {put_status(), 1, true}});
  driver(0).set_head(id, 1000);
  driver(0).publish();
  kick();
  ASSERT_TRUE([&] {
    for (int i = 0; i < 5000 && failures().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return !failures().empty();
  }());
  EXPECT_EQ(blk_->counters().ring_errors.load(), 1u);
  EXPECT_TRUE(dev_->needs_reset());
  EXPECT_TRUE(dev_->interrupt_status() & VIRTIO_MMIO_INT_CONFIG);
}

TEST_P(BlockIo, ResetThenReactivateServesAgain) {
  roundtrip({{put_header(VIRTIO_BLK_T_FLUSH, 0), 16}, {put_status(), 1, true}});
  dev_->reset();
  activate();
  const uint64_t st = put_status();
  EXPECT_EQ(roundtrip({{put_header(VIRTIO_BLK_T_IN, 0), 16}, {alloc(512), 512, true}, {st, 1, true}}), 513u);
  EXPECT_EQ(status(st), VIRTIO_BLK_S_OK);
}

TEST_P(BlockIo, ResetWithRequestsInFlightLeavesNothingBehind) {
  for (int i = 0; i < kQueueSize / 3; ++i) {
    driver(0).add({{put_header(VIRTIO_BLK_T_IN, i * 64u), 16}, {alloc(32768), 32768, true}, {put_status(), 1, true}});
  }
  driver(0).publish();
  kick();
  dev_->reset();  // in-flight reads are waited for inside the device's reset()
  const uint64_t kicks = blk_->counters().kicks.load();
  kick();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(blk_->counters().kicks.load(), kicks);  // the kick fd is no longer watched
}

TEST_P(BlockIo, RequestsPublishedBeforeActivationAreServed) {
  dev_->reset();
  ASSERT_TRUE(dev_->set_up(probe_options(1)));
  const uint64_t st = put_status();
  driver(0).add({{put_header(VIRTIO_BLK_T_FLUSH, 0), 16}, {st, 1, true}});
  driver(0).publish();
  const auto result = dev_->driver_ok();
  ASSERT_TRUE(result.has_value()) << result.error().message;
  wait_used(1);
  EXPECT_EQ(status(st), VIRTIO_BLK_S_OK);
}

INSTANTIATE_TEST_SUITE_P(Rings, BlockIo, ::testing::Combine(::testing::Bool(), ::testing::Bool()), device_param_name);

// tmpfs has no FALLOC_FL_ZERO_RANGE: write zeroes falls back to writing zeros.
class BlockOnTmpfs : public BlockDeviceTest {};

TEST_P(BlockOnTmpfs, WriteZeroesFallsBackToWritingZeros) {
  if (access("/dev/shm", W_OK) != 0) GTEST_SKIP() << "no writable /dev/shm";
  TempImage image(kImageSize, "/dev/shm");
  create({}, &image);
  activate();
  const auto seg = segment(8, 4096);  // 2 MiB: more than one zero chunk
  const uint64_t st = put_status();
  roundtrip({{put_header(VIRTIO_BLK_T_WRITE_ZEROES, 0), 16}, {put_obj(seg), 16}, {st, 1, true}});
  EXPECT_EQ(status(st), VIRTIO_BLK_S_OK);
  EXPECT_EQ(image.read(8 * 512, 4096 * 512), std::vector<uint8_t>(4096 * 512, 0));
  const auto original = pattern(8 * 512, 11);
  EXPECT_EQ(image.read(7 * 512, 512), std::vector<uint8_t>(original.begin() + 7 * 512, original.end()));
}

INSTANTIATE_TEST_SUITE_P(Rings, BlockOnTmpfs, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         device_param_name);

class BlockReadOnly : public BlockDeviceTest {};

TEST_P(BlockReadOnly, WriteIsIoErrorAndTheImageIsUntouched) {
  create({.readonly = true});
  activate();
  const uint64_t st = put_status();
  roundtrip({{put_header(VIRTIO_BLK_T_OUT, 0), 16}, {put(std::vector<uint8_t>(512, 0)), 512}, {st, 1, true}});
  EXPECT_EQ(status(st), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(image_.read(0, 512), std::vector<uint8_t>(pattern(512, 11)));
}

INSTANTIATE_TEST_SUITE_P(Rings, BlockReadOnly, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         device_param_name);

class BlockMultiQueue : public BlockDeviceTest {};

TEST_P(BlockMultiQueue, EachQueueIsServedAndSignalledOnItsOwn) {
  create({.queues = 2});
  activate(2);
  const uint64_t st0 = put_status(), st1 = put_status();
  roundtrip({{put_header(VIRTIO_BLK_T_IN, 0), 16}, {alloc(512), 512, true}, {st0, 1, true}}, 0);
  roundtrip({{put_header(VIRTIO_BLK_T_IN, 8), 16}, {alloc(512), 512, true}, {st1, 1, true}}, 1);
  EXPECT_EQ(status(st0), VIRTIO_BLK_S_OK);
  EXPECT_EQ(status(st1), VIRTIO_BLK_S_OK);
  EXPECT_GE(signals().used[0].load(), 1);
  EXPECT_GE(signals().used[1].load(), 1);
}

INSTANTIATE_TEST_SUITE_P(Rings, BlockMultiQueue, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         device_param_name);

}  // namespace
}  // namespace franca::virtio::testing
