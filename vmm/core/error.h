// Error values for std::expected results below main (STYLE.md "Errors").
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

namespace franca {

// Which part of the world is at fault decides the exit status: 2 for the
// user's input (flags, config, image files), 1 for the host (KVM, fds, memory).
enum class ErrorKind { kUsage, kHost };

struct Error {
  ErrorKind kind = ErrorKind::kHost;
  std::string message;
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> usage_error(std::string message) {
  return std::unexpected(Error{ErrorKind::kUsage, std::move(message)});
}

inline std::unexpected<Error> host_error(std::string message) {
  return std::unexpected(Error{ErrorKind::kHost, std::move(message)});
}

// host_error with ": <strerror(errno)>" appended; call right after the failing syscall.
inline std::unexpected<Error> errno_error(const std::string& what) {
  return host_error(what + ": " + std::strerror(errno));
}

}  // namespace franca
