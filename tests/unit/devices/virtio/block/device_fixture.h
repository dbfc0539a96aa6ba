// End-to-end fixture for virtio-blk: a real image file, a driver-side ring
// (tests/support/driver_queue.h, split or packed) over test RAM, the device
// activated on an EventLoop running in its own thread, kicks through eventfds.
#pragma once

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "devices/virtio/block/block.h"
#include "tests/support/device_context.h"
#include "tests/support/driver_queue.h"
#include "tests/support/loop_thread.h"
#include "tests/support/recording_interrupt.h"
#include "tests/unit/devices/virtio/block/block_test_support.h"
#include "vmm/core/fd.h"

namespace franca::virtio::testing {

using franca::testing::DeviceContextBuilder;
using franca::testing::DriverBuffer;
using franca::testing::DriverQueue;
using franca::testing::FailureLog;
using franca::testing::LoopThread;
using franca::testing::RecordingInterrupt;
using franca::testing::TestRam;
using franca::testing::UsedBuffer;

// Packed ring?, io_uring engine?
using DeviceParam = std::tuple<bool, bool>;

class BlockDeviceTest : public ::testing::TestWithParam<DeviceParam> {
 protected:
  static constexpr uint64_t kImageSize = 4 << 20;
  static constexpr uint16_t kQueueSize = 32;

  bool packed() const { return std::get<0>(GetParam()); }
  bool uring() const { return std::get<1>(GetParam()); }

  void TearDown() override {
    if (blk_) on_loop([this] { blk_->reset(); });
    loop_.stop();
    blk_.reset();
  }

  // Creates the device over `image` (default image_), pre-filled with a pattern.
  void create(BlockConfig config = {}, const TempImage* image = nullptr) {
    if (!image) image = &image_;
    image->write(0, pattern(kImageSize, 11));
    config.path = image->path();
    config.sync_io = !uring();
    if (config.serial.empty()) config.serial = "franca-serial-0";
    auto blk = Block::create(config, "blk0");
    ASSERT_TRUE(blk.has_value()) << blk.error().message;
    blk_ = std::move(*blk);
    ASSERT_EQ(blk_->io_engine_name(), uring() ? "io_uring" : "sync");
  }

  // Lays out `queues` driver rings and activates the device on the loop thread.
  void activate(uint16_t queues = 1) {
    drivers_.clear();
    kicks_.clear();
    next_data_ = 0;
    for (uint16_t i = 0; i < queues; ++i) {
      drivers_.emplace_back(ram_.memory(), franca::testing::DriverQueueOptions{
                                               .size = kQueueSize,
                                               .packed = packed(),
                                               .event_idx = true,
                                               .indirect = true,
                                               .ring_base = 0x1000 + i * 0x20000ull,
                                           });
      kicks_.emplace_back(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    }
    Result<void> result;
    on_loop([&] { result = blk_->activate(context()); });
    ASSERT_TRUE(result.has_value()) << result.error().message;
  }

  DeviceContext context() {
    DeviceContextBuilder ctx(loop_.loop());
    ctx.memory(ram_.memory())
        .features(blk_->offered_features() & ~(packed() ? 0 : uint64_t{1} << VIRTIO_F_RING_PACKED))
        .interrupt(interrupt_)
        .fail(failures_.recorder());
    for (uint16_t i = 0; i < drivers_.size(); ++i) ctx.queue(i, drivers_[i], kicks_[i].get());
    return ctx.build();
  }

  void on_loop(const std::function<void()>& fn) { loop_.sync(fn); }

  // Guest buffers live past every ring's indirect-table area.
  uint64_t alloc(uint32_t len) {
    const uint64_t gpa = kDataBase + next_data_;
    next_data_ += (len + 63) & ~63u;
    EXPECT_LE(next_data_, kDataSize);
    return gpa;
  }
  uint8_t* host(uint64_t gpa, uint64_t len = 1) { return ram_.memory().slice(gpa, len)->data(); }
  uint8_t status(uint64_t gpa) { return *host(gpa); }
  uint64_t put_header(uint32_t type, uint64_t sector) {
    const uint64_t gpa = alloc(sizeof(virtio_blk_outhdr));
    const virtio_blk_outhdr h = header(type, sector);
    std::memcpy(host(gpa, sizeof(h)), &h, sizeof(h));
    return gpa;
  }
  uint64_t put(std::span<const uint8_t> bytes) {
    const uint64_t gpa = alloc(static_cast<uint32_t>(bytes.size()));
    std::memcpy(host(gpa, bytes.size()), bytes.data(), bytes.size());
    return gpa;
  }
  template <class T>
  uint64_t put_obj(const T& value) {
    return put({reinterpret_cast<const uint8_t*>(&value), sizeof(T)});
  }
  // A status byte pre-set to 0xff so a missing write shows.
  uint64_t put_status() {
    const uint64_t gpa = alloc(1);
    *host(gpa) = 0xff;
    return gpa;
  }

  // Adds a chain to queue `q`, publishes it and kicks.
  uint16_t send(const std::vector<DriverBuffer>& chain, size_t q = 0) {
    const uint16_t id = drivers_[q].add(chain);
    drivers_[q].publish();
    kick(q);
    return id;
  }
  void kick(size_t q = 0) {
    const uint64_t one = 1;
    ASSERT_EQ(write(kicks_[q].get(), &one, sizeof(one)), 8);
  }

  // Waits up to five seconds for `n` completions on queue `q`.
  std::vector<UsedBuffer> wait_used(size_t n, size_t q = 0) {
    std::vector<UsedBuffer> all;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (all.size() < n && std::chrono::steady_clock::now() < deadline) {
      auto more = drivers_[q].used();
      all.insert(all.end(), more.begin(), more.end());
      if (all.size() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(all.size(), n);
    return all;
  }

  // One request, waited for; returns the used length.
  uint32_t roundtrip(const std::vector<DriverBuffer>& chain, size_t q = 0) {
    const uint16_t id = send(chain, q);
    const auto used = wait_used(1, q);
    if (used.empty()) return UINT32_MAX;
    EXPECT_EQ(used[0].id, id);
    return used[0].len;
  }

  std::vector<std::string> failures() { return failures_.reasons(); }

  static constexpr uint64_t kDataBase = 0x100000;
  static constexpr uint64_t kDataSize = 12 << 20;

  TempImage image_{kImageSize};
  TestRam ram_{kDataBase + kDataSize};
  LoopThread loop_;
  std::unique_ptr<Block> blk_;
  std::vector<DriverQueue> drivers_;
  std::vector<Fd> kicks_;
  std::shared_ptr<RecordingInterrupt> interrupt_ = std::make_shared<RecordingInterrupt>();
  uint64_t next_data_ = 0;
  FailureLog failures_;
};

inline std::string device_param_name(const ::testing::TestParamInfo<DeviceParam>& info) {
  return std::string(std::get<0>(info.param) ? "Packed" : "Split") + (std::get<1>(info.param) ? "Uring" : "Sync");
}

}  // namespace franca::virtio::testing
