// virtio-net device (virtio 1.x §5.1): features, config space, activation and
// the queue pairs' data paths. The control queue and NetControl live in net_control.cc.
#include "devices/virtio/net/net.h"

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include "devices/virtio/net/virtio_net_uapi.h"
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devices/virtio/net/inprocess_path.h"
#include "devices/virtio/net/vnet_hdr.h"
#include "vmm/core/log.h"

namespace franca::virtio {
namespace {

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

constexpr std::array<FeatureName, 19> kFeatureNames = {{
    {"csum", VIRTIO_NET_F_CSUM},
    {"guest_csum", VIRTIO_NET_F_GUEST_CSUM},
    {"ctrl_guest_offloads", VIRTIO_NET_F_CTRL_GUEST_OFFLOADS},
    {"mtu", VIRTIO_NET_F_MTU},
    {"mac", VIRTIO_NET_F_MAC},
    {"guest_tso4", VIRTIO_NET_F_GUEST_TSO4},
    {"guest_tso6", VIRTIO_NET_F_GUEST_TSO6},
    {"guest_ecn", VIRTIO_NET_F_GUEST_ECN},
    {"host_tso4", VIRTIO_NET_F_HOST_TSO4},
    {"host_tso6", VIRTIO_NET_F_HOST_TSO6},
    {"host_ecn", VIRTIO_NET_F_HOST_ECN},
    {"mrg_rxbuf", VIRTIO_NET_F_MRG_RXBUF},
    {"status", VIRTIO_NET_F_STATUS},
    {"ctrl_vq", VIRTIO_NET_F_CTRL_VQ},
    {"ctrl_rx", VIRTIO_NET_F_CTRL_RX},
    {"guest_announce", VIRTIO_NET_F_GUEST_ANNOUNCE},
    {"mq", VIRTIO_NET_F_MQ},
    {"ctrl_mac_addr", VIRTIO_NET_F_CTRL_MAC_ADDR},
    {"standby", VIRTIO_NET_F_STANDBY},
}};

constexpr uint64_t kBaseFeatures =
    bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_RING_F_EVENT_IDX) | bit(VIRTIO_RING_F_INDIRECT_DESC) | bit(VIRTIO_NET_F_CSUM) |
    bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | bit(VIRTIO_NET_F_MAC) |
    bit(VIRTIO_NET_F_GUEST_TSO4) | bit(VIRTIO_NET_F_GUEST_TSO6) | bit(VIRTIO_NET_F_GUEST_ECN) |
    bit(VIRTIO_NET_F_HOST_TSO4) | bit(VIRTIO_NET_F_HOST_TSO6) | bit(VIRTIO_NET_F_HOST_ECN) |
    bit(VIRTIO_NET_F_MRG_RXBUF) | bit(VIRTIO_NET_F_STATUS) | bit(VIRTIO_NET_F_CTRL_VQ) | bit(VIRTIO_NET_F_CTRL_RX) |
    bit(VIRTIO_NET_F_GUEST_ANNOUNCE) | bit(VIRTIO_NET_F_CTRL_MAC_ADDR);

constexpr uint64_t kNeedsCtrlVq = bit(VIRTIO_NET_F_CTRL_RX) | bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) |
                                  bit(VIRTIO_NET_F_GUEST_ANNOUNCE) | bit(VIRTIO_NET_F_MQ) |
                                  bit(VIRTIO_NET_F_CTRL_MAC_ADDR);

// Drops offered bits whose dependency (§5.1.3.1) the user hid, so the driver never sees an invalid set.
uint64_t with_dependencies(uint64_t f) {
  if (!(f & bit(VIRTIO_NET_F_CTRL_VQ))) f &= ~kNeedsCtrlVq;
  if (!(f & bit(VIRTIO_NET_F_CSUM)))
    f &= ~(bit(VIRTIO_NET_F_HOST_TSO4) | bit(VIRTIO_NET_F_HOST_TSO6) | bit(VIRTIO_NET_F_HOST_ECN));
  if (!(f & bit(VIRTIO_NET_F_GUEST_CSUM)))
    f &= ~(bit(VIRTIO_NET_F_GUEST_TSO4) | bit(VIRTIO_NET_F_GUEST_TSO6) | bit(VIRTIO_NET_F_GUEST_ECN));
  if (!(f & (bit(VIRTIO_NET_F_HOST_TSO4) | bit(VIRTIO_NET_F_HOST_TSO6)))) f &= ~bit(VIRTIO_NET_F_HOST_ECN);
  if (!(f & (bit(VIRTIO_NET_F_GUEST_TSO4) | bit(VIRTIO_NET_F_GUEST_TSO6)))) f &= ~bit(VIRTIO_NET_F_GUEST_ECN);
  return f;
}

