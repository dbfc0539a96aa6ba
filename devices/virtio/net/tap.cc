// TAP queues for virtio-net (Linux tuntap: TUNSETIFF, TUNSETVNETHDRSZ,
// TUNSETOFFLOAD, TUNSETQUEUE, TUNSETCARRIER).
#include "devices/virtio/net/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace franca::virtio {
namespace {

constexpr const char* kTunPath = "/dev/net/tun";

std::string tunsetiff_hint(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return "creating or attaching a TAP needs CAP_NET_ADMIN; run as root, or create it for your user: "
             "ip tuntap add NAME mode tap user $USER vnet_hdr";
    case EBUSY:
      return "the TAP is in use by another process";
    case EINVAL:
      return "the TAP's multi_queue setting does not match queues= (recreate it with or without multi_queue)";
    default:
      return std::strerror(err);
  }
}

Result<Fd> open_queue(const std::string& name, short flags) {
  Fd fd(::open(kTunPath, O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return usage_error(fmt::format("--net tap={}: {}: {}", name, kTunPath, std::strerror(errno)));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = flags;
  if (ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    return usage_error(fmt::format("--net tap={}: {}", name, tunsetiff_hint(err)));
  }
  return fd;
}

}  // namespace

Tap::~Tap() = default;

Result<Tap> Tap::open(const std::string& name, uint16_t queues) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return usage_error(fmt::format("--net tap={}: an interface name of 1 to {} characters", name, IFNAMSIZ - 1));
  Tap tap;
  tap.name_ = name;
  tap.created_ = if_nametoindex(name.c_str()) == 0;
  short flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0);
  auto first = open_queue(name, flags);
  if (!first && queues == 1 && !tap.created_) {
    flags |= IFF_MULTI_QUEUE;  // an existing multi_queue TAP, used with one queue
    first = open_queue(name, flags);
  }
  if (!first) return std::unexpected(first.error());
  tap.fds_.push_back(std::move(*first));
  for (uint16_t q = 1; q < queues; ++q) {
    auto fd = open_queue(name, flags);
    if (!fd) return std::unexpected(fd.error());
    tap.fds_.push_back(std::move(*fd));
  }
  if (tap.created_) {
    spdlog::warn(
        "--net tap={}: no such interface, created it (it goes away when franca exits; "
        "bring it up and give it an address on the host: ip link set {} up)",
        name, name);
  }
  return tap;
}

Result<Tap> Tap::adopt(int fd) {
  if (fcntl(fd, F_GETFD) < 0) return usage_error(fmt::format("--net fd={}: not an open file descriptor", fd));
  ifreq ifr{};
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) return usage_error(fmt::format("--net fd={}: not a TAP device", fd));
  if (!(ifr.ifr_flags & IFF_TAP)) return usage_error(fmt::format("--net fd={}: a TUN, not a TAP device", fd));
  if (!(ifr.ifr_flags & IFF_VNET_HDR))
    return usage_error(fmt::format("--net fd={}: the TAP was opened without IFF_VNET_HDR", fd));
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return usage_error(fmt::format("--net fd={}: cannot make it non-blocking: {}", fd, std::strerror(errno)));
  Tap tap;
  tap.name_ = ifr.ifr_name;
  tap.fds_.emplace_back(fd);
  return tap;
}

Tap Tap::over_sockets(std::vector<Fd> fds) {
  Tap tap;
  tap.name_ = "test";
  tap.fds_ = std::move(fds);
  tap.fake_ = true;
  return tap;
}

Result<void> Tap::set_vnet_hdr_size(int size) {
  if (fake_) return {};
  for (const Fd& fd : fds_) {
    if (ioctl(fd.get(), TUNSETVNETHDRSZ, &size) < 0) return errno_error(fmt::format("{}: TUNSETVNETHDRSZ", name_));
  }
  return {};
}

Result<void> Tap::set_offload(unsigned flags) {
  if (fake_) return {};
  if (ioctl(fds_[0].get(), TUNSETOFFLOAD, static_cast<unsigned long>(flags)) < 0) {
    return errno_error(fmt::format("{}: TUNSETOFFLOAD {:#x}", name_, flags));
  }
  return {};
}

Result<void> Tap::enable_queue(uint16_t queue, bool enabled) {
  if (fake_ || fds_.size() < 2 || queue >= fds_.size()) return {};
  ifreq ifr{};
  ifr.ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
  if (ioctl(fds_[queue].get(), TUNSETQUEUE, &ifr) < 0 && errno != EINVAL) {  // EINVAL: already so
    return errno_error(fmt::format("{}: TUNSETQUEUE {} queue {}", name_, enabled ? "attach" : "detach", queue));
  }
  return {};
}

void Tap::set_carrier(bool up) {
  if (fake_) return;
  int on = up ? 1 : 0;
  if (ioctl(fds_[0].get(), TUNSETCARRIER, &on) < 0) spdlog::debug("{}: TUNSETCARRIER: {}", name_, std::strerror(errno));
}

}  // namespace franca::virtio
