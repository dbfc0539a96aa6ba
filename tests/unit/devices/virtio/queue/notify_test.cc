// Used-buffer notifications (should_signal) and kick suppression
// (disable/enable_notifications): avail.flags / used.flags, EVENT_IDX
// used_event / avail_event (virtio 1.x §2.7.7, §2.7.10), packed event
// suppression structures (§2.8.10), and the enable-then-recheck race.
#include "tests/unit/devices/virtio/queue/queue_fixture.h"

namespace franca::virtio::queue_test {
namespace {

class NotifyTest : public QueueTest {
 protected:
  // Adds, publishes, pops and pushes `n` one-buffer chains.
  void complete(int n) {
    for (int i = 0; i < n; ++i) {
      driver_->add({{kData, 4, true}});
      driver_->publish();
      queue_->push(pop_chain(), 4);
    }
  }
  // The driver-side event for "the used entry `ahead` positions after the next one".
  uint16_t event_ahead(uint16_t ahead) { return static_cast<uint16_t>(driver_->used_position() + ahead); }
};

TEST_P(NotifyTest, NoSignalWhenNothingWasPushed) {
  start();
  EXPECT_FALSE(queue_->should_signal());
}

TEST_P(NotifyTest, SignalsAfterAPushByDefault) {
  start();
  complete(1);
  EXPECT_TRUE(queue_->should_signal());
}

TEST_P(NotifyTest, EachBatchIsSignalledOnce) {
  start();
  complete(2);
  ASSERT_TRUE(queue_->should_signal());
  EXPECT_FALSE(queue_->should_signal());
}

TEST_P(NotifyTest, NoInterruptRequestSuppressesTheSignal) {
  start();
  driver_->set_no_interrupt(true);  // split: avail.flags NO_INTERRUPT; packed: DISABLE
  complete(1);
  EXPECT_FALSE(queue_->should_signal());
}

TEST_P(NotifyTest, EventIdxSignalsWhenUsedEventIsReached) {
  start({.event_idx = true});
  driver_->set_used_event(event_ahead(0));
  complete(1);
  EXPECT_TRUE(queue_->should_signal());
}

TEST_P(NotifyTest, EventIdxStaysQuietUntilUsedEventIsCrossed) {
  start({.event_idx = true});
  driver_->set_used_event(event_ahead(2));  // "interrupt me after the third"
  complete(1);
  EXPECT_FALSE(queue_->should_signal());
  complete(1);
  EXPECT_FALSE(queue_->should_signal());
  complete(1);
  EXPECT_TRUE(queue_->should_signal());
}

TEST_P(NotifyTest, EventIdxSignalsABatchThatContainsTheEventOnce) {
  start({.event_idx = true});
  driver_->set_used_event(event_ahead(1));
  complete(3);
  EXPECT_TRUE(queue_->should_signal());
  complete(1);
  EXPECT_FALSE(queue_->should_signal());  // the event was passed in the previous batch
}

TEST_P(NotifyTest, DisabledNotificationsTellTheDriverNotToKick) {
  start();
  queue_->disable_notifications();
  driver_->add({{kData, 4, true}});
  driver_->publish();
  EXPECT_FALSE(driver_->kick_needed());
}

TEST_P(NotifyTest, EnabledNotificationsAskForKicksAgain) {
  start();
  queue_->disable_notifications();
  EXPECT_FALSE(queue_->enable_notifications());
  driver_->add({{kData, 4, true}});
  driver_->publish();
  EXPECT_TRUE(driver_->kick_needed());
}

TEST_P(NotifyTest, EnableReportsBuffersThatArrivedWhileDisabled) {
  start();
  queue_->disable_notifications();
  const uint16_t id = driver_->add({{kData, 4, true}});
  driver_->publish();  // no kick: the device said not to
  EXPECT_TRUE(queue_->enable_notifications());
  EXPECT_EQ(pop_chain().id(), id);
}

TEST_P(NotifyTest, EnableReportsNothingWhenTheRingWasDrained) {
  start({.event_idx = true});
  driver_->add({{kData, 4, true}});
  driver_->publish();
  queue_->disable_notifications();
  pop_chain();
  EXPECT_FALSE(queue_->enable_notifications());
}

INSTANTIATE_TEST_SUITE_P(Formats, NotifyTest, ::testing::Values(false, true), format_name);

using SplitNotifyTest = NotifyTest;

TEST_P(SplitNotifyTest, EventIdxIgnoresTheNoInterruptFlag) {
  start({.event_idx = true});
  driver_->set_no_interrupt(true);
  driver_->set_used_event(0);
  queue_->push(0, 1, 0);
  EXPECT_TRUE(queue_->should_signal());
}

TEST_P(SplitNotifyTest, EventIdxWindowWorksAcrossIndexWrap) {
  start({.event_idx = true});
  driver_->start_at(65534);
  queue_->set_next_avail(65534);
  queue_->set_next_used(65534);
  driver_->set_used_event(0);  // reached by the third push: 65534, 65535, 0
  complete(2);
  EXPECT_FALSE(queue_->should_signal());
  complete(1);
  EXPECT_TRUE(queue_->should_signal());
}

TEST_P(SplitNotifyTest, EventIdxPopKeepsAvailEventCurrent) {
  start({.event_idx = true});
  driver_->add({{kData, 4, true}});
  driver_->publish();
  ASSERT_TRUE(driver_->kick_needed());
  pop_chain();
  driver_->add({{kData, 4, true}});
  driver_->publish();
  EXPECT_TRUE(driver_->kick_needed());
}

TEST_P(SplitNotifyTest, EventIdxNoKicksAfterTheFirstWhileDisabled) {
  start({.event_idx = true});
  queue_->disable_notifications();
  driver_->add({{kData, 4, true}});
  driver_->publish();
  pop_chain();
  driver_->add({{kData, 4, true}});
  driver_->publish();
  EXPECT_FALSE(driver_->kick_needed());
  EXPECT_TRUE(queue_->enable_notifications());  // and the raced buffer is reported
}

INSTANTIATE_TEST_SUITE_P(Split, SplitNotifyTest, ::testing::Values(false), format_name);

class PackedNotifyTest : public ::testing::Test {
 protected:
  void start(bool event_idx) {
    driver_.emplace(ram_, DriverQueueOptions{.size = 4, .packed = true, .event_idx = event_idx});
    auto queue = Queue::activate(driver_->config(), driver_->features(), ram_);
    ASSERT_TRUE(queue);
    queue_.emplace(std::move(*queue));
  }
  void complete(int n) {
    for (int i = 0; i < n; ++i) {
      driver_->add({{kData, 4, true}});
      driver_->publish();
      DescriptorChain chain;
      ASSERT_EQ(queue_->pop(chain), true);
      queue_->push(chain, 4);
    }
  }
  TestRam ram_;
  std::optional<DriverQueue> driver_;
  std::optional<Queue> queue_;
};

TEST_F(PackedNotifyTest, DescEventInThePreviousLapIsSignalledWhenTheBatchCrossesIt) {
  start(true);
  complete(2);  // positions 0, 1 of the first lap
  ASSERT_TRUE(queue_->should_signal());
  driver_->used();
  driver_->set_used_event(0x8003);  // offset 3, wrap counter 1 (first lap)
  complete(3);                      // positions 2, 3, then 0 of the second lap
  EXPECT_TRUE(queue_->should_signal());
}

TEST_F(PackedNotifyTest, DescEventAlreadyPassedInThePreviousLapIsNotSignalled) {
  start(true);
  complete(3);  // positions 0-2 of the first lap
  driver_->used();
  ASSERT_TRUE(queue_->should_signal());
  driver_->set_used_event(0x8001);  // offset 1 of the first lap: passed
  complete(2);                      // positions 3, then 0 of the second lap
  EXPECT_FALSE(queue_->should_signal());
}

TEST_F(PackedNotifyTest, DescEventInTheNextLapIsNotYetSignalled) {
  start(true);
  driver_->set_used_event(0x0001);  // offset 1 of the second lap
  complete(3);
  EXPECT_FALSE(queue_->should_signal());
}

TEST_F(PackedNotifyTest, DescModeWithoutEventIdxSignalsLikeEnable) {
  start(false);
  driver_->set_used_event(0x8003);
  complete(1);
  EXPECT_TRUE(queue_->should_signal());
}

}  // namespace
}  // namespace franca::virtio::queue_test
