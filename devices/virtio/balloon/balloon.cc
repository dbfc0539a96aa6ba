// virtio-balloon device (virtio 1.x §5.5): config space, the inflate, deflate,
// stats and free page reporting queues, and giving memory back to the host.
#include "devices/virtio/balloon/balloon.h"

#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <tuple>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/core/log.h"

namespace franca::virtio {
namespace {

using balloon::kPageSize;
using balloon::kPfnShift;
using balloon::Range;

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }
constexpr uint64_t kPagesPerMib = (1 << 20) / kPageSize;

constexpr std::array<FeatureName, 4> kFeatureNames = {{
    {"must_tell_host", VIRTIO_BALLOON_F_MUST_TELL_HOST},
    {"stats_vq", VIRTIO_BALLOON_F_STATS_VQ},
    {"deflate_on_oom", VIRTIO_BALLOON_F_DEFLATE_ON_OOM},
    {"reporting", VIRTIO_BALLOON_F_REPORTING},
}};

constexpr uint64_t kRingFeatures = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_RING_PACKED) | bit(VIRTIO_RING_F_EVENT_IDX) |
                                   bit(VIRTIO_RING_F_INDIRECT_DESC);

// Chains handled per pass before the rest is posted back to the loop.
constexpr size_t kChainBudget = 256;

int madvise_release(uint8_t* host, uint64_t len) { return madvise(host, len, MADV_DONTNEED) == 0 ? 0 : errno; }

}  // namespace

std::span<const FeatureName> balloon_feature_names() { return kFeatureNames; }

Result<std::unique_ptr<Balloon>> Balloon::create(const BalloonConfig& config, uint64_t guest_memory, std::string id,
                                                 ReleaseFn release) {
  const long host_page = sysconf(_SC_PAGESIZE);
  if (host_page != static_cast<long>(kPageSize)) {
    return host_error(
        fmt::format("--balloon: the host's page size is {} bytes; the balloon releases 4 KiB pages "
                    "one by one and needs 4 KiB host pages",
                    host_page));
  }
  if (config.size_mib * kPagesPerMib > guest_memory / kPageSize) {
    return usage_error(
        fmt::format("--balloon size={}: more than the guest's {} MiB", config.size_mib, guest_memory >> 20));
  }
  uint64_t offered = kRingFeatures | bit(VIRTIO_BALLOON_F_MUST_TELL_HOST) | bit(VIRTIO_BALLOON_F_STATS_VQ);
  if (config.deflate_on_oom) offered |= bit(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
  if (config.free_page_reporting) offered |= bit(VIRTIO_BALLOON_F_REPORTING);
  offered &= ~config.feature_mask;
  return std::unique_ptr<Balloon>(new Balloon(config, guest_memory, std::move(id), offered,
                                              release ? std::move(release) : ReleaseFn(madvise_release)));
}

Balloon::Balloon(const BalloonConfig& config, uint64_t guest_memory, std::string id, uint64_t offered,
                 ReleaseFn release)
    : id_(std::move(id)),
      offered_(offered),
      guest_pages_(guest_memory / kPageSize),
      stats_period_s_(config.stats_period_s),
      release_(std::move(release)),
      size_pages_(static_cast<uint32_t>(config.size_mib * kPagesPerMib)) {}

Balloon::~Balloon() = default;

uint32_t Balloon::device_type() const { return VIRTIO_ID_BALLOON; }

uint16_t Balloon::num_queues() const {
  return static_cast<uint16_t>(2 + ((offered_ & bit(VIRTIO_BALLOON_F_STATS_VQ)) ? 1 : 0) +
                               ((offered_ & bit(VIRTIO_BALLOON_F_REPORTING)) ? 1 : 0));
}

Result<void> Balloon::set_size_mib(uint64_t mib) {
  if (mib > guest_pages_ / kPagesPerMib) {
    return usage_error(
        fmt::format("balloon size {} MiB: more than the guest's {} MiB", mib, guest_pages_ / kPagesPerMib));
  }
  size_pages_.store(static_cast<uint32_t>(mib * kPagesPerMib));
  spdlog::info("{}: balloon size {} MiB (the guest keeps {} MiB)", id_, mib, guest_pages_ / kPagesPerMib - mib);
  if (EventLoop* loop = loop_.load()) {
    loop->post([this] {
      if (usable()) active_->ctx.interrupt->signal_config();
    });
  }
  return {};
}

uint64_t Balloon::size_pages() const { return size_pages_.load(); }
uint64_t Balloon::actual_pages() const { return actual_pages_.load(); }

void Balloon::read_config(uint64_t offset, std::span<uint8_t> data) {
  virtio_balloon_config config{};  // little-endian fields; x86_64 is little-endian
  config.num_pages = size_pages_.load();
  config.actual = actual_pages_.load();
  read_config_bytes(config, offset, data);
}

void Balloon::write_config(uint64_t offset, std::span<const uint8_t> data) {
  // Only `actual` is driver-writable; a partial write updates the bytes it covers.
  constexpr uint64_t kActual = offsetof(virtio_balloon_config, actual);
  uint32_t actual = actual_pages_.load();
  uint8_t bytes[sizeof(actual)];
  std::memcpy(bytes, &actual, sizeof(actual));
  bool touched = false;
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = offset + i;
    if (at < kActual || at >= kActual + sizeof(actual)) continue;
    bytes[at - kActual] = data[i];
    touched = true;
  }
  if (!touched) return;
  std::memcpy(&actual, bytes, sizeof(actual));
  actual_pages_.store(actual);
}

