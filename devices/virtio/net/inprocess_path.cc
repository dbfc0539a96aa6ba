// In-process virtio-net data path: transmit to and receive from a TAP fd on
// the vmm-io loop (virtio 1.x §5.1.6.2-5.1.6.4).
#include "devices/virtio/net/inprocess_path.h"

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>
#include "devices/virtio/net/vnet_hdr.h"
#include "vmm/core/log.h"

namespace franca::virtio {
namespace {

// A TSO frame from the TAP is at most 64 KiB plus its headers.
constexpr size_t kMaxPacket = kNetHdrSize + 65536 + 256;
// Chains (transmit) or frames (receive) per pass before the loop serves others.
constexpr size_t kBudget = 256;

}  // namespace

InProcessPath::InProcessPath(PairContext ctx) : ctx_(std::move(ctx)), packet_(kMaxPacket) {
  mrg_rxbuf_ = (ctx_.features >> VIRTIO_NET_F_MRG_RXBUF) & 1;
  guest_csum_ = (ctx_.features >> VIRTIO_NET_F_GUEST_CSUM) & 1;
}

InProcessPath::~InProcessPath() { stop(); }

Result<void> InProcessPath::start() {
  const int tx_fd = ctx_.tx->kick_fd, rx_fd = ctx_.rx->kick_fd;
  auto tx = watch_kick(*ctx_.loop, tx_fd, nullptr, [this] { process_tx(); });
  if (!tx) return std::unexpected(tx.error());
  auto rx = watch_kick(*ctx_.loop, rx_fd, nullptr, [this] { on_rx_kick(); });
  if (!rx) return std::unexpected(rx.error());
  tx_kick_ = std::move(*tx);
  rx_kick_ = std::move(*rx);
  running_ = true;
  failed_ = false;
  // Receive kicks are wanted only while waiting for buffers.
  ctx_.rx->queue.disable_notifications();
  watch_tap(true);
  process_tx();  // buffers queued while nobody (or vhost) was watching
  return {};
}

void InProcessPath::stop() {
  if (!running_) return;
  running_ = false;  // first: a failure below re-enters stop() through ctx_.fail
  watch_tap(false);
  tx_kick_.reset();
  rx_kick_.reset();
  if (packet_len_ && !failed_) deliver();  // one bounded attempt
  if (packet_len_) {
    ctx_.counters->rx_dropped++;  // no buffer for the frame in hand: the one loss a switch may cost
    packet_len_ = 0;
  }
  if (!failed_) {
    ctx_.rx->queue.enable_notifications();  // the next owner decides; leave kicks on
    signal_rx();
    if (ctx_.tx->queue.should_signal()) ctx_.interrupt->signal_used(ctx_.tx->index);
  }
}

void InProcessPath::link_changed() {
  if (running_ && !failed_) watch_tap(ctx_.link_up());
}

void InProcessPath::fail(std::string_view why) {
  failed_ = true;
  watch_tap(false);
  ctx_.fail(why);
}

void InProcessPath::watch_tap(bool on) {
  on = on && running_ && !failed_ && ctx_.link_up();
  if (on == tap_watch_.active()) return;
  if (!on) {
    tap_watch_.reset();
  } else if (auto r = ctx_.loop->add(ctx_.tap_fd, EPOLLIN, [this](uint32_t) { on_tap_readable(); }); !r) {
    FRANCA_WARN_RATELIMITED("{}: cannot watch the TAP: {}", ctx_.id, r.error().message);
  } else {
    tap_watch_ = std::move(*r);
  }
}

void InProcessPath::process_tx() {
  if (!running_ || failed_) return;
  Queue& q = ctx_.tx->queue;
  // Come back through our own kick, not a posted [this]: a path stopped (and
  // freed) before the loop gets there is no longer watching the eventfd, and
  // whoever runs the queue next sees the kick.
  const DrainEnd end{
      .interrupt = ctx_.interrupt, .index = ctx_.tx->index, .repost = [this] { eventfd_signal(ctx_.tx->kick_fd); }};
  const Drained drained = drain(q, kBudget, end, [this, &q](const DescriptorChain& chain) {
    transmit(chain);
    q.push(chain, 0);
    return true;
  });
  if (drained.error) fail(describe(*drained.error));
}

void InProcessPath::transmit(const DescriptorChain& chain) {
  ChainReader reader(chain);
  auto header = reader.read_obj<virtio_net_hdr_v1>();  // read once; the TAP gets this copy
  const size_t frame = reader.remaining();
  const TxHeaderError error = header ? check_tx_header(*header, ctx_.features, frame) : TxHeaderError::kShortFrame;
  if (error != TxHeaderError::kNone || !ctx_.link_up()) {
    if (error != TxHeaderError::kNone) FRANCA_WARN_RATELIMITED("{}: dropped a frame: {}", ctx_.id, describe(error));
    ctx_.counters->tx_dropped++;
    return;
  }
  iov_.clear();
  iov_.push_back({&*header, kNetHdrSize});
  reader.iovecs(frame, iov_);
  if (iov_.size() > IOV_MAX) {
    ctx_.counters->tx_dropped++;
    FRANCA_WARN_RATELIMITED("{}: dropped a frame in {} pieces (more than IOV_MAX)", ctx_.id, iov_.size());
    return;
  }
  // The TAP's send buffer is unbounded by default: a write either takes the frame or refuses it for good.
  spdlog::trace("{}: tx {} bytes flags {} gso {} hdr_len {} gso_size {} csum {}+{} in {} iovecs", ctx_.id, frame,
                header->flags, header->gso_type, header->hdr_len, header->gso_size, header->csum_start,
                header->csum_offset, iov_.size());
  if (::writev(ctx_.tap_fd, iov_.data(), static_cast<int>(iov_.size())) < 0) {
    ctx_.counters->tx_dropped++;
    FRANCA_WARN_RATELIMITED("{}: TAP refused a {}-byte frame: {}", ctx_.id, frame, std::strerror(errno));
    return;
  }
  ctx_.counters->tx_packets++;
  ctx_.counters->tx_bytes += frame;
}

void InProcessPath::on_rx_kick() {
  if (!running_ || failed_) return;
  ctx_.rx->queue.disable_notifications();
  if (packet_len_ && !deliver()) return;  // still waiting (kicks re-enabled by deliver)
  signal_rx();
  watch_tap(true);
}

void InProcessPath::on_tap_readable() {
  size_t frames = 0;
  while (running_ && !failed_ && frames < kBudget) {
    if (!packet_len_ && !read_frame()) break;
    if (!deliver()) {
      if (failed_) return;  // a corrupt ring, not a full one: fail() stopped everything
      ctx_.counters->rx_ring_full++;
      watch_tap(false);  // resume on the driver's kick
      break;
    }
    ++frames;
  }
  signal_rx();
}

bool InProcessPath::read_frame() {
  const ssize_t n = ::read(ctx_.tap_fd, packet_.data(), packet_.size());
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) FRANCA_WARN_RATELIMITED("{}: TAP read: {}", ctx_.id, std::strerror(errno));
    return false;
  }
  if (static_cast<size_t>(n) < kNetHdrSize + kMinFrame) {
    ctx_.counters->rx_dropped++;
    return true;  // a runt: nothing held, try the next
  }
  packet_len_ = static_cast<size_t>(n);
  spdlog::trace("{}: rx {} bytes from the TAP", ctx_.id, n);
  return true;
}

