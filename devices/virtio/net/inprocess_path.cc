// In-process virtio-net data path: transmit to and receive from a TAP fd on
// the vmm-io loop (virtio 1.x §5.1.6.2-5.1.6.4).
#include "devices/virtio/net/inprocess_path.h"

#include <limits.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>
#include "devices/virtio/net/vnet_hdr.h"
#include "vmm/core/log.h"

namespace franca::virtio {
namespace {

// A TSO frame from the TAP is at most 64 KiB plus its headers (65550 bytes
// with an Ethernet and a VLAN header): what a read must have room for.
constexpr size_t kMaxPacket = kNetHdrSize + 65536 + 256;
// Chains (transmit) or frames (receive) per pass before the loop serves others.
constexpr size_t kBudget = 256;

}  // namespace

InProcessPath::InProcessPath(PairContext ctx)
    : ctx_(std::move(ctx)),
      mrg_rxbuf_((ctx_.features >> VIRTIO_NET_F_MRG_RXBUF) & 1),
      guest_csum_((ctx_.features >> VIRTIO_NET_F_GUEST_CSUM) & 1),
      rx_(ctx_.rx->queue, mrg_rxbuf_),
      packet_(kMaxPacket) {}

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
  if (packet_len_ && !failed_) deliver_held();  // one bounded attempt
  if (packet_len_) {
    ctx_.counters->rx_dropped++;  // no buffer for the frame in hand: the one loss a switch may cost
    packet_len_ = 0;
  }
  if (!failed_) end_rx_batch();  // what the attempt filled published, the rest given back
  if (failed_) {
    rx_.discard();  // the ring is the driver's to reset; nothing more is written to it
    return;
  }
  ctx_.rx->queue.enable_notifications();  // the next owner decides; leave kicks on
  if (ctx_.tx->queue.should_signal()) ctx_.interrupt->signal_used(ctx_.tx->index);
}

void InProcessPath::link_changed() {
  if (running_ && !failed_) watch_tap(ctx_.link_up());
}

void InProcessPath::fail(std::string_view why) {
  failed_ = true;
  rx_.discard();  // nothing taken is published or given back over a corrupt ring
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
  watch_tap(true);
  if (packet_len_) on_tap_readable();  // the held frame first; then the TAP's readiness takes over
}

// One batch per wakeup: frames until the TAP is empty, the ring is, or the
// budget is spent; then one publish and at most one interrupt.
void InProcessPath::on_tap_readable() {
  bool waiting = false;
  for (size_t frames = 0; frames < kBudget && running_ && !failed_; ++frames) {
    const RxStep step = packet_len_ ? deliver_held() : receive();
    if (step == RxStep::kFailed) return;  // a corrupt ring, not a full one: fail() stopped everything
    if (step == RxStep::kTapEmpty) break;
    if (step == RxStep::kNoBuffers) {
      waiting = true;
      break;
    }
  }
  if (!running_ || failed_) return;
  end_rx_batch();
  if (waiting && !failed_) {
    ctx_.counters->rx_ring_full++;
    watch_tap(false);  // resume on the driver's kick (take() left kicks on)
  }
}

