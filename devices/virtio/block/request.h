// virtio-blk request parsing (virtio 1.x §5.2.6): one descriptor chain in, one
// validated Request out; pure, so the fuzzer drives it directly. A malformed
// request never fails the device: it becomes kNone with IOERR or UNSUPP.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "devices/virtio/queue/chain.h"

namespace franca::virtio {

// What the parser checks a request against; fixed at activation.
struct RequestLimits {
  uint64_t capacity = 0;  // 512-byte sectors
  bool readonly = false;
  bool discard = false;       // VIRTIO_BLK_F_DISCARD negotiated
  bool write_zeroes = false;  // VIRTIO_BLK_F_WRITE_ZEROES negotiated
  uint32_t max_discard_sectors = 0;
  uint32_t max_write_zeroes_sectors = 0;
};

enum class BlockOp : uint8_t {
  kNone,  // complete at once with `status`
  kRead,
  kWrite,
  kFlush,
  kGetId,
  kDiscard,
  kWriteZeroes,
};

struct Request {
  BlockOp op = BlockOp::kNone;
  uint8_t status = 0;      // VIRTIO_BLK_S_*: the verdict for kNone
  std::string_view why;    // for the log when status is not OK
  uint64_t offset = 0;     // bytes into the image
  uint64_t length = 0;     // bytes: data (read/write/get_id) or range (discard/zeroes)
  bool unmap = false;      // write zeroes may deallocate
  std::vector<iovec> iov;  // host buffers for read/write/get_id data
  // The chain's last writable byte, reserved with ChainWriter::reserve_footer
  // (no data iovec covers it); empty when the chain has no writable byte.
  // Refers to the parsed chain, which must stay unchanged until write_status().
  std::optional<ChainWriter> status_footer;

  // Stores the final VIRTIO_BLK_S_* into the status footer, once, after the
  // data is done; false (nothing written) without a footer or when already written.
  bool write_status(uint8_t final_status);
  // Used length for the ring: writable bytes produced (data read + status byte).
  uint32_t used_len(uint8_t final_status) const;
};

// Parses `chain` into `out`, reusing its iovec storage. The 16-byte header is
// copied out of guest memory once, then validated.
void parse_request(const DescriptorChain& chain, const RequestLimits& limits, Request& out);

}  // namespace franca::virtio