uint64_t offered_for(const NetConfig& config, std::optional<uint64_t> vhost_kernel) {
  uint64_t f = kBaseFeatures;
  if (config.queues > 1) f |= bit(VIRTIO_NET_F_MQ);
  if (config.mtu) f |= bit(VIRTIO_NET_F_MTU);
  if (config.packed) f |= bit(VIRTIO_F_RING_PACKED);
  if (config.failover) f |= bit(VIRTIO_NET_F_STANDBY);
  if (vhost_kernel) f &= ~bit(VIRTIO_F_RING_PACKED) & ~(kVhostRingFeatures & ~*vhost_kernel);
  return with_dependencies(f & ~config.feature_mask);
}

}  // namespace

std::string_view backend_name(NetBackend backend) {
  switch (backend) {
    case NetBackend::kInProcess:
      return "inprocess";
    case NetBackend::kVhost:
      return "vhost";
    case NetBackend::kAuto:
      return "auto";
  }
  return "?";
}

std::span<const FeatureName> net_feature_names() { return kFeatureNames; }

void Net::set_negotiation_observer(std::function<void(uint64_t)> observer) {
  std::lock_guard lock(config_mutex_);
  negotiation_observer_ = std::move(observer);
}

void Net::features_accepted(uint64_t negotiated) {
  std::lock_guard lock(config_mutex_);
  if (negotiation_observer_) negotiation_observer_(negotiated);
}

VhostOpener default_vhost_opener() {
  return [] { return vhost::open_vhost_net(); };
}

// Which back-end the pairs will start on, and what the kernel's vhost-net
// offers (when it is the one). Checked before the TAP is touched, so a bad
// backend=vhost is one error line and no TAP is created for nothing.
static Result<std::pair<NetBackend, std::optional<uint64_t>>> choose_backend(const NetConfig& config,
                                                                             const std::string& id,
                                                                             const VhostOpener& opener) {
  if (config.backend == NetBackend::kInProcess) return std::pair{NetBackend::kInProcess, std::optional<uint64_t>{}};
  auto ops = opener();
  auto pair = ops ? vhost::VhostNetPair::create(std::move(*ops)) : std::unexpected(ops.error());
  if (pair) return std::pair{NetBackend::kVhost, std::optional<uint64_t>{(*pair)->kernel_features()}};
  if (config.backend == NetBackend::kVhost)
    return usage_error(fmt::format("--net backend=vhost: {}", pair.error().message));
  spdlog::warn("{}: backend=auto: vhost-net is not usable ({}); using the in-process back-end", id,
               pair.error().message);
  return std::pair{NetBackend::kInProcess, std::optional<uint64_t>{}};
}

Result<std::shared_ptr<Net>> Net::create(const NetConfig& config, std::string id, VhostOpener opener) {
  if (config.fd >= 0 && config.queues > 1)
    return usage_error(
        fmt::format("--net fd={}: one fd is one queue; queues={} needs tap=NAME", config.fd, config.queues));
  auto chosen = choose_backend(config, id, opener);
  if (!chosen) return std::unexpected(chosen.error());
  auto tap = config.fd >= 0 ? Tap::adopt(config.fd) : Tap::open(config.tap, config.queues);
  if (!tap) return std::unexpected(tap.error());
  return build(config, std::move(id), std::move(*tap), std::move(opener), chosen->first, chosen->second);
}

Result<std::shared_ptr<Net>> Net::create_with_tap(const NetConfig& config, std::string id, Tap tap,
                                                  VhostOpener opener) {
  auto chosen = choose_backend(config, id, opener);
  if (!chosen) return std::unexpected(chosen.error());
  return build(config, std::move(id), std::move(tap), std::move(opener), chosen->first, chosen->second);
}

