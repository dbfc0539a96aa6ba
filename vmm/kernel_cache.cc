// The decompressed-kernel cache (kernel_cache.h).
#include "vmm/kernel_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/core/fd.h"

namespace franca {
namespace {

namespace fs = std::filesystem;

std::optional<DecompressedKernel> read_entry(const std::string& path) {
  auto fd = std::make_shared<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd->valid()) return std::nullopt;
  struct stat st {};
  if (fstat(fd->get(), &st) < 0 || st.st_size <= 0 || static_cast<uint64_t>(st.st_size) > firmware::kMaxVmlinuxSize) {
    return std::nullopt;
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  std::vector<uint8_t> head(std::min<uint64_t>(size, firmware::kVmlinuxHeadBytes));
  if (!pread_all(fd->get(), head, 0)) return std::nullopt;
  auto elf = firmware::parse_vmlinux(head, size);
  if (!elf) {
    spdlog::warn("kernel cache: {} is not a usable kernel ({}); replacing it", path, elf.error().message);
    return std::nullopt;
  }
  auto read = [fd](uint64_t offset, std::span<uint8_t> dest) { return pread_all(fd->get(), dest, offset); };
  return DecompressedKernel{std::move(*elf), std::move(read), fmt::format("from the kernel cache ({})", path)};
}

// Writes `bytes` to `path` through a temporary file and a rename; false (with
// the reason in `why`) when the directory cannot take it.
bool store_entry(const std::string& dir, const std::string& path, std::span<const uint8_t> bytes, std::string& why) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    why = fmt::format("cannot create {}: {}", dir, ec.message());
    return false;
  }
  std::string tmp = path + ".XXXXXX";
  Fd fd(mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.valid()) {
    why = fmt::format("cannot write in {}: {}", dir, std::strerror(errno));
    return false;
  }
  const bool ok = pwrite_all(fd.get(), bytes, 0) && fsync(fd.get()) == 0 && fchmod(fd.get(), 0644) == 0 &&
                  ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) {
    why = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    ::unlink(tmp.c_str());
  }
  return ok;
}

}  // namespace

std::string default_kernel_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/franca/kernels";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/franca/kernels";
  return {};
}

// FNV-1a over 64-bit little-endian words, then the tail bytes: a byte at a time
// it was a few hundred ms of every nested boot's start for the 8 MiB stock kernel.
uint64_t kernel_hash(std::span<const uint8_t> bytes) {
  constexpr uint64_t kPrime = 0x100000001b3ull;
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    h = (h ^ word) * kPrime;
  }
  for (; i < bytes.size(); ++i) h = (h ^ bytes[i]) * kPrime;
  return h;
}

Result<std::optional<DecompressedKernel>> decompressed_kernel(const firmware::BzImage& image,
                                                              const KernelCacheOption& option) {
  if (!option.enabled) return std::nullopt;
  auto payload = firmware::read_compressed_kernel(image);
  if (!payload) return std::unexpected(payload.error());
  const auto format = firmware::payload_format(*payload);
  if (format == firmware::PayloadFormat::kOther) {
    spdlog::info("kernel: compressed in a format franca does not decompress; the guest decompresses it");
    return std::nullopt;
  }
  const std::string dir = option.dir.empty() ? default_kernel_cache_dir() : option.dir;
  const std::string path =
      dir.empty() ? std::string{} : fmt::format("{}/vmlinux-{:016x}-{}", dir, kernel_hash(*payload), payload->size());
  if (!path.empty()) {
    if (auto hit = read_entry(path)) return hit;
  }
  auto elf_bytes = firmware::decompress_payload(*payload);
  if (!elf_bytes) return usage_error(fmt::format("--kernel: {}", elf_bytes.error().message));
  auto elf = firmware::parse_vmlinux(*elf_bytes);
  if (!elf) return usage_error(fmt::format("--kernel: the decompressed kernel: {}", elf.error().message));
  std::string origin =
      fmt::format("decompressed ({}, {} MiB)", firmware::payload_format_name(format), elf_bytes->size() >> 20);
  std::string why = "no cache directory (neither XDG_CACHE_HOME nor HOME set)";
  if (!path.empty() && store_entry(dir, path, *elf_bytes, why)) {
    origin += fmt::format(", stored in the kernel cache ({})", path);
  } else {
    spdlog::info("kernel cache: {}; decompressing for this boot only", why);
  }
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(*elf_bytes));
  auto read = [owned](uint64_t offset, std::span<uint8_t> dest) { return firmware::reader_of(*owned)(offset, dest); };
  return DecompressedKernel{std::move(*elf), std::move(read), std::move(origin)};
}

Result<BootKernel> open_boot_kernel(const std::string& path, const KernelCacheOption& option) {
  auto kernel = firmware::load_kernel_file(path);
  if (!kernel) return std::unexpected(kernel.error());
  if (kernel->vmlinux) {
    DecompressedKernel direct{std::move(*kernel->vmlinux), std::move(kernel->file), fmt::format("vmlinux {}", path)};
    return BootKernel{std::move(kernel->image), std::move(direct)};
  }
  auto direct = decompressed_kernel(kernel->image, option);
  if (!direct) return std::unexpected(direct.error());
  return BootKernel{std::move(kernel->image), std::move(*direct)};
}

}  // namespace franca
