// virtio-console device (virtio 1.x §5.3): config space, the receive and
// transmit queues of port 0, and the hand-off to the back-end.
#include "devices/virtio/console/console.h"

#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>

#include <spdlog/spdlog.h>

#include "vmm/core/log.h"

namespace franca::virtio {
namespace {

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

constexpr std::array<FeatureName, 2> kFeatureNames = {{
    {"size", VIRTIO_CONSOLE_F_SIZE},
    {"emerg_write", VIRTIO_CONSOLE_F_EMERG_WRITE},
}};

constexpr uint64_t kOffered = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_RING_PACKED) | bit(VIRTIO_RING_F_EVENT_IDX) |
                              bit(VIRTIO_RING_F_INDIRECT_DESC) | bit(VIRTIO_CONSOLE_F_SIZE) |
                              bit(VIRTIO_CONSOLE_F_EMERG_WRITE);

// Chains handled per pass before the rest is posted back to the loop, so a
// driver that keeps its ring full cannot monopolise the vmm-io thread.
constexpr size_t kChainBudget = 1024;
constexpr size_t kCopyChunk = 4096;

}  // namespace

std::span<const FeatureName> console_feature_names() { return kFeatureNames; }

Console::Console(std::unique_ptr<Backend> backend, std::string id, uint64_t offered)
    : backend_(std::move(backend)), id_(std::move(id)), offered_(offered) {
  size_ = backend_->window_size().value_or(kDefaultSize);
}

Console::~Console() {
  if (active_) stop_kicks();
}

Result<std::unique_ptr<Console>> Console::create(const ConsoleConfig& config, std::string id) {
  auto backend = create_backend(config, id);
  if (!backend) return std::unexpected(backend.error());
  const uint64_t offered = kOffered & ~config.feature_mask;
  return std::unique_ptr<Console>(new Console(std::move(*backend), std::move(id), offered));
}

Result<void> Console::start(EventLoop& loop) {
  loop_.store(&loop);
  return backend_->start(loop, [this](std::span<const uint8_t> bytes) { return input(bytes); });
}

void Console::detach() {
  loop_.store(nullptr);  // nothing is posted any more
  backend_->stop();
}

size_t Console::input(std::span<const uint8_t> bytes) {
  size_t take;
  {
    std::lock_guard lock(input_mutex_);
    take = std::min(bytes.size(), kInputCapacity - input_.size());
    input_.insert(input_.end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(take));
  }
  if (take) post_fill_rx();
  return take;
}

size_t Console::buffered_input() const {
  std::lock_guard lock(input_mutex_);
  return input_.size();
}

void Console::set_size(uint16_t cols, uint16_t rows) {
  {
    std::lock_guard lock(config_mutex_);
    size_ = {cols, rows};
  }
  EventLoop* loop = loop_.load();
  if (!loop) return;
  loop->post([this] {
    if (usable() && (active_->ctx.features & bit(VIRTIO_CONSOLE_F_SIZE))) active_->ctx.interrupt->signal_config();
  });
}

uint32_t Console::device_type() const { return VIRTIO_ID_CONSOLE; }

void Console::read_config(uint64_t offset, std::span<uint8_t> data) {
  virtio_console_config config{};  // little-endian fields; x86_64 is little-endian
  {
    std::lock_guard lock(config_mutex_);
    config.cols = size_.cols;
    config.rows = size_.rows;
  }
  config.max_nr_ports = 1;
  read_config_bytes(config, offset, data);
}

void Console::write_config(uint64_t offset, std::span<const uint8_t> data) {
  // emerg_wr: the spec wants it accepted at any time, even before feature negotiation.
  if (!(offered_ & bit(VIRTIO_CONSOLE_F_EMERG_WRITE))) return;
  if (offset != offsetof(virtio_console_config, emerg_wr) || data.empty()) return;
  EventLoop* loop = loop_.load();
  if (!loop) return;
  const uint8_t byte = data[0];
  loop->post([this, byte] { backend_->write({&byte, 1}); });
}

