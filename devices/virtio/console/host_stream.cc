// HostStream: non-blocking console output with a bounded pending buffer and
// input with back-pressure, both driven by level-triggered epoll on the loop.
#include "devices/virtio/console/host_stream.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <spdlog/spdlog.h>

namespace franca::virtio {

HostStream::HostStream(Kind kind, int fd, Fd owned, InputFn on_input, ClosedFn on_closed)
    : kind_(kind),
      fd_(fd),
      owned_(std::move(owned)),
      on_input_(std::move(on_input)),
      on_closed_(std::move(on_closed)) {}

HostStream::~HostStream() { watch_.reset(); }

void HostStream::attach(EventLoop& loop) {
  loop_ = &loop;
  update_watch();
}

void HostStream::detach() {
  watch_.reset();
  watched_ = 0;
  loop_ = nullptr;
}

void HostStream::write(std::span<const uint8_t> bytes) {
  if (!closed_ && !pending_.empty()) flush_pending();  // an fd epoll refused is flushed here
  if (!closed_ && pending_.empty()) bytes = bytes.subspan(write_now(bytes));
  if (closed_) {
    dropped_output_ += bytes.size();
    return;
  }
  const size_t keep = std::min(bytes.size(), kOutputCapacity - pending_.size());
  pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(keep));
  dropped_output_ += bytes.size() - keep;
  update_watch();
}

void HostStream::resume_input() {
  if (!input_paused_ || closed_) return;
  if (offer_held()) {
    input_paused_ = false;
    update_watch();
  }
}

size_t HostStream::write_now(std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size() && !closed_) {
    size_t want = bytes.size() - done;
    if (kind_ == Kind::kShared) {
      // The fd stays blocking (it is the user's terminal): write only what poll says fits.
      pollfd p{.fd = fd_, .events = POLLOUT, .revents = 0};
      if (poll(&p, 1, 0) <= 0) break;
      if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
        close_stream();
        break;
      }
      want = std::min(want, kSharedChunk);
    }
    const ssize_t n = kind_ == Kind::kSocket ? ::send(fd_, bytes.data() + done, want, MSG_NOSIGNAL | MSG_DONTWAIT)
                                             : ::write(fd_, bytes.data() + done, want);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      close_stream();  // EPIPE, EIO, ENOSPC, ...: the host side is gone
    }
  }
  return done;
}

void HostStream::on_events(uint32_t events) {
  if (events & EPOLLOUT) flush_pending();
  if (closed_ || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  if (on_input_) {
    read_input();  // a hang-up shows up as EOF or an error from read()
  } else {
    flush_pending();  // output only: the write reports the error
  }
}

void HostStream::read_input() {
  if (input_paused_) return;
  uint8_t buf[kReadChunk];
  const ssize_t n = ::read(fd_, buf, sizeof(buf));
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    close_stream();
    return;
  }
  held_.assign(buf, buf + n);
  if (!offer_held()) {
    input_paused_ = true;  // the console is full: stop reading until it drains
    update_watch();
  }
}

bool HostStream::offer_held() {
  const size_t took = std::min(on_input_(held_), held_.size());
  held_.erase(held_.begin(), held_.begin() + static_cast<ptrdiff_t>(took));
  return held_.empty();
}

void HostStream::flush_pending() {
  if (pending_.empty() || closed_) return;
  const size_t n = write_now(pending_);
  if (closed_) return;
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(n));
  update_watch();
}

void HostStream::close_stream() {
  if (closed_) return;
  closed_ = true;
  dropped_output_ += pending_.size();
  pending_.clear();
  held_.clear();
  update_watch();
  if (on_closed_) on_closed_();
}

void HostStream::update_watch() {
  if (!loop_) return;
  uint32_t want = 0;
  if (!closed_ && on_input_ && !input_paused_) want |= EPOLLIN;
  if (!closed_ && pollable_ && !pending_.empty()) want |= EPOLLOUT;
  if (want == watched_) return;
  watch_.reset();
  watched_ = 0;
  if (!want) return;
  auto r = loop_->add(fd_, want, [this](uint32_t events) { on_events(events); });
  if (r) {
    watch_ = std::move(*r);
    watched_ = want;
    return;
  }
  // epoll refuses regular files; they are always writable, so later writes flush instead.
  spdlog::debug("console fd {} not pollable: {}", fd_, r.error().message);
  pollable_ = false;
}

}  // namespace franca::virtio
