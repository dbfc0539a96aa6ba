// End-to-end fixture for virtio-blk: a real image file, the device behind an
// mmio transport probed as Linux does (tests/support/probed_device.h), split or
// packed driver rings over test RAM, the device on an EventLoop thread, kicks
// through QueueNotify.
#pragma once

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
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
#include "tests/support/driver_queue.h"
#include "tests/support/loop_thread.h"
#include "tests/support/probed_device.h"
#include "tests/support/recording_interrupt.h"
#include "tests/unit/devices/virtio/block/block_test_support.h"

namespace franca::virtio::testing {

using franca::testing::DriverBuffer;
using franca::testing::DriverQueue;
using franca::testing::LoopThread;
using franca::testing::ProbedDevice;
using franca::testing::ProbeOptions;
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
    dev_.reset();  // the transport stops the device (its reset() on the loop)
    loop_.stop();
    blk_.reset();
  }

  // Creates the device over `image` (default image_), pre-filled with a pattern,
  // behind an mmio transport.
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
    dev_ = std::make_unique<ProbedDevice>(blk_, ram_.memory(), loop_.loop());
  }

  // What the driver does: everything offered (less the packed ring for a split
  // run), `queues` rings of kQueueSize.
  ProbeOptions probe_options(uint16_t queues) const {
    return {.mask = packed() ? 0 : uint64_t{1} << VIRTIO_F_RING_PACKED,
            .queues = ProbeOptions::rings(queues, kQueueSize)};
  }
  // Probes the device through the transport with `queues` driver rings.
  void activate(uint16_t queues = 1) {
    next_data_ = 0;
    auto result = dev_->probe(probe_options(queues));
    ASSERT_TRUE(result.has_value()) << result.error().message;
    expect_ring_format();
  }
  // The rings follow the negotiated features: the ones this run is about.
  void expect_ring_format() {
    EXPECT_EQ(bool(dev_->features() & (uint64_t{1} << VIRTIO_F_RING_PACKED)), packed());
    EXPECT_TRUE(dev_->features() & (uint64_t{1} << VIRTIO_RING_F_EVENT_IDX));
    EXPECT_TRUE(dev_->features() & (uint64_t{1} << VIRTIO_RING_F_INDIRECT_DESC));
  }
  DriverQueue& driver(size_t q = 0) { return dev_->queue(static_cast<uint16_t>(q)); }

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
    const uint16_t id = driver(q).add(chain);
    driver(q).publish();
    kick(q);
    return id;
  }
  // A QueueNotify write through the transport.
  void kick(size_t q = 0) { dev_->kick(static_cast<uint16_t>(q)); }

  // Waits up to five seconds for `n` completions on queue `q`.
  std::vector<UsedBuffer> wait_used(size_t n, size_t q = 0) {
    std::vector<UsedBuffer> all;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (all.size() < n && std::chrono::steady_clock::now() < deadline) {
      auto more = driver(q).used();
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

  std::vector<std::string> failures() { return dev_->failures(); }
  // The device's used-buffer and config signals, counted on their way to the transport.
  RecordingInterrupt& signals() { return dev_->signals(); }

  static constexpr uint64_t kDataBase = 0x100000;
  static constexpr uint64_t kDataSize = 12 << 20;

  TempImage image_{kImageSize};
  TestRam ram_{kDataBase + kDataSize};
  LoopThread loop_;
  std::shared_ptr<Block> blk_;
  std::unique_ptr<ProbedDevice> dev_;
  uint64_t next_data_ = 0;
};

inline std::string device_param_name(const ::testing::TestParamInfo<DeviceParam>& info) {
  return std::string(std::get<0>(info.param) ? "Packed" : "Split") + (std::get<1>(info.param) ? "Uring" : "Sync");
}

}  // namespace franca::virtio::testing
