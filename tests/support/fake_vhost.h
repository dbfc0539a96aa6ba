// A fake /dev/vhost-net for unit tests: records every ioctl as a readable line
// ("set_vring_base 1 7") in a log the test keeps, and keeps the kernel's state
// (drivers/vhost/vhost.c, net.c), including EBUSY on SET_VRING_NUM/BASE while
// a backend is attached.
//
//   auto fake = std::make_unique<franca::testing::FakeVhost>();
//   auto log = fake->log();          // outlives the fake
//   fake->set_consumed(kTxRing, 4);  // the "kernel" uses 4 tx buffers while attached
//   fake->fail_once("net_set_backend 1");
//   auto pair = VhostNetPair::create(std::move(fake));
#pragma once

#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "devices/vhost/vhost_net.h"

namespace franca::testing {

class FakeVhost : public vhost::VhostOps {
 public:
  // VIRTIO_NET_F_MRG_RXBUF: <linux/virtio_net.h> is not valid C++ (a member named `class`).
  static constexpr int kNetMrgRxbuf = 15;
  // What Linux 6.1's vhost-net offers (VHOST_NET_FEATURES).
  static constexpr uint64_t kLinux61Features =
      (1ULL << VIRTIO_F_NOTIFY_ON_EMPTY) | (1ULL << VIRTIO_F_ANY_LAYOUT) | (1ULL << VIRTIO_F_VERSION_1) |
      (1ULL << VIRTIO_F_ACCESS_PLATFORM) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
      (1ULL << kNetMrgRxbuf) | (1ULL << VHOST_F_LOG_ALL);

  // The kernel's view of one vring.
  struct Ring {
    uint32_t num = 0;
    uint16_t base = 0;  // last_avail_idx
    uint64_t desc = 0;
    uint64_t used = 0;
    uint64_t avail = 0;
    int kick = -1;
    int call = -1;
    int err = -1;
    int backend = -1;
  };

  using Log = std::shared_ptr<std::vector<std::string>>;

  explicit FakeVhost(uint64_t offered = kLinux61Features) : offered_(offered) {}

  // Knobs.
  // The next call whose log line is `call` or starts with `call` and a space fails once.
  void fail_once(std::string call) { fail_ = std::move(call); }
  // Buffers the "kernel" consumes on `index` while attached; added to the base on detach.
  void set_consumed(uint32_t index, uint16_t buffers) { consumed_.at(index) = buffers; }

  // What the kernel holds.
  const Log& log() const { return log_; }
  const Ring& ring(uint32_t index) const { return rings_.at(index); }
  const std::vector<MemoryRegion>& mem_table() const { return mem_table_; }
  std::optional<uint64_t> acked_features() const { return acked_; }

