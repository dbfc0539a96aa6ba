// The virtio-blk data path on the vmm-io loop: notification suppression,
// bounded draining, request execution through the I/O engine, completion and
// batched used-buffer signalling (virtio 1.x §2.7.7, §2.7.8, §5.2.6).
#include "devices/virtio/block/session.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/core/log.h"

namespace franca::virtio {
namespace {

constexpr size_t kZeroChunk = size_t{1} << 20;  // write-zeroes fallback: bytes per write

iovec zero_chunk(size_t bytes) {
  static const std::vector<uint8_t> zeros(kZeroChunk);  // read-only source for pwritev
  return {const_cast<uint8_t*>(zeros.data()), std::min(bytes, kZeroChunk)};
}

// fallocate modes the kernel or filesystem may refuse; the next stage is tried.
bool unsupported(int result) { return result == -EOPNOTSUPP || result == -ENOSYS; }

}  // namespace

// Write zeroes tries the cheapest way that keeps the data zero: punch a hole
// (only if the driver allowed unmap), then ZERO_RANGE, then plain writes.
enum class ZeroStage : uint8_t { kPunch, kZeroRange, kWrite };

struct BlockSession::Pending {
  Served* served = nullptr;
  DescriptorChain chain{};
  Request req{};
  size_t first = 0;   // first live iovec after a short transfer
  uint64_t done = 0;  // bytes transferred so far
  ZeroStage stage = ZeroStage::kWrite;
};

struct BlockSession::Served {
  size_t slot = 0;  // index into served_
  ActiveQueue active;
  std::vector<std::unique_ptr<Pending>> all{};  // at most queue size: bounds what a driver can keep in flight
  std::vector<Pending*> free{};
  bool pushed = false;   // used entries since the last signal decision
  bool stalled = false;  // stopped popping because every Pending is in flight
};

BlockSession::BlockSession(DeviceContext ctx, const BlockBackend& backend)
    : ctx_(std::move(ctx)), backend_(backend), session_(ctx_, {.id = backend_.id, .counters = backend_.counters}) {
  for (ActiveQueue& active : ctx_.queues) {
    auto served = std::make_unique<Served>(Served{.slot = served_.size(), .active = std::move(active)});
    served_.push_back(std::move(served));
  }
  ctx_.queues.clear();
}

BlockSession::~BlockSession() { stop(); }

Result<std::unique_ptr<BlockSession>> BlockSession::start(DeviceContext ctx, const BlockBackend& backend) {
  auto session = std::make_unique<BlockSession>(std::move(ctx), backend);
  if (auto watched = session->watch(); !watched) {
    session->stop();
    return std::unexpected(watched.error());
  }
  BlockSession* s = session.get();
  for (size_t qi = 0; qi < s->served_.size(); ++qi) s->session_.post([s, qi] { s->process(qi); });
  return session;
}

Result<void> BlockSession::watch() {
  const int completions = backend_.engine->completion_fd();
  if (completions >= 0) {
    auto added = ctx_.loop->add(completions, EPOLLIN, [this](uint32_t) { reap(); });
    if (!added) return std::unexpected(added.error());
    completions_ = std::move(*added);
  }
  for (auto& served : served_) {
    const size_t qi = served->slot;
    if (auto added = session_.watch_kick(served->active.kick_fd, [this, qi] { process(qi); }); !added) return added;
  }
  std::vector<StallWatch::Tracked> tracked;
  for (auto& served : served_) {
    tracked.push_back(
        {.index = served->active.index, .role = "requests", .queue = &served->active.queue, .served_here = [this] {
           return !stopped_;
         }});
  }
  return session_.watch_stalls(std::move(tracked));
}

std::vector<std::string> BlockSession::describe_queues() const { return session_.describe_queues(); }

void BlockSession::stop() {
  if (stopped_) return;
  stopped_ = true;
  session_.unwatch_kicks();
  completions_.reset();
  backend_.engine->drain();
}

// Every chain is answered from reap(), which signals once per batch of
// completions; at most queue-size chains per pass (drain() reposts the rest).
void BlockSession::process(size_t qi) {
  if (stopped_ || session_.failed()) return;
  Served& served = *served_[qi];
  const DrainEnd end{.repost = [this, qi] { session_.post([this, qi] { process(qi); }); }};
  const Drained drained = drain(
      served.active.queue, served.active.queue.size(), end, [this, &served] { return free_slot(served); },
      [this, &served](DescriptorChain&) {
        Pending& p = *served.free.back();  // the slot free_slot() handed out
        served.free.pop_back();
        backend_.counters->requests.fetch_add(1, std::memory_order_relaxed);
        handle(p);
        return true;
      });
  if (drained.error) ring_error(served, describe(*drained.error));
  backend_.engine->flush();
  reap();
}

// Where the next chain is popped; null when every Pending is in flight.
DescriptorChain* BlockSession::free_slot(Served& served) {
  if (served.free.empty()) {
    if (served.all.size() >= served.active.queue.size()) {
      served.stalled = true;  // resumed by finish()
      return nullptr;
    }
    served.all.push_back(std::make_unique<Pending>(Pending{.served = &served}));
    served.free.push_back(served.all.back().get());
  }
  return &served.free.back()->chain;
}

void BlockSession::handle(Pending& p) {
  parse_request(p.chain, backend_.limits, p.req);
  switch (p.req.op) {
    case BlockOp::kNone:
      return finish(p, p.req.status);
    case BlockOp::kGetId: {
      size_t copied = 0;
      for (const iovec& v : p.req.iov) {
        std::memcpy(v.iov_base, backend_.serial.data() + copied, v.iov_len);
        copied += v.iov_len;
      }
      return finish(p, VIRTIO_BLK_S_OK);
    }
    default:
      return start_io(p);
  }
}

void BlockSession::start_io(Pending& p) {
  const Request& req = p.req;
  p.first = 0;
  p.done = 0;
  switch (req.op) {
    case BlockOp::kRead:
    case BlockOp::kWrite: {
      if (req.length == 0) return finish(p, VIRTIO_BLK_S_OK);
      const bool read = req.op == BlockOp::kRead;
      submit(p, {.kind = read ? IoOp::Kind::kRead : IoOp::Kind::kWrite,
                 .offset = req.offset,
                 .iov = req.iov.data(),
                 .iovcnt = static_cast<int>(req.iov.size()),
                 .flags = read ? 0 : backend_.write_flags});
      return;
    }
    case BlockOp::kFlush:
      submit(p, {.kind = IoOp::Kind::kSync});
      return;
    case BlockOp::kDiscard:
      submit(p, {.kind = IoOp::Kind::kFallocate,
                 .offset = req.offset,
                 .length = req.length,
                 .flags = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE});
      return;
    case BlockOp::kWriteZeroes:
      p.stage = req.unmap ? ZeroStage::kPunch : ZeroStage::kZeroRange;
      submit(p, {.kind = IoOp::Kind::kFallocate,
                 .offset = req.offset,
                 .length = req.length,
                 .flags = (req.unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE});
      return;
    default:
      return finish(p, VIRTIO_BLK_S_IOERR);
  }
}

bool BlockSession::submit(Pending& p, const IoOp& op) {
  if (backend_.engine->submit(op, reinterpret_cast<uint64_t>(&p))) return true;
  FRANCA_WARN_RATELIMITED("{}: I/O engine full; failing the request", backend_.id);
  finish(p, VIRTIO_BLK_S_IOERR);
  return false;
}

void BlockSession::on_complete(Pending& p, int result) {
  switch (p.req.op) {
    case BlockOp::kRead:
    case BlockOp::kWrite:
      return on_data_done(p, result);
    case BlockOp::kFlush:
      if (result < 0) FRANCA_WARN_RATELIMITED("{}: fdatasync: {}", backend_.id, std::strerror(-result));
      return finish(p, result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
    default:
      return on_range_done(p, result);
  }
}

// Reads and writes continue after a short transfer until the whole range is done.
void BlockSession::on_data_done(Pending& p, int result) {
  if (result <= 0) {
    FRANCA_WARN_RATELIMITED("{}: {} at offset {}: {}", backend_.id, p.req.op == BlockOp::kRead ? "read" : "write",
                            p.req.offset + p.done, result < 0 ? std::strerror(-result) : "end of image");
    return finish(p, VIRTIO_BLK_S_IOERR);
  }
  p.done += static_cast<uint64_t>(result);
  if (p.done >= p.req.length) return finish(p, VIRTIO_BLK_S_OK);
  p.first = advance_iovecs(p.req.iov, p.first, static_cast<size_t>(result));
  const bool read = p.req.op == BlockOp::kRead;
  submit(p, {.kind = read ? IoOp::Kind::kRead : IoOp::Kind::kWrite,
             .offset = p.req.offset + p.done,
             .iov = p.req.iov.data() + p.first,
             .iovcnt = static_cast<int>(p.req.iov.size() - p.first),
             .flags = read ? 0 : backend_.write_flags});
}

void BlockSession::on_range_done(Pending& p, int result) {
  if (p.req.op == BlockOp::kWriteZeroes && p.stage == ZeroStage::kWrite) {
    if (result <= 0) return finish(p, VIRTIO_BLK_S_IOERR);
    p.done += static_cast<uint64_t>(result);
    if (p.done >= p.req.length) return finish(p, VIRTIO_BLK_S_OK);
    return submit_zero_chunk(p);
  }
  if (result >= 0) return finish(p, VIRTIO_BLK_S_OK);
  // Discard is a hint: a host that cannot deallocate has still done what was asked.
  if (p.req.op == BlockOp::kDiscard && unsupported(result)) return finish(p, VIRTIO_BLK_S_OK);
  if (p.req.op == BlockOp::kWriteZeroes && unsupported(result)) {
    if (p.stage == ZeroStage::kPunch) {
      p.stage = ZeroStage::kZeroRange;
      submit(p, {.kind = IoOp::Kind::kFallocate,
                 .offset = p.req.offset,
                 .length = p.req.length,
                 .flags = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE});
      return;
    }
    p.stage = ZeroStage::kWrite;
    return submit_zero_chunk(p);
  }
  FRANCA_WARN_RATELIMITED("{}: fallocate at offset {}: {}", backend_.id, p.req.offset, std::strerror(-result));
  finish(p, VIRTIO_BLK_S_IOERR);
}

void BlockSession::submit_zero_chunk(Pending& p) {
  p.req.iov.assign(1, zero_chunk(p.req.length - p.done));
  submit(p, {.kind = IoOp::Kind::kWrite,
             .offset = p.req.offset + p.done,
             .iov = p.req.iov.data(),
             .iovcnt = 1,
             .flags = backend_.write_flags});
}

void BlockSession::finish(Pending& p, uint8_t status) {
  Served& served = *p.served;
  if (status != VIRTIO_BLK_S_OK) {
    backend_.counters->errors.fetch_add(1, std::memory_order_relaxed);
    if (!p.req.why.empty()) FRANCA_WARN_RATELIMITED("{}: bad request: {}", backend_.id, p.req.why);
  }
  if (!session_.failed() && !stopped_) {
    p.req.write_status(status);  // through the chain's writer, at the reserved footer
    served.active.queue.push(p.chain, p.req.used_len(status));
    served.pushed = true;
  }
  served.free.push_back(&p);
  if (served.stalled && !stopped_) {
    served.stalled = false;
    session_.post([this, qi = served.slot] { process(qi); });
  }
}

void BlockSession::reap() {
  backend_.engine->reap([this](uint64_t tag, int result) { on_complete(*reinterpret_cast<Pending*>(tag), result); });
  signal_used();
}

// One used-buffer notification per batch, if the driver wants it.
void BlockSession::signal_used() {
  for (auto& served : served_) {
    if (!served->pushed) continue;
    served->pushed = false;
    if (served->active.queue.should_signal() && ctx_.interrupt) ctx_.interrupt->signal_used(served->active.index);
  }
}

void BlockSession::ring_error(Served& served, std::string_view why) {
  session_.fail(fmt::format("queue {}: {}", served.active.index, why));
}

}  // namespace franca::virtio
