// What the control API may do to a running virtio-net device: link state and
// the data-path back-end (in-process or kernel vhost-net), both thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "vmm/core/error.h"

namespace franca::virtio {

class NetControl {
 public:
  virtual ~NetControl() = default;
  // Sets VIRTIO_NET_S_LINK_UP and raises a config interrupt (the guest sees
  // carrier loss / return). Blocks until applied.
  virtual Result<void> set_link(bool up) = 0;
  virtual bool link_up() const = 0;
  // "inprocess" or "vhost": moves every running queue pair to that back-end
  // (quiesce, carry the ring indices across, restart). Blocks until done; an
  // error (vhost unavailable, packed rings negotiated, unknown name) leaves the
  // current back-end running.
  virtual Result<void> set_backend(std::string_view name) = 0;
  virtual std::string backend_name() const = 0;
};

}  // namespace franca::virtio
