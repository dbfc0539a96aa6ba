// virtio-console (virtio 1.x §5.3), one port: the guest's hvc0.
// Implements: receiveq 0 (host -> guest) and transmitq 1 (guest -> host),
//   VIRTIO_CONSOLE_F_SIZE (cols/rows in config space, updated by set_size() with
//   a config interrupt), VIRTIO_CONSOLE_F_EMERG_WRITE (a byte written to
//   emerg_wr is output; accepted whenever offered, even before negotiation, as
//   the spec requires), split and packed rings, EVENT_IDX, INDIRECT_DESC.
//   Back-ends: stdio, pty, file:PATH, socket:PATH, none (see backend.h).
// Does not implement: MULTIPORT (control queues, named ports), the RESIZE
//   control message (Linux and the spec disagree on its field order).
// Features offered: size emerg_write ring_packed event_idx indirect_desc, less features=.
// Example: franca --kernel bzImage --cmdline console=hvc0 --console pty,features=-ring_packed
//
// Threads: create() and start() on the main thread before the guest runs;
// read_config/write_config on vCPU threads; activate/reset/kicks/back-end I/O
// on the vmm-io loop; input() and set_size() from any thread. Destroy it after
// the loop stopped dispatching and before the EventLoop object (as Vm does).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "devices/virtio/console/backend.h"
#include "devices/virtio/console/console_config.h"
#include "devices/virtio/device.h"
#include "devices/virtio/device_session.h"
#include "vmm/core/host_input.h"

namespace franca::virtio {

class Console final : public VirtioDevice, public HostInputSink {
 public:
  static constexpr uint16_t kRxQueue = 0;  // receiveq: host -> guest
  static constexpr uint16_t kTxQueue = 1;  // transmitq: guest -> host
  // Host input waiting for receive buffers. When full, input() takes only what
  // fits and the pty/socket back-ends stop reading their fd until it drains.
  static constexpr size_t kInputCapacity = 64 * 1024;
  static constexpr WindowSize kDefaultSize{80, 25};

  // Opens the back-end (bad paths are usage errors naming --console). Nothing is
  // registered on a loop yet: call start().
  static Result<std::unique_ptr<Console>> create(const ConsoleConfig& config, std::string id);
  ~Console() override;

  // Registers the back-end's fds on `loop` (the vmm-io loop that will also get
  // the DeviceContext); call once, before the guest runs.
  Result<void> start(EventLoop& loop);
  // Host input for the guest (any thread): stdio input from the VMM (HostInputSink,
  // --console stdio), or the back-end's. Returns how many bytes fit in the input
  // buffer; the rest is not taken.
  size_t input(std::span<const uint8_t> bytes) override;
  // New terminal size (any thread): updates cols/rows and raises a config interrupt.
  void set_size(uint16_t cols, uint16_t rows);

  // What a user attaches to (pty slave, socket, file); empty for stdio/none.
  std::string host_path() const { return backend_->host_path(); }
  size_t buffered_input() const;
  // Output the back-end could not take (loop thread, or after the loop stopped).
  uint64_t dropped_output() const { return backend_->dropped_output(); }

  // VirtioDevice
  uint32_t device_type() const override;
  const std::string& id() const override { return id_; }
  uint64_t offered_features() const override { return offered_; }
  std::span<const FeatureName> feature_names() const override { return console_feature_names(); }
  uint16_t num_queues() const override { return 2; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> activate(DeviceContext ctx) override;
  void reset() override;
  void detach() override;
  std::vector<std::string> describe_queues() const override;

 private:
  struct Active {
    DeviceContext ctx;
    ActiveQueue* rx = nullptr;
    ActiveQueue* tx = nullptr;
    std::optional<DeviceSession> session{};  // kicks, reposts, failure
  };

  Console(std::unique_ptr<Backend> backend, std::string id, uint64_t offered);
  // Loop thread: move buffered input into receive buffers / drain the transmit queue.
  void fill_rx();
  void drain_tx();
  // Copies buffered input into one receive chain; returns the bytes written.
  uint32_t copy_input(const DescriptorChain& chain);
  void write_output(const DescriptorChain& chain);
  void post_fill_rx();
  void fail(std::string_view why);
  void stop_kicks();
  bool usable() const { return active_ && !active_->session->failed(); }

  std::unique_ptr<Backend> backend_;
  std::string id_;
  uint64_t offered_;
  std::atomic<EventLoop*> loop_{nullptr};

  mutable std::mutex config_mutex_;  // cols/rows: written by set_size(), read on vCPU threads
  WindowSize size_;

  mutable std::mutex input_mutex_;
  std::deque<uint8_t> input_;
  std::atomic<bool> fill_posted_{false};

  std::optional<Active> active_;  // loop thread only
};

}  // namespace franca::virtio
