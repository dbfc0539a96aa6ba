// --memory against /proc/meminfo.
#include "vmm/host_memory.h"

#include <fstream>
#include <string>

#include <fmt/format.h>

namespace franca {

Result<void> check_memory_fits_host(uint64_t guest_ram) {
  std::ifstream meminfo("/proc/meminfo");
  uint64_t total_kib = 0;
  std::string key;
  uint64_t value;
  std::string unit;
  while (meminfo >> key >> value >> unit) {
    if (key == "MemTotal:" || key == "SwapTotal:") total_kib += value;
  }
  if (total_kib == 0) return {};  // cannot tell: let mmap decide
  if (guest_ram / 1024 > total_kib) {
    return usage_error(
        fmt::format("--memory {}M: more than this host's RAM and swap ({}M)", guest_ram >> 20, total_kib >> 10));
  }
  return {};
}

}  // namespace franca
