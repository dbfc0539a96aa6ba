// Kernel vhost-net offload: the /dev/vhost-net ioctls (uapi <linux/vhost.h>)
// and the rx/tx pair bring-up and tear-down (virtio-notes.md §6.2, §6.5).
#include "devices/vhost/vhost_net.h"

#include <fcntl.h>
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/core/fd.h"

namespace franca::vhost {
namespace {

// VHOST_SET_MEM_TABLE's size is that of the header alone (the C layout).
static_assert(sizeof(vhost_memory) == 8 && sizeof(vhost_memory_region) == 32);
static_assert(VHOST_NET_F_VIRTIO_NET_HDR == VIRTIO_F_ANY_LAYOUT);

constexpr uint64_t kMaxRingSize = 32768;  // virtio 1.x §2.7: split queue size, a power of two

// One /dev/vhost-net fd: every method is one ioctl whose errors name it.
class VhostNetFd final : public VhostOps {
 public:
  explicit VhostNetFd(Fd fd) : fd_(std::move(fd)) {}

  Result<void> set_owner() override { return call(VHOST_SET_OWNER, nullptr, "VHOST_SET_OWNER"); }
  Result<uint64_t> get_features() override {
    uint64_t features = 0;
    if (auto done = call(VHOST_GET_FEATURES, &features, "VHOST_GET_FEATURES"); !done)
      return std::unexpected(done.error());
    return features;
  }
  Result<void> set_features(uint64_t features) override {
    return call(VHOST_SET_FEATURES, &features, "VHOST_SET_FEATURES");
  }
  Result<void> set_mem_table(std::span<const MemoryRegion> regions) override;
  Result<void> set_vring_num(uint32_t index, uint32_t num) override {
    vhost_vring_state arg{.index = index, .num = num};
    return state(VHOST_SET_VRING_NUM, "VHOST_SET_VRING_NUM", arg);
  }
  Result<void> set_vring_base(uint32_t index, uint32_t num) override {
    vhost_vring_state arg{.index = index, .num = num};
    return state(VHOST_SET_VRING_BASE, "VHOST_SET_VRING_BASE", arg);
  }
  Result<uint32_t> get_vring_base(uint32_t index) override {
    vhost_vring_state arg{.index = index, .num = 0};
    if (auto done = state(VHOST_GET_VRING_BASE, "VHOST_GET_VRING_BASE", arg); !done)
      return std::unexpected(done.error());
    return arg.num;
  }
  Result<void> set_vring_addr(uint32_t index, uint64_t desc, uint64_t used, uint64_t avail) override {
    vhost_vring_addr addr{index, /*flags=*/0, desc, used, avail, /*log_guest_addr=*/0};
    return call(VHOST_SET_VRING_ADDR, &addr, fmt::format("VHOST_SET_VRING_ADDR({})", index));
  }
  Result<void> set_vring_kick(uint32_t index, int fd) override {
    return file(VHOST_SET_VRING_KICK, "VHOST_SET_VRING_KICK", index, fd);
  }
  Result<void> set_vring_call(uint32_t index, int fd) override {
    return file(VHOST_SET_VRING_CALL, "VHOST_SET_VRING_CALL", index, fd);
  }
  Result<void> set_vring_err(uint32_t index, int fd) override {
    return file(VHOST_SET_VRING_ERR, "VHOST_SET_VRING_ERR", index, fd);
  }
  Result<void> net_set_backend(uint32_t index, int fd) override {
    return file(VHOST_NET_SET_BACKEND, "VHOST_NET_SET_BACKEND", index, fd);
  }

 private:
  Result<void> call(unsigned long request, void* arg, const std::string& name) {
    if (::ioctl(fd_.get(), request, arg) < 0) return errno_error(name);
    return {};
  }
  // A vhost_vring_state ioctl; the kernel may write `arg.num`.
  Result<void> state(unsigned long request, const char* name, vhost_vring_state& arg) {
    return call(request, &arg, fmt::format("{}({})", name, arg.index));
  }
  Result<void> file(unsigned long request, const char* name, uint32_t index, int fd) {
    vhost_vring_file arg{.index = index, .fd = fd};
    return call(request, &arg, fmt::format("{}({})", name, index));
  }

