// Queue::describe_state: the one-line ring report a stopped queue is diagnosed
// from (device indices against what the driver published).
#include "tests/unit/devices/virtio/queue/queue_fixture.h"

namespace franca::virtio::queue_test {
namespace {

class SplitStateTest : public QueueTest {};
class PackedStateTest : public QueueTest {};

TEST_P(SplitStateTest, CountsBuffersTheDriverPublishedButTheDeviceHasNotPopped) {
  start({.event_idx = true});
  driver_->add({{kData, 4, true}});
  driver_->add({{kData, 4, true}});
  driver_->publish();
  queue_->push(pop_chain(), 4);
  const std::string state = queue_->describe_state();
  EXPECT_NE(state.find("next_avail 1 avail.idx 2 (1 not popped), next_used 1 used.idx 1"), std::string::npos) << state;
  EXPECT_NE(state.find("1 pushed unsignalled"), std::string::npos) << state;
}

TEST_P(PackedStateTest, ShowsTheRingPositionsAndEventStructures) {
  start();
  driver_->add({{kData, 4, true}});
  driver_->publish();
  queue_->push(pop_chain(), 4);
  const std::string state = queue_->describe_state();
  EXPECT_NE(state.find("next_avail 1/wrap 1"), std::string::npos) << state;
  EXPECT_NE(state.find("next_used 1/wrap 1"), std::string::npos) << state;
  EXPECT_NE(state.find("driver event off_wrap"), std::string::npos) << state;
}

INSTANTIATE_TEST_SUITE_P(Split, SplitStateTest, ::testing::Values(false), format_name);
INSTANTIATE_TEST_SUITE_P(Packed, PackedStateTest, ::testing::Values(true), format_name);

}  // namespace
}  // namespace franca::virtio::queue_test
