// The host's events on the vmm-io loop: SIGINT/SIGTERM through a signalfd,
// timers (--timeout, on-demand checks), and host stdin fed to one HostInputSink
// (raw mode and the Ctrl-A x escape when stdin is a terminal). Every callback
// runs on the loop thread; Vm decides what a stop or an expiry means.
#pragma once

#include <sys/timerfd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "vmm/core/event_loop.h"
#include "vmm/core/fd.h"
#include "vmm/core/host_input.h"
#include "vmm/core/stop.h"

namespace franca {

class RawTerminal;
class EscapeFilter;

class HostEvents {
 public:
  explicit HostEvents(EventLoop& loop);
  ~HostEvents();

  // SIGINT/SIGTERM (blocked in every thread, vmm_blocked_signals()): stop(kSignal, 128 + signal).
  Result<void> watch_signals(StopFn stop);
  // Runs `fn` once, `seconds` from now (at least 1 ns).
  Result<void> add_timeout(double seconds, std::function<void()> fn);
  // A timer that runs only when asked: the returned `arm` (callable from any
  // thread, cheap when already armed) makes `fn` run once on the loop `period`
  // (< 1 s) later; `fn` returning true arms it again. So a check that is only
  // needed while something is pending costs no wakeups while nothing is.
  using ArmFn = std::function<void()>;
  Result<ArmFn> add_on_demand(std::chrono::milliseconds period, std::function<bool()> fn);
  // Feeds host stdin to `sink` until EOF (the guest keeps running after it). On
  // a terminal: raw mode, and Ctrl-A x is stop(kSignal, 130).
  void feed_stdin(std::shared_ptr<HostInputSink> sink, StopFn stop);
  // Restores the terminal (shutdown, before anything else prints).
  void restore_terminal();

 private:
  Result<void> watch(int fd, EventLoop::Callback callback);
  // One timerfd armed with `spec` on the loop; `fn` runs on each expiry.
  Result<void> add_timer(const itimerspec& spec, std::function<void()> fn);

  EventLoop& loop_;
  std::unique_ptr<RawTerminal> terminal_;
  std::unique_ptr<EscapeFilter> escape_;
  std::vector<Fd> fds_;                    // signalfd, timerfds
  std::vector<EventLoop::Watch> watches_;  // of fds_, removed before they close
  EventLoop::Watch stdin_watch_;
};

}  // namespace franca
