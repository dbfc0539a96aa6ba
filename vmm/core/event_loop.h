// The `vmm-io` event loop: epoll over fds with callbacks, run on one named
// thread; device back-ends and host input register here (STYLE.md "Threads").
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "vmm/core/error.h"
#include "vmm/core/fd.h"

namespace franca {

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t events)>;

  // One fd registration; unregisters it when destroyed or reset (movable, not
  // copyable). A callback may reset its own Watch: the running call finishes.
  class Watch {
   public:
    Watch() = default;
    Watch(Watch&& other) noexcept : loop_(std::exchange(other.loop_, nullptr)), fd_(other.fd_) {}
    Watch& operator=(Watch&& other) noexcept;
    ~Watch() { reset(); }
    void reset();
    bool active() const { return loop_ != nullptr; }
    int fd() const { return fd_; }

   private:
    friend class EventLoop;
    Watch(EventLoop* loop, int fd) : loop_(loop), fd_(fd) {}
    EventLoop* loop_ = nullptr;
    int fd_ = -1;
  };

  static Result<std::unique_ptr<EventLoop>> create();

  // Registers `fd` for `events` (EPOLLIN, ...) until the returned Watch goes.
  // The callback runs on the loop thread. Destroy every Watch before the loop.
  [[nodiscard]] Result<Watch> add(int fd, uint32_t events, Callback callback);
  // Runs `fn` on the loop thread soon (thread-safe).
  void post(std::function<void()> fn);
  // Runs `fn` on the loop thread and waits for it; runs it inline when called
  // from the loop thread or when the loop is not running (tests, shutdown).
  void invoke(const std::function<void()>& fn);
  // The same, but waits at most `wait`: false when the loop did not get to it
  // in time (a stuck loop is then a diagnosis, not a hung caller). `fn` may
  // still run later, so it must own what it touches.
  [[nodiscard]] bool invoke_for(std::function<void()> fn, std::chrono::milliseconds wait);

  // Dispatches until stop() is called, on the calling thread (the loop thread).
  void run();
  void stop();

 private:
  EventLoop(Fd epoll, Fd wake) : epoll_(std::move(epoll)), wake_(std::move(wake)) {}
  void drain_posted();
  void wake();
  // invoke's first half: runs `fn` inline (nullopt) when invoke would, else
  // posts it and returns the future its completion sets.
  std::optional<std::future<void>> run_or_post(std::function<void()> fn);
  void dispatch();
  void remove(int fd);

  Fd epoll_;
  Fd wake_;  // eventfd: wakes the loop for post() and stop()
  std::mutex mutex_;
  std::map<int, std::shared_ptr<Callback>> callbacks_;
  std::vector<std::function<void()>> posted_;
  bool stopping_ = false;
  bool running_ = false;  // under mutex_
  std::thread::id thread_;
};

}  // namespace franca
