// Boot milestones (timeline.h).
#include "vmm/core/timeline.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace franca {

bool Timeline::mark(Milestone m, Clock::time_point at) {
  const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at - origin_).count();
  int64_t expected = kUnset;
  return ns_[static_cast<size_t>(m)].compare_exchange_strong(expected, std::max<int64_t>(ns, 0));
}

std::optional<double> Timeline::ms(Milestone m) const {
  const int64_t ns = ns_[static_cast<size_t>(m)].load();
  if (ns == kUnset) return std::nullopt;
  return static_cast<double>(ns) / 1e6;
}

double Timeline::now_ms(Clock::time_point now) const {
  return std::chrono::duration<double, std::milli>(now - origin_).count();
}

std::string Timeline::describe(Milestone m) const {
  const double at = ms(m).value_or(-1);
  switch (m) {
    case Milestone::kGuestEntry:
      return fmt::format("boot: vcpu0 enters the guest (first KVM_RUN) at {:.1f} ms", at);
    case Milestone::kPowerOff:
      return fmt::format("boot: the guest requests power-off (ACPI S5) at {:.1f} ms", at);
    case Milestone::kExit:
      break;
  }
  if (auto off = ms(Milestone::kPowerOff)) {
    return fmt::format("boot: franca exits at {:.1f} ms, {:.1f} ms after the guest's power-off request", at, at - *off);
  }
  return fmt::format("boot: franca exits at {:.1f} ms", at);
}

Timeline& process_timeline() {
  static Timeline timeline;
  return timeline;
}

void mark_milestone(Milestone m) {
  if (process_timeline().mark(m)) spdlog::info("{}", process_timeline().describe(m));
}

void log_step(std::string_view step) {
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("boot: {} done at {:.1f} ms", step, process_timeline().now_ms());
  }
}

}  // namespace franca
