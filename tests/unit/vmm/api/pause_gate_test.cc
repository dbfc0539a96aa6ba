// PauseGate without KVM: a fake run loop whose "KVM_RUN" returns when held off,
// paused, resumed and stopped the way Vcpu drives it.
#include "vmm/pause_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace franca {
namespace {

using namespace std::chrono_literals;

// Stands in for a vCPU thread: each "run" lasts up to 1 ms, or returns at once
// while held off (KVM's immediate_exit).
class FakeLoop {
 public:
  FakeLoop() {
    gate_.started();
    thread_ = std::thread([this] {
      while (!gate_.stopping()) {
        if (gate_.should_park()) {
          gate_.park();
          continue;
        }
        for (int i = 0; i < 10 && !held_off_.load(); ++i) std::this_thread::sleep_for(100us);
        runs_.fetch_add(1);
      }
      gate_.finished();
    });
  }
  ~FakeLoop() {
    gate_.stop();
    thread_.join();
  }

  PauseGate gate_{[this](bool on) { held_off_.store(on); }};
  std::atomic<bool> held_off_{false};
  std::atomic<uint64_t> runs_{0};
  std::thread thread_;
};

TEST(PauseGate, PauseReturnsWithTheLoopParkedAndNotRunning) {
  FakeLoop loop;
  loop.gate_.request_pause();
  loop.gate_.wait_parked();
  EXPECT_TRUE(loop.gate_.parked());
  const uint64_t runs = loop.runs_.load();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(loop.runs_.load(), runs);
}

TEST(PauseGate, ResumeAfterAPauseThatNeverTookHoldClearsTheHoldOff) {
  std::atomic<bool> held_off{false};
  PauseGate gate{[&](bool on) { held_off.store(on); }};
  gate.started();  // a loop that never reaches park(): stuck in a handler
  gate.request_pause();
  ASSERT_FALSE(gate.wait_parked_for(10ms));
  gate.resume();
  EXPECT_FALSE(held_off.load());  // else its next KVM_RUN would return at once, for ever
  gate.finished();
}

TEST(PauseGate, ResumeReleasesTheLoopAndClearsTheHoldOff) {
  FakeLoop loop;
  loop.gate_.request_pause();
  loop.gate_.wait_parked();
  loop.gate_.resume();
  EXPECT_FALSE(loop.gate_.parked());
  EXPECT_FALSE(loop.held_off_.load());
  const uint64_t runs = loop.runs_.load();
  const auto deadline = std::chrono::steady_clock::now() + 5s;  // generous: CI machines are loaded
  while (loop.runs_.load() == runs && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_GT(loop.runs_.load(), runs);
}

TEST(PauseGate, RepeatedPauseResumeCyclesComplete) {
  FakeLoop loop;
  for (int i = 0; i < 200; ++i) {
    loop.gate_.request_pause();
    loop.gate_.wait_parked();
    loop.gate_.resume();
  }
  EXPECT_FALSE(loop.gate_.parked());
}

TEST(PauseGate, StopEndsAPausedLoopPromptlyAndLeavesItHeldOff) {
  auto loop = std::make_unique<FakeLoop>();
  loop->gate_.request_pause();
  loop->gate_.wait_parked();
  const auto t0 = std::chrono::steady_clock::now();
  loop->gate_.stop();
  loop->thread_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);  // not stuck in park()
  EXPECT_TRUE(loop->held_off_.load());
  loop->thread_ = std::thread([] {});  // for the destructor's join
}

TEST(PauseGate, PauseAndResumeOfAFinishedLoopReturnAtOnce) {
  PauseGate gate([](bool) {});
  gate.started();
  gate.finished();
  gate.request_pause();
  gate.wait_parked();
  gate.resume();
  EXPECT_FALSE(gate.parked());
}

}  // namespace
}  // namespace franca
