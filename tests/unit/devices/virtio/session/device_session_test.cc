// The shared device session: drain() over a scripted queue, and DeviceSession's
// failure path and posted work on a real EventLoop.
#include "devices/virtio/device_session.h"

#include <sys/eventfd.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "vmm/core/fd.h"

namespace franca::virtio {
namespace {

// A queue whose pops and enable results are scripted (the real rings are
// covered by the queue core's tests; here only the idiom's order matters).
struct ScriptedQueue {
  std::deque<bool> pops{};     // true: a chain; false: empty. Empty when exhausted.
  std::deque<bool> enables{};  // what enable_notifications() reports; false when exhausted
  bool corrupt = false;        // pop() reports a ring error
  bool wants_signal = true;
  int disables = 0, enable_calls = 0, pop_calls = 0;

  void disable_notifications() { ++disables; }
  bool enable_notifications() {
    ++enable_calls;
    if (enables.empty()) return false;
    const bool more = enables.front();
    enables.pop_front();
    return more;
  }
  std::expected<bool, QueueError> pop(DescriptorChain&) {
    ++pop_calls;
    if (corrupt) return std::unexpected(QueueError::kBadHead);
    if (pops.empty()) return false;
    const bool got = pops.front();
    pops.pop_front();
    return got;
  }
  bool should_signal() const { return wants_signal; }
};

struct RecordingInterrupt : Interrupt {
  void signal_used(uint16_t queue) override { used.push_back(queue); }
  void signal_config() override { ++config; }
  std::vector<uint16_t> used;
  int config = 0;
};

TEST(Drain, RechecksAfterEnableAndLoops) {
  ScriptedQueue q{.pops = {true, false, true, false}, .enables = {true, false}};
  int handled = 0;

  const Drained d = drain(q, 16, {}, [&](DescriptorChain&) { return ++handled, true; });

  EXPECT_EQ(handled, 2);
  EXPECT_EQ(q.disables, 2);
  EXPECT_EQ(q.enable_calls, 2);
  EXPECT_FALSE(d.more);
}

TEST(Drain, RepostsWhenOverBudget) {
  ScriptedQueue q{.pops = {true, true, true, true}, .enables = {true}};
  int reposts = 0;

  const Drained d = drain(q, 3, {.repost = [&] { ++reposts; }}, [](DescriptorChain&) { return true; });

  EXPECT_EQ(d.chains, 3u);
  EXPECT_TRUE(d.more);
  EXPECT_EQ(reposts, 1);
  EXPECT_EQ(q.pop_calls, 3);
}

TEST(Drain, DoesNotRepostWhenTheRingEmptiedAtTheBudget) {
  ScriptedQueue q{.pops = {true, true}, .enables = {false}};
  int reposts = 0;

  const Drained d = drain(q, 2, {.repost = [&] { ++reposts; }}, [](DescriptorChain&) { return true; });

  EXPECT_FALSE(d.more);
  EXPECT_EQ(reposts, 0);
}

TEST(Drain, SignalsOnceWhenTheDriverWantsIt) {
  ScriptedQueue q{.pops = {true, true}};
  RecordingInterrupt irq;

  drain(q, 16, {.interrupt = &irq, .index = 7}, [](DescriptorChain&) { return true; });

  EXPECT_EQ(irq.used, std::vector<uint16_t>{7});
}

TEST(Drain, DoesNotSignalWhenTheDriverSuppressedIt) {
  ScriptedQueue q{.pops = {true}, .wants_signal = false};
  RecordingInterrupt irq;

  drain(q, 16, {.interrupt = &irq}, [](DescriptorChain&) { return true; });

  EXPECT_TRUE(irq.used.empty());
}

TEST(Drain, StopsWithKicksOffWhenNoSlotIsFree) {
  ScriptedQueue q{.pops = {true}};

  const Drained d = drain(
      q, 16, {}, [] { return static_cast<DescriptorChain*>(nullptr); }, [](DescriptorChain&) { return true; });

  EXPECT_TRUE(d.stopped);
  EXPECT_EQ(q.pop_calls, 0);
  EXPECT_EQ(q.enable_calls, 0);
}

TEST(Drain, ReportsARingErrorWithoutSignalling) {
  ScriptedQueue q{.corrupt = true};
  RecordingInterrupt irq;

  const Drained d = drain(q, 16, {.interrupt = &irq}, [](DescriptorChain&) { return true; });

  EXPECT_EQ(d.error, QueueError::kBadHead);
  EXPECT_TRUE(irq.used.empty());
}

class DeviceSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
    previous_ = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink_));
    ctx_.loop = loop_.get();
    ctx_.fail = [this](std::string_view why) { fails_.emplace_back(why); };
  }
  void TearDown() override { spdlog::set_default_logger(previous_); }

  std::unique_ptr<EventLoop> loop_ = std::move(*EventLoop::create());
  Fd kick_{eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  DeviceContext ctx_;
  DeviceCounters counters_;
  std::vector<std::string> fails_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(DeviceSessionTest, FailCountsLogsOnceUnregistersAndSetsNeedsReset) {
  DeviceSession session(ctx_, {.id = "dev0", .counters = &counters_});
  auto kick = session.watch_kick(kick_.get(), [] {});
  ASSERT_TRUE(kick.has_value());

  session.fail("bad ring");
  session.fail("bad ring again");

  EXPECT_EQ(counters_.ring_errors.load(), 1u);
  EXPECT_EQ(sink_->last_formatted().size(), 1u);
  EXPECT_EQ(fails_, std::vector<std::string>{"bad ring"});
  EXPECT_TRUE(loop_->add(kick_.get(), EPOLLIN, [](uint32_t) {}).has_value()) << "the kick is still registered";
}

TEST_F(DeviceSessionTest, PostedWorkIsDroppedWhenTheSessionGoesFirst) {
  bool ran = false;
  auto session = std::make_unique<DeviceSession>(ctx_, DeviceSession::Options{.id = "dev0", .counters = &counters_});
  session->post([&] { ran = true; });

  session.reset();
  loop_->stop();
  loop_->run();  // runs what was posted, on this thread

  EXPECT_FALSE(ran);
}

TEST_F(DeviceSessionTest, PostedWorkRunsWhileTheSessionLives) {
  bool ran = false;
  DeviceSession session(ctx_, {.id = "dev0", .counters = &counters_});
  session.post([&] { ran = true; });

  loop_->stop();
  loop_->run();

  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace franca::virtio
