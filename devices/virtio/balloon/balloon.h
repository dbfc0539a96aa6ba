// virtio-balloon (virtio 1.x §5.5): the host asks for guest memory back.
// Implements: inflateq and deflateq (PFN arrays of 4 KiB pages; inflated pages
//   are released from the host with madvise(MADV_DONTNEED), so the VMM's RSS
//   falls), VIRTIO_BALLOON_F_MUST_TELL_HOST, VIRTIO_BALLOON_F_STATS_VQ (the
//   guest's memory statistics, polled every stats_period seconds or on
//   request), VIRTIO_BALLOON_F_DEFLATE_ON_OOM (the guest may take pages back
//   from the balloon under memory pressure), VIRTIO_BALLOON_F_REPORTING (free
//   page reporting: the guest reports free blocks, which are released like
//   inflated pages, with no target), split and packed rings, EVENT_IDX,
//   INDIRECT_DESC. Config space: num_pages (the target) and actual (what the
//   guest says the balloon holds); every target change raises a config interrupt.
// Does not implement: VIRTIO_BALLOON_F_FREE_PAGE_HINT (its command-id protocol
//   is for migration, which franca does not do) and VIRTIO_BALLOON_F_PAGE_POISON;
//   neither is ever offered.
// Queue numbering follows Linux's driver, not the spec's fixed indices: the
//   queues of negotiated features only, consecutively — inflate 0, deflate 1,
//   then stats if STATS_VQ was negotiated, then reporting (so without STATS_VQ
//   the reporting queue is queue 2). The transport offers 2 + one per offered
//   optional queue.
// Options: size= (the balloon's initial size, MiB), deflate_on_oom=on, free_page_reporting=on,
//   stats_period=SECS, features=-must_tell_host,-stats_vq,...
// Example: franca ... --memory 1G --balloon size=256,free_page_reporting=on,stats_period=5
//          franca ctl vm.sock balloon 512; franca ctl vm.sock balloon-stats
//
// A hostile guest: a PFN outside guest RAM, or a PFN array over 1 MiB, is a
// ring error (NEEDS_RESET, nothing released); a length that is not a multiple
// of the element size is counted in `errors` and the partial element ignored;
// stats buffers of any size are parsed up to 64 distinct tags; report buffers
// are already checked by the queue core to lie in RAM, are clipped to whole
// pages and merged, so overlapping ranges release each byte once.
//
// Threads: read_config/write_config on vCPU threads; activate/reset/kicks and
// the stats timer on the vmm-io loop; set_target_mib, stats(), request_stats()
// and the counters from any thread (the control API).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "devices/virtio/balloon/balloon_config.h"
#include "devices/virtio/balloon/balloon_parse.h"
#include "devices/virtio/device.h"
#include "devices/virtio/device_session.h"

namespace franca::virtio {

// Gives [host, host+len) of guest RAM back to the host; returns 0 or an errno.
// The default is madvise(MADV_DONTNEED) (guest RAM is private anonymous
// memory: the pages read as zero when the guest touches them again).
using ReleaseFn = std::function<int(uint8_t* host, uint64_t len)>;

class Balloon final : public VirtioDevice {
 public:
  static constexpr uint16_t kInflateQueue = 0;
  static constexpr uint16_t kDeflateQueue = 1;
  static constexpr uint32_t kMaxPfnBytes = 1 << 20;       // Linux sends 1 KiB (256 PFNs) per request
  static constexpr uint16_t kMinReportingQueueSize = 32;  // PAGE_REPORTING_CAPACITY: Linux's probe fails below

  // `guest_memory` bounds the target. Refuses a host whose page size is not
  // 4 KiB (the balloon's unit; pages could not be released one by one).
  static Result<std::unique_ptr<Balloon>> create(const BalloonConfig& config, uint64_t guest_memory, std::string id,
                                                 ReleaseFn release = {});
  ~Balloon() override;

  // The balloon's new size, num_pages (any thread): the guest is told with a
  // config interrupt. More than guest memory is a usage error.
  Result<void> set_size_mib(uint64_t mib);
  uint64_t size_pages() const;    // num_pages: what the device asks for
  uint64_t actual_pages() const;  // actual: what the guest says the balloon holds
  uint64_t guest_pages() const { return guest_pages_; }

  struct Stats {
    std::vector<balloon::Stat> values;  // as the guest sent them
    uint64_t updates = 0;               // buffers received
    std::optional<std::chrono::steady_clock::time_point> received;
  };
  Stats stats() const;
  // Whether the driver negotiated STATS_VQ (any thread).
  bool stats_negotiated() const { return stats_negotiated_.load(); }
  // Asks the guest for fresh statistics now (any thread) and waits up to
  // `timeout` for them; returns whether they arrived.
  bool request_stats(std::chrono::milliseconds timeout);
  unsigned stats_period_s() const { return stats_period_s_; }

  // VirtioDevice
  uint32_t device_type() const override;
  const std::string& id() const override { return id_; }
  uint64_t offered_features() const override { return offered_; }
  std::span<const FeatureName> feature_names() const override { return balloon_feature_names(); }
  uint16_t num_queues() const override;
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> activate(DeviceContext ctx) override;
  void reset() override;
  std::vector<std::string> describe_queues() const override;
  std::vector<std::pair<std::string, uint64_t>> extra_counters() const override;

 private:
  struct Active {
    DeviceContext ctx;
    ActiveQueue* inflate = nullptr;
    ActiveQueue* deflate = nullptr;
    ActiveQueue* stats = nullptr;
    ActiveQueue* report = nullptr;
    std::optional<DeviceSession> session{};       // kicks, the stats timer, stall watch, failure
    std::optional<DescriptorChain> held_stats{};  // the buffer the device returns to ask for stats
  };

  Balloon(const BalloonConfig& config, uint64_t guest_memory, std::string id, uint64_t offered, ReleaseFn release);
  void drain_pfns(ActiveQueue& q, bool inflate);
  bool handle_pfns(Queue& q, const DescriptorChain& chain, bool inflate);
  void drain_stats();
  void drain_reports();
  bool handle_report(Queue& q, const DescriptorChain& chain);
  // Returns the held stats buffer so the guest refills it (stats poll).
  void ask_for_stats();
  // Releases the part of `range` that is guest RAM; returns the bytes released.
  uint64_t release(const balloon::Range& range);
  void drained(const Drained& d);
  bool usable() const { return active_ && !active_->session->failed(); }

  std::string id_;
  uint64_t offered_;
  uint64_t guest_pages_;
  unsigned stats_period_s_;
  ReleaseFn release_;

  std::atomic<uint32_t> size_pages_;
  std::atomic<uint32_t> actual_pages_{0};
  std::atomic<EventLoop*> loop_{nullptr};
  std::atomic<bool> stats_negotiated_{false};

  std::atomic<uint64_t> pages_inflated_{0};
  std::atomic<uint64_t> pages_deflated_{0};
  std::atomic<uint64_t> pages_reported_{0};
  std::atomic<uint64_t> bytes_released_{0};
  std::atomic<uint64_t> release_failures_{0};

  mutable std::mutex stats_mutex_;
  std::condition_variable stats_arrived_;
  Stats stats_;

  std::optional<Active> active_;  // loop thread only
};

}  // namespace franca::virtio
