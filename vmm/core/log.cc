// Log-level parsing and the rate limiter used for guest-triggerable messages.
#include "vmm/core/log.h"

namespace franca {

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn" || name == "warning") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  if (name == "off") return spdlog::level::off;
  return std::nullopt;
}

bool RateLimit::allow() {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
  if (emitted_.fetch_add(1, std::memory_order_relaxed) < burst_) return true;
  int64_t last = last_ms_.load(std::memory_order_relaxed);
  if (now - last >= interval_.count() && last_ms_.compare_exchange_strong(last, now)) return true;
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace franca
