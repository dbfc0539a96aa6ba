// The `vmm-io` event loop: epoll over fds with callbacks, run on one named
// thread; device back-ends and host input register here (STYLE.md "Threads").
#pragma once

#include <sys/epoll.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "vmm/core/error.h"
#include "vmm/core/fd.h"

namespace franca {

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t events)>;

  static Result<std::unique_ptr<EventLoop>> create();

  // Registers `fd` for `events` (EPOLLIN, ...). The callback runs on the loop thread.
  Result<void> add(int fd, uint32_t events, Callback callback);
  void remove(int fd);
  // Runs `fn` on the loop thread soon (thread-safe).
  void post(std::function<void()> fn);
  // Runs `fn` on the loop thread and waits for it; runs it inline when called
  // from the loop thread or when the loop is not running (tests, shutdown).
  void invoke(const std::function<void()>& fn);

  // Dispatches until stop() is called, on the calling thread (the loop thread).
  void run();
  void stop();

 private:
  EventLoop(Fd epoll, Fd wake) : epoll_(std::move(epoll)), wake_(std::move(wake)) {}
  void drain_posted();
  void wake();
  void dispatch();

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
