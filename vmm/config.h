// VmConfig: everything the command line decides, validated before any KVM call.
#pragma once

#include <spdlog/common.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmm/device_options.h"

namespace franca {

inline constexpr uint64_t kMiB = 1ull << 20;
inline constexpr uint64_t kGiB = 1ull << 30;

struct SerialConfig {
  enum class Mode { kStdio, kFile, kNone };
  Mode mode = Mode::kStdio;
  std::string path;  // for kFile
};

// --kernel-cache DIR|off (vmm/kernel_cache.h).
struct KernelCacheOption {
  bool enabled = true;  // false: off, the guest decompresses its kernel itself
  std::string dir;      // empty: the default directory
};

struct VmConfig {
  std::string kernel;
  KernelCacheOption kernel_cache;
  std::string initrd;  // empty: none
  std::string cmdline = "console=ttyS0 panic=1";
  unsigned cpus = 1;
  uint64_t memory = 512 * kMiB;
  SerialConfig serial;
  bool serial_given = false;  // --serial on the command line (else --console stdio takes stdio)
  std::vector<DiskOption> disks;
  std::optional<ConsoleOption> console;
  std::vector<NetOption> nets;
  std::optional<BalloonOption> balloon;
  std::vector<VfioOption> vfio;
  spdlog::level::level_enum log_level = spdlog::level::warn;
  std::optional<double> timeout_seconds;
  std::string api_socket;  // --api-socket PATH; empty: no control socket
};

inline constexpr uint64_t kMinMemory = 64 * kMiB;
inline constexpr unsigned kMaxCpus = 254;  // xAPIC ids, one IOAPIC id reserved

}  // namespace franca
