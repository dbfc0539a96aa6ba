// --kernel-cache: the kernel inside a bzImage, decompressed on the host once and
// kept, keyed by a hash of the compressed kernel, so later boots of the same
// image copy it straight into guest RAM and the guest skips its decompressor
// (firmware/vmlinux.h says what that means for KASLR).
//
// Default directory: $XDG_CACHE_HOME/franca/kernels, else ~/.cache/franca/kernels.
// A directory that cannot be created or written costs the cache, not the boot:
// the kernel is then decompressed in memory for this boot only. Entries are
// written to a temporary name and renamed, so concurrent VMMs never see a
// partial one; an entry that no longer parses is replaced.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "firmware/bzimage.h"
#include "firmware/kernel_file.h"
#include "firmware/vmlinux.h"
#include "vmm/config.h"
#include "vmm/core/error.h"

namespace franca {

struct DecompressedKernel {
  firmware::Vmlinux elf;
  // Reads the ELF file: pread from the cache entry (its segments go straight
  // into guest RAM), or from the heap when it was decompressed for this boot.
  firmware::FileReader file;
  std::string origin;  // for the log: where it came from
};

// The default directory, or empty when neither XDG_CACHE_HOME nor HOME is set.
std::string default_kernel_cache_dir();

// 64-bit FNV-1a over `bytes` taken 8 bytes at a time (the cache key; not a security boundary: the
// entry is checked like any ELF before use).
uint64_t kernel_hash(std::span<const uint8_t> bytes);

// The decompressed kernel of `image`; nullopt (with the reason logged) when the
// cache is off or the payload is in a format franca does not decompress — boot
// through the guest's own decompressor then. A corrupt payload is a usage error.
Result<std::optional<DecompressedKernel>> decompressed_kernel(const firmware::BzImage& image,
                                                              const KernelCacheOption& option);

// --kernel: a bzImage with its decompressed kernel (per `option`; nullopt: the
// guest decompresses it), or an uncompressed vmlinux, loaded as it is (the
// cache is not involved) behind the setup header franca writes for it.
struct BootKernel {
  firmware::BzImage image;
  std::optional<DecompressedKernel> direct;
};
Result<BootKernel> open_boot_kernel(const std::string& path, const KernelCacheOption& option);

}  // namespace franca
