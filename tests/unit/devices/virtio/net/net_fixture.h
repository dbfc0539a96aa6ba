// End-to-end fixture for virtio-net: SOCK_SEQPACKET socketpairs stand in for
// the TAP queues (Tap::over_sockets), the device behind an mmio transport
// probed as Linux does (tests/support/probed_device.h) with driver-side rings
// (split or packed) over heap guest memory, the device on an EventLoop thread,
// kicks through QueueNotify, and kernel vhost-net through FakeVhost instances
// the fixture opens and keeps.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "devices/virtio/net/net.h"
#include "devices/virtio/net/virtio_net_uapi.h"
#include "devices/virtio/net/vnet_hdr.h"
#include "tests/support/device_context.h"
#include "tests/support/driver_queue.h"
#include "tests/support/fake_vhost.h"
#include "tests/support/loop_thread.h"
#include "tests/support/probed_device.h"
#include "tests/support/recording_interrupt.h"
#include "vmm/core/fd.h"

namespace franca::virtio::testing {

using franca::testing::DeviceContextBuilder;
using franca::testing::DriverBuffer;
using franca::testing::DriverQueue;
using franca::testing::DriverQueueOptions;
using franca::testing::FakeVhost;
using franca::testing::LoopThread;
using franca::testing::ProbedDevice;
using franca::testing::ProbeOptions;
using franca::testing::RecordingInterrupt;
using franca::testing::TestRam;
using franca::testing::UsedBuffer;
using franca::testing::wait_until;

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

// What a Linux guest typically negotiates with franca, less EVENT_IDX (so every
// completion signals) and less MRG_RXBUF (tests add it where they mean it).
constexpr uint64_t kGuestFeatures = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_GUEST_CSUM) |
                                    bit(VIRTIO_NET_F_HOST_TSO4) | bit(VIRTIO_NET_F_HOST_TSO6) | bit(VIRTIO_NET_F_MAC) |
                                    bit(VIRTIO_NET_F_STATUS) | bit(VIRTIO_NET_F_CTRL_VQ);

// A frame as the wire has it: destination, source, IPv4 ethertype, a pattern.
inline std::vector<uint8_t> ethernet_frame(size_t len, uint8_t seed = 1) {
  std::vector<uint8_t> f(len);
  for (size_t i = 0; i < len; ++i) f[i] = static_cast<uint8_t>(seed + i * 7);
  if (len >= 14) {
    f[12] = 0x08;
    f[13] = 0x00;
  }
  return f;
}

// A receive header as the device writes it: the TAP's header with num_buffers set.
inline virtio_net_hdr_v1 rx_header(uint16_t num_buffers) {
  virtio_net_hdr_v1 h{};
  h.num_buffers = num_buffers;
  return h;
}

inline std::vector<uint8_t> header_bytes(const virtio_net_hdr_v1& h) {
  const auto* p = reinterpret_cast<const uint8_t*>(&h);
  return {p, p + sizeof(h)};
}

// The 12-byte header followed by the frame: what the TAP carries.
// Sized once and filled in place: GCC 12 -O3 warns (-Warray-bounds) on growing
// the 12-byte header vector with insert().
inline std::vector<uint8_t> packet(const virtio_net_hdr_v1& h, const std::vector<uint8_t>& frame) {
  std::vector<uint8_t> out(sizeof(h) + frame.size());
  std::memcpy(out.data(), &h, sizeof(h));
  std::ranges::copy(frame, out.begin() + sizeof(h));
  return out;
}

