// virtio-net: the control queue (virtio 1.x §5.1.6.5), link state and back-end
// switching for the control API (NetControl), and the device's counters.
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devices/virtio/net/net.h"
#include "devices/virtio/net/virtio_net_uapi.h"
#include "devices/virtio/net/vnet_hdr.h"
#include "vmm/core/log.h"

namespace franca::virtio {
namespace {

constexpr size_t kCtrlBudget = 64;  // commands per pass (Linux sends one at a time)

Result<NetBackend> parse_backend(std::string_view name) {
  if (name == "inprocess") return NetBackend::kInProcess;
  if (name == "vhost") return NetBackend::kVhost;
  return usage_error(fmt::format("unknown back-end '{}' (expected inprocess or vhost)", name));
}

}  // namespace

void Net::on_ctrl_kick() {
  if (!usable() || !active_->ctrl) return;
  const DrainEnd end{.interrupt = active_->ctx.interrupt.get(), .index = active_->ctrl->index, .repost = [this] {
                       active_->session->post([this] { on_ctrl_kick(); });
                     }};
  // Linux spins on the control queue's used ring: answer every command now, in the kick.
  const Drained drained = drain(active_->ctrl->queue, kCtrlBudget, end, [this](const DescriptorChain& chain) {
    handle_ctrl(chain);
    return usable();
  });
  if (drained.error) fail(describe(*drained.error));
}

void Net::handle_ctrl(const DescriptorChain& chain) {
  ChainReader reader(chain);
  std::vector<uint8_t> request(std::min(reader.remaining(), kMaxCtrlRequest + 1));
  reader.read(request);
  const NetCtrlState before = active_->state;
  const uint16_t max_pairs = static_cast<uint16_t>(active_->pairs.size());
  const uint8_t ack = apply_ctrl(request, active_->ctx.features, max_pairs, active_->state);
  ctrl_commands_++;
  if (ack != VIRTIO_NET_OK) {
    ctrl_errors_++;
    FRANCA_WARN_RATELIMITED("{}: control command class {} cmd {} ({} bytes) refused", id_,
                            request.size() > 0 ? request[0] : -1, request.size() > 1 ? request[1] : -1, request.size());
  }
  ChainWriter writer(chain);
  if (!writer.write_obj(ack)) {
    ctrl_errors_++;
    FRANCA_WARN_RATELIMITED("{}: control command without room for its ack", id_);
  }
  active_->ctrl->queue.push(chain, writer.written());
  if (ack == VIRTIO_NET_OK) apply_ctrl_effects(before);
}

void Net::apply_ctrl_effects(const NetCtrlState& before) {
  const NetCtrlState& now = active_->state;
  if (now.mac != before.mac || now.announce != before.announce) {
    std::lock_guard lock(config_mutex_);
    mac_ = now.mac;
    announce_ = now.announce;
  }
  if (now.guest_offloads != before.guest_offloads) {
    if (auto r = tap_.set_offload(tap_offload_flags(now.guest_offloads)); !r)
      FRANCA_WARN_RATELIMITED("{}: {}", id_, r.error().message);
  }
  if (now.pairs != before.pairs) {
    spdlog::info("{}: driver uses {} queue pair(s)", id_, now.pairs);
    if (auto r = apply_pairs(now.pairs); !r) fail(r.error().message);
  }
}

// VIRTIO_NET_S_ANNOUNCE (§5.1.6.5.4): the driver sends gratuitous ARP / NA so
// switches relearn where the guest is (after the link returns or the data path
// moved); it acknowledges with ANNOUNCE_ACK. Returns whether a config interrupt is due.
bool Net::request_announce() {
  const uint64_t need = (uint64_t{1} << VIRTIO_NET_F_GUEST_ANNOUNCE) | (uint64_t{1} << VIRTIO_NET_F_STATUS);
  if (!usable() || (active_->ctx.features & need) != need) return false;
  active_->state.announce = true;
  std::lock_guard lock(config_mutex_);
  announce_ = true;
  return true;
}

Result<void> Net::on_loop(const std::function<Result<void>()>& fn) {
  EventLoop* loop = loop_.load();
  if (!loop) return fn();  // never activated: nothing runs on the loop yet
  Result<void> result;
  loop->invoke([&] { result = fn(); });
  return result;
}

Result<void> Net::set_link(bool up) {
  if (link_up_.exchange(up) == up) return {};
  link_changes_++;
  tap_.set_carrier(up);
  spdlog::info("{}: link {}", id_, up ? "up" : "down");
  return on_loop([this, up]() -> Result<void> {
    if (!usable()) return {};
    for (auto& path : active_->paths) {
      if (path) path->link_changed();
    }
    if (up) request_announce();
    if (active_->ctx.features & (uint64_t{1} << VIRTIO_NET_F_STATUS)) active_->ctx.interrupt->signal_config();
    return {};
  });
}

Result<void> Net::set_backend(std::string_view name) {
  auto to = parse_backend(name);
  if (!to) return std::unexpected(to.error());
  return on_loop([this, to = *to] { return switch_all(to); });
}

std::string Net::backend_name() const { return std::string(virtio::backend_name(backend_.load())); }

// Moves every running pair to `to`: the new paths are created first (vhost
// opened), so a failure leaves the old back-end running untouched.
Result<void> Net::switch_all(NetBackend to) {
  if (to == backend_.load()) return {};
  if (!usable()) {
    if (to == NetBackend::kVhost) {
      auto ops = opener_();
      if (!ops) return std::unexpected(ops.error());
    }
    backend_ = to;
    return {};
  }
  std::vector<std::unique_ptr<PairPath>> next(active_->paths.size());
  for (uint16_t p = 0; p < next.size(); ++p) {
    if (!active_->paths[p]) continue;
    auto path = make_path(active_->pairs[p], to);
    if (!path) return std::unexpected(path.error());
    next[p] = std::move(*path);
  }
  for (uint16_t p = 0; p < next.size(); ++p) {
    if (!next[p]) continue;
    active_->paths[p]->stop();
    if (!usable()) return host_error(fmt::format("{}: pair {} did not stop cleanly; the device needs a reset", id_, p));
    if (auto r = next[p]->start(); !r) {
      spdlog::error("{}: pair {} did not start on {}: {}; staying on {}", id_, p, virtio::backend_name(to),
                    r.error().message, backend_name());
      if (auto back = active_->paths[p]->start(); !back) fail(back.error().message);
      return r;
    }
    active_->paths[p] = std::move(next[p]);
  }
  backend_ = to;
  backend_switches_++;
  if (request_announce()) active_->ctx.interrupt->signal_config();
  spdlog::info("{}: switched to the {} back-end", id_, virtio::backend_name(to));
  return {};
}

std::vector<std::pair<std::string, uint64_t>> Net::extra_counters() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  uint64_t tx_dropped = 0, rx_dropped = 0, rx_ring_full = 0, rx_bounced = 0, vhost_calls = 0, vhost_direct = 0;
  for (size_t p = 0; p < counters_by_pair_.size(); ++p) {
    const PairCounters& c = *counters_by_pair_[p];
    out.emplace_back(fmt::format("rx{}_packets", p), c.rx_packets.load());
    out.emplace_back(fmt::format("rx{}_bytes", p), c.rx_bytes.load());
    out.emplace_back(fmt::format("tx{}_packets", p), c.tx_packets.load());
    out.emplace_back(fmt::format("tx{}_bytes", p), c.tx_bytes.load());
    tx_dropped += c.tx_dropped;
    rx_dropped += c.rx_dropped;
    rx_ring_full += c.rx_ring_full;
    rx_bounced += c.rx_bounced;
    vhost_calls += c.vhost_calls;
    vhost_direct += c.vhost_direct;
  }
  out.emplace_back("tx_dropped", tx_dropped);
  out.emplace_back("rx_dropped", rx_dropped);
  out.emplace_back("rx_ring_full", rx_ring_full);
  out.emplace_back("rx_bounced", rx_bounced);
  out.emplace_back("vhost_calls", vhost_calls);
  out.emplace_back("vhost_direct_queues", vhost_direct);
  out.emplace_back("ctrl_commands", ctrl_commands_.load());
  out.emplace_back("ctrl_errors", ctrl_errors_.load());
  out.emplace_back("backend_switches", backend_switches_.load());
  out.emplace_back("link_changes", link_changes_.load());
  return out;
}

}  // namespace franca::virtio
