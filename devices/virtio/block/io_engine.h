// Host I/O for virtio-blk on the vmm-io loop: io_uring (batched submission,
// completions through an eventfd on the loop), or a synchronous fallback for
// hosts where io_uring is missing or forbidden (old kernel, seccomp, sysctl).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace franca::virtio {

struct IoOp {
  enum class Kind : uint8_t { kRead, kWrite, kSync, kFallocate };
  Kind kind = Kind::kSync;
  uint64_t offset = 0;
  uint64_t length = 0;  // kFallocate
  const iovec* iov = nullptr;
  int iovcnt = 0;
  int flags = 0;  // kWrite: RWF_* (RWF_DSYNC); kFallocate: FALLOC_FL_* mode
};

// All calls on one thread (the vmm-io loop). Results are bytes or -errno.
class IoEngine {
 public:
  using Completion = std::function<void(uint64_t tag, int result)>;
  virtual ~IoEngine() = default;

  virtual std::string_view name() const = 0;
  // Queues `op`; its result arrives through reap() with `tag`. The iovecs
  // must stay valid until then. False (no result will come) only when the
  // caller has more than `entries` ops in flight.
  virtual bool submit(const IoOp& op, uint64_t tag) = 0;
  // Hands the ops queued since the last flush to the kernel (one syscall).
  virtual void flush() = 0;
  // Calls done(tag, result) for every finished op, including ops that
  // `done` itself submits to the synchronous engine.
  virtual void reap(const Completion& done) = 0;
  // Becomes readable when reap() has work: register it on the loop. -1 for
  // the synchronous engine (its results are ready once submit() returns).
  virtual int completion_fd() const = 0;
  // Blocks until nothing is in flight and drops the results (reset path: no
  // kernel write may reach guest memory after it returns).
  virtual void drain() = 0;
};

// The io_uring engine with `entries` slots, or nullptr with `why` set when
// io_uring is unavailable.
std::unique_ptr<IoEngine> make_uring_engine(int fd, unsigned entries, std::string& why);
std::unique_ptr<IoEngine> make_sync_engine(int fd);

// Drops the first `bytes` bytes of `iov` starting at iov[first] (after a short
// read or write); returns the new first index.
size_t advance_iovecs(std::span<iovec> iov, size_t first, size_t bytes);

}  // namespace franca::virtio
