// Net failover (README "Failover"): a virtio-net standby (--net failover=on
// offers VIRTIO_NET_F_STANDBY) and its primary, a VFIO function (--vfio
// failover_pair=ID) with the same MAC, which the guest's net_failover joins
// under one master interface. The primary is never cold-plugged: it is
// hot-plugged once the standby's driver accepted STANDBY (FEATURES_OK with the
// bit), and unplugged again when a later negotiation leaves the bit out (a
// reboot into a kernel without failover), so a guest that does not know STANDBY
// never sees two NICs with one MAC. `failover-unplug` / `failover-plug` on the
// control socket take the primary out and put it back (what a migration does
// first and last); traffic meanwhile flows over the standby.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "vmm/core/error.h"
#include "vmm/device_options.h"

namespace franca {
namespace virtio {
class Net;
}
class PciHotplug;
class PciHost;

// What one pair should do next: the decisions, without the doing (unit-tested).
// The primary should be present exactly when the driver accepted STANDBY in
// its last negotiation and the user has not unplugged it.
class FailoverPolicy {
 public:
  enum class Action { kNone, kPlug, kUnplug };
  enum class Driver { kUnknown, kAccepted, kRefused };  // STANDBY in the last FEATURES_OK

  void negotiated(bool standby);  // a FEATURES_OK of the standby
  void set_wanted(bool plugged);  // failover-plug (true) / failover-unplug (false)
  Action peek() const;            // the next action; kNone when settled, failed or busy
  Action next();                  // peek(), now in flight
  void done(Action action, bool ok, std::string error = {});
  bool settled() const { return in_flight_ == Action::kNone && (failed_ || present_ == desired()); }
  bool present() const { return present_; }
  bool wanted() const { return wanted_; }
  Driver driver() const { return driver_; }
  const std::string& error() const { return error_; }
  // waiting (no negotiation yet), hidden (the driver refused STANDBY),
  // plugging, plugged, unplugging, unplugged (by the user), failed
  std::string_view state() const;

 private:
  bool desired() const { return driver_ == Driver::kAccepted && wanted_; }
  Driver driver_ = Driver::kUnknown;
  bool wanted_ = true;
  bool present_ = false;
  bool failed_ = false;  // the last action failed: no retry until the next event
  Action in_flight_ = Action::kNone;
  std::string error_;
};

class FailoverManager {
 public:
  FailoverManager(PciHotplug& hotplug, PciHost& pci);
  ~FailoverManager();  // stops the worker (after PciHotplug::stop_waiting, so an unplug returns)

  // Pairs `standby` (failover=on) with the primary `option`, hot-plugged as
  // `primary_id`; one primary per standby (the command line's check_unique).
  void add_pair(std::shared_ptr<virtio::Net> standby, VfioOption option, std::string primary_id);
  // failover-plug / failover-unplug STANDBY_ID: returns once the pair settled (the
  // primary plugged, or ejected by the guest), or an error after `timeout`. api thread.
  Result<void> set_wanted(const std::string& standby, bool plugged, std::chrono::milliseconds timeout);

  struct PairStatus {
    std::string standby, primary, host, state, error;
    std::string driver;  // unknown, accepted, refused
    uint64_t plugs = 0, unplugs = 0, negotiations = 0;
  };
  std::vector<PairStatus> status() const;
  bool has(const std::string& standby) const;
  bool is_primary(const std::string& id) const;
  // VM shutdown, before the api thread stops: set_wanted() returns, the worker
  // is joined, the standbys stop reporting negotiations.
  void stop();

 private:
  struct Pair {
    std::string standby;
    VfioOption option;
    std::string primary;
    FailoverPolicy policy;
    uint64_t plugs = 0, unplugs = 0, negotiations = 0;
    std::weak_ptr<virtio::Net> net;
  };
  void on_negotiated(size_t pair, uint64_t features);
  void run(std::stop_token stop);
  Result<void> plug(const VfioOption& option, const std::string& primary, std::stop_token stop);
  Pair* find(const std::string& standby) const;  // under mutex_

  PciHotplug& hotplug_;
  PciHost& pci_;
  mutable std::mutex mutex_;
  std::condition_variable_any cv_;
  std::vector<std::unique_ptr<Pair>> pairs_;
  bool stopping_ = false;
  std::jthread worker_;  // last: stopped and joined first
};

}  // namespace franca