  Fd fd_;
};

// vhost_memory ends in a flexible array: lay the buffer out by hand.
Result<void> VhostNetFd::set_mem_table(std::span<const MemoryRegion> regions) {
  std::vector<uint8_t> buf(sizeof(vhost_memory) + regions.size() * sizeof(vhost_memory_region), 0);
  const vhost_memory header{.nregions = static_cast<uint32_t>(regions.size()), .padding = 0};
  std::memcpy(buf.data(), &header, sizeof(header));
  for (size_t i = 0; i < regions.size(); ++i) {
    const vhost_memory_region region{regions[i].gpa, regions[i].size, reinterpret_cast<uintptr_t>(regions[i].host), 0};
    std::memcpy(buf.data() + sizeof(vhost_memory) + i * sizeof(region), &region, sizeof(region));
  }
  return call(VHOST_SET_MEM_TABLE, buf.data(), "VHOST_SET_MEM_TABLE");
}

const char* ring_name(uint32_t index) { return index == kRxRing ? "rx" : "tx"; }

std::unexpected<Error> in_step(const char* step, const Error& error) {
  return std::unexpected(Error{error.kind, fmt::format("vhost-net {}: {}", step, error.message)});
}

// The host address of one ring area, which must lie whole inside one RAM region.
Result<uint64_t> host_address(const GuestMemory& memory, uint32_t index, const char* area, uint64_t gpa, uint64_t len) {
  const auto bytes = memory.slice(gpa, len);
  if (!bytes)
    return host_error(fmt::format("vhost-net start: {} ring {} area [{:#x}, +{:#x}) is outside guest RAM",
                                  ring_name(index), area, gpa, len));
  return reinterpret_cast<uintptr_t>(bytes->data());
}

}  // namespace

Result<std::unique_ptr<VhostOps>> open_vhost_net(const char* path) {
  Fd fd(::open(path, O_RDWR | O_CLOEXEC));
  if (fd.valid()) return std::make_unique<VhostNetFd>(std::move(fd));
  if (errno == ENOENT)
    return host_error(fmt::format("{}: not found (load the vhost_net module: modprobe vhost_net)", path));
  if (errno == EACCES)
    return host_error(
        fmt::format("{}: permission denied (needs read-write access: run as root or join the group owning it)", path));
  return errno_error(path);
}

Result<std::unique_ptr<VhostNetPair>> VhostNetPair::create(std::unique_ptr<VhostOps> ops) {
  if (!ops) return host_error("vhost-net: no device");
  if (auto owned = ops->set_owner(); !owned) return in_step("create", owned.error());
  auto features = ops->get_features();
  if (!features) return in_step("create", features.error());
  return std::unique_ptr<VhostNetPair>(new VhostNetPair(std::move(ops), *features));
}

VhostNetPair::~VhostNetPair() {
  if (!running_) return;
  if (auto stopped = stop(); !stopped) spdlog::error("{}", stopped.error().message);
}

uint64_t VhostNetPair::filter_features(uint64_t negotiated, uint64_t kernel) {
  constexpr uint64_t kNever = (1ULL << VHOST_NET_F_VIRTIO_NET_HDR) | (1ULL << VIRTIO_F_ACCESS_PLATFORM) |
                              (1ULL << VIRTIO_F_RING_PACKED) | (1ULL << VHOST_F_LOG_ALL);
  return negotiated & kernel & ~kNever;
}

// Validates one ring and translates its areas (split ring sizes, virtio 1.x §2.7).
Result<VhostNetPair::HostRing> VhostNetPair::host_ring(const GuestMemory& memory, uint32_t index,
                                                       const VringSetup& ring) {
  const uint64_t n = ring.size;
  if (n == 0 || n > kMaxRingSize || (n & (n - 1)) != 0)
    return host_error(
        fmt::format("vhost-net start: {} ring size {} is not a power of two up to 32768", ring_name(index), n));
  HostRing host;
  for (auto [out, area, gpa, len] : {std::tuple{&host.desc, "descriptor", ring.desc_gpa, 16 * n},
                                     std::tuple{&host.avail, "driver", ring.avail_gpa, 6 + 2 * n},
                                     std::tuple{&host.used, "device", ring.used_gpa, 6 + 8 * n}}) {
    auto address = host_address(memory, index, area, gpa, len);
    if (!address) return std::unexpected(address.error());
    *out = *address;
  }
  return host;
}

Result<void> VhostNetPair::start(const GuestMemory& memory, uint64_t negotiated, const std::array<VringSetup, 2>& rings,
                                 int tap_fd) {
  if (running_) return host_error("vhost-net start: already running");
  std::array<HostRing, 2> host;
  for (uint32_t i : {kRxRing, kTxRing}) {
    auto translated = host_ring(memory, i, rings[i]);
    if (!translated) return std::unexpected(translated.error());
    host[i] = *translated;
  }
  last_bases_ = {rings[kRxRing].next_avail, rings[kTxRing].next_avail};
  running_ = true;  // from here on teardown() gives back whatever the kernel holds
  auto configured = configure(memory, negotiated, rings, host, tap_fd);
  if (configured) return {};
  if (auto undone = teardown(); undone)
    running_ = false;
  else
    spdlog::error("vhost-net start: undoing a failed start: {}", undone.error().message);
  return in_step("start", configured.error());
}

Result<void> VhostNetPair::configure(const GuestMemory& memory, uint64_t negotiated,
                                     const std::array<VringSetup, 2>& rings, const std::array<HostRing, 2>& host,
                                     int tap_fd) {
  if (auto done = ops_->set_mem_table(memory.regions()); !done) return done;
  if (auto done = ops_->set_features(filter_features(negotiated, kernel_features_)); !done) return done;
  for (uint32_t i : {kRxRing, kTxRing}) {
    if (auto done = setup_ring(i, rings[i], host[i]); !done) return done;
  }
  for (uint32_t i : {kRxRing, kTxRing}) {
    if (auto done = ops_->net_set_backend(i, tap_fd); !done) return done;
    held_[i].attached = true;
  }
  return {};
}

// SET_VRING_NUM, BASE, ADDR, then the three eventfds (virtio-notes.md §6.2 step 4).
Result<void> VhostNetPair::setup_ring(uint32_t index, const VringSetup& ring, const HostRing& host) {
  if (auto done = ops_->set_vring_num(index, ring.size); !done) return done;
  if (auto done = ops_->set_vring_base(index, ring.next_avail); !done) return done;
  if (auto done = ops_->set_vring_addr(index, host.desc, host.used, host.avail); !done) return done;
  held_[index].bound = true;  // unbinding a ring whose eventfds were never bound is harmless
  if (auto done = ops_->set_vring_kick(index, ring.kick_fd); !done) return done;
  if (auto done = ops_->set_vring_call(index, ring.call_fd); !done) return done;
  return ops_->set_vring_err(index, ring.err_fd);
}

// Detach both backends first (the kernel flushes and stops touching guest
// memory), then read where it stopped, then take the eventfds back. Progress
// is kept per ring, so a failed teardown can be retried where it stopped.
Result<void> VhostNetPair::teardown() {
  for (uint32_t i : {kRxRing, kTxRing}) {
    if (!held_[i].attached) continue;
    if (auto done = ops_->net_set_backend(i, -1); !done) return done;
    held_[i].attached = false;
    held_[i].base_due = true;
  }
  for (uint32_t i : {kRxRing, kTxRing}) {
    if (!held_[i].base_due) continue;
    auto base = ops_->get_vring_base(i);
    if (!base) return std::unexpected(base.error());
    last_bases_[i] = static_cast<uint16_t>(*base & 0xffff);  // split rings: last_avail_idx
    held_[i].base_due = false;
  }
  for (uint32_t i : {kRxRing, kTxRing}) {
    if (!held_[i].bound) continue;
    if (auto done = unbind(i); !done) return done;
    held_[i].bound = false;
  }
  return {};
}

Result<void> VhostNetPair::unbind(uint32_t index) {
  if (auto done = ops_->set_vring_kick(index, -1); !done) return done;
  if (auto done = ops_->set_vring_call(index, -1); !done) return done;
  return ops_->set_vring_err(index, -1);
}

Result<std::array<uint16_t, 2>> VhostNetPair::stop() {
  if (!running_) return last_bases_;
  if (auto done = teardown(); !done) return in_step("stop", done.error());
  running_ = false;
  return last_bases_;
}

}  // namespace franca::vhost
