// epoll-based event loop with a wake eventfd for posted work and stop.
#include "vmm/core/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <future>

#include <spdlog/spdlog.h>

namespace franca {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  Fd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.valid()) return errno_error("epoll_create1");
  Fd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return errno_error("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake.get();
  if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &ev) < 0) return errno_error("epoll_ctl");
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(epoll), std::move(wake)));
}

EventLoop::Watch& EventLoop::Watch::operator=(Watch&& other) noexcept {
  if (this != &other) {
    reset();
    loop_ = std::exchange(other.loop_, nullptr);
    fd_ = other.fd_;
  }
  return *this;
}

void EventLoop::Watch::reset() {
  if (auto* loop = std::exchange(loop_, nullptr)) loop->remove(fd_);
}

Result<EventLoop::Watch> EventLoop::add(int fd, uint32_t events, Callback callback) {
  std::lock_guard lock(mutex_);
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return errno_error("epoll_ctl add");
  callbacks_[fd] = std::make_shared<Callback>(std::move(callback));
  return Watch(this, fd);
}

void EventLoop::remove(int fd) {
  std::lock_guard lock(mutex_);
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  callbacks_.erase(fd);
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(fn));
  }
  wake();
}

void EventLoop::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_.get(), &one, sizeof(one));
}

std::optional<std::future<void>> EventLoop::run_or_post(std::function<void()> fn) {
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  {
    std::unique_lock lock(mutex_);
    if (!running_ || std::this_thread::get_id() == thread_) {
      lock.unlock();
      fn();
      return std::nullopt;
    }
    posted_.push_back([fn = std::move(fn), done] {
      fn();
      done->set_value();
    });
  }
  wake();
  return future;
}

void EventLoop::invoke(const std::function<void()>& fn) {
  if (auto posted = run_or_post(fn)) posted->wait();
}

bool EventLoop::invoke_for(std::function<void()> fn, std::chrono::milliseconds wait) {
  auto posted = run_or_post(std::move(fn));
  return !posted || posted->wait_for(wait) == std::future_status::ready;
}

void EventLoop::stop() {
  post([this] { stopping_ = true; });
}

void EventLoop::drain_posted() {
  uint64_t count;
  [[maybe_unused]] ssize_t n = read(wake_.get(), &count, sizeof(count));
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lock(mutex_);
    work.swap(posted_);
  }
  for (auto& fn : work) fn();
}

void EventLoop::run() {
  {
    std::lock_guard lock(mutex_);
    running_ = true;
    thread_ = std::this_thread::get_id();
  }
  dispatch();
  std::vector<std::function<void()>> leftover;
  {
    std::lock_guard lock(mutex_);
    running_ = false;
    leftover.swap(posted_);
  }
  for (auto& fn : leftover) fn();  // invoke() callers wait for these
}

void EventLoop::dispatch() {
  constexpr int kMaxEvents = 32;
  epoll_event events[kMaxEvents];
  while (!stopping_) {
    const int n = epoll_wait(epoll_.get(), events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("epoll_wait: {}", std::strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_.get()) {
        drain_posted();
        continue;
      }
      std::shared_ptr<Callback> callback;
      {
        std::lock_guard lock(mutex_);
        auto it = callbacks_.find(fd);
        if (it != callbacks_.end()) callback = it->second;
      }
      if (callback) (*callback)(events[i].events);
    }
  }
}

}  // namespace franca
