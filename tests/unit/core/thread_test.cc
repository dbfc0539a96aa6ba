// start_thread: the name, the signal mask and the exception fence.
#include "vmm/core/thread.h"

#include "vmm/core/event_loop.h"
#include "vmm/core/fd.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace franca {
namespace {

sigset_t current_mask() {
  sigset_t set;
  pthread_sigmask(SIG_BLOCK, nullptr, &set);
  return set;
}

// Runs `body` on a started thread and waits for it to end.
void run(ThreadSpec spec, const std::function<void()>& body) {
  start_thread(std::move(spec), [&](std::stop_token) { body(); }).join();
}

// Routes spdlog's default logger into a string for the test's lifetime.
class CapturedLog {
 public:
  CapturedLog() : saved_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(saved_); }
  std::string text() const { return out_.str(); }

 private:
  std::shared_ptr<spdlog::logger> saved_;
  std::ostringstream out_;
};

TEST(StartThread, NamesTheThread) {
  char name[16] = {};
  run({.name = "vcpu3"}, [&] { pthread_getname_np(pthread_self(), name, sizeof(name)); });
  EXPECT_STREQ(name, "vcpu3");
}

TEST(StartThread, CutsALongNameToFifteenCharacters) {
  char name[16] = {};
  run({.name = "a-thread-name-too-long"}, [&] { pthread_getname_np(pthread_self(), name, sizeof(name)); });
  EXPECT_STREQ(name, "a-thread-name-t");
}

TEST(StartThread, BlocksTheVmmSignalsInTheThread) {
  sigset_t mask;
  run({.name = "t"}, [&] { mask = current_mask(); });
  EXPECT_EQ(sigismember(&mask, SIGINT), 1);
  EXPECT_EQ(sigismember(&mask, SIGTERM), 1);
}

TEST(StartThread, UnblocksTheThreadsOwnSignals) {
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGRTMIN);
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);  // inherited unless the spec unblocks it
  sigset_t mask;
  run({.name = "t", .unblocked = {SIGRTMIN}}, [&] { mask = current_mask(); });
  pthread_sigmask(SIG_UNBLOCK, &blocked, nullptr);
  EXPECT_EQ(sigismember(&mask, SIGRTMIN), 0);
  EXPECT_EQ(sigismember(&mask, SIGINT), 1);
}

TEST(StartThread, LeavesTheCallersMaskAsItWas) {
  const sigset_t before = current_mask();
  run({.name = "t"}, [] {});
  const sigset_t after = current_mask();
  EXPECT_EQ(sigismember(&after, SIGINT), sigismember(&before, SIGINT));
  EXPECT_EQ(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));
}

TEST(StartThread, FencesAnExceptionAndReportsIt) {
  CapturedLog log;
  std::atomic<int> faults{0};
  run({.name = "vcpu0", .on_fault = [&] { ++faults; }}, [] { throw std::runtime_error("boom"); });
  EXPECT_EQ(faults, 1);
  EXPECT_EQ(log.text(), "vcpu0: boom; stopping the VM\n");
}

TEST(StartThread, FencesANonStandardException) {
  CapturedLog log;
  std::atomic<int> faults{0};
  run({.name = "vmm-io", .on_fault = [&] { ++faults; }}, [] { throw 42; });
  EXPECT_EQ(faults, 1);
  EXPECT_EQ(log.text(), "vmm-io: unknown exception; stopping the VM\n");
}

TEST(StartThread, EndsTheLogLineWithTheFaultEffect) {
  CapturedLog log;
  run({.name = "api", .fault_effect = "the control socket is closed"}, [] { throw std::runtime_error("bad"); });
  EXPECT_EQ(log.text(), "api: bad; the control socket is closed\n");
}

TEST(StartThread, ReportsNothingWhenTheBodyReturns) {
  CapturedLog log;
  std::atomic<int> faults{0};
  run({.name = "t", .on_fault = [&] { ++faults; }}, [] {});
  EXPECT_EQ(faults, 0);
  EXPECT_EQ(log.text(), "");
}

TEST(StartThread, PassesTheStopToken) {
  std::atomic<bool> stopped{false};
  auto thread = start_thread({.name = "t"}, [&](std::stop_token stop) {
    while (!stop.stop_requested()) std::this_thread::yield();
    stopped = true;
  });
  thread.request_stop();
  thread.join();
  EXPECT_TRUE(stopped);
}

// What Vm::run() does for vmm-io: on_fault runs the loop again, so invoke() and
// stop() from the shutdown still reach it after an fd callback threw.
TEST(StartThread, ALoopRunAgainFromOnFaultServesInvokeAndStop) {
  CapturedLog log;
  auto loop = std::move(*EventLoop::create());
  Fd event(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  EventLoop::Watch watch;
  auto added = loop->add(event.get(), EPOLLIN, [&](uint32_t) {
    watch.reset();
    throw std::runtime_error("callback");
  });
  ASSERT_TRUE(added);
  watch = std::move(*added);
  std::atomic<int> faults{0};
  auto thread = start_thread({.name = "vmm-io",
                              .on_fault =
                                  [&] {
                                    ++faults;
                                    loop->run();
                                  }},
                             [&](std::stop_token) { loop->run(); });
  const uint64_t one = 1;
  ASSERT_EQ(::write(event.get(), &one, sizeof(one)), 8);
  while (faults == 0) std::this_thread::yield();
  bool ran = false;
  loop->invoke([&] { ran = true; });
  loop->stop();
  thread.join();
  EXPECT_TRUE(ran);
  EXPECT_EQ(log.text(), "vmm-io: callback; stopping the VM\n");
}

}  // namespace
}  // namespace franca
