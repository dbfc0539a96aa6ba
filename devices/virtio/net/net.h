// virtio-net (virtio 1.x §5.1) over a host TAP, its packets moved in-process
// on the vmm-io loop or by the kernel's vhost-net — switchable on a running
// queue (NetControl::set_backend), since both work on the same ring state.
//
// Implements: receive/transmit queue pairs (MQ with queues=N, VQ_PAIRS_SET),
//   the control queue (see ctrl_command.h), config space (mac, status with LINK_UP /
//   ANNOUNCE, max_virtqueue_pairs, mtu), link up/down with a config interrupt,
//   TAP offloads from the GUEST_* features accepted (and CTRL_GUEST_OFFLOADS),
//   split rings, and packed rings with packed=on (in-process only), EVENT_IDX,
//   INDIRECT_DESC.
// Does not implement: VLAN filtering, RSS / hash report, notification
//   coalescing, UFO/USO, SPEED_DUPLEX, STANDBY (failover: a later issue).
// Features offered: csum guest_csum ctrl_guest_offloads mtu (with mtu=) mac
//   guest_tso4 guest_tso6 guest_ecn host_tso4 host_tso6 host_ecn mrg_rxbuf
//   status ctrl_vq ctrl_rx guest_announce mq (queues>1) ctrl_mac_addr and the
//   ring features, less features=; with vhost, less ring_packed and any ring
//   feature the kernel lacks.
// Example: franca ... --net tap=tap0,mac=52:54:00:12:34:56,backend=vhost,queues=2
//
// Threads: create() on the main thread; read_config on vCPU threads;
// activate/reset/kicks/data paths on the vmm-io loop; NetControl from any
// thread (runs on the loop and waits).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "devices/virtio/device.h"
#include "devices/virtio/device_session.h"
#include "devices/virtio/net/ctrl_command.h"
#include "devices/virtio/net/net_config.h"
#include "devices/virtio/net/net_control.h"
#include "devices/virtio/net/pair_path.h"
#include "devices/virtio/net/tap.h"
#include "devices/virtio/net/vhost_path.h"

namespace franca::virtio {

// The real /dev/vhost-net.
VhostOpener default_vhost_opener();

class Net final : public VirtioDevice, public NetControl {
 public:
  // Opens the TAP (tap=, created if missing) or takes fd=; for backend=vhost
  // checks that vhost-net can be opened (error), for auto falls back (warning).
  static Result<std::shared_ptr<Net>> create(const NetConfig& config, std::string id,
                                             VhostOpener opener = default_vhost_opener());
  // Over a ready Tap (unit tests: socketpairs); same checks otherwise.
  static Result<std::shared_ptr<Net>> create_with_tap(const NetConfig& config, std::string id, Tap tap,
                                                      VhostOpener opener);
  ~Net() override;

  // VirtioDevice
  uint32_t device_type() const override;
  const std::string& id() const override { return id_; }
  uint64_t offered_features() const override { return offered_; }
  std::span<const FeatureName> feature_names() const override { return net_feature_names(); }
  uint16_t num_queues() const override { return static_cast<uint16_t>(2 * config_.queues + 1); }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void features_accepted(uint64_t negotiated) override;
  Result<void> activate(DeviceContext ctx) override;
  void reset() override;
  std::vector<std::string> describe_queues() const override;
  std::vector<std::pair<std::string, uint64_t>> extra_counters() const override;

  // NetControl
  Result<void> set_link(bool up) override;
  bool link_up() const override { return link_up_.load(); }
  Result<void> set_backend(std::string_view name) override;
  std::string backend_name() const override;

  const Tap& tap() const { return tap_; }
  // Called with each FEATURES_OK's negotiated bits (vCPU thread, must not
  // block): the failover pair of a standby learns whether the driver took it.
  void set_negotiation_observer(std::function<void(uint64_t)> observer);

 private:
  struct Active {
    DeviceContext ctx;
    ActiveQueue* ctrl = nullptr;
    std::optional<DeviceSession> session;          // the control queue's kick, reposts, failure
    std::vector<PairContext> pairs;                // one per negotiated pair
    std::vector<std::unique_ptr<PairPath>> paths;  // running paths, by pair (null: stopped)
    NetCtrlState state;
  };

  Net(const NetConfig& config, std::string id, Tap tap, VhostOpener opener, NetBackend backend, uint64_t offered);
  static Result<std::shared_ptr<Net>> build(const NetConfig& config, std::string id, Tap tap, VhostOpener opener,
                                            NetBackend backend, std::optional<uint64_t> vhost_kernel_features);
  Result<void> build_pairs();
  Result<std::unique_ptr<PairPath>> make_path(const PairContext& pair, NetBackend backend);
  Result<void> start_pair(uint16_t pair, NetBackend backend);
  void stop_pair(uint16_t pair);
  Result<void> apply_pairs(uint16_t pairs);
  Result<void> switch_all(NetBackend to);
  void on_ctrl_kick();
  void handle_ctrl(const DescriptorChain& chain);
  void apply_ctrl_effects(const NetCtrlState& before);
  bool request_announce();
  void fail(std::string_view why);
  bool usable() const { return active_ && !active_->session->failed(); }
  Result<void> on_loop(const std::function<Result<void>()>& fn);

  NetConfig config_;
  std::string id_;
  Tap tap_;
  VhostOpener opener_;
  uint64_t offered_;
  std::atomic<NetBackend> backend_;  // kInProcess or kVhost: what pairs run (or will) on
  std::atomic<bool> link_up_{true};
  std::atomic<EventLoop*> loop_{nullptr};
  std::vector<std::unique_ptr<PairCounters>> counters_by_pair_;
  std::vector<bool> tap_attached_;  // loop thread (and create): TUNSETQUEUE state per TAP queue
  std::atomic<uint64_t> ctrl_commands_{0}, ctrl_errors_{0}, backend_switches_{0}, link_changes_{0};

  mutable std::mutex config_mutex_;  // mac and status as the driver reads them
  MacAddress mac_;
  bool announce_ = false;
  std::function<void(uint64_t)> negotiation_observer_;  // under config_mutex_

  std::optional<Active> active_;  // loop thread only
};

}  // namespace franca::virtio