Result<void> Balloon::activate(DeviceContext ctx) {
  if (active_) reset();
  active_.emplace(Active{.ctx = std::move(ctx)});
  Active& a = *active_;
  // Linux numbers only the queues of negotiated features, consecutively.
  const bool stats = a.ctx.features & bit(VIRTIO_BALLOON_F_STATS_VQ);
  const bool report = a.ctx.features & bit(VIRTIO_BALLOON_F_REPORTING);
  const uint16_t stats_index = 2;
  const uint16_t report_index = stats ? 3 : 2;
  for (ActiveQueue& q : a.ctx.queues) {
    if (q.index == kInflateQueue) a.inflate = &q;
    if (q.index == kDeflateQueue) a.deflate = &q;
    if (stats && q.index == stats_index) a.stats = &q;
    if (report && q.index == report_index) a.report = &q;
  }
  EventLoop* expected = nullptr;
  loop_.compare_exchange_strong(expected, a.ctx.loop);
  stats_negotiated_.store(a.stats != nullptr);
  a.session.emplace(a.ctx, DeviceSession::Options{.id = id_, .counters = &counters_});
  const std::array<std::pair<ActiveQueue*, std::function<void()>>, 4> kicks = {{
      {a.inflate, [this] { drain_pfns(*active_->inflate, true); }},
      {a.deflate, [this] { drain_pfns(*active_->deflate, false); }},
      {a.stats, [this] { drain_stats(); }},
      {a.report, [this] { drain_reports(); }},
  }};
  for (const auto& [q, fn] : kicks) {
    if (!q) continue;
    if (auto r = a.session->watch_kick(q->kick_fd, fn); !r) {
      reset();
      return r;
    }
  }
  if (a.stats && stats_period_s_ > 0) {
    if (auto r = a.session->watch_timer(std::chrono::seconds(stats_period_s_), [this] { ask_for_stats(); }); !r) {
      reset();
      return r;
    }
  }
  // The device holds the statistics buffer until it wants new figures: that
  // queue is described, never "stalled".
  std::vector<StallWatch::Tracked> tracked;
  const std::array<std::tuple<ActiveQueue*, std::string_view, bool>, 4> roles = {{{a.inflate, "inflate", true},
                                                                                  {a.deflate, "deflate", true},
                                                                                  {a.stats, "stats", false},
                                                                                  {a.report, "reporting", true}}};
  for (const auto& [q, role, prompt] : roles) {
    if (q) tracked.push_back({.index = q->index, .role = role, .queue = &q->queue, .prompt = prompt});
  }
  if (auto r = a.session->watch_stalls(std::move(tracked)); !r) {
    reset();
    return r;
  }
  spdlog::debug("{}: active, {} queue(s){}{}", id_, a.ctx.queues.size(), stats ? ", stats" : "",
                report ? ", free page reporting" : "");
  // Chains published before DRIVER_OK.
  for (const auto& [q, fn] : kicks) {
    if (q && usable()) fn();
  }
  return {};
}

