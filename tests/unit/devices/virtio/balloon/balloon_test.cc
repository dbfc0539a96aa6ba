// virtio-balloon end to end: the device probed through an mmio transport as
// Linux does (tests/support/probed_device.h), driver-side rings in heap guest
// memory, the device on an event loop thread and a recording ReleaseFn in place
// of madvise: what is released, what is refused, how queues are numbered.
#include "devices/virtio/balloon/balloon.h"

#include <gtest/gtest.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/driver_queue.h"
#include "tests/support/loop_thread.h"
#include "tests/support/probed_device.h"

namespace franca::virtio {
namespace {

using franca::testing::DriverQueue;
using franca::testing::LoopThread;
using franca::testing::ProbedDevice;
using franca::testing::ProbeOptions;
using franca::testing::TestRam;
using franca::testing::UsedBuffer;
using franca::testing::wait_until;

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }
constexpr uint64_t kRam = 4 << 20;
constexpr uint64_t kRing = 0x1000;    // queue q's rings at kRing + q * 0x20000
constexpr uint64_t kData = 0x100000;  // request buffers

struct Released {
  uint64_t offset;  // in guest RAM
  uint64_t len;
  bool operator==(const Released&) const = default;
};

class BalloonTest : public ::testing::Test {
 protected:
  // The balloon behind an mmio transport.
  void create(BalloonConfig config = {}) {
    dev_.reset();
    auto b = Balloon::create(config, kRam, "balloon0", [this](uint8_t* host, uint64_t len) {
      std::lock_guard lock(mutex_);
      released_.push_back({static_cast<uint64_t>(host - ram_.bytes().data()), len});
      return 0;
    });
    ASSERT_TRUE(b.has_value()) << b.error().message;
    balloon_ = std::move(*b);
    dev_ = std::make_unique<ProbedDevice>(balloon_, ram_.memory(), loop_.loop());
  }
  void TearDown() override {
    dev_.reset();  // the transport stops the device (its reset() on the loop)
    loop_.stop();
  }
  // Probes the device: the driver writes VERSION_1 | `features` and sets up
  // `queues` rings (indices 0..n-1, as Linux numbers the queues it finds).
  void activate(uint64_t features, uint16_t queues) {
    const auto result =
        dev_->probe({.features = bit(VIRTIO_F_VERSION_1) | features, .queues = ProbeOptions::rings(queues, 32, kRing)});
    ASSERT_TRUE(result.has_value()) << result.error().message;
  }
  // A QueueNotify write through the transport.
  void kick(uint16_t q) { dev_->kick(q); }
  DriverQueue& driver(uint16_t q) { return dev_->queue(q); }
  std::vector<std::string> failures() { return dev_->failures(); }
  // Publishes `bytes` as one device-readable chain on queue q and kicks.
  uint16_t send(uint16_t q, const std::vector<uint8_t>& bytes, uint64_t at = kData) {
    std::memcpy(ram_.bytes().data() + at, bytes.data(), bytes.size());
    const uint16_t id = driver(q).add({{at, static_cast<uint32_t>(bytes.size()), false}});
    driver(q).publish();
    kick(q);
    return id;
  }
  static std::vector<uint8_t> pfns(std::initializer_list<uint32_t> values) {
    std::vector<uint8_t> out(values.size() * 4);
    std::memcpy(out.data(), std::data(values), out.size());
    return out;
  }
  std::vector<UsedBuffer> wait_used(uint16_t q, size_t count) {
    std::vector<UsedBuffer> all;
    wait_until([&] {
      for (const UsedBuffer& u : driver(q).used()) all.push_back(u);
      return all.size() >= count;
    });
    return all;
  }
  std::vector<Released> released() {
    loop_.sync([] {});
    std::lock_guard lock(mutex_);
    return released_;
  }
  uint64_t counter(const std::string& name) {
    for (const auto& [n, v] : balloon_->extra_counters()) {
      if (n == name) return v;
    }
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }

