// The in-process virtio-net data path for one queue pair, on the vmm-io loop
// (virtio 1.x §5.1.6.2 transmit, §5.1.6.3-4 receive with and without
// VIRTIO_NET_F_MRG_RXBUF): transmit chains are written to the pair's TAP fd
// (header copied out and checked, frame gathered straight from guest memory);
// received frames are read from the TAP straight into the receive chains
// (readv over their buffers, as many chains as a frame needs with MRG_RXBUF),
// a batch of them per wakeup, published together at the batch's end with at
// most one interrupt. Only a frame longer than the buffers posted when it is
// read goes through a local buffer (rx_bounced). Backpressure: when the
// receive ring has no buffers the TAP fd is left unread (the kernel queues for
// us) until the driver kicks the receive queue; a frame that overran the
// buffers is held (dropped only when the whole ring cannot hold it, or when
// the path stops).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "devices/virtio/device_session.h"
#include "devices/virtio/net/pair_path.h"
#include "devices/virtio/net/rx_chains.h"

namespace franca::virtio {

class InProcessPath final : public PairPath {
 public:
  explicit InProcessPath(PairContext ctx);
  ~InProcessPath() override;

  Result<void> start() override;
  void stop() override;
  void link_changed() override;

 private:
  void process_tx();
  void transmit(const DescriptorChain& chain);
  void on_rx_kick();
  void on_tap_readable();
  enum class RxStep : uint8_t { kFrame, kTapEmpty, kNoBuffers, kFailed };
  // Reads one frame from the TAP into the receive chains taken for it.
  RxStep receive();
  // Whether a frame waits in the TAP (the ring ran dry: wait for buffers only then).
  bool tap_readable() const;
  // Copies the held frame (packet_) into receive chains.
  RxStep deliver_held();
  // Publishes the chains filled so far (and gives back the rest); false when the device failed.
  bool publish_rx();
  // publish_rx() and at most one interrupt.
  void end_rx_batch();
  void watch_tap(bool on);
  void fail(std::string_view why);
  void signal_rx();

  PairContext ctx_;
  EventLoop::Watch tx_kick_, rx_kick_, tap_watch_;  // while running (the TAP: while reading it)
  bool running_ = false;
  bool failed_ = false;
  bool mrg_rxbuf_ = false;
  bool guest_csum_ = false;
  RxChains rx_;
  std::vector<uint8_t> packet_;  // a frame that overran the buffers posted: header + frame
  size_t packet_len_ = 0;        // 0: no frame held
  std::vector<iovec> iov_;
  uint64_t rx_unsignalled_ = 0;
};

}  // namespace franca::virtio
