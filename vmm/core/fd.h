// RAII owner of a file descriptor (STYLE.md: every fd is an RAII owner).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <span>
#include <utility>

namespace franca {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Fills `dest` from `fd` at `offset` (retrying short reads and EINTR); false on
// an error or end of file before `dest` is full.
// eventfd: adds 1 (a kick or a signal); errors (a full counter) are harmless.
inline void eventfd_signal(int fd) {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof(one));
}
// eventfd: reads and clears the counter; true when it was non-zero.
inline bool eventfd_drain(int fd) {
  uint64_t count = 0;
  return ::read(fd, &count, sizeof(count)) == sizeof(count) && count > 0;
}

inline bool pread_all(int fd, std::span<uint8_t> dest, uint64_t offset) {
  size_t done = 0;
  while (done < dest.size()) {
    const ssize_t n = ::pread(fd, dest.data() + done, dest.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

inline bool pwrite_all(int fd, std::span<const uint8_t> src, uint64_t offset) {
  size_t done = 0;
  while (done < src.size()) {
    const ssize_t n = ::pwrite(fd, src.data() + done, src.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace franca
