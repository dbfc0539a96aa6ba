// Unix stream sockets for the control API: an owner-only listener that replaces
// only a stale socket file, and a client connect.
#pragma once

#include <string>
#include <string_view>

#include "vmm/core/error.h"
#include "vmm/core/fd.h"

namespace franca::api {

// Binds and listens on `path` (non-blocking, close-on-exec). The file is 0600
// from its creation. An existing socket file is replaced only when connecting
// to it is refused (its server is gone); a live socket, another kind of file or
// a bad path is a usage error naming `what` (e.g. "--api-socket PATH").
Result<Fd> listen_owner_only(const std::string& path, std::string_view what);

// A blocking, close-on-exec connection to `path`; errno_error naming it on failure.
Result<Fd> connect_unix(const std::string& path);

}  // namespace franca::api
