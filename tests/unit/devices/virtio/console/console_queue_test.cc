// virtio-console end to end over driver-side rings (split and packed) in heap
// guest memory, with the device running on an event loop thread: transmit
// chains reach the file back-end, input() lands in receive buffers.
#include <gtest/gtest.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "devices/virtio/console/console.h"
#include "tests/support/device_context.h"
#include "tests/support/driver_queue.h"
#include "tests/support/loop_thread.h"
#include "tests/support/recording_interrupt.h"
#include "vmm/core/fd.h"

namespace franca::virtio {
namespace {

using franca::testing::DeviceContextBuilder;
using franca::testing::DriverQueue;
using franca::testing::LoopThread;
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
    console_ = std::move(*console);
    ASSERT_TRUE(console_->start(loop_.loop()));
  }
  void TearDown() override {
    loop_.sync([&] { console_->reset(); });
    loop_.stop();
    std::filesystem::remove_all(dir_);
  }

  bool packed() const { return GetParam(); }

  void activate() {
    loop_.sync([&] {
      auto ctx = DeviceContextBuilder(loop_.loop())
                     .memory(ram_.memory())
                     .features(bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_RING_F_EVENT_IDX) | bit(VIRTIO_CONSOLE_F_SIZE) |
                               (packed() ? bit(VIRTIO_F_RING_PACKED) : 0))
                     .queue(Console::kRxQueue, rx_, rx_kick_.get())
                     .queue(Console::kTxQueue, tx_, tx_kick_.get())
                     .interrupt(irq_)
                     .fail([this](std::string_view why) {
                       std::lock_guard lock(mutex_);
                       failure_ = why;
                     })
                     .build();
      ASSERT_TRUE(console_->activate(std::move(ctx)));
    });
  }

  static void kick(const Fd& fd) {
    const uint64_t one = 1;
    ASSERT_EQ(::write(fd.get(), &one, sizeof(one)), 8);
  }
  uint16_t add_tx(uint64_t gpa, std::string_view text) {
    std::memcpy(ram_.bytes().data() + gpa, text.data(), text.size());
    return tx_.add({{gpa, static_cast<uint32_t>(text.size()), false}});
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
  std::string failure() {
    std::lock_guard lock(mutex_);
    return failure_;
  }

  TestRam ram_;
  DriverQueue rx_{ram_, {.size = 8, .packed = GetParam(), .event_idx = true, .indirect = false, .ring_base = 0x1000}};
  DriverQueue tx_{ram_, {.size = 8, .packed = GetParam(), .event_idx = true, .indirect = false, .ring_base = 0x40000}};
  Fd rx_kick_{eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  Fd tx_kick_{eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  std::shared_ptr<RecordingInterrupt> irq_ = std::make_shared<RecordingInterrupt>();
  std::string dir_, out_path_;
  LoopThread loop_;
  std::unique_ptr<Console> console_;
  std::mutex mutex_;
  std::string failure_;
};

TEST_P(ConsoleQueueTest, TransmitChainReachesTheBackendAndCompletesWithZeroLength) {
  activate();
  std::memcpy(ram_.bytes().data() + kTxData, "hello ", 6);
  std::memcpy(ram_.bytes().data() + kTxData + 0x1000, "world\n", 6);
  const uint16_t id = tx_.add({{kTxData, 6, false}, {kTxData + 0x1000, 6, false}});
  tx_.publish();
  kick(tx_kick_);

  EXPECT_EQ(wait_used(tx_, 1), (std::vector<UsedBuffer>{{id, 0}}));
  EXPECT_EQ(output(), "hello world\n");
  EXPECT_EQ(irq_->used[Console::kTxQueue], 1);
}

TEST_P(ConsoleQueueTest, TransmitChainsPublishedBeforeActivationAreDrained) {
  const uint16_t a = add_tx(kTxData, "one ");
  const uint16_t b = add_tx(kTxData + 0x100, "two");
  tx_.publish();
  activate();
  EXPECT_EQ(wait_used(tx_, 2), (std::vector<UsedBuffer>{{a, 0}, {b, 0}}));
  EXPECT_EQ(output(), "one two");
}

TEST_P(ConsoleQueueTest, TransmitHonoursInterruptSuppression) {
  if (packed()) {
    tx_.set_no_interrupt(true);
  } else {
    tx_.set_used_event(0xffff);  // EVENT_IDX: not before used.idx passes 0xffff
  }
  activate();
  add_tx(kTxData, "quiet");
  tx_.publish();
  kick(tx_kick_);
  EXPECT_EQ(wait_used(tx_, 1).size(), 1u);
  EXPECT_EQ(irq_->used[Console::kTxQueue], 0);
  EXPECT_EQ(output(), "quiet");
}

TEST_P(ConsoleQueueTest, InputLandsInReceiveBufferWithItsLength) {
  const uint16_t id = rx_.add({{kRxData, 64, true}});
  rx_.publish();
  activate();
  const uint8_t text[] = {'l', 's', '\r'};
  EXPECT_EQ(console_->input(text), 3u);

  EXPECT_EQ(wait_used(rx_, 1), (std::vector<UsedBuffer>{{id, 3}}));
  EXPECT_EQ(guest_bytes(kRxData, 3), "ls\r");
  EXPECT_TRUE(wait_until([&] { return irq_->used[Console::kRxQueue] == 1; }));
  EXPECT_EQ(console_->buffered_input(), 0u);
}

TEST_P(ConsoleQueueTest, InputBeforeActivationAndBeforeBuffersIsDeliveredLater) {
  const uint8_t text[] = {'e', 'a', 'r', 'l', 'y'};
  console_->input(text);
  activate();
  loop_.sync([] {});
  EXPECT_EQ(console_->buffered_input(), 5u);
  EXPECT_TRUE(rx_.used().empty());

  const uint16_t id = rx_.add({{kRxData, 64, true}});
  rx_.publish();
  EXPECT_TRUE(rx_.kick_needed());  // the device asked to hear about new buffers
  kick(rx_kick_);
  EXPECT_EQ(wait_used(rx_, 1), (std::vector<UsedBuffer>{{id, 5}}));
  EXPECT_EQ(guest_bytes(kRxData, 5), "early");
}

TEST_P(ConsoleQueueTest, InputLargerThanOneBufferFillsSeveral) {
  const uint16_t a = rx_.add({{kRxData, 4, true}});
  const uint16_t b = rx_.add({{kRxData + 0x100, 2, true}, {kRxData + 0x200, 2, true}});
  const uint16_t c = rx_.add({{kRxData + 0x300, 4, true}});
  rx_.publish();
  activate();
  const std::string text = "0123456789";
  console_->input({reinterpret_cast<const uint8_t*>(text.data()), text.size()});

  EXPECT_EQ(wait_used(rx_, 3), (std::vector<UsedBuffer>{{a, 4}, {b, 4}, {c, 2}}));
  EXPECT_EQ(guest_bytes(kRxData, 4) + guest_bytes(kRxData + 0x100, 2) + guest_bytes(kRxData + 0x200, 2) +
                guest_bytes(kRxData + 0x300, 2),
            text);
}

TEST_P(ConsoleQueueTest, CorruptTransmitChainFailsTheDeviceOnly) {
  activate();
  const uint16_t id = add_tx(kTxData, "x");
  tx_.set_head(id, 200);  // out of range head / buffer id
  tx_.publish();
  kick(tx_kick_);

  EXPECT_TRUE(wait_until([&] { return !failure().empty(); }));
  EXPECT_EQ(console_->counters().ring_errors, 1u);
  EXPECT_EQ(output(), "");
}

TEST_P(ConsoleQueueTest, ResetThenReactivateServesFreshRings) {
  activate();
  loop_.sync([&] { console_->reset(); });
  activate();  // the rings are untouched, so the fresh queues start where the driver is
  const uint16_t id = add_tx(kTxData, "again");
  tx_.publish();
  kick(tx_kick_);
  EXPECT_EQ(wait_used(tx_, 1), (std::vector<UsedBuffer>{{id, 0}}));
  EXPECT_EQ(output(), "again");
}

TEST_P(ConsoleQueueTest, SocketInputBeyondTheBufferWaitsInTheSocketAndIsNotLost) {
  const std::string sock = dir_ + "/console.sock";
  auto console = Console::create({.mode = ConsoleConfig::Mode::kSocket, .path = sock}, "console0");
  ASSERT_TRUE(console.has_value());
  console_ = std::move(*console);
  ASSERT_TRUE(console_->start(loop_.loop()));
  Fd client(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, sock.data(), sock.size());
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::vector<uint8_t> sent(Console::kInputCapacity + 5000, 'i');
  ASSERT_EQ(::write(client.get(), sent.data(), sent.size()), static_cast<ssize_t>(sent.size()));
  ASSERT_TRUE(wait_until([&] { return console_->buffered_input() == Console::kInputCapacity; }));

  constexpr uint32_t kChunk = 16 * 1024;
  for (uint64_t i = 0; i < 6; ++i) rx_.add({{kRxData + i * kChunk, kChunk, true}});
  rx_.publish();
  activate();
  size_t delivered = 0;
  wait_until([&] {
    for (const UsedBuffer& u : rx_.used()) delivered += u.len;
    return delivered == sent.size();
  });
  EXPECT_EQ(delivered, sent.size());
  EXPECT_EQ(console_->buffered_input(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Rings, ConsoleQueueTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Packed" : "Split"; });

}  // namespace
}  // namespace franca::virtio
