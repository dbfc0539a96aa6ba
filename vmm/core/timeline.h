// Boot milestones in milliseconds since franca started (main()): the first
// guest instruction (vcpu0's first KVM_RUN), the guest's power-off request
// (ACPI S5) and franca's exit; each kept once (the first mark wins) and logged
// at info level as "boot: ...". What bench/boot reads for its per-phase table.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace franca {

enum class Milestone { kGuestEntry, kPowerOff, kExit };

class Timeline {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Timeline(Clock::time_point origin = Clock::now()) : origin_(origin) {}
  // Records `m` at `at` unless it already is; true when this call recorded it.
  bool mark(Milestone m, Clock::time_point at = Clock::now());
  std::optional<double> ms(Milestone m) const;  // since the origin
  double now_ms(Clock::time_point now = Clock::now()) const;
  // The log line for a recorded milestone, e.g. "boot: franca exits at 812.4 ms, 1.2 ms after
  // the guest's power-off request".
  std::string describe(Milestone m) const;

 private:
  static constexpr int64_t kUnset = -1;
  Clock::time_point origin_;
  std::array<std::atomic<int64_t>, 3> ns_{kUnset, kUnset, kUnset};  // since origin_, by Milestone
};

// franca's own timeline; its origin is its first call, which main() makes first.
Timeline& process_timeline();
// Marks `m` on the process timeline now and, the first time, logs it at info level.
void mark_milestone(Milestone m);
// Logs "boot: <step> done at N ms" at debug level: where the time before the
// first guest instruction and after the power-off request goes.
void log_step(std::string_view step);

}  // namespace franca
