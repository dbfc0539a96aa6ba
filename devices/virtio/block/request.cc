// virtio-blk request header, data and discard/write-zeroes segment validation
// (virtio 1.x §5.2.6.1-§5.2.6.2 device requirements).
#include "devices/virtio/block/request.h"

#include <endian.h>
#include <linux/virtio_blk.h>

#include <algorithm>
#include <climits>

#include "devices/virtio/block/image.h"

namespace franca::virtio {
namespace {

// A parse step that may reject the request with an in-band status.
bool reject(Request& out, uint8_t status, std::string_view why) {
  out.op = BlockOp::kNone;
  out.status = status;
  out.why = why;
  return false;
}

// [sector, sector + bytes/512) inside the disk, without overflow.
bool in_range(uint64_t sector, uint64_t bytes, uint64_t capacity) {
  const uint64_t sectors = bytes / kSectorSize;
  return sector <= capacity && sectors <= capacity - sector;
}

bool set_data_range(Request& out, uint64_t sector, uint64_t bytes, const RequestLimits& limits) {
  if (bytes % kSectorSize != 0) return reject(out, VIRTIO_BLK_S_IOERR, "data length not a multiple of 512");
  if (!in_range(sector, bytes, limits.capacity)) return reject(out, VIRTIO_BLK_S_IOERR, "sectors beyond capacity");
  if (out.iov.size() > IOV_MAX) return reject(out, VIRTIO_BLK_S_IOERR, "too many data segments");
  out.offset = sector * kSectorSize;
  out.length = bytes;
  return true;
}

void parse_read(const ChainWriter& data, uint64_t sector, const RequestLimits& limits, Request& out) {
  const size_t bytes = data.remaining();
  data.iovecs(bytes, out.iov);
  if (set_data_range(out, sector, bytes, limits)) out.op = BlockOp::kRead;
}

void parse_write(ChainReader& reader, uint64_t sector, const RequestLimits& limits, Request& out) {
  if (limits.readonly) {
    reject(out, VIRTIO_BLK_S_IOERR, "write to a read-only disk");
    return;
  }
  const size_t bytes = reader.remaining();
  reader.iovecs(bytes, out.iov);
  if (set_data_range(out, sector, bytes, limits)) out.op = BlockOp::kWrite;
}

void parse_get_id(const ChainWriter& data, Request& out) {
  out.length = std::min<size_t>(data.remaining(), VIRTIO_BLK_ID_BYTES);
  data.iovecs(out.length, out.iov);
  out.op = BlockOp::kGetId;
}

// One {sector, num_sectors, flags} segment (max_discard_seg = max_write_zeroes_seg = 1).
void parse_range(ChainReader& reader, BlockOp op, const RequestLimits& limits, Request& out) {
  const bool zeroes = op == BlockOp::kWriteZeroes;
  if (!(zeroes ? limits.write_zeroes : limits.discard)) {
    reject(out, VIRTIO_BLK_S_UNSUPP, "discard/write zeroes not negotiated");
    return;
  }
  if (limits.readonly) {
    reject(out, VIRTIO_BLK_S_IOERR, "discard/write zeroes on a read-only disk");
    return;
  }
  if (reader.remaining() > sizeof(virtio_blk_discard_write_zeroes) &&
      reader.remaining() % sizeof(virtio_blk_discard_write_zeroes) == 0) {
    reject(out, VIRTIO_BLK_S_UNSUPP, "more than one discard/write zeroes segment");
    return;
  }
  const auto seg = reader.read_obj<virtio_blk_discard_write_zeroes>();
  if (!seg || reader.remaining() != 0) {
    reject(out, VIRTIO_BLK_S_IOERR, "malformed discard/write zeroes segment");
    return;
  }
  const uint64_t sector = le64toh(seg->sector);
  const uint32_t sectors = le32toh(seg->num_sectors);
  const uint32_t flags = le32toh(seg->flags);
  if ((flags & ~uint32_t{VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP}) != 0 || (!zeroes && flags != 0)) {
    reject(out, VIRTIO_BLK_S_UNSUPP, "unknown discard/write zeroes flags");
    return;
  }
  if (sectors > (zeroes ? limits.max_write_zeroes_sectors : limits.max_discard_sectors)) {
    reject(out, VIRTIO_BLK_S_IOERR, "discard/write zeroes segment above the limit");
    return;
  }
  if (!set_data_range(out, sector, uint64_t{sectors} * kSectorSize, limits)) return;
  out.unmap = (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0;
  out.op = sectors == 0 ? BlockOp::kNone : op;  // an empty range is done already
}

}  // namespace

bool Request::write_status(uint8_t final_status) { return status_footer && status_footer->write_obj(final_status); }

uint32_t Request::used_len(uint8_t final_status) const {
  if (!status_footer) return 0;
  const bool produced = final_status == VIRTIO_BLK_S_OK && (op == BlockOp::kRead || op == BlockOp::kGetId);
  return static_cast<uint32_t>((produced ? length : 0) + 1);
}

void parse_request(const DescriptorChain& chain, const RequestLimits& limits, Request& out) {
  out.iov.clear();
  out.offset = out.length = 0;
  out.unmap = false;
  out.why = {};
  out.status = VIRTIO_BLK_S_OK;
  out.op = BlockOp::kNone;
  ChainWriter data(chain);  // the writable part less the status footer
  out.status_footer = data.reserve_footer(1);
  if (!out.status_footer) {
    reject(out, VIRTIO_BLK_S_IOERR, "no writable status byte");
    return;
  }
  ChainReader reader(chain);
  const auto header = reader.read_obj<virtio_blk_outhdr>();
  if (!header) {
    reject(out, VIRTIO_BLK_S_IOERR, "request header shorter than 16 bytes");
    return;
  }
  const uint64_t sector = le64toh(header->sector);
  switch (le32toh(header->type)) {
    case VIRTIO_BLK_T_IN:
      return parse_read(data, sector, limits, out);
    case VIRTIO_BLK_T_OUT:
      return parse_write(reader, sector, limits, out);
    case VIRTIO_BLK_T_FLUSH:
      out.op = BlockOp::kFlush;
      return;
    case VIRTIO_BLK_T_GET_ID:
      return parse_get_id(data, out);
    case VIRTIO_BLK_T_DISCARD:
      return parse_range(reader, BlockOp::kDiscard, limits, out);
    case VIRTIO_BLK_T_WRITE_ZEROES:
      return parse_range(reader, BlockOp::kWriteZeroes, limits, out);
    default:
      reject(out, VIRTIO_BLK_S_UNSUPP, "unsupported request type");
  }
}

}  // namespace franca::virtio
