// Owner-only unix socket listener and client connect (see unix_socket.h).
#include "vmm/api/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>

#include <fmt/format.h>

namespace franca::api {
namespace {

bool fill_address(const std::string& path, sockaddr_un& addr) {
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return false;
  addr = {};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return true;
}

// Whether a server accepts connections on `addr`: 0 no (refused), 1 yes, -1 unknown (errno).
int probe_listener(const sockaddr_un& addr) {
  Fd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!probe.valid()) return -1;
  if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) return 1;
  if (errno == EAGAIN) return 1;  // a live server with a full backlog
  return errno == ECONNREFUSED ? 0 : -1;
}

// Removes a socket file whose server is gone; errors for anything else at `path`.
Result<void> remove_stale_socket(const std::string& path, const sockaddr_un& addr, std::string_view what) {
  struct stat st {};
  if (lstat(path.c_str(), &st) < 0) return {};  // nothing there (or bind will say why)
  if (!S_ISSOCK(st.st_mode)) return usage_error(fmt::format("{}: exists and is not a socket", what));
  const int live = probe_listener(addr);
  if (live == 1) return usage_error(fmt::format("{}: another process is listening on it", what));
  if (live < 0) return usage_error(fmt::format("{}: cannot tell whether it is in use: {}", what, std::strerror(errno)));
  if (unlink(path.c_str()) < 0 && errno != ENOENT)
    return usage_error(fmt::format("{}: cannot remove the stale socket: {}", what, std::strerror(errno)));
  return {};
}

}  // namespace

Result<Fd> listen_owner_only(const std::string& path, std::string_view what) {
  sockaddr_un addr{};
  if (!fill_address(path, addr))
    return usage_error(fmt::format("{}: path must be 1 to {} bytes", what, sizeof(addr.sun_path) - 1));
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno_error(fmt::format("{}: socket", what));
  // Linux creates the socket file with the socket inode's mode (less the umask):
  // owner-only from the start, no window where another user could connect.
  if (fchmod(fd.get(), 0600) < 0) return errno_error(fmt::format("{}: fchmod", what));
  if (auto r = remove_stale_socket(path, addr, what); !r) return std::unexpected(r.error());
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0)
    return usage_error(fmt::format("{}: {}", what, std::strerror(errno)));
  if (chmod(path.c_str(), 0600) < 0 || listen(fd.get(), 16) < 0) {
    const int saved = errno;
    unlink(path.c_str());
    return host_error(fmt::format("{}: {}", what, std::strerror(saved)));
  }
  return fd;
}

Result<Fd> connect_unix(const std::string& path) {
  sockaddr_un addr{};
  if (!fill_address(path, addr)) return usage_error(fmt::format("{}: not a usable socket path", path));
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno_error("socket");
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0)
    return errno_error(fmt::format("cannot connect to {}", path));
  return fd;
}

}  // namespace franca::api
