// Logging helpers over spdlog: level parsing and rate limiting for
// guest-triggerable messages (the guest must not be able to flood our log).
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string_view>

namespace franca {

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

// Allows a burst of messages, then at most one per interval; counts suppressed ones.
class RateLimit {
 public:
  explicit RateLimit(int burst = 10, std::chrono::milliseconds interval = std::chrono::seconds(5))
      : burst_(burst), interval_(interval) {}
  // True when the caller may log now.
  bool allow();
  uint64_t suppressed() const { return suppressed_.load(std::memory_order_relaxed); }

 private:
  int burst_;
  std::chrono::milliseconds interval_;
  std::atomic<int> emitted_{0};
  std::atomic<int64_t> last_ms_{0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace franca

// Logs a guest-triggerable warning at most `burst` times, then once per interval.
#define FRANCA_WARN_RATELIMITED(...)                           \
  do {                                                         \
    static ::franca::RateLimit franca_rate_limit_;             \
    if (franca_rate_limit_.allow()) spdlog::warn(__VA_ARGS__); \
  } while (0)
