// libFuzzer target for the virtio-blk request parser (virtio 1.x §5.2.6): any
// chain shape and header a hostile driver can produce must parse to a
// request whose ranges stay inside the disk and the chain, never crash.
//
// Input: [limits][buffer count][readable count][u16 length x count][contents].
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "devices/virtio/block/request.h"
#include "tests/fuzz/blk_fuzz_limits.h"
#include "vmm/core/guest_memory.h"

namespace {

using franca::GuestMemory;
using franca::MemoryRegion;
using namespace franca::virtio;

constexpr uint64_t kBase = 0x10000;
constexpr size_t kMaxBuffers = 8;
constexpr uint16_t kMaxLen = 8192;

void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(const void* p, size_t n, const std::vector<uint8_t>& ram) {
  const auto* b = static_cast<const uint8_t*>(p);
  return b >= ram.data() && n <= ram.size() && b - ram.data() <= static_cast<ptrdiff_t>(ram.size() - n);
}

// Host address of the byte the status footer covers (exactly one); null without a footer.
const uint8_t* status_host(const Request& r) {
  if (!r.status_footer) return nullptr;
  check(r.status_footer->remaining() == 1);
  std::vector<iovec> one;
  r.status_footer->iovecs(1, one);
  check(one.size() == 1 && one.front().iov_len == 1);
  return static_cast<const uint8_t*>(one.front().iov_base);
}

void check_request(const Request& r, const RequestLimits& limits, const DescriptorChain& chain,
                   const std::vector<uint8_t>& ram) {
  const uint8_t* status = status_host(r);
  if (status) check(inside(status, 1, ram));
  size_t bytes = 0;
  for (const iovec& v : r.iov) {
    check(inside(v.iov_base, v.iov_len, ram));
    check(status < static_cast<uint8_t*>(v.iov_base) || status >= static_cast<uint8_t*>(v.iov_base) + v.iov_len);
    bytes += v.iov_len;
  }
  switch (r.op) {
    case BlockOp::kRead:
    case BlockOp::kWrite:
      check(bytes == r.length && r.length % 512 == 0);
      [[fallthrough]];
    case BlockOp::kDiscard:
    case BlockOp::kWriteZeroes:
      check(status != nullptr && r.offset % 512 == 0);
      check(r.offset / 512 <= limits.capacity && r.length / 512 <= limits.capacity - r.offset / 512);
      check(!limits.readonly || r.op == BlockOp::kRead);
      break;
    case BlockOp::kGetId:
      check(bytes == r.length && r.length <= 20);
      break;
    default:
      break;
  }
  check(r.used_len(r.status) <= chain.writable_bytes());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const RequestLimits limits = fuzz::limits_from(data[0]);
  const size_t count = data[1] % kMaxBuffers + 1;
  const size_t readable = data[2] % (count + 1);
  size_t pos = 3;
  if (size < pos + 2 * count) return 0;
  std::vector<uint16_t> lens(count);
  size_t total = 0;
  for (size_t i = 0; i < count; ++i, pos += 2) {
    lens[i] = static_cast<uint16_t>((data[pos] | data[pos + 1] << 8) % (kMaxLen + 1));
    total += lens[i];
  }
  std::vector<uint8_t> ram(total + 1);
  std::memcpy(ram.data(), data + pos, std::min(size - pos, total));
  const MemoryRegion region{.gpa = kBase, .size = ram.size(), .host = ram.data()};
  const GuestMemory memory = GuestMemory::over(std::span(&region, 1));

  DescriptorChain chain;
  size_t offset = 0;
  for (size_t i = 0; i < count; ++i) {
    chain.add({.gpa = kBase + offset, .len = lens[i], .host = ram.data() + offset}, i >= readable);
    offset += lens[i];
  }
  Request request;
  parse_request(chain, limits, request);
  check_request(request, limits, chain, ram);
  return 0;
}
