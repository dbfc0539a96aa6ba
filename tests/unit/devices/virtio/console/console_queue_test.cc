// virtio-console end to end: the device probed through an mmio transport as
// Linux does (tests/support/probed_device.h), driver-side rings (split and
// packed) in heap guest memory, the device running on an event loop thread:
// transmit chains reach the file back-end, input() lands in receive buffers.
#include <gtest/gtest.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "devices/virtio/console/console.h"
#include "tests/support/driver_queue.h"
#include "tests/support/loop_thread.h"
#include "tests/support/probed_device.h"
#include "tests/support/recording_interrupt.h"
#include "vmm/core/fd.h"

namespace franca::virtio {
namespace {

using franca::testing::DriverQueue;
using franca::testing::LoopThread;
using franca::testing::ProbedDevice;
using franca::testing::ProbeOptions;
using franca::testing::RecordingInterrupt;
using franca::testing::TestRam;
using franca::testing::UsedBuffer;
using franca::testing::wait_until;

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }
constexpr uint64_t kRxData = 0x80000;
constexpr uint64_t kTxData = 0xa0000;

class ConsoleQueueTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "franca-console-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    out_path_ = dir_ + "/out.log";
    auto console = Console::create({.mode = ConsoleConfig::Mode::kFile, .path = out_path_}, "console0");
    ASSERT_TRUE(console.has_value());
    use(std::move(*console));
  }
  void TearDown() override {
    dev_.reset();  // the transport stops the device (its reset() on the loop)
    loop_.stop();
    std::filesystem::remove_all(dir_);
  }

  // Starts `console`'s back-end and puts it behind a fresh mmio transport.
  void use(std::unique_ptr<Console> console) {
    dev_.reset();
    console_ = std::move(console);
    ASSERT_TRUE(console_->start(loop_.loop()));
    dev_ = std::make_unique<ProbedDevice>(console_, ram_.memory(), loop_.loop());
    probed_ = Probe::kNone;
  }

  bool packed() const { return GetParam(); }

  // The probe up to every queue ready: what the driver has done before it adds
  // its first buffers. rx() and tx() do it on first use, so chains a test adds
  // before activate() are in the rings at DRIVER_OK.
  void set_up() {
    if (probed_ != Probe::kNone) return;
    const uint64_t features = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_RING_F_EVENT_IDX) | bit(VIRTIO_CONSOLE_F_SIZE) |
                              (packed() ? bit(VIRTIO_F_RING_PACKED) : 0);
    ASSERT_TRUE(dev_->set_up({.features = features,
                              .queues = {{.size = 8, .ring_base = 0x1000},       // receiveq
                                         {.size = 8, .ring_base = 0x40000}}}));  // transmitq
    probed_ = Probe::kSetUp;
  }
  // DRIVER_OK (after the rest of the probe if a test has not started it).
  void activate() {
    set_up();
    ASSERT_EQ(probed_, Probe::kSetUp);
    const auto result = dev_->driver_ok();
    ASSERT_TRUE(result.has_value()) << result.error().message;
    probed_ = Probe::kActive;
  }
  // Driver reset through the transport; the next rx()/tx()/activate() probes again over fresh rings.
  void reset() {
    dev_->reset();
    probed_ = Probe::kNone;
  }
  DriverQueue& rx() {
    set_up();
    return dev_->queue(Console::kRxQueue);
  }
  DriverQueue& tx() {
    set_up();
    return dev_->queue(Console::kTxQueue);
  }

  // A QueueNotify write through the transport.
  void kick(uint16_t queue) { dev_->kick(queue); }
  uint16_t add_tx(uint64_t gpa, std::string_view text) {
    std::memcpy(ram_.bytes().data() + gpa, text.data(), text.size());
    return tx().add({{gpa, static_cast<uint32_t>(text.size()), false}});
  }
  std::string output() {
    loop_.sync([] {});
    std::ifstream in(out_path_, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string guest_bytes(uint64_t gpa, size_t n) {
    return std::string(reinterpret_cast<const char*>(ram_.bytes().data() + gpa), n);
  }
  // Completions accumulated across polls, until `count` arrived (or five seconds passed).
  std::vector<UsedBuffer> wait_used(DriverQueue& q, size_t count) {
    std::vector<UsedBuffer> all;
    wait_until([&] {
      for (const UsedBuffer& u : q.used()) all.push_back(u);
      return all.size() >= count;
    });
    return all;
  }
  // The first reason the device gave fail(), or "".
  std::string failure() {
    const auto reasons = dev_->failures();
    return reasons.empty() ? std::string() : reasons.front();
  }
  // The device's used-buffer signals, counted on their way to the transport.
  RecordingInterrupt& signals() { return dev_->signals(); }

  enum class Probe { kNone, kSetUp, kActive };

  TestRam ram_;
  std::string dir_, out_path_;
  LoopThread loop_;
  std::shared_ptr<Console> console_;
  std::unique_ptr<ProbedDevice> dev_;
  Probe probed_ = Probe::kNone;
};

TEST_P(ConsoleQueueTest, TransmitChainReachesTheBackendAndCompletesWithZeroLength) {
  activate();
  std::memcpy(ram_.bytes().data() + kTxData, "hello ", 6);
  std::memcpy(ram_.bytes().data() + kTxData + 0x1000, "world\n", 6);
  const uint16_t id = tx().add({{kTxData, 6, false}, {kTxData + 0x1000, 6, false}});
  tx().publish();
  kick(Console::kTxQueue);

  EXPECT_EQ(wait_used(tx(), 1), (std::vector<UsedBuffer>{{id, 0}}));
  EXPECT_EQ(output(), "hello world\n");
  EXPECT_EQ(signals().used[Console::kTxQueue], 1);
}

TEST_P(ConsoleQueueTest, TransmitChainsPublishedBeforeActivationAreDrained) {
  const uint16_t a = add_tx(kTxData, "one ");
  const uint16_t b = add_tx(kTxData + 0x100, "two");
  tx().publish();
  activate();
  EXPECT_EQ(wait_used(tx(), 2), (std::vector<UsedBuffer>{{a, 0}, {b, 0}}));
  EXPECT_EQ(output(), "one two");
}

TEST_P(ConsoleQueueTest, TransmitHonoursInterruptSuppression) {
  if (packed()) {
    tx().set_no_interrupt(true);
  } else {
    tx().set_used_event(0xffff);  // EVENT_IDX: not before used.idx passes 0xffff
  }
  activate();
  add_tx(kTxData, "quiet");
  tx().publish();
  kick(Console::kTxQueue);
  EXPECT_EQ(wait_used(tx(), 1).size(), 1u);
  EXPECT_EQ(signals().used[Console::kTxQueue], 0);
  EXPECT_EQ(output(), "quiet");
}

TEST_P(ConsoleQueueTest, InputLandsInReceiveBufferWithItsLength) {
  const uint16_t id = rx().add({{kRxData, 64, true}});
  rx().publish();
  activate();
  const uint8_t text[] = {'l', 's', '\r'};
  EXPECT_EQ(console_->input(text), 3u);

  EXPECT_EQ(wait_used(rx(), 1), (std::vector<UsedBuffer>{{id, 3}}));
  EXPECT_EQ(guest_bytes(kRxData, 3), "ls\r");
  EXPECT_TRUE(wait_until([&] { return signals().used[Console::kRxQueue] == 1; }));
  EXPECT_EQ(console_->buffered_input(), 0u);
}

TEST_P(ConsoleQueueTest, InputBeforeActivationAndBeforeBuffersIsDeliveredLater) {
  const uint8_t text[] = {'e', 'a', 'r', 'l', 'y'};
  console_->input(text);
  activate();
  loop_.sync([] {});
  EXPECT_EQ(console_->buffered_input(), 5u);
  EXPECT_TRUE(rx().used().empty());

  const uint16_t id = rx().add({{kRxData, 64, true}});
  rx().publish();
  EXPECT_TRUE(rx().kick_needed());  // the device asked to hear about new buffers
  kick(Console::kRxQueue);
  EXPECT_EQ(wait_used(rx(), 1), (std::vector<UsedBuffer>{{id, 5}}));
  EXPECT_EQ(guest_bytes(kRxData, 5), "early");
}

TEST_P(ConsoleQueueTest, InputLargerThanOneBufferFillsSeveral) {
  const uint16_t a = rx().add({{kRxData, 4, true}});
  const uint16_t b = rx().add({{kRxData + 0x100, 2, true}, {kRxData + 0x200, 2, true}});
  const uint16_t c = rx().add({{kRxData + 0x300, 4, true}});
  rx().publish();
  activate();
  const std::string text = "0123456789";
  console_->input({reinterpret_cast<const uint8_t*>(text.data()), text.size()});

  EXPECT_EQ(wait_used(rx(), 3), (std::vector<UsedBuffer>{{a, 4}, {b, 4}, {c, 2}}));
  EXPECT_EQ(guest_bytes(kRxData, 4) + guest_bytes(kRxData + 0x100, 2) + guest_bytes(kRxData + 0x200, 2) +
                guest_bytes(kRxData + 0x300, 2),
            text);
}

TEST_P(ConsoleQueueTest, CorruptTransmitChainFailsTheDeviceOnly) {
  activate();
  const uint16_t id = add_tx(kTxData, "x");
  tx().set_head(id, 200);  // out of range head / buffer id
  tx().publish();
  kick(Console::kTxQueue);

  EXPECT_TRUE(wait_until([&] { return !failure().empty(); }));
  EXPECT_EQ(console_->counters().ring_errors, 1u);
  EXPECT_EQ(output(), "");
}

TEST_P(ConsoleQueueTest, ResetThenReactivateServesFreshRings) {
  activate();
  reset();
  activate();  // probed again: fresh rings, fresh queues
  const uint16_t id = add_tx(kTxData, "again");
  tx().publish();
  kick(Console::kTxQueue);
  EXPECT_EQ(wait_used(tx(), 1), (std::vector<UsedBuffer>{{id, 0}}));
  EXPECT_EQ(output(), "again");
}

TEST_P(ConsoleQueueTest, SocketInputBeyondTheBufferWaitsInTheSocketAndIsNotLost) {
  const std::string sock = dir_ + "/console.sock";
  auto console = Console::create({.mode = ConsoleConfig::Mode::kSocket, .path = sock}, "console0");
  ASSERT_TRUE(console.has_value());
  use(std::move(*console));
  Fd client(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, sock.data(), sock.size());
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::vector<uint8_t> sent(Console::kInputCapacity + 5000, 'i');
  ASSERT_EQ(::write(client.get(), sent.data(), sent.size()), static_cast<ssize_t>(sent.size()));
  ASSERT_TRUE(wait_until([&] { return console_->buffered_input() == Console::kInputCapacity; }));

  constexpr uint32_t kChunk = 16 * 1024;
  for (uint64_t i = 0; i < 6; ++i) rx().add({{kRxData + i * kChunk, kChunk, true}});
  rx().publish();
  activate();
  size_t delivered = 0;
  wait_until([&] {
    for (const UsedBuffer& u : rx().used()) delivered += u.len;
    return delivered == sent.size();
  });
  EXPECT_EQ(delivered, sent.size());
  EXPECT_EQ(console_->buffered_input(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Rings, ConsoleQueueTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Packed" : "Split"; });

}  // namespace
}  // namespace franca::virtio