std::vector<std::string> Balloon::describe_queues() const {
  return active_ ? active_->session->describe_queues() : std::vector<std::string>{};
}

void Balloon::reset() {
  if (!active_) return;
  stats_negotiated_.store(false);
  active_->session->unwatch_kicks();
  active_.reset();  // the held stats buffer is dropped, not returned: the driver reset its rings
}

void Balloon::drained(const Drained& d) {
  if (d.error) active_->session->fail(describe(*d.error));
}

void Balloon::drain_pfns(ActiveQueue& aq, bool inflate) {
  if (!usable()) return;
  Queue& q = aq.queue;
  const uint16_t index = aq.index;
  const DrainEnd end{.interrupt = active_->ctx.interrupt.get(), .index = index, .repost = [this, inflate] {
                       active_->session->post([this, inflate] {
                         if (usable()) drain_pfns(inflate ? *active_->inflate : *active_->deflate, inflate);
                       });
                     }};
  drained(drain(q, kChainBudget, end,
                [this, &q, inflate](const DescriptorChain& chain) { return handle_pfns(q, chain, inflate); }));
}

bool Balloon::handle_pfns(Queue& q, const DescriptorChain& chain, bool inflate) {
  const char* what = inflate ? "inflate" : "deflate";
  if (chain.readable_bytes() > kMaxPfnBytes) {
    active_->session->fail(
        fmt::format("{} request of {} bytes (more than {} of PFNs)", what, chain.readable_bytes(), kMaxPfnBytes));
    return false;
  }
  // Copied out once, then validated and used: the guest cannot change it in between.
  std::vector<uint8_t> bytes(chain.readable_bytes());
  ChainReader(chain).read(bytes);
  const balloon::PfnList list = balloon::parse_pfns(bytes);
  if (list.trailing_bytes) {
    counters_.errors++;
    FRANCA_WARN_RATELIMITED("{}: {} request of {} bytes, not a whole number of 4-byte PFNs; {} byte(s) ignored", id_,
                            what, bytes.size(), list.trailing_bytes);
  }
  std::vector<uint64_t> pages;
  pages.reserve(list.pfns.size());
  for (uint32_t pfn : list.pfns) {
    const uint64_t gpa = uint64_t{pfn} << kPfnShift;
    if (!active_->ctx.memory->contains(gpa, kPageSize)) {
      active_->session->fail(fmt::format("{} PFN {:#x} (gpa {:#x}) is outside guest RAM", what, pfn, gpa));
      return false;
    }
    pages.push_back(gpa);
  }
  counters_.requests++;
  if (inflate) {
    pages_inflated_.fetch_add(pages.size(), std::memory_order_relaxed);
    for (const Range& r : balloon::merge_pages(std::move(pages))) release(r);
  } else {
    pages_deflated_.fetch_add(pages.size(), std::memory_order_relaxed);  // the guest just uses them again
  }
  q.push(chain, 0);
  return true;
}

uint64_t Balloon::release(const Range& range) {
  uint64_t released = 0;
  for (const MemoryRegion& region : active_->ctx.memory->regions()) {
    const uint64_t start = std::max(range.gpa, region.gpa);
    const uint64_t end = std::min(range.gpa + range.len, region.gpa + region.size);
    if (start >= end) continue;
    if (const int err = release_(region.host + (start - region.gpa), end - start); err != 0) {
      release_failures_.fetch_add(1, std::memory_order_relaxed);
      FRANCA_WARN_RATELIMITED("{}: cannot release {:#x}+{:#x} to the host: {}", id_, start, end - start,
                              std::strerror(err));
      continue;
    }
    released += end - start;
  }
  bytes_released_.fetch_add(released, std::memory_order_relaxed);
  return released;
}

