// start_thread: name, signal mask and exception fence for every franca thread.
#include "vmm/core/thread.h"

#include <cxxabi.h>
#include <pthread.h>

#include <exception>

#include <spdlog/spdlog.h>

namespace franca {
namespace {

constexpr size_t kMaxNameLength = 15;  // TASK_COMM_LEN less the NUL

void enter(const ThreadSpec& spec) {
  pthread_setname_np(pthread_self(), spec.name.substr(0, kMaxNameLength).c_str());
  if (spec.unblocked.empty()) return;
  sigset_t set;
  sigemptyset(&set);
  for (int signo : spec.unblocked) sigaddset(&set, signo);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void fault(const ThreadSpec& spec, const char* what) {
  spdlog::error("{}: {}; {}", spec.name, what, spec.fault_effect);
  if (spec.on_fault) spec.on_fault();
}

// Blocks vmm_blocked_signals() in the calling thread for its lifetime, then restores the mask.
class ScopedBlock {
 public:
  ScopedBlock() {
    const sigset_t blocked = vmm_blocked_signals();
    pthread_sigmask(SIG_BLOCK, &blocked, &saved_);
  }
  ~ScopedBlock() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  ScopedBlock(const ScopedBlock&) = delete;
  ScopedBlock& operator=(const ScopedBlock&) = delete;

 private:
  sigset_t saved_;
};

}  // namespace

sigset_t vmm_blocked_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

std::jthread start_thread(ThreadSpec spec, std::function<void(std::stop_token)> body) {
  ScopedBlock block;  // the new thread inherits the mask at creation
  return std::jthread([spec = std::move(spec), body = std::move(body)](std::stop_token stop) {
    enter(spec);
    try {
      body(stop);
    } catch (abi::__forced_unwind&) {
      throw;  // thread cancellation's unwind must go on (franca never cancels)
    } catch (const std::exception& e) {
      fault(spec, e.what());
    } catch (...) {
      fault(spec, "unknown exception");
    }
  });
}

}  // namespace franca
