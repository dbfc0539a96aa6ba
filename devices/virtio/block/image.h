// A raw disk image for virtio-blk: opened, checked and locked once at start-up
// so every problem with the user's file is one clear line before the guest runs.
#pragma once

#include <cstdint>
#include <string>

#include "vmm/core/error.h"
#include "vmm/core/fd.h"

namespace franca::virtio {

inline constexpr uint64_t kSectorSize = 512;

struct Image {
  Fd fd;
  uint64_t size = 0;  // bytes, a non-zero multiple of kSectorSize
  bool block_device = false;
};

// Opens `path` (O_RDWR or O_RDONLY, O_CLOEXEC; no O_DIRECT so tmpfs/9p work),
// checks it is a regular file or block device with a usable size, and takes an
// OFD lock (write lock when read-write, read lock when read-only) so a second
// franca cannot write it at the same time. Errors are usage errors that start
// with "--disk path=<path>: ".
Result<Image> open_image(const std::string& path, bool readonly);

}  // namespace franca::virtio
