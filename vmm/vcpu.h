// One vCPU thread (`vcpu<N>`): runs KVM_RUN and dispatches port I/O and MMIO
// exits to the buses; stops or parks (control API pause) when kicked by the Vm
// (signal + immediate_exit).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include "arch/x86_64/vcpu_state.h"

#include "vmm/core/bus.h"
#include "vmm/core/kvm.h"
#include "vmm/core/stop.h"
#include "vmm/pause_gate.h"

namespace franca {

class Vcpu {
 public:
  Vcpu(unsigned id, KvmVcpu kvm, const Bus& pio, const Bus& mmio, StopFn stop)
      : id_(id), kvm_(std::move(kvm)), pio_(pio), mmio_(mmio), stop_(std::move(stop)) {}
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  // Installs the (no-op) signal handler used to kick vCPUs out of KVM_RUN. Once per process.
  static void install_kick_handler();

  KvmVcpu& kvm() { return kvm_; }
  void start();
  // Makes the thread leave KVM_RUN and return; safe to call repeatedly.
  void stop();
  void join();
  // Makes the thread leave KVM_RUN and wait; returns once it is parked (or has
  // ended). stop() still ends a paused vCPU promptly.
  void pause();
  // Releases a paused vCPU; returns once it has left the wait.
  void resume();
  // The vCPU's state, read with the vCPU parked (paused for the read unless it
  // already was); nullopt when it does not park within `timeout` (its thread is
  // stuck in the VMM, not in KVM_RUN). Control thread only, like pause().
  std::optional<x86::VcpuState> inspect(std::chrono::milliseconds timeout);
  // The thread's kernel id (0 before it started), to match /proc/PID/task/TID.
  pid_t tid() const { return tid_.load(std::memory_order_relaxed); }

 private:
  void run_loop();
  void kick();  // SIGRTMIN to the thread: KVM_RUN returns EINTR
  void handle_io(const vcpu_exit::Io& io);
  void report_failure(const vcpu_exit::Failed& failed);
  void report_triple_fault();
  // Logs registers, segments, descriptor tables and events at error level.
  void log_state();
  // Everything KVM tells of the vCPU; only while it is out of KVM_RUN.
  x86::VcpuState read_state() const;

  unsigned id_;
  KvmVcpu kvm_;
  const Bus& pio_;
  const Bus& mmio_;
  StopFn stop_;
  // The stop flag and the pause handshake; holding off is KVM immediate_exit.
  PauseGate gate_{[this](bool on) { kvm_.set_immediate_exit(on); }};
  std::atomic<pid_t> tid_{0};
  std::jthread thread_;  // vcpu<N>, from start_thread; joined in join(); never detached
};

}  // namespace franca