// Opens FakeVhost instances as /dev/vhost-net would be opened, keeping each
// one's log (which outlives it) and a pointer to the newest (valid while the
// Net holds it) for the consumed() knob. Lives longer than the Net using it.
class VhostFactory {
 public:
  VhostOpener opener() {
    return [this]() -> Result<std::unique_ptr<vhost::VhostOps>> {
      std::lock_guard lock(mutex_);
      if (refuse) return host_error("/dev/vhost-net: not found (load the vhost_net module: modprobe vhost_net)");
      auto fake = std::make_unique<FakeVhost>(kernel_features);
      if (fail_next) fake->fail_once(*std::exchange(fail_next, std::nullopt));
      if (auto consumed = std::exchange(consumed_next, std::nullopt))
        fake->set_consumed(consumed->first, consumed->second);
      logs.push_back(fake->log());
      newest = fake.get();
      return std::unique_ptr<vhost::VhostOps>(std::move(fake));
    };
  }
  size_t opened() {
    std::lock_guard lock(mutex_);
    return logs.size();
  }
  const std::vector<std::string>& last_log() { return *logs.back(); }

  bool refuse = false;  // every open fails, like a host without vhost_net
  uint64_t kernel_features = FakeVhost::kLinux61Features;
  std::optional<std::string> fail_next;                        // FakeVhost::fail_once for the next instance opened
  std::optional<std::pair<uint32_t, uint16_t>> consumed_next;  // FakeVhost::set_consumed for the next instance
  std::vector<FakeVhost::Log> logs;                            // one per instance, in open order
  FakeVhost* newest = nullptr;

 private:
  std::mutex mutex_;
};

inline bool logged(const std::vector<std::string>& log, const std::string& line) {
  return std::ranges::find(log, line) != log.end();
}

class NetFixture : public ::testing::Test {
 protected:
  static constexpr uint64_t kDataBase = 0x200000;
  static constexpr uint64_t kDataSize = 0x200000;
  static constexpr uint64_t kRingStride = 0x20000;  // rings, then DriverQueue's 64 KiB indirect-table area

  void TearDown() override {
    if (direct_) loop_.sync([&] { net_->reset(); });
    dev_.reset();  // the transport stops the device (its reset() on the loop)
    loop_.stop();
    net_.reset();
  }

  // The Net over one socketpair per queue pair, behind an mmio transport; the
  // test keeps the peer ends.
  void create(NetConfig config = {}) {
    dev_.reset();
    auto net = try_create(config);
    ASSERT_TRUE(net.has_value()) << net.error().message;
    net_ = std::move(*net);
    dev_ = std::make_unique<ProbedDevice>(net_, ram_.memory(), loop_.loop());
  }
  Result<std::shared_ptr<Net>> try_create(const NetConfig& config) {
    std::vector<Fd> device_ends;
    peers_.clear();
    for (uint16_t q = 0; q < config.queues; ++q) {
      int sv[2];
      EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
      device_ends.emplace_back(sv[0]);
      peers_.emplace_back(sv[1]);
    }
    return Net::create_with_tap(config, "net0", Tap::over_sockets(std::move(device_ends)), vhost_.opener());
  }

  // The probe up to DRIVER_OK: the driver writes exactly `features` and sets
  // up a ring for each of the device's queues (it enables them all) in the
  // format `features` asks for; chains added now are there at activation.
  void lay_out(uint64_t features) {
    EXPECT_EQ(features & ~net_->offered_features(), 0u) << "a driver accepts only offered features";
    features_ = features;
    ASSERT_TRUE(dev_->set_up(
        {.features = features, .queues = ProbeOptions::rings(net_->num_queues(), queue_size_, 0x1000, kRingStride)}));
  }
  // DRIVER_OK over the rings laid out; the transport activates the device on the loop.
  Result<void> start_device() { return dev_->driver_ok(); }
  Result<void> try_activate(uint64_t features) {
    lay_out(features);
    if (::testing::Test::HasFatalFailure()) return host_error("the probe failed before DRIVER_OK");
    return start_device();
  }
  void activate(uint64_t features = kGuestFeatures) {
    auto result = try_activate(features);
    ASSERT_TRUE(result.has_value()) << result.error().message;
  }
  // Driver reset through the transport (status 0): the device's reset() has run when it returns.
  void reset_device() { dev_->reset(); }

