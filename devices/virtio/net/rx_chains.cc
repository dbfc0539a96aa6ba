// Receive chains popped ahead of the frames read into them, published per
// batch (virtio 1.x §5.1.6.3-4, §2.7.8 / §2.8.21 used buffers).
#include "devices/virtio/net/rx_chains.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "devices/virtio/net/vnet_hdr.h"

namespace franca::virtio {

std::expected<RxChains::Took, std::string_view> RxChains::take(size_t need, bool wait) {
  bool kicks_on = false, rechecked = false;
  const auto done = [&](Took took) {
    if (kicks_on && took != Took::kDry) queue_.disable_notifications();  // not waiting any more
    return took;
  };
  while (capacity_ < need) {
    if ((!mrg_rxbuf_ && unfilled() > 0) || slots_ >= queue_.size()) return done(Took::kLimit);
    if (chains_.size() == count_) chains_.emplace_back();
    DescriptorChain& chain = chains_[count_];
    auto got = queue_.pop(chain);
    if (!got) return std::unexpected(describe(got.error()));
    if (!*got) {
      if (!wait && unfilled() > 0) return done(Took::kPartial);
      // Out of buffers: ask for a kick, then look once more for buffers that raced it.
      if (rechecked || !queue_.enable_notifications()) return Took::kDry;
      kicks_on = rechecked = true;
      continue;
    }
    rechecked = false;
    if (chain.writable_bytes() == 0) return std::unexpected("receive chain without a device-writable buffer");
    if (slots_ + chain.ring_slots() > queue_.size()) {  // only a driver publishing past its ring gets here
      if (!queue_.undo_pop(chain)) return std::unexpected("receive chain could not be given back to the driver");
      return done(Took::kLimit);
    }
    ++count_;
    capacity_ += chain.writable_bytes();
    slots_ += chain.ring_slots();
  }
  return done(Took::kEnough);
}

size_t RxChains::iovecs(size_t limit, size_t max_iovs, std::vector<iovec>& out) const {
  size_t covered = 0, iovs = 0;
  for (size_t i = filled_; i < count_; ++i) {
    for (const ChainBuffer& b : chains_[i].writable()) {
      if (covered == limit || iovs == max_iovs) return covered;
      const size_t n = std::min<size_t>(b.len, limit - covered);
      out.push_back({b.host, n});
      covered += n;
      ++iovs;
    }
  }
  return covered;
}

void RxChains::copy_out(std::span<uint8_t> dst) const {
  size_t done = 0;
  for (size_t i = filled_; i < count_ && done < dst.size(); ++i) {
    for (const ChainBuffer& b : chains_[i].writable()) {
      const size_t n = std::min<size_t>(b.len, dst.size() - done);
      std::memcpy(dst.data() + done, b.host, n);
      done += n;
      if (done == dst.size()) return;
    }
  }
}

void RxChains::copy_in(std::span<const uint8_t> frame) {
  size_t done = 0;
  for (size_t i = filled_; i < count_ && done < frame.size(); ++i) {
    for (const ChainBuffer& b : chains_[i].writable()) {
      const size_t n = std::min<size_t>(b.len, frame.size() - done);
      std::memcpy(b.host, frame.data() + done, n);
      done += n;
      if (done == frame.size()) return;
    }
  }
}

uint16_t RxChains::complete_frame(size_t len, bool clear_flags) {
  const size_t first = filled_;
  for (size_t left = len; left > 0 && filled_ < count_; ++filled_) {
    const DescriptorChain& chain = chains_[filled_];
    const size_t n = std::min<size_t>(left, chain.writable_bytes());
    used_.push_back(UsedChain::of(chain, static_cast<uint32_t>(n)));
    capacity_ -= chain.writable_bytes();
    left -= n;
  }
  // At most size() chains (a size is at most 32768), so num_buffers fits; 1 without MRG_RXBUF (§5.1.6.4).
  const auto num_buffers = static_cast<uint16_t>(filled_ - first);
  write_at(first, offsetof(virtio_net_hdr_v1, num_buffers),
           {reinterpret_cast<const uint8_t*>(&num_buffers), sizeof(num_buffers)});
  if (clear_flags) {
    const uint8_t zero = 0;
    write_at(first, offsetof(virtio_net_hdr_v1, flags), {&zero, 1});
  }
  return num_buffers;
}

// The header is the frame's first 12 bytes, normally all in the first
// buffer; a driver may split it (or, against §5.1.6.3.1, post MRG_RXBUF
// buffers shorter than it), so walk the frame's buffers.
void RxChains::write_at(size_t first, size_t offset, std::span<const uint8_t> bytes) {
  size_t done = 0;
  for (size_t i = first; i < filled_ && done < bytes.size(); ++i) {
    for (const ChainBuffer& b : chains_[i].writable()) {
      if (offset >= b.len) {
        offset -= b.len;
        continue;
      }
      const size_t n = std::min<size_t>(b.len - offset, bytes.size() - done);
      std::memcpy(b.host + offset, bytes.data() + done, n);
      done += n;
      offset = 0;
      if (done == bytes.size()) return;
    }
  }
}

bool RxChains::give_back() {
  if (empty()) return true;
  if (!queue_.undo_pop(std::span<const DescriptorChain>(chains_).subspan(filled_, unfilled()))) return false;
  for (size_t i = filled_; i < count_; ++i) slots_ -= chains_[i].ring_slots();
  count_ = filled_;
  capacity_ = 0;
  return true;
}

std::expected<size_t, std::string_view> RxChains::publish() {
  if (!give_back()) return std::unexpected("receive chains could not be given back to the driver");
  const size_t published = used_.size();
  // One push for the batch: the driver must never see a frame's head (num_buffers = N)
  // before its other N-1 buffers (Linux receive_mergeable: "buffers missing").
  queue_.push_batch(used_);
  discard();
  return published;
}

void RxChains::discard() {
  used_.clear();
  count_ = filled_ = 0;
  capacity_ = slots_ = 0;
}

}  // namespace franca::virtio