void Balloon::drain_stats() {
  if (!usable() || !active_->stats) return;
  Queue& q = active_->stats->queue;
  // Each chain is a fresh set of statistics; the device keeps it (does not
  // complete it) until it wants the next set. So no used-buffer signal here,
  // except for an older buffer a misbehaving driver left us holding.
  bool pushed = false;
  const Drained d = drain(q, kChainBudget, DrainEnd{}, [&](const DescriptorChain& chain) {
    std::vector<uint8_t> bytes(std::min<size_t>(chain.readable_bytes(), balloon::kMaxStats * balloon::kStatSize * 4));
    ChainReader(chain).read(bytes);
    balloon::StatList list = balloon::parse_stats(bytes);
    if (list.trailing_bytes || list.dropped || bytes.size() < chain.readable_bytes()) {
      counters_.errors++;
      FRANCA_WARN_RATELIMITED(
          "{}: stats buffer of {} bytes is not a list of at most {} 10-byte stats; the rest ignored", id_,
          chain.readable_bytes(), balloon::kMaxStats);
    }
    counters_.requests++;
    {
      std::lock_guard lock(stats_mutex_);
      stats_.values = std::move(list.stats);
      stats_.updates++;
      stats_.received = std::chrono::steady_clock::now();
    }
    stats_arrived_.notify_all();
    if (active_->held_stats) {
      q.push(*active_->held_stats, 0);
      pushed = true;
    }
    active_->held_stats = chain;
    return true;
  });
  if (pushed && q.should_signal()) active_->ctx.interrupt->signal_used(active_->stats->index);
  if (d.more) active_->session->post([this] { drain_stats(); });
  drained(d);
}

void Balloon::ask_for_stats() {
  if (!usable() || !active_->stats || !active_->held_stats) return;
  Queue& q = active_->stats->queue;
  q.push(*active_->held_stats, 0);
  active_->held_stats.reset();
  if (q.should_signal()) active_->ctx.interrupt->signal_used(active_->stats->index);
}

bool Balloon::request_stats(std::chrono::milliseconds timeout) {
  EventLoop* loop = loop_.load();
  if (!loop || !stats_negotiated()) return false;
  uint64_t before;
  {
    std::lock_guard lock(stats_mutex_);
    before = stats_.updates;
  }
  loop->post([this] { ask_for_stats(); });
  std::unique_lock lock(stats_mutex_);
  return stats_arrived_.wait_for(lock, timeout, [&] { return stats_.updates != before; });
}

Balloon::Stats Balloon::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

void Balloon::drain_reports() {
  if (!usable() || !active_->report) return;
  Queue& q = active_->report->queue;
  const DrainEnd end{.interrupt = active_->ctx.interrupt.get(), .index = active_->report->index, .repost = [this] {
                       active_->session->post([this] { drain_reports(); });
                     }};
  drained(drain(q, kChainBudget, end, [this, &q](const DescriptorChain& chain) { return handle_report(q, chain); }));
}

bool Balloon::handle_report(Queue& q, const DescriptorChain& chain) {
  // Linux reports free blocks as device-writable buffers; take readable ones too.
  // The queue core has checked every buffer lies in guest RAM.
  std::vector<Range> buffers;
  for (const ChainBuffer& b : chain.writable()) buffers.push_back({b.gpa, b.len});
  for (const ChainBuffer& b : chain.readable()) buffers.push_back({b.gpa, b.len});
  uint64_t released = 0;
  for (const Range& r : balloon::aligned_interiors(buffers)) released += release(r);
  pages_reported_.fetch_add(released / kPageSize, std::memory_order_relaxed);
  counters_.requests++;
  q.push(chain, 0);
  return true;
}

std::vector<std::pair<std::string, uint64_t>> Balloon::extra_counters() const {
  uint64_t updates;
  {
    std::lock_guard lock(stats_mutex_);
    updates = stats_.updates;
  }
  return {
      {"size_pages", size_pages_.load()},
      {"actual_pages", actual_pages_.load()},
      {"pages_inflated", pages_inflated_.load()},
      {"pages_deflated", pages_deflated_.load()},
      {"pages_reported", pages_reported_.load()},
      {"bytes_released", bytes_released_.load()},
      {"release_failures", release_failures_.load()},
      {"stats_updates", updates},
  };
}

}  // namespace franca::virtio