// Pops receive chains until they can hold `need` bytes (one chain without
// MRG_RXBUF), taking at most the whole ring (size() slots; a size is at most
// 32768, so num_buffers fits). On too few buffers the pops are undone and
// kicks enabled. Bounded for a hostile driver that tops the ring up while we
// pop: every chain adds capacity (one without writable bytes is a ring
// error), the slots taken are capped, and a recheck that promised buffers
// must yield one.
bool InProcessPath::take_rx_chains(size_t need) {
  Queue& q = ctx_.rx->queue;
  chains_.clear();
  size_t capacity = 0, slots = 0;
  bool kicks_on = false, rechecked = false;
  while (capacity < need && slots < q.size() && (mrg_rxbuf_ || chains_.empty())) {
    chains_.emplace_back();
    auto got = q.pop(chains_.back());
    if (!got) {
      fail(describe(got.error()));
      return false;
    }
    if (!*got) {
      chains_.pop_back();
      kicks_on = true;
      // Out of buffers: ask for a kick, then look once more for buffers that raced it.
      if (rechecked || !q.enable_notifications()) {
        give_back_rx_chains();  // nothing taken: the chains stay the driver's; kicks stay on
        return false;
      }
      rechecked = true;
      continue;
    }
    rechecked = false;
    if (chains_.back().writable_bytes() == 0) {  // ring_errors and a rate-limited log, through Net::fail
      fail("receive chain without a device-writable buffer");
      return false;
    }
    capacity += chains_.back().writable_bytes();
    slots += chains_.back().ring_slots();
  }
  if (kicks_on) q.disable_notifications();  // not waiting any more
  return true;
}

// Every chain take_rx_chains() popped goes back to the driver untouched (they
// are the queue's latest pops, with no push since). Refused only by a bug
// here; then the device fails rather than run on a ring it cannot account for.
bool InProcessPath::give_back_rx_chains() {
  const bool given = ctx_.rx->queue.undo_pop(chains_);
  chains_.clear();
  if (!given) fail("receive chains could not be given back to the driver");
  return given;
}

bool InProcessPath::deliver() {
  if (!packet_len_) return true;
  if (!take_rx_chains(packet_len_)) return false;
  size_t capacity = 0;
  for (const DescriptorChain& c : chains_) capacity += c.writable_bytes();
  if (capacity < packet_len_) {  // too small (one chain without MRG_RXBUF, or the whole ring): drop, keep the chains
    if (!give_back_rx_chains()) return false;
    ctx_.counters->rx_dropped++;
    FRANCA_WARN_RATELIMITED("{}: dropped a {}-byte frame: receive buffers hold {}", ctx_.id, packet_len_, capacity);
    packet_len_ = 0;
    return true;
  }
  auto* header = reinterpret_cast<virtio_net_hdr_v1*>(packet_.data());
  header->num_buffers = static_cast<uint16_t>(chains_.size());  // 1 without MRG_RXBUF (§5.1.6.4)
  if (!guest_csum_) header->flags = 0;
  used_.clear();
  size_t offset = 0;
  for (const DescriptorChain& c : chains_) {
    ChainWriter writer(c);
    offset += writer.write({packet_.data() + offset, packet_len_ - offset});
    used_.push_back(UsedChain::of(c, writer.written()));
  }
  // Published together: the driver must never see the head (num_buffers = N)
  // before the other N-1 buffers (Linux receive_mergeable: "buffers missing").
  ctx_.rx->queue.push_batch(used_);
  rx_unsignalled_ += used_.size();
  ctx_.counters->rx_packets++;
  ctx_.counters->rx_bytes += packet_len_ - kNetHdrSize;
  packet_len_ = 0;
  return true;
}

void InProcessPath::signal_rx() {
  if (!rx_unsignalled_) return;
  rx_unsignalled_ = 0;
  if (ctx_.rx->queue.should_signal()) ctx_.interrupt->signal_used(ctx_.rx->index);
}

}  // namespace franca::virtio
