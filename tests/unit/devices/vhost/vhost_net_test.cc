// VhostNetPair over the recording fake (tests/support/fake_vhost.h) and real
// guest memory: ioctl order, feature filtering, host addresses, error
// unwinding and the ring-state handover of virtio-notes.md §6.2 and §6.5.
#include "devices/vhost/vhost_net.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tests/support/fake_vhost.h"

namespace franca::vhost {
namespace {

using testing::FakeVhost;
using Lines = std::vector<std::string>;

constexpr uint64_t kBit26 = 1ULL << 26;  // VHOST_F_LOG_ALL
constexpr uint64_t kBit27 = 1ULL << 27;  // VHOST_NET_F_VIRTIO_NET_HDR == VIRTIO_F_ANY_LAYOUT
constexpr uint64_t kBit33 = 1ULL << 33;  // VIRTIO_F_ACCESS_PLATFORM
constexpr uint64_t kBit34 = 1ULL << 34;  // VIRTIO_F_RING_PACKED
constexpr uint64_t kVersion1 = 1ULL << 32;
constexpr uint64_t kMrgRxbuf = 1ULL << 15;
constexpr uint64_t kCsum = 1ULL << 0;
constexpr int kTap = 30;

// Two RAM regions (low 64 KiB and 256 KiB at 1 MiB, where the rings live) over heap memory.
class VhostNetTest : public ::testing::Test {
 protected:
  VhostNetTest() : low_(0x10000), high_(0x40000) {
    const std::array<MemoryRegion, 2> regions{{{0, low_.size(), low_.data()}, {0x100000, high_.size(), high_.data()}}};
    memory_ = GuestMemory::over(regions);
    auto fake = std::make_unique<FakeVhost>();
    fake_ = fake.get();
    log_ = fake->log();
    auto pair = VhostNetPair::create(std::move(fake));
    EXPECT_TRUE(pair.has_value()) << pair.error().message;
    if (pair) pair_ = std::move(*pair);
  }

  static std::array<VringSetup, 2> rings() {
    return {{{.size = 256,
              .desc_gpa = 0x100000,
              .avail_gpa = 0x101000,
              .used_gpa = 0x102000,
              .next_avail = 5,
              .kick_fd = 10,
              .call_fd = 11,
              .err_fd = 12},
             {.size = 256,
              .desc_gpa = 0x110000,
              .avail_gpa = 0x111000,
              .used_gpa = 0x112000,
              .next_avail = 7,
              .kick_fd = 20,
              .call_fd = 21,
              .err_fd = 22}}};
  }

  Result<void> start(const std::array<VringSetup, 2>& setup = rings()) {
    return pair_->start(memory_, kVersion1 | kMrgRxbuf | kBit27, setup, kTap);
  }
  void start_ok() {
    auto started = start();
    ASSERT_TRUE(started.has_value()) << started.error().message;
    log_->clear();
  }
  // The host address of guest-physical `gpa` in the high region.
  uint64_t host(uint64_t gpa) const { return reinterpret_cast<uintptr_t>(high_.data() + (gpa - 0x100000)); }
  bool logged(const std::string& line) const { return std::ranges::find(*log_, line) != log_->end(); }

