// The control socket server (`--api-socket PATH`, README "Control socket"): one
// named thread `api` polls the listener and up to kMaxClients clients, frames
// requests by line and answers each through dispatch.h against an ApiTarget.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include "vmm/api/api_target.h"
#include "vmm/core/error.h"
#include "vmm/core/fd.h"

namespace franca::api {

class ApiServer {
 public:
  static constexpr size_t kMaxClients = 16;          // one more is told so and closed
  static constexpr size_t kMaxLine = 64 * 1024;      // a longer request: error reply, client dropped
  static constexpr size_t kMaxPending = 256 * 1024;  // unsent replies before a client's input is paused

  // Binds `path` owner-only (see listen_owner_only); nothing is served until start().
  static Result<std::unique_ptr<ApiServer>> create(const std::string& path);
  // Stops the thread promptly, closes every client, removes the socket file.
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Serves `target` on the `api` thread until destruction; `target` must outlive it.
  void start(ApiTarget& target);
  const std::string& path() const { return path_; }

 private:
  ApiServer(Fd listener, Fd wake, std::string path, ino_t inode)
      : listener_(std::move(listener)), wake_(std::move(wake)), path_(std::move(path)), inode_(inode) {}
  void serve(std::stop_token stop, ApiTarget& target);

  Fd listener_;
  Fd wake_;  // eventfd: written by the stop callback, polled by the thread
  std::string path_;
  ino_t inode_;  // of the socket file we made: never remove someone else's
  std::jthread thread_;
};

}  // namespace franca::api
