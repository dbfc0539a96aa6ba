// libFuzzer target for the in-process virtio-net data path (virtio 1.x
// §5.1.6.2 transmit, §5.1.6.3-4 receive): fuzz-built transmit chains (header
// and frame bytes from the input, any buffer split, indirect tables, buffers
// outside RAM) go through InProcessPath to a socketpair standing in for the
// TAP; frames written to the socketpair land in fuzz-built receive chains.
// Invariants: no crash or sanitizer report; unless the ring was corrupt, every
// transmit chain comes back once with length 0 and is either sent or counted
// dropped; what reaches the TAP is a header check_tx_header() accepts and a
// whole frame; no receive chain is used twice or reported beyond its size.
//
// Input: [flags][features][log2 queue size] then records, each led by a kind
// byte whose top two bits choose: 0/3 a transmit chain, 1 a receive chain, 2 a
// frame from the TAP.
//   chain: kind bits 0-1 = buffers - 1, bit 2 = in an indirect table (when
//          negotiated), bit 3 = last buffer outside RAM, bit 4 = (transmit) a
//          writable buffer at the end; then a u16 length per buffer, then
//          (transmit) the readable bytes.
//   frame: u16 length, then the header and frame bytes.
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "devices/virtio/net/inprocess_path.h"
#include "devices/virtio/net/vnet_hdr.h"
#include "tests/support/driver_queue.h"
#include "tests/support/recording_interrupt.h"
#include "vmm/core/event_loop.h"
#include "vmm/core/fd.h"

