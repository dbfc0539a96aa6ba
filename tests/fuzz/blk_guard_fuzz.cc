// libFuzzer target for the virtio-blk request path (virtio 1.x §5.2.6) over
// guard-paged guest RAM: every descriptor buffer is its own guest RAM region
// ending flush against a PROT_NONE page. The request is parsed, then completed
// as BlockSession does (the device fills every data iovec of a read or
// GET_ID, reads every iovec of a write, writes the status footer), so a range
// one byte past a buffer or past the end of RAM faults instead of passing.
//
// Input: [limits][buffer count][readable count][u16 length x count][contents].
#include <linux/virtio_blk.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "devices/virtio/block/request.h"
#include "tests/fuzz/blk_fuzz_limits.h"
#include "tests/support/guarded_memory.h"
#include "vmm/core/guest_memory.h"

namespace {

using franca::GuestMemory;
using franca::MemoryRegion;
using namespace franca::virtio;

constexpr uint64_t kRegionStride = 1 << 20;  // buffer i lives at guest address (i + 1) MiB
constexpr size_t kMaxBuffers = 8;
constexpr uint16_t kMaxLen = 8192;

// Whether host bytes [p, p+len) lie inside one region of `memory`.
bool in_ram(const GuestMemory& memory, const uint8_t* p, size_t len) {
  for (const MemoryRegion& r : memory.regions()) {
    if (p >= r.host && len <= r.size && static_cast<size_t>(p - r.host) <= r.size - len) return true;
  }
  return false;
}

// What the I/O engine and BlockSession::finish do to guest memory for `r`.
void complete(Request& r) {
  volatile uint8_t sink = 0;
  for (const iovec& v : r.iov) {
    auto* p = static_cast<uint8_t*>(v.iov_base);
    if (r.op == BlockOp::kWrite) {
      for (size_t i = 0; i < v.iov_len; ++i) sink = sink + p[i];
    } else {
      std::memset(p, 0xa5, v.iov_len);  // read data, or the GET_ID serial
    }
  }
  const bool footer = r.status_footer.has_value();
  if (r.write_status(r.op == BlockOp::kNone ? r.status : VIRTIO_BLK_S_OK) != footer) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const franca::testing::GuardedSlots& slots = *new franca::testing::GuardedSlots(kMaxBuffers, kMaxLen);
  if (size < 3) return 0;
  const RequestLimits limits = fuzz::limits_from(data[0]);
  const size_t count = data[1] % kMaxBuffers + 1;
  const size_t readable = data[2] % (count + 1);
  size_t pos = 3;
  if (size < pos + 2 * count) return 0;
  std::vector<uint16_t> lens(count);
  for (size_t i = 0; i < count; ++i, pos += 2) {
    lens[i] = static_cast<uint16_t>((data[pos] | data[pos + 1] << 8) % (kMaxLen + 1));
  }
  std::vector<MemoryRegion> regions;
  DescriptorChain chain;
  for (size_t i = 0; i < count; ++i) {
    uint8_t* host = slots.end(i) - lens[i];
    const size_t n = std::min<size_t>(size - pos, lens[i]);
    std::memcpy(host, data + pos, n);
    std::memset(host + n, 0, lens[i] - n);
    pos += n;
    const uint64_t gpa = (i + 1) * kRegionStride;
    if (lens[i] > 0) regions.push_back({.gpa = gpa, .size = lens[i], .host = host});
    chain.add({.gpa = gpa, .len = lens[i], .host = host}, i >= readable);
  }
  const GuestMemory memory = GuestMemory::over(regions);
  Request request;
  parse_request(chain, limits, request);
  for (const iovec& v : request.iov) {
    if (!in_ram(memory, static_cast<const uint8_t*>(v.iov_base), v.iov_len)) std::abort();
  }
  complete(request);
  if (request.used_len(request.status) > chain.writable_bytes()) std::abort();
  return 0;
}