// Reads the next frame straight into the receive chains: readv over their
// writable buffers, chains taken until they hold the largest frame a TAP
// gives (with MRG_RXBUF; Linux posts buffers of about 1.5 KiB to a page each,
// so a 64 KiB GSO frame fills dozens). A TAP read takes the whole frame or
// loses the rest, and its length is unknown until then, so when the ring has
// less than that posted (or the buffers need more than IOV_MAX iovecs), the
// read's last iovec is packet_: a frame that fits the chains never touches it,
// one that runs past them is copied whole into packet_ and held until enough
// chains come (the one copy left, counted in rx_bounced). Chains a frame did
// not fill stay for the next frame and are given back unpublished at the
// batch's end.
InProcessPath::RxStep InProcessPath::receive() {
  auto took = rx_.take(kMaxPacket, false);
  if (took && *took == RxChains::Took::kLimit && rx_.empty()) {  // a ring's worth filled this batch: publish it
    if (!publish_rx()) return RxStep::kFailed;
    took = rx_.take(kMaxPacket, false);
  }
  if (!took) {
    fail(took.error());
    return RxStep::kFailed;
  }
  if (*took == RxChains::Took::kDry) {
    if (tap_readable()) return RxStep::kNoBuffers;  // a frame waits: so do we (kicks on)
    ctx_.rx->queue.disable_notifications();         // nothing to receive: the TAP's readiness brings us back
    return RxStep::kTapEmpty;
  }
  iov_.clear();
  const size_t direct = rx_.iovecs(kMaxPacket, IOV_MAX - 1, iov_);
  if (direct < kMaxPacket) iov_.push_back({packet_.data() + direct, kMaxPacket - direct});
  const ssize_t n = ::readv(ctx_.tap_fd, iov_.data(), static_cast<int>(iov_.size()));
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) FRANCA_WARN_RATELIMITED("{}: TAP read: {}", ctx_.id, std::strerror(errno));
    return RxStep::kTapEmpty;
  }
  const auto len = static_cast<size_t>(n);
  spdlog::trace("{}: rx {} bytes from the TAP ({} in the guest's buffers)", ctx_.id, len, direct);
  if (len < kNetHdrSize + kMinFrame || len > kMaxPacket) {  // a runt, or cut short (a TAP reports the whole length)
    ctx_.counters->rx_dropped++;
    return RxStep::kFrame;  // nothing filled: the chains stay for the next frame
  }
  if (len > direct) {
    rx_.copy_out({packet_.data(), direct});  // its head, from the chains it overran
    packet_len_ = len;
    ctx_.counters->rx_bounced++;
    return deliver_held();
  }
  rx_.complete_frame(len, !guest_csum_);
  ctx_.counters->rx_packets++;
  ctx_.counters->rx_bytes += len - kNetHdrSize;
  return RxStep::kFrame;
}

// Copies the held frame into receive chains; waits (kNoBuffers, kicks on) for
// more when the ring has too few, drops it when the whole ring cannot hold it
// (or one chain, without MRG_RXBUF).
InProcessPath::RxStep InProcessPath::deliver_held() {
  for (;;) {
    auto took = rx_.take(packet_len_, true);
    if (!took) {
      fail(took.error());
      return RxStep::kFailed;
    }
    if (*took == RxChains::Took::kEnough) break;
    if (*took == RxChains::Took::kLimit && rx_.has_filled() && (mrg_rxbuf_ || rx_.empty())) {
      if (!publish_rx()) return RxStep::kFailed;  // the batch's frames hold the rest of the ring: theirs first
      continue;
    }
    const size_t capacity = rx_.capacity();
    if (!rx_.give_back()) {
      fail("receive chains could not be given back to the driver");
      return RxStep::kFailed;
    }
    if (*took == RxChains::Took::kDry) return RxStep::kNoBuffers;
    ctx_.counters->rx_dropped++;
    FRANCA_WARN_RATELIMITED("{}: dropped a {}-byte frame: receive buffers hold {}", ctx_.id, packet_len_, capacity);
    packet_len_ = 0;
    return RxStep::kFrame;
  }
  rx_.copy_in({packet_.data(), packet_len_});
  rx_.complete_frame(packet_len_, !guest_csum_);
  ctx_.counters->rx_packets++;
  ctx_.counters->rx_bytes += packet_len_ - kNetHdrSize;
  packet_len_ = 0;
  return RxStep::kFrame;
}

bool InProcessPath::tap_readable() const {
  pollfd p{.fd = ctx_.tap_fd, .events = POLLIN, .revents = 0};
  return ::poll(&p, 1, 0) == 1;
}

bool InProcessPath::publish_rx() {
  auto published = rx_.publish();
  if (!published) {
    fail(published.error());
    return false;
  }
  rx_unsignalled_ += *published;
  return true;
}

void InProcessPath::end_rx_batch() {
  if (publish_rx()) signal_rx();
}

void InProcessPath::signal_rx() {
  if (!rx_unsignalled_) return;
  rx_unsignalled_ = 0;
  if (ctx_.rx->queue.should_signal()) ctx_.interrupt->signal_used(ctx_.rx->index);
}

}  // namespace franca::virtio