  // Rings of `queue_size_` entries laid out by hand and handed to activate() by
  // start_direct() (DeviceContextBuilder), bypassing the transport, for the
  // tests no driver can make happen through it: rings larger than the device's
  // QueueNumMax (256), or activate() and reset() in one loop turn.
  void lay_out_direct(uint64_t features) {
    features_ = features;
    direct_ = std::make_unique<Direct>();
    const DriverQueueOptions options{.size = queue_size_,
                                     .packed = bool(features & bit(VIRTIO_F_RING_PACKED)),
                                     .event_idx = bool(features & bit(VIRTIO_RING_F_EVENT_IDX)),
                                     .indirect = bool(features & bit(VIRTIO_RING_F_INDIRECT_DESC))};
    for (uint16_t i = 0; i < net_->num_queues(); ++i) {
      DriverQueueOptions o = options;
      o.ring_base = 0x1000 + i * kRingStride;
      direct_->rings.push_back(std::make_unique<DriverQueue>(ram_.memory(), o));
      direct_->kicks.emplace_back(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    }
  }
  // The DeviceContext a transport would hand over at DRIVER_OK, over the rings lay_out_direct() made.
  DeviceContext direct_context() {
    franca::testing::DeviceContextBuilder ctx(loop_.loop());
    ctx.memory(ram_.memory()).features(features_).interrupt(direct_->irq).fail(direct_->failures.recorder());
    for (uint16_t i = 0; i < direct_->rings.size(); ++i) ctx.queue(i, *direct_->rings[i], direct_->kicks[i].get());
    return ctx.build();
  }
  Result<void> start_direct() {
    Result<void> result;
    loop_.sync([&] { result = net_->activate(direct_context()); });
    return result;
  }

  // Queue layout (virtio 1.x §5.1.2): rx/tx per pair, the control queue last.
  DriverQueue& driver(uint16_t index) { return direct_ ? *direct_->rings.at(index) : dev_->queue(index); }
  size_t driver_queues() const { return direct_ ? direct_->rings.size() : dev_->queues(); }
  DriverQueue& rx(uint16_t pair = 0) { return driver(static_cast<uint16_t>(2 * pair)); }
  DriverQueue& tx(uint16_t pair = 0) { return driver(static_cast<uint16_t>(2 * pair + 1)); }
  uint16_t ctrl_index() const {
    return static_cast<uint16_t>(features_ & bit(VIRTIO_NET_F_MQ) ? driver_queues() - 1 : 2);
  }
  DriverQueue& ctrl() { return driver(ctrl_index()); }
  // A QueueNotify write through the transport (or the direct rings' eventfd).
  void kick(uint16_t queue) {
    if (!direct_) return dev_->kick(queue);
    const uint64_t one = 1;
    ASSERT_EQ(::write(direct_->kicks[queue].get(), &one, sizeof(one)), 8);
  }
  void kick_rx(uint16_t pair = 0) { kick(static_cast<uint16_t>(2 * pair)); }
  void kick_tx(uint16_t pair = 0) { kick(static_cast<uint16_t>(2 * pair + 1)); }

  // Guest data buffers, past every ring.
  uint64_t alloc(size_t len) {
    const uint64_t gpa = kDataBase + next_data_;
    next_data_ += (len + 63) & ~size_t{63};
    EXPECT_LE(next_data_, kDataSize);
    return gpa;
  }
  uint64_t put(const std::vector<uint8_t>& bytes) {
    const uint64_t gpa = alloc(bytes.size());
    std::memcpy(ram_.bytes().data() + gpa, bytes.data(), bytes.size());
    return gpa;
  }
  std::vector<uint8_t> guest_bytes(uint64_t gpa, size_t n) {
    return {ram_.bytes().begin() + static_cast<ptrdiff_t>(gpa), ram_.bytes().begin() + static_cast<ptrdiff_t>(gpa + n)};
  }

  // A transmit chain of one readable descriptor per piece, published and kicked.
  uint16_t transmit(const std::vector<std::vector<uint8_t>>& pieces, uint16_t pair = 0) {
    const uint16_t id = add_tx(pieces, pair);
    tx(pair).publish();
    kick_tx(pair);
    return id;
  }
  uint16_t add_tx(const std::vector<std::vector<uint8_t>>& pieces, uint16_t pair = 0) {
    std::vector<DriverBuffer> chain;
    for (const auto& piece : pieces) chain.push_back({put(piece), static_cast<uint32_t>(piece.size()), false});
    return tx(pair).add(chain);
  }
  // `count` receive chains of one `len`-byte writable buffer each, published (not kicked).
  struct RxBuffer {
    uint16_t id;
    uint64_t gpa;
  };
  std::vector<RxBuffer> post_rx(size_t count, uint32_t len, uint16_t pair = 0) {
    std::vector<RxBuffer> out;
    for (size_t i = 0; i < count; ++i) {
      const uint64_t gpa = alloc(len);
      out.push_back({rx(pair).add({{gpa, len, true}}), gpa});
    }
    rx(pair).publish();
    return out;
  }

  // The host side of the TAP.
  void tap_send(const std::vector<uint8_t>& bytes, uint16_t queue = 0) {
    ASSERT_EQ(::send(peers_[queue].get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  }
  // One message from the device, waiting up to `timeout_ms`.
  std::optional<std::vector<uint8_t>> tap_receive(uint16_t queue = 0, int timeout_ms = 5000) {
    pollfd p{.fd = peers_[queue].get(), .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, timeout_ms) != 1) return std::nullopt;
    std::vector<uint8_t> buf(70000);
    const ssize_t n = ::recv(peers_[queue].get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

  // Completions accumulated until `count` arrived (or five seconds passed).
  std::vector<UsedBuffer> wait_used(DriverQueue& q, size_t count) {
    std::vector<UsedBuffer> all;
    wait_until([&] {
      for (const UsedBuffer& u : q.used()) all.push_back(u);
      return all.size() >= count;
    });
    return all;
  }

  uint64_t counter(std::string_view name) const {
    for (const auto& [key, value] : net_->extra_counters()) {
      if (key == name) return value;
    }
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }
  std::vector<std::string> failures() { return direct_ ? direct_->failures.reasons() : dev_->failures(); }
  // The device's used-buffer and config signals, counted on their way to the transport.
  RecordingInterrupt& signals() { return direct_ ? *direct_->irq : dev_->signals(); }
  // Config space as the driver reads it, through the transport's config window.
  std::vector<uint8_t> config_bytes(uint64_t offset, size_t n) { return dev_->read_config(offset, n); }

  TestRam ram_{kDataBase + kDataSize};
  uint16_t queue_size_ = 16;
  uint64_t features_ = 0;
  std::vector<Fd> peers_;
  VhostFactory vhost_;
  size_t next_data_ = 0;
  LoopThread loop_;
  std::shared_ptr<Net> net_;
  std::unique_ptr<ProbedDevice> dev_;
  struct Direct {
    std::vector<std::unique_ptr<DriverQueue>> rings;
    std::vector<Fd> kicks;
    std::shared_ptr<RecordingInterrupt> irq = std::make_shared<RecordingInterrupt>();
    franca::testing::FailureLog failures;
  };
  std::unique_ptr<Direct> direct_;  // set by lay_out_direct()
};

// NetFixture over split (false) or packed (true) rings, the test's parameter.
class RingsNetFixture : public NetFixture, public ::testing::WithParamInterface<bool> {
 protected:
  static constexpr uint64_t kOutsideRam = 0x40000000;
  void SetUp() override {
    NetConfig config;
    config.packed = GetParam();
    create(config);
  }
  static uint64_t features(uint64_t extra = 0) {
    return kGuestFeatures | extra | (GetParam() ? bit(VIRTIO_F_RING_PACKED) : 0);
  }
  // Gives the loop time to act on something it should ignore.
  void settle() {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    loop_.sync([] {});
  }
};

}  // namespace franca::virtio::testing
