// The in-process virtio-net data path for one queue pair, on the vmm-io loop
// (virtio 1.x §5.1.6.2 transmit, §5.1.6.3-4 receive with and without
// VIRTIO_NET_F_MRG_RXBUF): transmit chains are written to the pair's TAP fd
// (header copied out and checked, frame gathered straight from guest memory);
// received frames are read from the TAP into one local buffer and copied into
// as many receive chains as they need. Backpressure: when the receive ring has
// no buffers the TAP fd is left unread (the kernel queues for us) until the
// driver kicks the receive queue; a read frame is held (dropped only when the
// whole ring cannot hold it, or when the path stops). A frame's chains are
// published to the driver together.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "devices/virtio/device_session.h"
#include "devices/virtio/net/pair_path.h"

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
  // Reads one frame into packet_ unless one is held; false when the TAP is empty.
  bool read_frame();
  // Copies the held frame into receive chains; false when the ring has too few buffers.
  bool deliver();
  bool take_rx_chains(size_t need);
  bool give_back_rx_chains();
  void watch_tap(bool on);
  void fail(std::string_view why);
  void signal_rx();

  PairContext ctx_;
  EventLoop::Watch tx_kick_, rx_kick_, tap_watch_;  // while running (the TAP: while reading it)
  bool running_ = false;
  bool failed_ = false;
  bool mrg_rxbuf_ = false;
  bool guest_csum_ = false;
  std::vector<uint8_t> packet_;  // header + frame read from the TAP
  size_t packet_len_ = 0;        // 0: no frame held
  std::vector<DescriptorChain> chains_;
  std::vector<UsedChain> used_;
  std::vector<iovec> iov_;
  uint64_t rx_unsignalled_ = 0;
};

}  // namespace franca::virtio
