// The vCPU run loop and its exit dispatch.
#include "vmm/vcpu.h"

#include <pthread.h>
#include <signal.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <variant>

#include "vmm/core/thread.h"
#include "vmm/core/timeline.h"

namespace franca {
namespace {

const int kKickSignal = SIGRTMIN;

void on_kick(int) {}

// PauseGate::finished() however the vCPU's body ends, a fenced exception
// included: a pause() or inspect() waiting for the vCPU to park returns.
struct FinishedOnExit {
  PauseGate& gate;
  ~FinishedOnExit() { gate.finished(); }
};

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};

}  // namespace

void Vcpu::install_kick_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_kick;  // no SA_RESTART: KVM_RUN returns EINTR
  sigemptyset(&sa.sa_mask);
  sigaction(kKickSignal, &sa, nullptr);
}

void Vcpu::start() {
  gate_.started();  // before the thread exists: a pause() from now on waits for it
  ThreadSpec spec{.name = "vcpu" + std::to_string(id_), .unblocked = {kKickSignal}, .on_fault = [this] {
                    stop_(StopReason::kError, kExitHostError);
                  }};
  thread_ = start_thread(std::move(spec), [this](std::stop_token) {
    const FinishedOnExit finished{gate_};
    tid_.store(gettid(), std::memory_order_relaxed);
    run_loop();
  });
}

void Vcpu::stop() {
  gate_.stop();  // sets immediate_exit: covers a kick that lands before KVM_RUN is entered
  kick();
}

void Vcpu::pause() {
  gate_.request_pause();  // sets immediate_exit, as stop() does
  kick();
  gate_.wait_parked();
}

void Vcpu::resume() { gate_.resume(); }

std::optional<x86::VcpuState> Vcpu::inspect(std::chrono::milliseconds timeout) {
  const bool was_paused = gate_.should_park();
  if (!was_paused) {
    gate_.request_pause();
    kick();
    if (!gate_.wait_parked_for(timeout)) {
      gate_.resume();
      return std::nullopt;
    }
  }
  x86::VcpuState s = read_state();
  if (!was_paused) gate_.resume();
  return s;
}

x86::VcpuState Vcpu::read_state() const {
  x86::VcpuState s;
  s.have_regs = kvm_.get_regs(s.regs).has_value();
  s.have_sregs = kvm_.get_sregs(s.sregs).has_value();
  s.have_events = kvm_.get_vcpu_events(s.events).has_value();
  s.have_mp = kvm_.get_mp_state(s.mp).has_value();
  s.have_lapic = kvm_.get_lapic(s.lapic).has_value();
  kvm_msr_entry msrs[2] = {{.index = x86::kMsrTsc, .reserved = 0, .data = 0},
                           {.index = x86::kMsrTscDeadline, .reserved = 0, .data = 0}};
  if ((s.have_tsc = kvm_.get_msrs(msrs).has_value())) {
    s.tsc = msrs[0].data;
    s.tsc_deadline = msrs[1].data;
  }
  return s;
}

void Vcpu::kick() {
  if (thread_.joinable()) pthread_kill(thread_.native_handle(), kKickSignal);
}

void Vcpu::join() {
  if (thread_.joinable()) thread_.join();
}

void Vcpu::run_loop() {
  bool entered = false;
  while (!gate_.stopping()) {
    if (gate_.should_park()) {
      gate_.park();
      continue;
    }
    if (!entered && id_ == 0) mark_milestone(Milestone::kGuestEntry);
    entered = true;
    auto exit = kvm_.run();
    if (!exit) {
      spdlog::error("vcpu{}: {}", id_, exit.error().message);
      stop_(StopReason::kError, kExitHostError);
      return;
    }
    std::visit(Overloaded{
                   [&](const vcpu_exit::Io& io) { handle_io(io); },
                   [&](const vcpu_exit::Mmio& mmio) {
                     if (mmio.is_write)
                       mmio_.write(mmio.addr, mmio.data);
                     else
                       mmio_.read(mmio.addr, mmio.data);
                   },
                   [&](const vcpu_exit::Shutdown&) { report_triple_fault(); },
                   [&](const vcpu_exit::SystemEvent& e) {
                     if (e.power_off)
                       stop_(StopReason::kPowerOff, 0);
                     else
                       stop_(StopReason::kReset, kExitGuestReset);
                     gate_.stop();
                   },
                   [&](const vcpu_exit::Interrupted&) {},
                   [&](const vcpu_exit::Failed& failed) { report_failure(failed); },
               },
               *exit);
  }
}

void Vcpu::handle_io(const vcpu_exit::Io& io) {
  for (uint32_t i = 0; i < io.count; ++i) {
    auto chunk = io.data.subspan(size_t{i} * io.size, io.size);
    const bool claimed = io.is_write ? pio_.write(io.port, chunk) : pio_.read(io.port, chunk);
    if (!claimed) spdlog::trace("vcpu{}: unclaimed port {} {:#x}", id_, io.is_write ? "write" : "read", io.port);
  }
}

void Vcpu::report_failure(const vcpu_exit::Failed& failed) {
  spdlog::error("vcpu{}: unhandled KVM exit {} (detail {:#x})", id_, failed.reason, failed.detail);
  log_state();
  stop_(StopReason::kError, kExitHostError);
  gate_.stop();
}

void Vcpu::report_triple_fault() {
  spdlog::error("vcpu{}: triple fault (KVM_EXIT_SHUTDOWN), treating as a guest reset; its state:", id_);
  log_state();
  stop_(StopReason::kReset, kExitGuestReset);
  gate_.stop();  // the vCPU is in shutdown (or re-INITed by KVM on AMD): never run it again
}

void Vcpu::log_state() {
  const std::string text = x86::describe(read_state());
  for (size_t at = 0; at < text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    spdlog::error("vcpu{}:   {}", id_, std::string_view(text).substr(at, end - at));
    at = end + 1;
  }
}

}  // namespace franca