Result<std::shared_ptr<Net>> Net::build(const NetConfig& config, std::string id, Tap tap, VhostOpener opener,
                                        NetBackend backend, std::optional<uint64_t> kernel) {
  if (auto r = tap.set_vnet_hdr_size(static_cast<int>(kNetHdrSize)); !r) return std::unexpected(r.error());
  if (auto r = tap.set_offload(0); !r) return std::unexpected(r.error());  // nothing GSO before the driver agrees
  const uint64_t offered = offered_for(config, kernel);
  if (kernel && config.packed) spdlog::warn("{}: packed=on ignored: kernel vhost-net has split rings only", id);
  return std::shared_ptr<Net>(new Net(config, std::move(id), std::move(tap), std::move(opener), backend, offered));
}

Net::Net(const NetConfig& config, std::string id, Tap tap, VhostOpener opener, NetBackend backend, uint64_t offered)
    : config_(config),
      id_(std::move(id)),
      tap_(std::move(tap)),
      opener_(std::move(opener)),
      offered_(offered),
      backend_(backend),
      mac_(config.mac) {
  for (uint16_t p = 0; p < config_.queues; ++p) counters_by_pair_.push_back(std::make_unique<PairCounters>());
  tap_attached_.assign(tap_.queues(), true);  // TUNSETIFF attaches every queue it opens
  spdlog::info("{}: TAP {} ({} queue{}), {} back-end", id_, tap_.name(), tap_.queues(), tap_.queues() > 1 ? "s" : "",
               virtio::backend_name(backend));
}

Net::~Net() {
  if (active_) reset();
}

uint32_t Net::device_type() const { return VIRTIO_ID_NET; }

void Net::read_config(uint64_t offset, std::span<uint8_t> data) {
  virtio_net_config config{};  // little-endian fields; x86_64 is little-endian
  {
    std::lock_guard lock(config_mutex_);
    std::memcpy(config.mac, mac_.data(), mac_.size());
    config.status =
        static_cast<uint16_t>((link_up_.load() ? VIRTIO_NET_S_LINK_UP : 0) | (announce_ ? VIRTIO_NET_S_ANNOUNCE : 0));
  }
  config.max_virtqueue_pairs = config_.queues;
  config.mtu = config_.mtu;
  config.speed = UINT32_MAX;  // unknown (SPEED_DUPLEX is not offered)
  config.duplex = 0xff;
  read_config_bytes(config, offset, data);
}

Result<void> Net::activate(DeviceContext ctx) {
  if (active_) reset();
  active_.emplace();
  active_->ctx = std::move(ctx);
  // Stopped, not destroyed: fail() is usually called from inside a path (its
  // ctx.fail), which must not be freed under its own feet; reset() frees them.
  auto stop_paths = [this] {
    for (auto& path : active_->paths) {
      if (path) path->stop();
    }
  };
  active_->session.emplace(
      active_->ctx,
      DeviceSession::Options{.id = id_, .counters = &counters_, .count_kicks = false, .on_fail = stop_paths});
  loop_.store(active_->ctx.loop);
  const uint64_t f = active_->ctx.features;
  active_->state.mac = config_.mac;
  active_->state.guest_offloads = f & kGuestOffloadBits;
  if (auto r = tap_.set_offload(tap_offload_flags(active_->state.guest_offloads)); !r) {
    active_.reset();
    return r;
  }
  if (auto r = build_pairs(); !r) {
    reset();
    return r;
  }
  if (active_->ctrl) {
    if (auto r = active_->session->watch_kick(active_->ctrl->kick_fd, [this] { on_ctrl_kick(); }); !r) {
      reset();
      return r;
    }
  }
  // A pair's rings are franca's to watch only while its in-process path runs
  // (vhost moves them in the kernel; a stopped pair is not served at all).
  // Receive buffers wait for frames by design: described, never "stalled".
  std::vector<StallWatch::Tracked> tracked;
  for (const PairContext& pair : active_->pairs) {
    auto here = [this, p = pair.pair] {
      return active_ && p < active_->paths.size() && active_->paths[p] && backend_.load() == NetBackend::kInProcess;
    };
    tracked.push_back(
        {.index = pair.rx->index, .role = "rx", .queue = &pair.rx->queue, .prompt = false, .served_here = here});
    tracked.push_back({.index = pair.tx->index, .role = "tx", .queue = &pair.tx->queue, .served_here = here});
  }
  if (active_->ctrl) tracked.push_back({.index = active_->ctrl->index, .role = "ctrl", .queue = &active_->ctrl->queue});
  if (auto r = active_->session->watch_stalls(std::move(tracked)); !r) {
    reset();
    return r;
  }
  if (auto r = apply_pairs(1); !r) {  // MQ: pair 0 until VQ_PAIRS_SET (§5.1.6.5.5)
    reset();
    return r;
  }
  if (active_->ctrl) on_ctrl_kick();  // commands queued before DRIVER_OK
  return {};
}

