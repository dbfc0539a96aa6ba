// The synchronous I/O engine: each op runs inside submit() on the loop thread.
// Used when io_uring is unavailable, or forced for tests (FRANCA_BLK_NO_URING=1).
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "devices/virtio/block/io_engine.h"

namespace franca::virtio {
namespace {

int run(int fd, const IoOp& op) {
  ssize_t n = 0;
  do {
    switch (op.kind) {
      case IoOp::Kind::kRead:
        n = preadv(fd, op.iov, op.iovcnt, static_cast<off_t>(op.offset));
        break;
      case IoOp::Kind::kWrite:
        n = pwritev2(fd, op.iov, op.iovcnt, static_cast<off_t>(op.offset), op.flags);
        break;
      case IoOp::Kind::kSync:
        n = fdatasync(fd);
        break;
      case IoOp::Kind::kFallocate:
        n = fallocate(fd, op.flags, static_cast<off_t>(op.offset), static_cast<off_t>(op.length));
        break;
    }
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : static_cast<int>(n);
}

class SyncEngine final : public IoEngine {
 public:
  explicit SyncEngine(int fd) : fd_(fd) {}
  std::string_view name() const override { return "sync"; }
  bool submit(const IoOp& op, uint64_t tag) override {
    results_.emplace_back(tag, run(fd_, op));
    return true;
  }
  void flush() override {}
  void reap(const Completion& done) override {
    while (!results_.empty()) {
      std::vector<std::pair<uint64_t, int>> batch;
      batch.swap(results_);
      for (const auto& [tag, result] : batch) done(tag, result);
    }
  }
  int completion_fd() const override { return -1; }
  void drain() override { results_.clear(); }

 private:
  int fd_;
  std::vector<std::pair<uint64_t, int>> results_;
};

}  // namespace

std::unique_ptr<IoEngine> make_sync_engine(int fd) { return std::make_unique<SyncEngine>(fd); }

size_t advance_iovecs(std::span<iovec> iov, size_t first, size_t bytes) {
  while (first < iov.size() && bytes >= iov[first].iov_len) {
    bytes -= iov[first].iov_len;
    ++first;
  }
  if (first < iov.size()) {
    iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + bytes;
    iov[first].iov_len -= bytes;
  }
  return first;
}

}  // namespace franca::virtio