  TestRam ram_{kRam};
  LoopThread loop_;
  std::shared_ptr<Balloon> balloon_;
  std::unique_ptr<ProbedDevice> dev_;
  std::mutex mutex_;
  std::vector<Released> released_;
};

TEST_F(BalloonTest, OffersOnlyWhatIsImplementedAndOneQueuePerOfferedOptionalQueue) {
  create();
  const uint64_t f = balloon_->offered_features();
  EXPECT_TRUE(f & bit(VIRTIO_BALLOON_F_MUST_TELL_HOST));
  EXPECT_TRUE(f & bit(VIRTIO_BALLOON_F_STATS_VQ));
  EXPECT_FALSE(f & bit(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
  EXPECT_FALSE(f & bit(VIRTIO_BALLOON_F_REPORTING));
  EXPECT_FALSE(f & bit(VIRTIO_BALLOON_F_FREE_PAGE_HINT));
  EXPECT_FALSE(f & bit(VIRTIO_BALLOON_F_PAGE_POISON));
  EXPECT_EQ(balloon_->num_queues(), 3);
  EXPECT_GE(balloon_->max_queue_size(), Balloon::kMinReportingQueueSize);

  balloon_.reset();
  create({.deflate_on_oom = true, .free_page_reporting = true, .feature_mask = bit(VIRTIO_BALLOON_F_STATS_VQ)});
  EXPECT_TRUE(balloon_->offered_features() & bit(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
  EXPECT_TRUE(balloon_->offered_features() & bit(VIRTIO_BALLOON_F_REPORTING));
  EXPECT_FALSE(balloon_->offered_features() & bit(VIRTIO_BALLOON_F_STATS_VQ));
  EXPECT_EQ(balloon_->num_queues(), 3);
}

TEST_F(BalloonTest, ConfigSpaceHoldsTheSizeAndTheDriversActual) {
  create({.size_mib = 2});
  uint8_t cfg[8];
  balloon_->read_config(0, cfg);
  uint32_t num_pages, actual;
  std::memcpy(&num_pages, cfg, 4);
  std::memcpy(&actual, cfg + 4, 4);
  EXPECT_EQ(num_pages, 512u);
  EXPECT_EQ(actual, 0u);

  const uint32_t v = 0x01020304;
  balloon_->write_config(4, {reinterpret_cast<const uint8_t*>(&v), 4});
  EXPECT_EQ(balloon_->actual_pages(), 0x01020304u);
  const uint8_t hi = 0xaa;
  balloon_->write_config(7, {&hi, 1});  // a partial write updates its byte only
  EXPECT_EQ(balloon_->actual_pages(), 0xaa020304u);
  balloon_->write_config(0, {reinterpret_cast<const uint8_t*>(&v), 4});  // num_pages is read-only
  EXPECT_EQ(balloon_->size_pages(), 512u);
  uint8_t beyond[4] = {1, 1, 1, 1};
  balloon_->read_config(100, beyond);
  EXPECT_EQ(beyond[0] | beyond[1] | beyond[2] | beyond[3], 0);
}

TEST_F(BalloonTest, ASizeChangeRaisesAConfigInterruptAndMoreThanRamIsRefused) {
  create();
  activate(0, 2);
  ASSERT_TRUE(balloon_->set_size_mib(3));
  EXPECT_TRUE(wait_until([&] { return dev_->signals().config.load() == 1; }));
  EXPECT_EQ(balloon_->size_pages(), 3u * 256);
  EXPECT_FALSE(balloon_->set_size_mib(5));
  EXPECT_EQ(balloon_->size_pages(), 3u * 256);
  EXPECT_FALSE(Balloon::create({.size_mib = 5}, kRam, "b", {}).has_value());
}

TEST_F(BalloonTest, InflatedPagesAreReleasedMergedAndDeflatedOnesAreOnlyCounted) {
  create();
  activate(0, 2);
  const uint16_t a = send(Balloon::kInflateQueue, pfns({0x83, 0x80, 0x81, 0x81}));
  EXPECT_EQ(wait_used(Balloon::kInflateQueue, 1), (std::vector<UsedBuffer>{{a, 0}}));
  EXPECT_EQ(released(), (std::vector<Released>{{0x80000, 0x2000}, {0x83000, 0x1000}}));
  EXPECT_EQ(counter("pages_inflated"), 4u);
  EXPECT_EQ(counter("bytes_released"), 0x3000u);

  const uint16_t d = send(Balloon::kDeflateQueue, pfns({0x80, 0x83}), kData + 0x1000);
  EXPECT_EQ(wait_used(Balloon::kDeflateQueue, 1), (std::vector<UsedBuffer>{{d, 0}}));
  EXPECT_EQ(released().size(), 2u);
  EXPECT_EQ(counter("pages_deflated"), 2u);
  EXPECT_EQ(dev_->signals().used[Balloon::kInflateQueue], 1);
  EXPECT_TRUE(failures().empty());
}

TEST_F(BalloonTest, APfnOutsideRamIsARingErrorAndNothingOfTheRequestIsReleased) {
  create();
  activate(0, 2);
  send(Balloon::kInflateQueue, pfns({0x80, kRam >> 12, 0x81}));
  EXPECT_TRUE(wait_until([&] { return !failures().empty(); }));
  EXPECT_NE(failures()[0].find("outside guest RAM"), std::string::npos) << failures()[0];
  EXPECT_TRUE(released().empty());
  EXPECT_EQ(balloon_->counters().ring_errors.load(), 1u);
  EXPECT_TRUE(dev_->needs_reset());  // what the driver sees through the transport
  // Stopped: later requests are not served until the driver resets the device.
  send(Balloon::kInflateQueue, pfns({0x90}), kData + 0x1000);
  EXPECT_TRUE(released().empty());
}

TEST_F(BalloonTest, APartialPfnIsCountedAndTheRestServed) {
  create();
  activate(0, 2);
  auto bytes = pfns({0x90});
  bytes.resize(bytes.size() + 1, 7);
  send(Balloon::kInflateQueue, bytes);
  EXPECT_EQ(wait_used(Balloon::kInflateQueue, 1).size(), 1u);
  EXPECT_EQ(released(), (std::vector<Released>{{0x90000, 0x1000}}));
  EXPECT_EQ(balloon_->counters().errors.load(), 1u);
  EXPECT_TRUE(failures().empty());
}

TEST_F(BalloonTest, APfnArrayOverOneMibIsARingError) {
  create();
  activate(0, 2);
  const uint16_t id = driver(0).add({{kData, Balloon::kMaxPfnBytes / 2, false},
                                     {kData + Balloon::kMaxPfnBytes / 2, Balloon::kMaxPfnBytes / 2 + 4, false}});
  (void)id;
  driver(0).publish();
  kick(0);
  EXPECT_TRUE(wait_until([&] { return !failures().empty(); }));
  EXPECT_TRUE(released().empty());
}

TEST_F(BalloonTest, StatsAreKeptUntilTheDeviceAsksAndThenRefreshed) {
  create();
  activate(bit(VIRTIO_BALLOON_F_STATS_VQ), 3);
  EXPECT_TRUE(balloon_->stats_negotiated());
  std::vector<uint8_t> stats(20);
  const uint16_t tags[2] = {VIRTIO_BALLOON_S_MEMFREE, VIRTIO_BALLOON_S_MEMTOT};
  const uint64_t values[2] = {1000, 4000};
  for (int i = 0; i < 2; ++i) {
    std::memcpy(stats.data() + i * 10, &tags[i], 2);
    std::memcpy(stats.data() + i * 10 + 2, &values[i], 8);
  }
  const uint16_t first = send(2, stats);
  EXPECT_TRUE(wait_until([&] { return balloon_->stats().updates == 1; }));
  EXPECT_EQ(balloon_->stats().values, (std::vector<balloon::Stat>{{4, 1000}, {5, 4000}}));
  EXPECT_TRUE(driver(2).used().empty());  // held: the driver waits for the device to ask

  // Asking returns the buffer; the driver refills it with new values.
  std::vector<UsedBuffer> used;
  std::thread refill([&] {
    wait_until([&] {
      for (const UsedBuffer& u : driver(2).used()) used.push_back(u);
      return !used.empty();
    });
    const uint64_t v = 2000;
    std::memcpy(stats.data() + 2, &v, 8);
    send(2, stats, kData + 0x1000);
  });
  EXPECT_TRUE(balloon_->request_stats(std::chrono::seconds(5)));
  refill.join();
  EXPECT_EQ(used, (std::vector<UsedBuffer>{{first, 0}}));
  EXPECT_EQ(balloon_->stats().values[0], (balloon::Stat{4, 2000}));
  EXPECT_EQ(balloon_->stats().updates, 2u);
}

TEST_F(BalloonTest, StatsArePolledEveryPeriod) {
  create({.stats_period_s = 1});
  activate(bit(VIRTIO_BALLOON_F_STATS_VQ), 3);
  const uint16_t id = send(2, std::vector<uint8_t>(10));
  EXPECT_TRUE(wait_until([&] { return !driver(2).used().empty(); }));  // the timer returned it
  (void)id;
  EXPECT_GE(dev_->signals().used[2], 1);
}

// Linux numbers the queues of negotiated features only: without STATS_VQ the
// reporting queue is 2, with it 3.
class BalloonReportingTest : public BalloonTest, public ::testing::WithParamInterface<bool> {};

TEST_P(BalloonReportingTest, ReportedRangesAreReleasedOnceOnTheRightQueue) {
  const bool stats = GetParam();
  create({.free_page_reporting = true});
  activate(bit(VIRTIO_BALLOON_F_REPORTING) | (stats ? bit(VIRTIO_BALLOON_F_STATS_VQ) : 0), stats ? 4 : 3);
  const uint16_t q = stats ? 3 : 2;
  const uint16_t id = driver(q).add({{0x200000, 0x100000, true}, {0x280000, 0x100000, true}, {0x10800, 0x1000, true}});
  driver(q).publish();
  kick(q);
  EXPECT_EQ(wait_used(q, 1), (std::vector<UsedBuffer>{{id, 0}}));
  // Overlap merged; the unaligned buffer has no whole page.
  EXPECT_EQ(released(), (std::vector<Released>{{0x200000, 0x180000}}));
  EXPECT_EQ(counter("pages_reported"), 0x180u);
  EXPECT_TRUE(failures().empty());
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutStats, BalloonReportingTest, ::testing::Bool());

TEST_F(BalloonTest, ResetDropsTheHeldStatsBufferAndStopsStatsRequests) {
  create();
  activate(bit(VIRTIO_BALLOON_F_STATS_VQ), 3);
  send(2, std::vector<uint8_t>(10));
  EXPECT_TRUE(wait_until([&] { return balloon_->stats().updates == 1; }));
  dev_->reset();
  EXPECT_FALSE(balloon_->stats_negotiated());
  EXPECT_FALSE(balloon_->request_stats(std::chrono::milliseconds(10)));
}

}  // namespace
}  // namespace franca::virtio
