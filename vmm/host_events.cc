// Host events on the vmm-io loop: signalfd, timerfds, stdin (see host_events.h).
#include "vmm/host_events.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <memory>

#include <spdlog/spdlog.h>

#include "vmm/core/thread.h"
#include "vmm/host_terminal.h"

namespace franca {

HostEvents::HostEvents(EventLoop& loop) : loop_(loop) {}

HostEvents::~HostEvents() = default;

Result<void> HostEvents::watch_signals(StopFn stop) {
  // SIGINT/SIGTERM are blocked in every thread (see Vm::run()) and read here.
  const sigset_t signals = vmm_blocked_signals();
  Fd sfd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sfd.valid()) return errno_error("signalfd");
  const int raw = sfd.get();
  fds_.push_back(std::move(sfd));
  return watch(raw, [raw, stop = std::move(stop)](uint32_t) {
    signalfd_siginfo info{};
    if (::read(raw, &info, sizeof(info)) == sizeof(info)) {
      spdlog::info("received signal {}, stopping the guest", info.ssi_signo);
      stop(StopReason::kSignal, 128 + static_cast<int>(info.ssi_signo));
    }
  });
}

namespace {
// The state an on-demand timer's arm function and its loop callback share; the
// arm function may be called (from a vCPU) after HostEvents is gone, so it owns
// the timerfd (the loop's watch of it is removed before HostEvents goes).
struct OnDemandTimer {
  Fd fd;
  itimerspec spec{};
  std::atomic<bool> armed{false};
  void arm() {
    if (!armed.exchange(true)) timerfd_settime(fd.get(), 0, &spec, nullptr);
  }
};
}  // namespace

Result<HostEvents::ArmFn> HostEvents::add_on_demand(std::chrono::milliseconds period, std::function<bool()> fn) {
  auto timer = std::make_shared<OnDemandTimer>();
  timer->fd = Fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer->fd.valid()) return errno_error("timerfd_create");
  timer->spec.it_value.tv_nsec = period.count() * 1000000;  // one-shot: it_interval stays 0
  auto watched = watch(timer->fd.get(), [timer, fn = std::move(fn)](uint32_t) {
    uint64_t expirations;
    if (::read(timer->fd.get(), &expirations, sizeof(expirations)) != sizeof(expirations)) return;
    // Disarm before the check: an arm() racing with it either sees false and
    // re-arms, or happened before the check, which then sees what it armed for.
    timer->armed.store(false);
    if (fn()) timer->arm();
  });
  if (!watched) return std::unexpected(watched.error());
  return ArmFn([timer] { timer->arm(); });
}

Result<void> HostEvents::add_timeout(double seconds, std::function<void()> fn) {
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(seconds);
  spec.it_value.tv_nsec = static_cast<long>(std::fmod(seconds, 1.0) * 1e9);
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  return add_timer(spec, std::move(fn));
}

Result<void> HostEvents::add_timer(const itimerspec& spec, std::function<void()> fn) {
  Fd tfd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!tfd.valid()) return errno_error("timerfd_create");
  if (timerfd_settime(tfd.get(), 0, &spec, nullptr) < 0) return errno_error("timerfd_settime");
  const int raw = tfd.get();
  fds_.push_back(std::move(tfd));
  return watch(raw, [raw, fn = std::move(fn)](uint32_t) {
    uint64_t expirations;
    if (::read(raw, &expirations, sizeof(expirations)) == sizeof(expirations)) fn();
  });
}

void HostEvents::feed_stdin(std::shared_ptr<HostInputSink> sink, StopFn stop) {
  terminal_ = std::make_unique<RawTerminal>();
  escape_ = std::make_unique<EscapeFilter>([stop = std::move(stop)] { stop(StopReason::kSignal, 130); });
  const bool interactive = terminal_->active();
  auto on_input = [this, interactive, sink = std::move(sink)](uint32_t) {
    uint8_t buf[256];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n <= 0) {  // EOF or error: stop listening, the guest keeps running
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) stdin_watch_.reset();
      return;
    }
    std::span<const uint8_t> bytes(buf, static_cast<size_t>(n));
    std::vector<uint8_t> filtered;
    if (interactive) {
      filtered = escape_->filter(bytes);
      bytes = filtered;
    }
    sink->input(bytes);
  };
  // epoll refuses regular files and /dev/null; then there is simply no input.
  if (auto r = loop_.add(STDIN_FILENO, EPOLLIN, on_input); !r)
    spdlog::debug("serial input disabled: {}", r.error().message);
  else
    stdin_watch_ = std::move(*r);
}

void HostEvents::restore_terminal() { terminal_.reset(); }

Result<void> HostEvents::watch(int fd, EventLoop::Callback callback) {
  auto watch = loop_.add(fd, EPOLLIN, std::move(callback));
  if (!watch) return std::unexpected(watch.error());
  watches_.push_back(std::move(*watch));
  return {};
}

}  // namespace franca
