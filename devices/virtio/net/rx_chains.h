// The receive chains one batch of frames lands in (virtio 1.x §5.1.6.3-4, with
// and without VIRTIO_NET_F_MRG_RXBUF): popped ahead of the frames so the TAP
// can be read straight into the guest's buffers; a frame's chains are filled
// in ring order, and at the end of the batch the filled ones are published in
// one push and the ones no frame used are given back to the driver unpublished.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <vector>

#include "devices/virtio/queue/queue.h"

namespace franca::virtio {

class RxChains {
 public:
  RxChains(Queue& queue, bool mrg_rxbuf) : queue_(queue), mrg_rxbuf_(mrg_rxbuf) {}

  enum class Took : uint8_t {
    kEnough,   // the chains not yet filled hold the bytes asked for
    kPartial,  // the ring ran dry with some chains in hand (read with what there is)
    kDry,      // the ring ran dry: kicks are on (asked for and rechecked) and stay on
    kLimit,    // no more may be taken: one chain without MRG_RXBUF, or a ring's worth this batch
  };
  // Pops chains until the unfilled ones hold `need` bytes. A dry ring is kDry
  // when nothing is in hand or `wait` (the caller will wait for a kick), else
  // kPartial. Bounded for a hostile driver: at most size() ring slots between
  // publishes, a chain without writable bytes is a ring error, and a recheck
  // that promised buffers must yield one.
  std::expected<Took, std::string_view> take(size_t need, bool wait);

  bool empty() const { return unfilled() == 0; }
  size_t capacity() const { return capacity_; }  // writable bytes in the unfilled chains
  bool has_filled() const { return !used_.empty(); }

  // Appends iovecs over the unfilled chains' writable buffers, at most
  // `max_iovs` of them covering at most `limit` bytes; returns the bytes covered.
  size_t iovecs(size_t limit, size_t max_iovs, std::vector<iovec>& out) const;
  // Copies the first dst.size() bytes (at most capacity()) of the unfilled
  // chains out (a frame that overran them, kept whole elsewhere).
  void copy_out(std::span<uint8_t> dst) const;
  // Copies a frame into the unfilled chains (len <= capacity()).
  void copy_in(std::span<const uint8_t> frame);
  // The first unfilled chains now hold a frame of `len` bytes (len <=
  // capacity()) whose virtio-net header starts the first of them: writes its
  // num_buffers (and clears its flags when `clear_flags`) in guest memory and
  // marks the chains filled. Returns num_buffers.
  uint16_t complete_frame(size_t len, bool clear_flags);

  // Gives the unfilled chains back (they are the queue's latest pops, no push
  // since); false only on a bug here (the queue refused).
  [[nodiscard]] bool give_back();
  // give_back(), then makes every filled chain visible at once; returns how
  // many chains were published, or nothing when the give back was refused.
  std::expected<size_t, std::string_view> publish();
  // Forgets everything, touching no ring (the device failed, or is reset).
  void discard();

 private:
  size_t unfilled() const { return count_ - filled_; }
  // Writes `bytes` at `offset` into the frame that starts at chain `first`.
  void write_at(size_t first, size_t offset, std::span<const uint8_t> bytes);

  Queue& queue_;
  bool mrg_rxbuf_;
  std::vector<DescriptorChain> chains_;  // [0, filled_) filled, [filled_, count_) unfilled; reused
  size_t count_ = 0, filled_ = 0;
  size_t capacity_ = 0;  // writable bytes of the unfilled chains
  size_t slots_ = 0;     // ring slots popped since the last publish
  std::vector<UsedChain> used_;
};

}  // namespace franca::virtio
