// The virtio-blk data path for one activation (DRIVER_OK until reset) on the
// vmm-io loop: kick -> pop -> parse -> submit to the I/O engine; completion ->
// status byte -> used ring -> one signal per batch (virtio 1.x §5.2.6).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "devices/virtio/block/io_engine.h"
#include "devices/virtio/block/request.h"
#include "devices/virtio/device.h"
#include "devices/virtio/device_session.h"

namespace franca::virtio {

// What a session borrows from its Block, which outlives it.
struct BlockBackend {
  std::string_view id;
  IoEngine* engine = nullptr;
  DeviceCounters* counters = nullptr;
  RequestLimits limits;
  std::span<const uint8_t> serial;  // VIRTIO_BLK_ID_BYTES, zero padded
  int write_flags = 0;              // RWF_DSYNC when the driver did not accept FLUSH
};

class BlockSession {
 public:
  // Registers the kick fds (and the engine's completion fd) on ctx.loop and
  // posts one pass over every queue (kicks sent before DRIVER_OK are not lost).
  static Result<std::unique_ptr<BlockSession>> start(DeviceContext ctx, const BlockBackend& backend);
  BlockSession(DeviceContext ctx, const BlockBackend& backend);
  ~BlockSession();

  // Unregisters every fd and waits for in-flight I/O; afterwards nothing
  // touches guest memory. Idempotent.
  void stop();
  // VirtioDevice::describe_queues for this activation. Loop thread.
  std::vector<std::string> describe_queues() const;

 private:
  struct Pending;
  struct Served;

  Result<void> watch();
  void process(size_t qi);
  DescriptorChain* free_slot(Served& served);
  void handle(Pending& p);
  void start_io(Pending& p);
  bool submit(Pending& p, const IoOp& op);
  void on_complete(Pending& p, int result);
  void on_data_done(Pending& p, int result);
  void on_range_done(Pending& p, int result);
  void submit_zero_chunk(Pending& p);
  void finish(Pending& p, uint8_t status);
  void reap();
  void signal_used();
  void ring_error(Served& served, std::string_view why);

  DeviceContext ctx_;
  BlockBackend backend_;
  std::vector<std::unique_ptr<Served>> served_;
  DeviceSession session_;         // kicks, reposts; failed(): NEEDS_RESET, no more ring access
  EventLoop::Watch completions_;  // the engine's completion fd, if it has one
  bool stopped_ = false;
};

}  // namespace franca::virtio
