// The one way franca starts a thread (STYLE.md "Threads and ownership"): a
// name, the VMM's signal mask from the first instruction, and an exception
// fence at entry that reports instead of calling std::terminate.
#pragma once

#include <signal.h>

#include <functional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace franca {

// Blocked in every franca thread: SIGINT and SIGTERM are read from a signalfd
// on the vmm-io loop (Vm::setup_host_events), never delivered to a thread.
sigset_t vmm_blocked_signals();

struct ThreadSpec {
  std::string name;                 // pthread name, cut to the kernel's 15 characters
  std::vector<int> unblocked = {};  // signals this thread takes despite the mask (a vCPU's kick)
  // Runs on the thread after the fence logged an escaped exception, e.g. to
  // request the VM stop with kError; `fault_effect` ends that log line.
  std::function<void()> on_fault = {};
  std::string fault_effect = "stopping the VM";
};

// Starts `body` on a thread named spec.name. vmm_blocked_signals() is blocked in
// the caller around the creation, so the thread never runs with them open; the
// caller's own mask is restored. An exception escaping `body` is logged as one
// line "<name>: <what>; <fault_effect>" and on_fault runs; the thread then ends.
std::jthread start_thread(ThreadSpec spec, std::function<void(std::stop_token)> body);

}  // namespace franca
