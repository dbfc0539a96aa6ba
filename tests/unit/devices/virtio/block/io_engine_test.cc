// Both virtio-blk I/O engines (io_uring and the synchronous fallback) against
// a real temporary file.
#include "devices/virtio/block/io_engine.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/devices/virtio/block/block_test_support.h"
#include "vmm/core/fd.h"

namespace franca::virtio {
namespace {

using testing::pattern;
using testing::TempImage;

class IoEngineTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    fd_ = Fd(open(image_.path().c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd_.valid());
    std::string why;
    engine_ = GetParam() ? make_uring_engine(fd_.get(), 64, why) : make_sync_engine(fd_.get());
    ASSERT_NE(engine_, nullptr) << why;
  }

  // Submits one op and waits for its result.
  int run(const IoOp& op) {
    EXPECT_TRUE(engine_->submit(op, 42));
    engine_->flush();
    std::map<uint64_t, int> results;
    for (int spin = 0; spin < 100000 && results.empty(); ++spin) {
      engine_->reap([&](uint64_t tag, int result) { results[tag] = result; });
      if (results.empty()) usleep(100);
    }
    EXPECT_EQ(results.size(), 1u);
    return results.empty() ? -1000 : results.begin()->second;
  }

  TempImage image_{1 << 20};
  Fd fd_;
  std::unique_ptr<IoEngine> engine_;
};

TEST_P(IoEngineTest, WrittenDataReadsBack) {
  auto data = pattern(8192, 3);
  const iovec out[] = {{data.data(), 4096}, {data.data() + 4096, 4096}};
  ASSERT_EQ(run({.kind = IoOp::Kind::kWrite, .offset = 65536, .iov = out, .iovcnt = 2}), 8192);
  std::vector<uint8_t> back(8192);
  const iovec in[] = {{back.data(), 8192}};
  ASSERT_EQ(run({.kind = IoOp::Kind::kRead, .offset = 65536, .iov = in, .iovcnt = 1}), 8192);
  EXPECT_EQ(back, data);
  EXPECT_EQ(image_.read(65536, 8192), data);
}

TEST_P(IoEngineTest, DsyncWriteSucceeds) {
  auto data = pattern(512, 9);
  const iovec out[] = {{data.data(), 512}};
  EXPECT_EQ(run({.kind = IoOp::Kind::kWrite, .iov = out, .iovcnt = 1, .flags = RWF_DSYNC}), 512);
}

TEST_P(IoEngineTest, SyncSucceeds) { EXPECT_EQ(run({.kind = IoOp::Kind::kSync}), 0); }

TEST_P(IoEngineTest, PunchHoleDeallocates) {
  image_.write(0, pattern(1 << 20, 1));
  const int64_t before = image_.allocated_blocks();
  ASSERT_EQ(run({.kind = IoOp::Kind::kFallocate,
                 .offset = 0,
                 .length = 512 << 10,
                 .flags = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE}),
            0);
  EXPECT_LT(image_.allocated_blocks(), before);
  EXPECT_EQ(image_.read(0, 4096), std::vector<uint8_t>(4096, 0));
}

TEST_P(IoEngineTest, ErrorsComeBackAsNegativeErrno) {
  EXPECT_EQ(run({.kind = IoOp::Kind::kFallocate, .offset = 0, .length = 4096, .flags = 0x7f000000}), -EOPNOTSUPP);
}

TEST_P(IoEngineTest, DrainWaitsForEverythingInFlight) {
  std::vector<std::vector<uint8_t>> bufs(32, pattern(4096, 5));
  std::vector<iovec> iov(32);
  for (size_t i = 0; i < 32; ++i) {
    iov[i] = {bufs[i].data(), 4096};
    ASSERT_TRUE(engine_->submit({.kind = IoOp::Kind::kRead, .offset = i * 4096, .iov = &iov[i], .iovcnt = 1}, i));
  }
  engine_->flush();
  engine_->drain();
  int seen = 0;
  engine_->reap([&](uint64_t, int) { ++seen; });
  EXPECT_EQ(seen, 0);
}

INSTANTIATE_TEST_SUITE_P(Engines, IoEngineTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "io_uring" : "sync"; });

TEST(AdvanceIovecs, DropsWholeAndPartialBuffers) {
  uint8_t a[10], b[20], c[30];
  iovec iov[] = {{a, 10}, {b, 20}, {c, 30}};
  size_t first = advance_iovecs(iov, 0, 15);
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(iov[1].iov_base, b + 5);
  EXPECT_EQ(iov[1].iov_len, 15u);
  first = advance_iovecs(iov, first, 15);
  EXPECT_EQ(first, 2u);
  EXPECT_EQ(iov[2].iov_len, 30u);
  EXPECT_EQ(advance_iovecs(iov, first, 30), 3u);
}

}  // namespace
}  // namespace franca::virtio