  std::vector<uint8_t> low_;
  std::vector<uint8_t> high_;
  GuestMemory memory_;
  FakeVhost* fake_ = nullptr;  // owned by pair_
  FakeVhost::Log log_;
  std::unique_ptr<VhostNetPair> pair_;
};

TEST_F(VhostNetTest, CreateIssuesSetOwnerThenGetFeatures) {
  EXPECT_EQ(*log_, (Lines{"set_owner", "get_features"}));
  EXPECT_EQ(pair_->kernel_features(), FakeVhost::kLinux61Features);
}

TEST_F(VhostNetTest, CreateReportsAFailedSetOwner) {
  auto fake = std::make_unique<FakeVhost>();
  fake->fail_once("set_owner");

  auto pair = VhostNetPair::create(std::move(fake));

  ASSERT_FALSE(pair.has_value());
  EXPECT_EQ(pair.error().message, "vhost-net create: set_owner: injected failure");
}

TEST(VhostNetFeatures, FilterDropsBitsVhostMustNeverSee) {
  const uint64_t all = kVersion1 | kBit26 | kBit27 | kBit33 | kBit34;

  EXPECT_EQ(VhostNetPair::filter_features(all, all), kVersion1);
}

TEST(VhostNetFeatures, FilterDropsBitsTheKernelLacks) {
  EXPECT_EQ(VhostNetPair::filter_features(kVersion1 | kMrgRxbuf | kCsum, kVersion1 | kMrgRxbuf), kVersion1 | kMrgRxbuf);
}

TEST_F(VhostNetTest, StartIssuesMemTableFeaturesRingsThenBackends) {
  log_->clear();

  ASSERT_TRUE(start().has_value());

  const Lines expected{
      fmt::format("set_mem_table 2 [0x0+0x10000@{}] [0x100000+0x40000@{}]", static_cast<const void*>(low_.data()),
                  static_cast<const void*>(high_.data())),
      fmt::format("set_features {:#x}", kVersion1 | kMrgRxbuf),
      "set_vring_num 0 256",
      "set_vring_base 0 5",
      fmt::format("set_vring_addr 0 desc={:#x} used={:#x} avail={:#x}", host(0x100000), host(0x102000), host(0x101000)),
      "set_vring_kick 0 10",
      "set_vring_call 0 11",
      "set_vring_err 0 12",
      "set_vring_num 1 256",
      "set_vring_base 1 7",
      fmt::format("set_vring_addr 1 desc={:#x} used={:#x} avail={:#x}", host(0x110000), host(0x112000), host(0x111000)),
      "set_vring_kick 1 20",
      "set_vring_call 1 21",
      "set_vring_err 1 22",
      "net_set_backend 0 30",
      "net_set_backend 1 30",
  };
  EXPECT_EQ(*log_, expected);
  EXPECT_TRUE(pair_->running());
}

TEST_F(VhostNetTest, StartGivesTheKernelEveryRegionAndHostRingAddresses) {
  ASSERT_TRUE(start().has_value());

  ASSERT_EQ(fake_->mem_table().size(), 2u);
  EXPECT_EQ(fake_->mem_table()[1].host, high_.data());
  EXPECT_EQ(fake_->ring(kTxRing).desc, host(0x110000));
  EXPECT_EQ(fake_->ring(kTxRing).avail, host(0x111000));
  EXPECT_EQ(fake_->ring(kTxRing).used, host(0x112000));
}

TEST_F(VhostNetTest, StartWithARingOutsideRamFailsAndLeavesNothingAttached) {
  auto setup = rings();
  setup[kTxRing].used_gpa = 0x13fc00;  // 6 + 8 * 256 bytes run past the end of RAM at 0x140000

  auto started = start(setup);

  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.error().message, "vhost-net start: tx ring device area [0x13fc00, +0x806) is outside guest RAM");
  EXPECT_FALSE(pair_->running());
  EXPECT_EQ(*log_, (Lines{"set_owner", "get_features"}));  // checked before any ioctl
}

TEST_F(VhostNetTest, StartRejectsARingSizeThatIsNotAPowerOfTwo) {
  auto setup = rings();
  setup[kRxRing].size = 100;

  auto started = start(setup);

  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.error().message, "vhost-net start: rx ring size 100 is not a power of two up to 32768");
}

TEST_F(VhostNetTest, FailingTxBackendDetachesRxAndNamesTheStep) {
  fake_->fail_once("net_set_backend 1");

  auto started = start();

  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.error().message, "vhost-net start: net_set_backend 1 30: injected failure");
  EXPECT_FALSE(pair_->running());
  EXPECT_TRUE(logged("net_set_backend 0 -1"));
  EXPECT_EQ(fake_->ring(kRxRing).backend, -1);
  EXPECT_EQ(fake_->ring(kTxRing).backend, -1);
}

TEST_F(VhostNetTest, FailedStartUnbindsTheEventfdsItBound) {
  fake_->fail_once("set_vring_call 1");

  ASSERT_FALSE(start().has_value());

  EXPECT_EQ(fake_->ring(kRxRing).kick, -1);
  EXPECT_EQ(fake_->ring(kRxRing).call, -1);
  EXPECT_EQ(fake_->ring(kTxRing).kick, -1);
}

TEST_F(VhostNetTest, StartWhileRunningIsRejected) {
  start_ok();

  auto again = start();

  ASSERT_FALSE(again.has_value());
  EXPECT_TRUE(log_->empty());
}

