// The interface between a virtio device (blk, console, net, ...) and the
// transport that exposes it (mmio, pci). Devices never include a transport
// header; transports only decode registers into DeviceStatus and these calls
// (virtio 1.x §2 "Basic Facilities of a Virtio Device").
//
// Threads: read_config/write_config run on vCPU threads (the transport holds
// its lock); activate/reset/kick handling run on the vmm-io loop.
//
// Lifetime of loop callbacks (one rule): a callback that captures an object's
// `this` is registered through a handle that object owns, and the handle
// unregisters it when the object goes: an EventLoop::Watch for fd callbacks,
// DeviceSession::post (device_session.h) for posted work. So per-activation
// state (block session, net paths, console queues) is freed by reset() with
// no weak_from_this. A device object itself outlives the loop's dispatching
// (Vm destroys devices after the loop stops), so work a device posts for
// itself from other threads (console input, config changes) may capture it.
// A callback never destroys its owner: a failure only stops it (unregisters),
// reset() frees it. Work that must outlive its owner being replaced (net
// transmit over budget, handed to vhost) re-kicks the queue's own eventfd,
// which whoever serves the queue next sees.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devices/virtio/features.h"
#include "devices/virtio/queue/queue.h"
#include "vmm/core/error.h"
#include "vmm/core/event_loop.h"
#include "vmm/core/guest_memory.h"

namespace franca::virtio {

// Device -> driver notifications; implemented by each transport (interrupt
// status + irqfd on mmio, MSI-X vectors or INTx on pci). Thread-safe.
class Interrupt {
 public:
  virtual ~Interrupt() = default;
  virtual void signal_used(uint16_t queue) = 0;
  virtual void signal_config() = 0;
  // An eventfd a kernel back-end (vhost) may write to interrupt the driver for
  // `queue` with no relay through the VMM (masking is the transport's), or -1:
  // then signal_used() is the only way. Valid until the device is reset.
  virtual int queue_notifier(uint16_t /*queue*/) const { return -1; }
};

// One queue handed to the data path at DRIVER_OK.
struct ActiveQueue {
  uint16_t index;
  Queue queue;
  int kick_fd;  // eventfd, readable when the driver notified; owned by the transport
};

// Everything a device gets at activation. Valid until reset() returns.
struct DeviceContext {
  const GuestMemory* memory = nullptr;
  EventLoop* loop = nullptr;
  uint64_t features = 0;            // negotiated
  std::vector<ActiveQueue> queues;  // enabled queues only, by index
  std::shared_ptr<Interrupt> interrupt;
  // Ring corruption or another fatal device error: sets DEVICE_NEEDS_RESET and
  // raises a config interrupt. Call on the loop thread, then stop using queues.
  std::function<void(std::string_view why)> fail;
};

// Per-device counters a user (and the control API) can read.
struct DeviceCounters {
  std::atomic<uint64_t> kicks{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};       // in-band errors returned to the driver (IOERR, UNSUPP)
  std::atomic<uint64_t> ring_errors{0};  // corruption that set NEEDS_RESET
  std::atomic<uint64_t> stalls{0};       // a queue the driver waited on without progress (StallWatch)
};

// What read_config returns for a device whose config space is the struct
// `config` (little-endian fields; x86_64 is little-endian): its bytes
// [offset, offset + data.size()), and 0 for bytes past its end.
template <class T>
void read_config_bytes(const T& config, uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if (offset >= sizeof(T)) return;
  const size_t n = std::min<uint64_t>(data.size(), sizeof(T) - offset);
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(&config) + offset, n);
}

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual uint32_t device_type() const = 0;  // VIRTIO_ID_*
  // "blk0", "console0": used in logs and the control API.
  virtual const std::string& id() const = 0;
  // Offered feature bits, device-specific and ring-level, after the user's features= mask.
  virtual uint64_t offered_features() const = 0;
  virtual std::span<const FeatureName> feature_names() const = 0;
  virtual uint16_t num_queues() const = 0;
  virtual uint16_t max_queue_size() const { return 256; }

  // Device config space (§ per device type); out-of-range bytes read 0, writes ignored.
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write_config(uint64_t offset, std::span<const uint8_t> data) {
    (void)offset;
    (void)data;
  }

  // FEATURES_OK accepted with `negotiated`, on the vCPU thread under the
  // transport's lock: must not block (a net standby tells its failover pair).
  virtual void features_accepted(uint64_t negotiated) { (void)negotiated; }

  // DRIVER_OK: take the queues and start serving kicks on ctx.loop. Runs on the
  // loop thread. An error leaves the device failed (NEEDS_RESET).
  virtual Result<void> activate(DeviceContext ctx) = 0;
  // Driver reset (or VMM shutdown): stop touching guest memory, drop the
  // queues, release fds registered on the loop. Runs on the loop thread.
  virtual void reset() = 0;
  // The device leaves a running VM (hot-unplug), after its transport shut down,
  // on the loop thread: unregisters what it put on the loop outside activate()
  // (a console's back-end), so that it may then be destroyed on any thread.
  virtual void detach() {}

  DeviceCounters& counters() { return counters_; }
  // Device-specific counters beyond DeviceCounters (e.g. per-queue packets), by
  // name, for the control API's `counters`. Any thread.
  virtual std::vector<std::pair<std::string, uint64_t>> extra_counters() const { return {}; }
  // One line per queue this process serves (StallWatch::describe): its ring
  // state and whether the driver has been waiting on it. Empty when the device
  // is not active. On the loop thread (the control API's `queues` posts there).
  virtual std::vector<std::string> describe_queues() const { return {}; }

 protected:
  DeviceCounters counters_;
};

}  // namespace franca::virtio