std::vector<std::string> Net::describe_queues() const {
  return active_ ? active_->session->describe_queues() : std::vector<std::string>{};
}

Result<void> Net::build_pairs() {
  const uint64_t f = active_->ctx.features;
  const uint16_t pairs = (f & bit(VIRTIO_NET_F_MQ)) ? config_.queues : 1;
  auto find = [this](uint16_t index) -> ActiveQueue* {
    for (ActiveQueue& q : active_->ctx.queues) {
      if (q.index == index) return &q;
    }
    return nullptr;
  };
  if (f & bit(VIRTIO_NET_F_CTRL_VQ)) active_->ctrl = find(static_cast<uint16_t>(2 * pairs));
  for (uint16_t p = 0; p < pairs; ++p) {
    PairContext pc{.pair = p,
                   .rx = find(static_cast<uint16_t>(2 * p)),
                   .tx = find(static_cast<uint16_t>(2 * p + 1)),
                   .tap_fd = p < tap_.queues() ? tap_.fd(p) : -1,
                   .memory = active_->ctx.memory,
                   .loop = active_->ctx.loop,
                   .interrupt = active_->ctx.interrupt.get(),
                   .features = f,
                   .counters = counters_by_pair_[p].get(),
                   .id = id_,
                   .link_up = [this] { return link_up_.load(); },
                   .fail = [this](std::string_view why) { fail(why); }};
    active_->pairs.push_back(std::move(pc));
    active_->paths.emplace_back();
  }
  return {};
}

Result<std::unique_ptr<PairPath>> Net::make_path(const PairContext& pair, NetBackend backend) {
  if (backend == NetBackend::kVhost) {
    auto path = VhostPath::create(pair, opener_);
    if (!path) return std::unexpected(path.error());
    return std::unique_ptr<PairPath>(std::move(*path));
  }
  return std::unique_ptr<PairPath>(std::make_unique<InProcessPath>(pair));
}

Result<void> Net::start_pair(uint16_t p, NetBackend backend) {
  const PairContext& pair = active_->pairs[p];
  if (!pair.rx || !pair.tx || pair.tap_fd < 0) {
    FRANCA_WARN_RATELIMITED("{}: queue pair {} not enabled by the driver; not served", id_, p);
    return {};
  }
  auto path = make_path(pair, backend);
  if (!path && backend == NetBackend::kVhost) {
    spdlog::warn("{}: pair {}: {}; using the in-process back-end", id_, p, path.error().message);
    path = make_path(pair, NetBackend::kInProcess);
  }
  if (!path) return std::unexpected(path.error());
  if (auto r = (*path)->start(); !r) return r;
  active_->paths[p] = std::move(*path);
  return {};
}

void Net::stop_pair(uint16_t p) {
  if (!active_->paths[p]) return;
  active_->paths[p]->stop();
  active_->paths[p].reset();
}

// Runs pairs [0, count) and no others. A TAP queue without a running pair is
// detached, so the host never steers a flow to a queue nobody reads (a guest
// may use fewer pairs than offered, e.g. one vCPU, or not negotiate MQ at all).
Result<void> Net::apply_pairs(uint16_t count) {
  for (uint16_t p = 0; p < tap_.queues(); ++p) {
    const bool want = p < count && p < active_->pairs.size();
    const bool running = p < active_->paths.size() && active_->paths[p];
    if (!want && running) stop_pair(p);
    if (tap_attached_[p] != want) {
      if (auto r = tap_.enable_queue(p, want); !r) FRANCA_WARN_RATELIMITED("{}: {}", id_, r.error().message);
      tap_attached_[p] = want;
    }
    if (want && !running) {
      if (auto r = start_pair(p, backend_.load()); !r) return r;
    }
  }
  active_->state.pairs = count;
  return {};
}

void Net::reset() {
  if (!active_) return;
  for (uint16_t p = 0; p < active_->paths.size(); ++p) stop_pair(p);
  active_.reset();
  std::lock_guard lock(config_mutex_);
  mac_ = config_.mac;
  announce_ = false;
}

void Net::fail(std::string_view why) {
  if (active_) active_->session->fail(why);
}

}  // namespace franca::virtio