TEST_F(VhostNetTest, StopDetachesBothThenReadsBasesThenUnbinds) {
  start_ok();

  ASSERT_TRUE(pair_->stop().has_value());

  const Lines expected{"net_set_backend 0 -1", "net_set_backend 1 -1", "get_vring_base 0",   "get_vring_base 1",
                       "set_vring_kick 0 -1",  "set_vring_call 0 -1",  "set_vring_err 0 -1", "set_vring_kick 1 -1",
                       "set_vring_call 1 -1",  "set_vring_err 1 -1"};
  EXPECT_EQ(*log_, expected);
  EXPECT_FALSE(pair_->running());
}

TEST_F(VhostNetTest, StopReturnsTheBasesTheKernelAdvancedTo) {
  fake_->set_consumed(kRxRing, 3);
  fake_->set_consumed(kTxRing, 4);
  start_ok();

  auto bases = pair_->stop();

  ASSERT_TRUE(bases.has_value()) << bases.error().message;
  EXPECT_EQ(*bases, (std::array<uint16_t, 2>{8, 11}));
}

TEST_F(VhostNetTest, StopBasesWrapAtSixteenBits) {
  fake_->set_consumed(kTxRing, 5);
  auto setup = rings();
  setup[kTxRing].next_avail = 0xfffe;
  ASSERT_TRUE(start(setup).has_value());

  auto bases = pair_->stop();

  ASSERT_TRUE(bases.has_value());
  EXPECT_EQ((*bases)[kTxRing], 3);
}

TEST_F(VhostNetTest, StopWhenNotRunningIsANoOp) {
  log_->clear();

  auto bases = pair_->stop();

  ASSERT_TRUE(bases.has_value());
  EXPECT_EQ(*bases, (std::array<uint16_t, 2>{0, 0}));
  EXPECT_TRUE(log_->empty());
}

TEST_F(VhostNetTest, FailedStopCanBeRetriedWhereItStopped) {
  start_ok();
  fake_->fail_once("net_set_backend 1");
  ASSERT_FALSE(pair_->stop().has_value());
  ASSERT_TRUE(pair_->running());
  log_->clear();

  auto bases = pair_->stop();

  ASSERT_TRUE(bases.has_value()) << bases.error().message;
  EXPECT_EQ(log_->front(), "net_set_backend 1 -1");
  EXPECT_FALSE(pair_->running());
}

TEST_F(VhostNetTest, RestartWithTheReturnedBasesResumesWhereTheKernelStopped) {
  fake_->set_consumed(kRxRing, 3);
  fake_->set_consumed(kTxRing, 4);
  start_ok();
  auto bases = pair_->stop();
  ASSERT_TRUE(bases.has_value());
  auto setup = rings();
  setup[kRxRing].next_avail = (*bases)[kRxRing];
  setup[kTxRing].next_avail = (*bases)[kTxRing];
  log_->clear();

  auto restarted = start(setup);

  ASSERT_TRUE(restarted.has_value()) << restarted.error().message;
  EXPECT_TRUE(logged("set_vring_base 0 8"));
  EXPECT_TRUE(logged("set_vring_base 1 11"));
}

TEST_F(VhostNetTest, DestroyingARunningPairDetachesBothRings) {
  start_ok();

  pair_.reset();

  EXPECT_TRUE(logged("net_set_backend 0 -1"));
  EXPECT_TRUE(logged("net_set_backend 1 -1"));
}

TEST(OpenVhostNet, MissingDeviceIsAnErrorNamingThePathAndTheModule) {
  auto ops = open_vhost_net("/nonexistent/vhost-net");

  ASSERT_FALSE(ops.has_value());
  EXPECT_EQ(ops.error().message, "/nonexistent/vhost-net: not found (load the vhost_net module: modprobe vhost_net)");
}

TEST(OpenVhostNet, UnopenablePathIsAnErrorNamingThePath) {
  auto ops = open_vhost_net("/");  // a directory cannot be opened read-write, even by root

  ASSERT_FALSE(ops.has_value());
  EXPECT_EQ(ops.error().message, "/: Is a directory");
}

TEST(OpenVhostNet, IoctlErrorsNameTheIoctl) {
  auto ops = open_vhost_net("/dev/null");  // opens, but is no vhost device
  ASSERT_TRUE(ops.has_value()) << ops.error().message;

  auto pair = VhostNetPair::create(std::move(*ops));

  ASSERT_FALSE(pair.has_value());
  EXPECT_EQ(pair.error().message, "vhost-net create: VHOST_SET_OWNER: Inappropriate ioctl for device");
}

}  // namespace
}  // namespace franca::vhost
