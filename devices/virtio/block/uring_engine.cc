// The io_uring I/O engine: ops are queued as SQEs and submitted once per
// batch; the kernel signals completions on an eventfd the loop watches. Reads
// and writes of cached data often complete inside io_uring_submit itself.
#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "devices/virtio/block/io_engine.h"
#include "vmm/core/fd.h"

namespace franca::virtio {
namespace {

class UringEngine final : public IoEngine {
 public:
  explicit UringEngine(int fd) : fd_(fd) {}
  ~UringEngine() override {
    if (!ready_) return;
    drain();
    io_uring_queue_exit(&ring_);
  }
  // io_uring_queue_init in place (the ring is not copied); false with `why` set.
  bool init(unsigned entries, std::string& why);

  std::string_view name() const override { return "io_uring"; }
  bool submit(const IoOp& op, uint64_t tag) override;
  void flush() override;
  void reap(const Completion& done) override;
  int completion_fd() const override { return event_.get(); }
  void drain() override;

 private:
  io_uring_sqe* next_sqe();

  int fd_;
  io_uring ring_{};
  bool ready_ = false;
  Fd event_;
  size_t in_flight_ = 0;  // submitted or queued, completion not yet seen
};

io_uring_sqe* UringEngine::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe) return sqe;
  flush();  // the submission ring is full of queued ops: hand them over first
  return io_uring_get_sqe(&ring_);
}

bool UringEngine::init(unsigned entries, std::string& why) {
  const int err = io_uring_queue_init(entries, &ring_, 0);
  if (err < 0) {
    why = std::strerror(-err);
    return false;
  }
  ready_ = true;
  event_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!event_.valid() || io_uring_register_eventfd(&ring_, event_.get()) < 0) {
    why = "cannot register the completion eventfd";
    return false;
  }
  return true;
}

bool UringEngine::submit(const IoOp& op, uint64_t tag) {
  io_uring_sqe* sqe = next_sqe();
  if (!sqe) return false;  // only if the caller exceeds `entries`
  const auto iovcnt = static_cast<unsigned>(op.iovcnt);
  switch (op.kind) {
    case IoOp::Kind::kRead:
      io_uring_prep_readv(sqe, fd_, op.iov, iovcnt, op.offset);
      break;
    case IoOp::Kind::kWrite:
      io_uring_prep_writev2(sqe, fd_, op.iov, iovcnt, op.offset, op.flags);
      break;
    case IoOp::Kind::kSync:
      io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC);
      break;
    case IoOp::Kind::kFallocate:
      io_uring_prep_fallocate(sqe, fd_, op.flags, op.offset, op.length);
      break;
  }
  io_uring_sqe_set_data64(sqe, tag);
  ++in_flight_;
  return true;
}

void UringEngine::flush() {
  if (io_uring_sq_ready(&ring_) == 0) return;
  const int n = io_uring_submit(&ring_);
  // Left in the ring on failure (EAGAIN/EBUSY/ENOMEM): the next flush retries.
  if (n < 0 && n != -EAGAIN && n != -EBUSY && n != -EINTR) spdlog::error("io_uring_submit: {}", std::strerror(-n));
}

void UringEngine::reap(const Completion& done) {
  uint64_t count;
  [[maybe_unused]] ssize_t r = read(event_.get(), &count, sizeof(count));  // clears the eventfd
  io_uring_cqe* cqe;
  while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
    const uint64_t tag = io_uring_cqe_get_data64(cqe);
    const int result = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    --in_flight_;
    done(tag, result);
  }
  flush();
}

void UringEngine::drain() {
  while (in_flight_ > 0) {
    const int err = io_uring_submit_and_wait(&ring_, 1);
    if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY) {
      spdlog::error("io_uring_submit_and_wait while draining: {}", std::strerror(-err));
      return;
    }
    io_uring_cqe* cqe;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
      io_uring_cqe_seen(&ring_, cqe);
      --in_flight_;
    }
  }
}

}  // namespace

std::unique_ptr<IoEngine> make_uring_engine(int fd, unsigned entries, std::string& why) {
  auto engine = std::make_unique<UringEngine>(fd);
  if (!engine->init(entries, why)) return nullptr;
  return engine;
}

}  // namespace franca::virtio
