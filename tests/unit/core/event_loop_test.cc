// EventLoop::Watch: an fd registration that removes itself.
#include "vmm/core/event_loop.h"

#include <sys/eventfd.h>

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>

namespace franca {
namespace {

class EventLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_ = std::move(*EventLoop::create());
    std::promise<void> running;
    loop_->post([&running] { running.set_value(); });
    thread_ = std::thread([this] { loop_->run(); });
    running.get_future().wait();  // invoke() below must go through the loop, not run inline
  }
  void TearDown() override {
    loop_->stop();
    thread_.join();
  }
  // Signals `fd`, then lets the loop dispatch it (a round trip through post).
  void signal_and_settle(int fd) {
    eventfd_signal(fd);
    loop_->invoke([] {});
    loop_->invoke([] {});
  }

  std::unique_ptr<EventLoop> loop_;
  std::thread thread_;
  Fd efd_{eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  std::atomic<int> calls_{0};
  EventLoop::Callback count_ = [this](uint32_t) {
    eventfd_drain(efd_.get());
    calls_++;
  };
};

TEST_F(EventLoopTest, WatchDispatchesWhileHeld) {
  auto watch = loop_->add(efd_.get(), EPOLLIN, count_);
  ASSERT_TRUE(watch.has_value());

  signal_and_settle(efd_.get());

  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(EventLoopTest, WatchUnregistersOnDestruction) {
  { auto watch = loop_->add(efd_.get(), EPOLLIN, count_); }

  signal_and_settle(efd_.get());

  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(EventLoopTest, MovedWatchKeepsTheRegistration) {
  EventLoop::Watch kept;
  {
    auto watch = loop_->add(efd_.get(), EPOLLIN, count_);
    kept = std::move(*watch);
  }

  signal_and_settle(efd_.get());

  EXPECT_TRUE(kept.active());
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(EventLoopTest, WatchResetFromItsOwnCallbackStopsFurtherCalls) {
  EventLoop::Watch watch;
  auto added = loop_->add(efd_.get(), EPOLLIN, [&](uint32_t) {
    calls_++;
    watch.reset();  // the fd stays readable: a live registration would fire again
  });
  loop_->invoke([&] { watch = std::move(*added); });

  signal_and_settle(efd_.get());
  signal_and_settle(efd_.get());

  EXPECT_EQ(calls_.load(), 1);
  EXPECT_FALSE(watch.active());
}

TEST_F(EventLoopTest, FdCanBeWatchedAgainAfterReset) {
  auto first = loop_->add(efd_.get(), EPOLLIN, count_);
  first->reset();

  auto second = loop_->add(efd_.get(), EPOLLIN, count_);

  EXPECT_TRUE(second.has_value());
}

TEST_F(EventLoopTest, InvokeForReturnsOnceTheLoopRanIt) {
  int ran = 0;
  EXPECT_TRUE(loop_->invoke_for([&ran] { ran++; }, std::chrono::milliseconds(5000)));
  EXPECT_EQ(ran, 1);
}

TEST_F(EventLoopTest, InvokeForGivesUpOnABusyLoopAndTheWorkRunsLater) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  loop_->post([released] { released.wait(); });  // the loop is stuck in here
  auto ran = std::make_shared<std::atomic<int>>(0);
  EXPECT_FALSE(loop_->invoke_for([ran] { (*ran)++; }, std::chrono::milliseconds(50)));
  EXPECT_EQ(ran->load(), 0);
  release.set_value();
  loop_->invoke([] {});  // after the stuck callback and the late one
  EXPECT_EQ(ran->load(), 1);
}

}  // namespace
}  // namespace franca
