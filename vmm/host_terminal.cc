// Raw terminal mode and the Ctrl-A escape filter.
#include "vmm/host_terminal.h"

#include <unistd.h>

namespace franca {
namespace {
constexpr uint8_t kCtrlA = 0x01;
}

RawTerminal::RawTerminal() {
  termios current;
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &current) != 0) return;
  saved_ = current;
  cfmakeraw(&current);
  current.c_oflag |= OPOST | ONLCR;  // keep "\n" -> "\r\n" on output for our own log lines
  tcsetattr(STDIN_FILENO, TCSANOW, &current);
}

RawTerminal::~RawTerminal() {
  if (saved_) tcsetattr(STDIN_FILENO, TCSANOW, &*saved_);
}

std::vector<uint8_t> EscapeFilter::filter(std::span<const uint8_t> input) {
  std::vector<uint8_t> out;
  out.reserve(input.size());
  for (uint8_t byte : input) {
    if (escape_pending_) {
      escape_pending_ = false;
      if (byte == 'x' || byte == 'X') {
        on_quit_();
        continue;
      }
      out.push_back(kCtrlA);
      if (byte == kCtrlA) continue;
    } else if (byte == kCtrlA) {
      escape_pending_ = true;
      continue;
    }
    out.push_back(byte);
  }
  return out;
}

}  // namespace franca
