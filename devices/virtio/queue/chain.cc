// A validated descriptor chain and its reader/writer cursors (virtio 1.x
// §2.7.4 / §2.8 "Message Framing": devices must not assume any framing, so the
// cursors walk buffer boundaries transparently).
#include "devices/virtio/queue/chain.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace franca::virtio {

bool DescriptorChain::add(const ChainBuffer& buffer, bool device_writable) {
  if (buffer.len == 0) return true;  // contributes nothing, not even ordering
  if (!device_writable && !writable_.empty()) return false;
  const uint64_t total = uint64_t{readable_bytes_} + writable_bytes_ + buffer.len;
  if (total > std::numeric_limits<uint32_t>::max()) return false;
  if (device_writable) {
    writable_.push_back(buffer);
    writable_bytes_ += buffer.len;
  } else {
    readable_.push_back(buffer);
    readable_bytes_ += buffer.len;
  }
  return true;
}

void DescriptorChain::clear() {
  id_ = 0;
  ring_slots_ = 1;
  readable_.clear();
  writable_.clear();
  readable_bytes_ = 0;
  writable_bytes_ = 0;
}

ChainCursor::ChainCursor(std::span<const ChainBuffer> buffers) : buffers_(buffers) {
  for (const ChainBuffer& b : buffers_) remaining_ += b.len;
}

size_t ChainCursor::skip(size_t n) {
  n = std::min(n, remaining_);
  size_t left = n;
  while (left > 0) {
    const size_t step = std::min<size_t>(left, buffers_[index_].len - offset_);
    offset_ += step;
    left -= step;
    if (offset_ == buffers_[index_].len) {
      ++index_;
      offset_ = 0;
    }
  }
  remaining_ -= n;
  consumed_ += n;
  return n;
}

void ChainCursor::iovecs(size_t n, std::vector<iovec>& out) const {
  n = std::min(n, remaining_);
  size_t index = index_;
  size_t offset = offset_;
  while (n > 0) {
    const ChainBuffer& b = buffers_[index];
    const size_t step = std::min<size_t>(n, b.len - offset);
    if (step > 0) out.push_back({b.host + offset, step});
    n -= step;
    ++index;
    offset = 0;
  }
}

size_t ChainCursor::copy(uint8_t* bytes, size_t n, bool to_guest) {
  n = std::min(n, remaining_);
  for (size_t done = 0; done < n;) {
    const ChainBuffer& b = buffers_[index_];
    const size_t step = std::min<size_t>(n - done, b.len - offset_);
    if (step > 0 && to_guest) std::memcpy(b.host + offset_, bytes + done, step);
    if (step > 0 && !to_guest) std::memcpy(bytes + done, b.host + offset_, step);
    done += step;
    offset_ += step;
    if (offset_ == b.len) {
      ++index_;
      offset_ = 0;
    }
  }
  remaining_ -= n;
  consumed_ += n;
  return n;
}

}  // namespace franca::virtio