Result<void> Console::activate(DeviceContext ctx) {
  if (active_) reset();
  active_.emplace(Active{.ctx = std::move(ctx)});
  for (ActiveQueue& q : active_->ctx.queues) {
    if (q.index == kRxQueue) active_->rx = &q;
    if (q.index == kTxQueue) active_->tx = &q;
  }
  EventLoop* expected = nullptr;
  loop_.compare_exchange_strong(expected, active_->ctx.loop);
  active_->session.emplace(active_->ctx, DeviceSession::Options{.id = id_, .counters = &counters_});
  for (ActiveQueue* q : {active_->rx, active_->tx}) {
    if (!q) continue;
    const bool rx = q == active_->rx;
    if (auto r = active_->session->watch_kick(q->kick_fd, [this, rx] { rx ? fill_rx() : drain_tx(); }); !r) {
      reset();
      return r;
    }
  }
  std::vector<StallWatch::Tracked> tracked;
  if (active_->rx) tracked.push_back({.index = kRxQueue, .role = "rx", .queue = &active_->rx->queue, .prompt = false});
  if (active_->tx) tracked.push_back({.index = kTxQueue, .role = "tx", .queue = &active_->tx->queue});
  if (auto r = active_->session->watch_stalls(std::move(tracked)); !r) {
    reset();
    return r;
  }
  fill_rx();  // input typed before DRIVER_OK
  drain_tx();
  return {};
}

std::vector<std::string> Console::describe_queues() const {
  return active_ ? active_->session->describe_queues() : std::vector<std::string>{};
}

void Console::reset() {
  if (!active_) return;
  stop_kicks();
  active_.reset();
}

void Console::stop_kicks() { active_->session->unwatch_kicks(); }

void Console::fail(std::string_view why) { active_->session->fail(why); }

void Console::post_fill_rx() {
  EventLoop* loop = loop_.load();
  if (loop && !fill_posted_.exchange(true)) loop->post([this] { fill_rx(); });
}

void Console::fill_rx() {
  fill_posted_.store(false);
  if (!usable() || !active_->rx) return;
  Queue& q = active_->rx->queue;
  DescriptorChain chain;
  size_t chains = 0;
  bool rechecked = false;
  std::unique_lock lock(input_mutex_);
  while (!input_.empty() && chains < kChainBudget) {
    auto got = q.pop(chain);
    if (!got) {
      lock.unlock();
      fail(describe(got.error()));
      return;
    }
    if (!*got) {
      // Out of buffers: ask for a kick, and look once more for buffers that raced it.
      if (rechecked || !q.enable_notifications()) break;
      rechecked = true;
      continue;
    }
    rechecked = false;
    q.push(chain, copy_input(chain));
    ++chains;
    counters_.requests++;
  }
  const bool more = !input_.empty() && chains == kChainBudget;
  lock.unlock();
  if (chains && q.should_signal()) active_->ctx.interrupt->signal_used(kRxQueue);
  if (more) post_fill_rx();
  if (chains) backend_->resume_input();
}

// Caller holds input_mutex_.
uint32_t Console::copy_input(const DescriptorChain& chain) {
  ChainWriter writer(chain);
  uint8_t buf[kCopyChunk];
  while (writer.remaining() && !input_.empty()) {
    const size_t n = std::min({sizeof(buf), writer.remaining(), input_.size()});
    std::copy_n(input_.begin(), n, buf);
    input_.erase(input_.begin(), input_.begin() + static_cast<ptrdiff_t>(n));
    writer.write({buf, n});
  }
  return writer.written();
}

void Console::drain_tx() {
  if (!usable() || !active_->tx) return;
  Queue& q = active_->tx->queue;
  const DrainEnd end{.interrupt = active_->ctx.interrupt.get(), .index = kTxQueue, .repost = [this] {
                       active_->session->post([this] { drain_tx(); });
                     }};
  // Linux busy-polls the transmit used ring: every chain completes here, in the kick.
  const Drained drained = drain(q, kChainBudget, end, [this, &q](const DescriptorChain& chain) {
    write_output(chain);
    q.push(chain, 0);
    counters_.requests++;
    return true;
  });
  if (drained.error) fail(describe(*drained.error));
}

void Console::write_output(const DescriptorChain& chain) {
  ChainReader reader(chain);
  uint8_t buf[kCopyChunk];
  while (reader.remaining()) {
    const size_t n = reader.read(buf);
    if (n == 0) break;
    backend_->write({buf, n});
  }
}

}  // namespace franca::virtio