namespace {

using franca::EventLoop;
using franca::Fd;
using franca::GuestMemory;
using franca::MemoryRegion;
using franca::testing::DriverBuffer;
using franca::testing::DriverQueue;
using namespace franca::virtio;

constexpr uint8_t kPacked = 1, kEventIdx = 2, kIndirect = 4, kMrgRxbuf = 8, kLinkDown = 16;
constexpr uint64_t kRamSize = 0x80000;
constexpr uint64_t kRxRing = 0x1000, kTxRing = 0x20000, kDataBase = 0x40000;
constexpr uint64_t kOutsideRam = 0x10000000;
constexpr uint16_t kMaxBuffer = 2048;
constexpr uint16_t kMaxFrame = 4096;

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return size_ == 0; }
  template <class T>
  T take() {
    T value{};
    copy(reinterpret_cast<uint8_t*>(&value), sizeof(T));
    return value;
  }
  // Copies up to n bytes, zero-filling what the input lacks.
  void copy(uint8_t* out, size_t n) {
    const size_t have = std::min(n, size_);
    if (have) std::memcpy(out, data_, have);
    if (n > have) std::memset(out + have, 0, n - have);
    data_ += have;
    size_ -= have;
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

uint64_t features_from(uint8_t flags, uint8_t offloads) {
  uint64_t f = bit(VIRTIO_F_VERSION_1);
  if (flags & kPacked) f |= bit(VIRTIO_F_RING_PACKED);
  if (flags & kEventIdx) f |= bit(VIRTIO_RING_F_EVENT_IDX);
  if (flags & kIndirect) f |= bit(VIRTIO_RING_F_INDIRECT_DESC);
  if (flags & kMrgRxbuf) f |= bit(VIRTIO_NET_F_MRG_RXBUF);
  const unsigned offload_bits[] = {VIRTIO_NET_F_CSUM, VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6,
                                   VIRTIO_NET_F_HOST_ECN, VIRTIO_NET_F_GUEST_CSUM};
  for (unsigned i = 0; i < 5; ++i) {
    if (offloads & (1u << i)) f |= bit(offload_bits[i]);
  }
  return f;
}

// Guest RAM, allocated once: zero-filling it per run would dominate the run
// time. Runs stay deterministic: DriverQueue zeroes its rings and writes its
// tables, and every readable buffer is filled from the input.
uint8_t* ram_bytes() {
  static std::vector<uint8_t> ram(kRamSize);
  return ram.data();
}

GuestMemory ram_memory() {
  const MemoryRegion region{.gpa = 0, .size = kRamSize, .host = ram_bytes()};
  return GuestMemory::over(std::span(&region, 1));
}

// The driver side: rings and buffers built from the input.
struct Driver {
  Driver(uint64_t features, uint16_t size)
      : ram(ram_memory()),
        rx(ram, {.size = size,
                 .packed = bool(features & bit(VIRTIO_F_RING_PACKED)),
                 .event_idx = bool(features & bit(VIRTIO_RING_F_EVENT_IDX)),
                 .indirect = bool(features & bit(VIRTIO_RING_F_INDIRECT_DESC)),
                 .ring_base = kRxRing}),
        tx(ram, {.size = size,
                 .packed = bool(features & bit(VIRTIO_F_RING_PACKED)),
                 .event_idx = bool(features & bit(VIRTIO_RING_F_EVENT_IDX)),
                 .indirect = bool(features & bit(VIRTIO_RING_F_INDIRECT_DESC)),
                 .ring_base = kTxRing}),
        size(size),
        indirect(features & bit(VIRTIO_RING_F_INDIRECT_DESC)) {}

  uint64_t alloc(size_t len) {
    if (next + len > kRamSize) return kOutsideRam;  // out of test RAM: the buffer is simply invalid
    const uint64_t gpa = next;
    next += (len + 15) & ~size_t{15};
    return gpa;
  }

  // One chain as the kind byte describes; false when the ring has no room.
  bool add_chain(uint8_t kind, bool transmit, Input& in) {
    const size_t count = (kind & 3) + 1;
    const bool in_table = (kind & 4) && indirect;
    std::vector<DriverBuffer> buffers;
    for (size_t i = 0; i < count; ++i) {
      const uint32_t len = in.take<uint16_t>() % (kMaxBuffer + 1);
      buffers.push_back({alloc(len), len, !transmit});
    }
    if (transmit && (kind & 16)) buffers.push_back({alloc(64), 64, true});
    if (kind & 8) buffers.back().gpa = kOutsideRam;
    for (const DriverBuffer& b : buffers) {
      if (!b.writable && b.gpa != kOutsideRam) in.copy(ram_bytes() + b.gpa, b.len);
    }
    DriverQueue& q = transmit ? tx : rx;
    uint16_t& descs = transmit ? tx_descs : rx_descs;
    const size_t slots = in_table ? 1 : buffers.size();
    if (descs + slots > size || (transmit ? tx_ids.size() : rx_capacity.size()) >= size) return false;
    descs = static_cast<uint16_t>(descs + slots);
    const uint16_t id = in_table ? q.add_indirect(buffers) : q.add(buffers);
    if (transmit) {
      tx_ids.push_back(id);
    } else {
      uint32_t capacity = 0;
      for (const DriverBuffer& b : buffers) capacity += b.len;
      rx_capacity[id] = capacity;
    }
    return true;
  }

  GuestMemory ram;
  DriverQueue rx, tx;
  uint16_t size;
  bool indirect;
  uint64_t next = kDataBase;
  uint16_t rx_descs = 0, tx_descs = 0;
  std::vector<uint16_t> tx_ids;
  std::map<uint16_t, uint32_t> rx_capacity;
};

// What reached the TAP: whole messages, each a header the checks accept and a frame.
size_t check_tap_output(int peer, uint64_t features) {
  static std::vector<uint8_t> buf(kNetHdrSize + kMaxBuffer * 5 + 64);
  size_t messages = 0;
  for (;;) {
    const ssize_t n = ::recv(peer, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) return messages;
    ++messages;
    check(static_cast<size_t>(n) >= kNetHdrSize + kMinFrame);
    virtio_net_hdr_v1 h;
    std::memcpy(&h, buf.data(), sizeof(h));
    check(!(h.flags & VIRTIO_NET_HDR_F_DATA_VALID) && h.num_buffers == 0);
    check(check_tx_header(h, features, static_cast<size_t>(n) - kNetHdrSize) == TxHeaderError::kNone);
  }
}

void run(Input& in) {
  const auto flags = in.take<uint8_t>();
  const auto offloads = in.take<uint8_t>();
  const uint16_t size = static_cast<uint16_t>(1u << (in.take<uint8_t>() % 7));  // 1..64
  const uint64_t features = features_from(flags, offloads);
  Driver driver(features, size);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return;
  const Fd device_end(sv[0]), peer(sv[1]);
  std::vector<uint8_t> frame;
  size_t frames = 0;
  while (!in.empty()) {
    const auto kind = in.take<uint8_t>();
    if ((kind >> 6) == 2) {
      frame.resize(in.take<uint16_t>() % (kMaxFrame + 1));
      in.copy(frame.data(), frame.size());
      if (::send(peer.get(), frame.data(), frame.size(), 0) >= 0) ++frames;
    } else if (!driver.add_chain(kind, (kind >> 6) != 1, in)) {
      break;
    }
  }
  driver.rx.publish();
  driver.tx.publish();

  auto loop = EventLoop::create();
  auto rxq = Queue::activate(driver.rx.config(), driver.rx.features(), driver.ram);
  auto txq = Queue::activate(driver.tx.config(), driver.tx.features(), driver.ram);
  check(loop && rxq && txq);
  const Fd rx_kick(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), tx_kick(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  ActiveQueue rx{0, std::move(*rxq), rx_kick.get()}, tx{1, std::move(*txq), tx_kick.get()};
  franca::testing::RecordingInterrupt irq;
  PairCounters counters;
  bool failed = false;
  const bool link = !(flags & kLinkDown);
  {
    InProcessPath path({.pair = 0,
                        .rx = &rx,
                        .tx = &tx,
                        .tap_fd = device_end.get(),
                        .memory = &driver.ram,
                        .loop = loop->get(),
                        .interrupt = &irq,
                        .features = features,
                        .counters = &counters,
                        .id = "net-fuzz",
                        .link_up = [link] { return link; },
                        .fail = [&failed](std::string_view) { failed = true; }});
    check(path.start().has_value());  // transmits every chain before returning
    if (frames) {
      (*loop)->stop();  // one dispatch: the TAP's frames, then the stop
      (*loop)->run();
    }
    path.stop();
  }
  if (failed) return;  // a corrupt ring: only "no crash" holds
  const size_t sent = check_tap_output(peer.get(), features);
  check(sent == counters.tx_packets);
  check(counters.tx_packets + counters.tx_dropped == driver.tx_ids.size());
  const auto tx_used = driver.tx.used();  // throws (and so aborts) on an unknown or repeated id
  check(tx_used.size() == driver.tx_ids.size());
  for (const auto& u : tx_used) check(u.len == 0);
  for (const auto& u : driver.rx.used()) check(u.len <= driver.rx_capacity.at(u.id));
  check(counters.rx_packets + counters.rx_dropped <= frames);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // dropped-frame warnings are expected here
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  run(in);
  return 0;
}
