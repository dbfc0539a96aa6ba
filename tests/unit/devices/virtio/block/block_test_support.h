// Fixtures for the virtio-blk tests: a real temporary image file, heap guest
// memory, and descriptor chains built by hand over it (below the queue layer).
#pragma once

#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "devices/virtio/queue/chain.h"
#include "vmm/core/guest_memory.h"

namespace franca::virtio::testing {

// A sparse image file of `size` bytes in the test temp dir, removed at scope exit.
class TempImage {
 public:
  explicit TempImage(uint64_t size, const std::string& dir = ::testing::TempDir()) {
    std::string tmpl = dir + "/franca-blk-XXXXXX";
    const int fd = mkstemp(tmpl.data());
    EXPECT_GE(fd, 0);
    EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    close(fd);
    path_ = tmpl;
  }
  ~TempImage() { unlink(path_.c_str()); }
  TempImage(const TempImage&) = delete;
  TempImage& operator=(const TempImage&) = delete;

  const std::string& path() const { return path_; }

  std::vector<uint8_t> read(uint64_t offset, size_t n) const {
    std::vector<uint8_t> out(n);
    const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(pread(fd, out.data(), n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
    close(fd);
    return out;
  }
  void write(uint64_t offset, std::span<const uint8_t> bytes) const {
    const int fd = open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    EXPECT_EQ(pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(bytes.size()));
    EXPECT_EQ(fsync(fd), 0);
    close(fd);
  }
  void truncate(uint64_t size) const { EXPECT_EQ(::truncate(path_.c_str(), static_cast<off_t>(size)), 0); }
  // 512-byte blocks the file really occupies.
  int64_t allocated_blocks() const {
    struct stat st {};
    EXPECT_EQ(stat(path_.c_str(), &st), 0);
    return st.st_blocks;
  }

 private:
  std::string path_;
};

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 9));
  return out;
}

// Guest RAM on the heap with a bump allocator for buffers.
class HeapRam {
 public:
  static constexpr uint64_t kBase = 0x100000;
  explicit HeapRam(size_t size = 4 << 20) : bytes_(size) {
    const MemoryRegion region{.gpa = kBase, .size = size, .host = bytes_.data()};
    memory_ = GuestMemory::over(std::span(&region, 1));
  }
  const GuestMemory& memory() const { return memory_; }

  ChainBuffer alloc(uint32_t len) {
    const uint64_t gpa = kBase + used_;
    used_ += (len + 15) & ~15u;
    EXPECT_LE(used_, bytes_.size());
    return {.gpa = gpa, .len = len, .host = bytes_.data() + (gpa - kBase)};
  }
  ChainBuffer put(std::span<const uint8_t> data) {
    ChainBuffer b = alloc(static_cast<uint32_t>(data.size()));
    std::memcpy(b.host, data.data(), data.size());
    return b;
  }
  template <class T>
  ChainBuffer put_obj(const T& value) {
    return put({reinterpret_cast<const uint8_t*>(&value), sizeof(T)});
  }

 private:
  std::vector<uint8_t> bytes_;
  GuestMemory memory_;
  size_t used_ = 0;
};

inline virtio_blk_outhdr header(uint32_t type, uint64_t sector) {
  return {.type = type, .ioprio = 0, .sector = sector};
}

inline virtio_blk_discard_write_zeroes segment(uint64_t sector, uint32_t sectors, uint32_t flags = 0) {
  return {.sector = sector, .num_sectors = sectors, .flags = flags};
}

}  // namespace franca::virtio::testing