  Result<void> set_owner() override {
    if (auto line = record("set_owner"); !line) return line;
    if (owned_) return kernel_error("set_owner", EBUSY);
    owned_ = true;
    return {};
  }
  Result<uint64_t> get_features() override {
    if (auto line = record("get_features"); !line) return std::unexpected(line.error());
    return offered_;
  }
  Result<void> set_features(uint64_t features) override {
    const std::string line = fmt::format("set_features {:#x}", features);
    if (auto done = record(line); !done) return done;
    if (features & ~offered_) return kernel_error(line, EOPNOTSUPP);
    acked_ = features;
    return {};
  }
  Result<void> set_mem_table(std::span<const MemoryRegion> regions) override {
    std::string line = fmt::format("set_mem_table {}", regions.size());
    for (const MemoryRegion& r : regions)
      line += fmt::format(" [{:#x}+{:#x}@{}]", r.gpa, r.size, static_cast<const void*>(r.host));
    if (auto done = checked(line); !done) return done;
    mem_table_.assign(regions.begin(), regions.end());
    return {};
  }
  Result<void> set_vring_num(uint32_t index, uint32_t num) override {
    const std::string line = fmt::format("set_vring_num {} {}", index, num);
    if (auto done = ring_call(line, index, true); !done) return done;
    if (num == 0 || num > 0xffff || (num & (num - 1)) != 0) return kernel_error(line, EINVAL);
    rings_[index].num = num;
    return {};
  }
  Result<void> set_vring_base(uint32_t index, uint32_t num) override {
    const std::string line = fmt::format("set_vring_base {} {}", index, num);
    if (auto done = ring_call(line, index, true); !done) return done;
    if (num > 0xffff) return kernel_error(line, EINVAL);
    rings_[index].base = static_cast<uint16_t>(num);
    return {};
  }
  Result<uint32_t> get_vring_base(uint32_t index) override {
    if (auto done = ring_call(fmt::format("get_vring_base {}", index), index, false); !done)
      return std::unexpected(done.error());
    return rings_[index].base;
  }
  Result<void> set_vring_addr(uint32_t index, uint64_t desc, uint64_t used, uint64_t avail) override {
    const std::string line =
        fmt::format("set_vring_addr {} desc={:#x} used={:#x} avail={:#x}", index, desc, used, avail);
    if (auto done = ring_call(line, index, false); !done) return done;
    rings_[index].desc = desc;
    rings_[index].used = used;
    rings_[index].avail = avail;
    return {};
  }
  Result<void> set_vring_kick(uint32_t index, int fd) override {
    return bind("set_vring_kick", index, fd, &Ring::kick);
  }
  Result<void> set_vring_call(uint32_t index, int fd) override {
    return bind("set_vring_call", index, fd, &Ring::call);
  }
  Result<void> set_vring_err(uint32_t index, int fd) override { return bind("set_vring_err", index, fd, &Ring::err); }
  Result<void> net_set_backend(uint32_t index, int fd) override {
    const std::string line = fmt::format("net_set_backend {} {}", index, fd);
    if (auto done = ring_call(line, index, false); !done) return done;
    Ring& ring = rings_[index];
    if (fd >= 0 && ring.num == 0) return kernel_error(line, EFAULT);  // vq_access_ok() fails
    if (fd < 0 && ring.backend >= 0) ring.base = static_cast<uint16_t>(ring.base + consumed_[index]);
    ring.backend = fd;
    return {};
  }

 private:
  static std::unexpected<Error> kernel_error(const std::string& line, int err) {
    return host_error(line + ": " + std::strerror(err));
  }

  // Logs the call, then fails it if fail_once() named it.
  Result<void> record(const std::string& line) {
    log_->push_back(line);
    if (!fail_ || (line != *fail_ && !line.starts_with(*fail_ + " "))) return {};
    fail_.reset();
    return host_error(line + ": injected failure");
  }
  // record(), then the owner check vhost_dev_ioctl() does.
  Result<void> checked(const std::string& line) {
    if (auto done = record(line); !done) return done;
    if (!owned_) return kernel_error(line, EPERM);
    return {};
  }
  // checked(), then the ring index check, and EBUSY for NUM/BASE with a backend attached.
  Result<void> ring_call(const std::string& line, uint32_t index, bool busy_while_attached) {
    if (auto done = checked(line); !done) return done;
    if (index >= rings_.size()) return kernel_error(line, ENOBUFS);
    if (busy_while_attached && rings_[index].backend >= 0) return kernel_error(line, EBUSY);
    return {};
  }
  Result<void> bind(const char* name, uint32_t index, int fd, int Ring::*slot) {
    if (auto done = ring_call(fmt::format("{} {} {}", name, index, fd), index, false); !done) return done;
    rings_[index].*slot = fd;
    return {};
  }

  Log log_ = std::make_shared<std::vector<std::string>>();
  uint64_t offered_;
  std::optional<std::string> fail_;
  std::array<uint16_t, 2> consumed_{0, 0};
  std::array<Ring, 2> rings_{};
  std::vector<MemoryRegion> mem_table_;
  std::optional<uint64_t> acked_;
  bool owned_ = false;
};

}  // namespace franca::testing

// The name the vhost brief used; the other test fakes live in franca::testing.
namespace franca::test {
using testing::FakeVhost;
}  // namespace franca::test
