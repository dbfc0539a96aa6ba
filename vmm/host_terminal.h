// The host side of a console on stdio: raw terminal mode (restored on exit),
// and the Ctrl-A escape (Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A), as QEMU -nographic.
#pragma once

#include <termios.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace franca {

// Puts fd 0 into raw mode if it is a terminal; restores it when destroyed.
class RawTerminal {
 public:
  RawTerminal();
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool active() const { return saved_.has_value(); }

 private:
  std::optional<termios> saved_;
};

// Filters keyboard input for the escape sequence; returns the bytes for the guest.
class EscapeFilter {
 public:
  explicit EscapeFilter(std::function<void()> on_quit) : on_quit_(std::move(on_quit)) {}
  std::vector<uint8_t> filter(std::span<const uint8_t> input);

 private:
  std::function<void()> on_quit_;
  bool escape_pending_ = false;
};

}  // namespace franca
