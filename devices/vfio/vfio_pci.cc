// A passed-through PCI function on franca's bus: config space, BAR maps and
// traps, interrupts (vfio_pci.h says how each is delivered).
#include "devices/vfio/vfio_pci.h"

#include <linux/pci_regs.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/core/log.h"

namespace franca::vfio {

std::vector<BarPiece> plan_bar(uint64_t size, std::span<const MmapArea> areas,
                               std::span<const std::pair<uint64_t, uint64_t>> trapped, uint64_t page) {
  const auto down = [page](uint64_t v) { return v & ~(page - 1); };
  const auto up = [page](uint64_t v) { return (v + page - 1) & ~(page - 1); };
  // Trapped ranges grown to whole pages, sorted.
  std::vector<std::pair<uint64_t, uint64_t>> traps;
  for (const auto& [off, len] : trapped)
    if (len && off < size) traps.emplace_back(down(off), std::min(size, up(off + len)));
  std::sort(traps.begin(), traps.end());
  // Mmap areas shrunk to whole pages, minus the traps.
  struct Direct {
    uint64_t begin, end;
    size_t area;
  };
  std::vector<Direct> direct;
  for (size_t k = 0; k < areas.size(); ++k) {
    const uint64_t begin = up(areas[k].offset);
    if (areas[k].offset > size || areas[k].size > size - areas[k].offset) continue;  // beyond the BAR: ignored
    const uint64_t end = down(areas[k].offset + areas[k].size);
    uint64_t at = begin;
    for (const auto& [tb, te] : traps) {
      if (te <= at || tb >= end) continue;
      if (tb > at) direct.push_back({at, tb, k});
      at = std::max(at, te);
    }
    if (at < end) direct.push_back({at, end, k});
  }
  std::sort(direct.begin(), direct.end(), [](const Direct& a, const Direct& b) { return a.begin < b.begin; });
  std::vector<BarPiece> pieces;
  uint64_t at = 0;
  for (const Direct& d : direct) {
    const uint64_t begin = std::max(d.begin, at);  // overlapping areas: the first one wins
    if (begin >= d.end) continue;
    if (begin > at) pieces.push_back(BarPiece{at, begin - at, std::nullopt});
    pieces.push_back(BarPiece{begin, d.end - begin, d.area});
    at = d.end;
  }
  if (at < size) pieces.push_back(BarPiece{at, size - at, std::nullopt});
  return pieces;
}

// A trapped piece of BAR `bar` starting at `offset` within it.
class VfioPciFunction::BarTrap : public BusDevice {
 public:
  BarTrap(std::weak_ptr<VfioPciFunction> fn, unsigned bar, uint64_t offset)
      : fn_(std::move(fn)), bar_(bar), offset_(offset) {}
  void read(uint64_t offset, std::span<uint8_t> data) override {
    if (auto fn = fn_.lock()) {
      fn->trapped_read(bar_, offset_ + offset, data);
    } else {
      std::fill(data.begin(), data.end(), 0xff);
    }
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (auto fn = fn_.lock()) fn->trapped_write(bar_, offset_ + offset, data);
  }

 private:
  std::weak_ptr<VfioPciFunction> fn_;
  unsigned bar_;
  uint64_t offset_;
};

namespace {

std::array<uint64_t, 6> region_sizes(DeviceIo& io) {
  std::array<uint64_t, 6> sizes{};
  for (unsigned i = 0; i < 6; ++i) sizes[i] = io.region(i).size;
  return sizes;
}

uint64_t msix_table_bytes(const MsixShape& m) { return uint64_t{m.vectors} * 16; }
uint64_t msix_pba_bytes(const MsixShape& m) { return (uint64_t{m.vectors} + 63) / 64 * 8; }

bool touches(uint32_t offset, size_t length, uint32_t begin, uint32_t end) {
  return offset < end && offset + length > begin;
}

// Whether `offset` in BAR `bar` lies in the MSI-X table / PBA.
bool in_table(const MsixShape& m, unsigned bar, uint64_t offset) {
  return bar == m.table_bar && offset >= m.table_offset && offset < m.table_offset + msix_table_bytes(m);
}
bool in_pba(const MsixShape& m, unsigned bar, uint64_t offset) {
  return bar == m.pba_bar && offset >= m.pba_offset && offset < m.pba_offset + msix_pba_bytes(m);
}

}  // namespace

Result<VfioPciFunction::Probe> VfioPciFunction::probe(DeviceIo& io) {
  Probe out;
  if (auto r = io.read(kConfigRegion, 0, out.raw); !r)
    return host_error(fmt::format("{}: reading its config space: {}", io.name(), r.error().message));
  out.shape = read_shape(out.raw, region_sizes(io));
  return out;
}

uint16_t VfioPciFunction::sink_vectors(const DeviceShape& shape) {
  const unsigned msi = shape.msi.cap ? 1u << shape.msi.max_log2 : 0;
  return static_cast<uint16_t>(std::max<unsigned>(shape.msix.cap ? shape.msix.vectors : 0, msi));
}

Result<std::shared_ptr<VfioPciFunction>> VfioPciFunction::create(std::string id, std::shared_ptr<DeviceIo> io,
                                                                 const Probe& probe, Wiring wiring) {
  const DeviceShape& shape = probe.shape;
  if (const MsixShape& m = shape.msix; m.cap) {
    if (m.vectors > pci::Msix::kMaxVectors)
      return usage_error(fmt::format("{} ({}): {} MSI-X vectors; franca passes through at most {}", id, io->name(),
                                     m.vectors, pci::Msix::kMaxVectors));
    const auto fits = [&](unsigned bar, uint64_t off, uint64_t len) {
      return bar < 6 && shape.bars[bar].size && off + len <= shape.bars[bar].size;
    };
    if (!fits(m.table_bar, m.table_offset, msix_table_bytes(m)) || !fits(m.pba_bar, m.pba_offset, msix_pba_bytes(m)))
      return host_error(fmt::format("{} ({}): its MSI-X table or PBA lies outside its memory BARs", id, io->name()));
  }
  if (!wiring.bars || (sink_vectors(shape) && !wiring.msi))
    return host_error(fmt::format("{}: no BAR host or MSI sink", id));
  std::shared_ptr<VfioPciFunction> fn(
      new VfioPciFunction(std::move(id), std::move(io), std::move(wiring), probe.raw, shape));
  if (auto r = fn->prepare_bars(); !r) return std::unexpected(r.error());
  std::lock_guard lock(fn->mutex_);
  fn->enable_intx();
  return fn;
}

VfioPciFunction::VfioPciFunction(std::string id, std::shared_ptr<DeviceIo> io, Wiring wiring,
                                 std::span<const uint8_t, 256> raw, const DeviceShape& shape)
    : id_(std::move(id)), io_(std::move(io)), wiring_(std::move(wiring)), config_(raw, shape, wiring_.bar_addresses) {
  if (shape.msix.cap) msix_ = std::make_shared<pci::Msix>(shape.msix.vectors, wiring_.msi);
}

VfioPciFunction::~VfioPciFunction() { shutdown(); }

Result<void> VfioPciFunction::prepare_bars() {
  const MsixShape& m = config_.shape().msix;
  for (unsigned i = 0; i < 6; ++i) {
    const BarShape& bar = config_.shape().bars[i];
    if (!bar.size) continue;
    std::vector<std::pair<uint64_t, uint64_t>> trapped;
    if (m.cap && m.table_bar == i) trapped.emplace_back(m.table_offset, msix_table_bytes(m));
    if (m.cap && m.pba_bar == i) trapped.emplace_back(m.pba_offset, msix_pba_bytes(m));
    const RegionInfo& region = io_->region(i);
    std::vector<void*> hosts(region.mmap.size(), nullptr);
    for (const BarPiece& plan : plan_bar(bar.size, region.mmap, trapped)) {
      Piece piece;
      piece.plan = plan;
      if (plan.area) {
        void*& host = hosts[*plan.area];
        if (!host) host = io_->map_area(i, region.mmap[*plan.area]);  // nullptr (logged): trapped instead
        if (host) piece.host = static_cast<uint8_t*>(host) + (plan.offset - region.mmap[*plan.area].offset);
      }
      piece.trap = std::make_shared<BarTrap>(weak_from_this(), i, plan.offset);
      pieces_[i].push_back(std::move(piece));
    }
  }
  // A BIOS leaves a device it placed decoding memory; vfio-pci blocks the mmaps otherwise.
  if (std::any_of(wiring_.bar_addresses.begin(), wiring_.bar_addresses.end(), [](uint64_t a) { return a != 0; })) {
    std::array<uint8_t, 2> command{};
    if (auto r = io_->read(kConfigRegion, PCI_COMMAND, command); !r) return std::unexpected(r.error());
    command[0] |= PCI_COMMAND_MEMORY;
    if (auto r = io_->write(kConfigRegion, PCI_COMMAND, command); !r) return std::unexpected(r.error());
  }
  return {};
}

Result<void> VfioPciFunction::map_bars() {
  std::lock_guard lock(mutex_);
  sync_bars();
  return {};
}

void VfioPciFunction::map_bar(unsigned bar) {
  const uint64_t base = *config_.bar_address(bar);
  for (Piece& p : pieces_[bar]) {
    const uint64_t at = base + p.plan.offset;
    p.direct_now = false;
    if (p.host) {
      if (auto r = wiring_.bars->map_memory(at, p.plan.size, p.host); r) {
        p.direct_now = true;
        continue;
      } else {
        spdlog::warn("{}: BAR{} [{:#x}, +{:#x}) cannot be mapped into the guest ({}): trapping it", id_, bar, at,
                     p.plan.size, r.error().message);
      }
    }
    if (auto r = wiring_.bars->map(at, p.plan.size, p.trap); !r) {
      ++device_errors_;
      FRANCA_WARN_RATELIMITED("{}: BAR{} at {:#x}: {}", id_, bar, at, r.error().message);
    }
  }
  mapped_[bar] = base;
}

void VfioPciFunction::unmap_bar(unsigned bar) {
  if (!mapped_[bar]) return;
  for (Piece& p : pieces_[bar]) {
    const uint64_t at = *mapped_[bar] + p.plan.offset;
    if (p.direct_now) {
      wiring_.bars->unmap_memory(at);
    } else {
      wiring_.bars->unmap(at);
    }
    p.direct_now = false;
  }
  mapped_[bar].reset();
}

void VfioPciFunction::sync_bars() {
  for (unsigned i = 0; i < 6; ++i) {
    const auto want = config_.bar_address(i);
    if (want == mapped_[i]) continue;
    unmap_bar(i);
    if (want && !removed_) map_bar(i);
  }
}

void VfioPciFunction::config_read(uint32_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  ++config_reads_;
  if (removed_) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  bool all_emulated = true;
  for (size_t i = 0; i < data.size(); ++i) all_emulated = all_emulated && config_.emulated(offset + uint32_t(i));
  if (!all_emulated) {
    if (auto r = io_->read(kConfigRegion, offset, data); !r) {
      ++device_errors_;
      FRANCA_WARN_RATELIMITED("{}: config read at {:#x}: {}", id_, offset, r.error().message);
      std::fill(data.begin(), data.end(), 0xff);
    }
  }
  config_.overlay(offset, data);
}

void VfioPciFunction::device_write(uint32_t offset, std::span<const uint8_t> data) {
  if (auto r = io_->write(kConfigRegion, offset, data); !r) {
    ++device_errors_;
    FRANCA_WARN_RATELIMITED("{}: config write at {:#x}: {}", id_, offset, r.error().message);
  }
}

void VfioPciFunction::config_write(uint32_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  ++config_writes_;
  if (removed_ || offset >= 0x100) return;  // no extended capabilities are shown
  // Memory decode going off: the direct maps go first (vfio-pci revokes the
  // mmaps once the device stops decoding; a guest access must not reach them).
  if (touches(offset, data.size(), PCI_COMMAND, PCI_COMMAND + 1) &&
      !(data[PCI_COMMAND - offset] & PCI_COMMAND_MEMORY)) {
    for (unsigned i = 0; i < 6; ++i) unmap_bar(i);
  }
  // The device's bytes in runs, franca's to the emulated config space.
  size_t run = 0;
  for (size_t i = 0; i <= data.size(); ++i) {
    const bool device = i < data.size() && !config_.emulated(offset + uint32_t(i));
    if (device) continue;
    if (i > run) device_write(offset + uint32_t(run), data.subspan(run, i - run));
    run = i + 1;
  }
  config_.mirror_command(offset, data);
  config_.write(offset, data);
  sync_bars();
  const MsixShape& mx = config_.shape().msix;
  if (mx.cap && touches(offset, data.size(), mx.cap + PCI_MSIX_FLAGS, mx.cap + PCI_MSIX_FLAGS + 2)) update_msix();
  const MsiShape& mi = config_.shape().msi;
  if (mi.cap && touches(offset, data.size(), mi.cap, mi.cap + mi.length)) update_msi();
}

void VfioPciFunction::update_msix() {
  const uint16_t control = config_.msix_control();
  const bool on = control & PCI_MSIX_FLAGS_ENABLE;
  if (on && !msix_on_) {
    // MSI-X replaces INTx and MSI (PCI 3.0 §6.8.2.3); VFIO takes one interrupt kind at a time.
    disable_intx();
    std::vector<int> fds;
    for (uint16_t v = 0; v < msix_->vectors(); ++v) fds.push_back(msix_->notifier(v));
    if (auto r = io_->set_irq_eventfds(kMsixIrq, fds); !r) {
      ++device_errors_;
      spdlog::error("{}: enabling MSI-X ({} vectors): {}", id_, fds.size(), r.error().message);
    } else {
      msix_on_ = true;
      spdlog::info("{}: MSI-X on, {} vectors", id_, fds.size());
    }
  }
  msix_->set_control(control);  // routes, opens and closes the vectors by the masks
  if (!on && msix_on_) {
    if (auto r = io_->set_irq_eventfds(kMsixIrq, {}); !r) ++device_errors_;
    msix_on_ = false;
    spdlog::info("{}: MSI-X off", id_);
    enable_intx();
  }
}

void VfioPciFunction::update_msi() {
  const bool on = config_.msi_enabled();
  const unsigned vectors = on ? config_.msi_vectors() : 0;
  if (on) {
    // Multiple Message: vector v sends the data with its low log2(n) bits = v (PCI 3.0 §6.8.1.6).
    const uint32_t data = config_.msi_data() & ~(vectors - 1);
    for (unsigned v = 0; v < vectors; ++v) {
      wiring_.msi->route(static_cast<uint16_t>(v), config_.msi_address(), data | v);
      wiring_.msi->set_open(static_cast<uint16_t>(v), !config_.msi_masked(v));
    }
  }
  if (vectors == msi_on_) return;
  if (msi_on_) {
    if (auto r = io_->set_irq_eventfds(kMsiIrq, {}); !r) ++device_errors_;
    for (unsigned v = 0; v < msi_on_; ++v) wiring_.msi->set_open(static_cast<uint16_t>(v), false);
    msi_on_ = 0;
  }
  if (vectors) {
    disable_intx();
    std::vector<int> fds;
    for (unsigned v = 0; v < vectors; ++v) fds.push_back(wiring_.msi->notifier(static_cast<uint16_t>(v)));
    if (auto r = io_->set_irq_eventfds(kMsiIrq, fds); !r) {
      ++device_errors_;
      spdlog::error("{}: enabling MSI ({} vectors): {}", id_, vectors, r.error().message);
    } else {
      msi_on_ = vectors;
      spdlog::info("{}: MSI on, {} vectors", id_, vectors);
    }
  } else {
    spdlog::info("{}: MSI off", id_);
    if (!msix_on_) enable_intx();
  }
}

void VfioPciFunction::enable_intx() {
  if (intx_on_ || removed_ || !config_.shape().has_intx || !wiring_.intx || !io_->irq_count(kIntxIrq)) return;
  Fd trigger(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), resample(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!trigger.valid() || !resample.valid()) {
    ++device_errors_;
    spdlog::error("{}: eventfd for INTx: {}", id_, std::strerror(errno));
    return;
  }
  if (auto r = wiring_.intx->connect(trigger.get(), resample.get()); !r) {
    ++device_errors_;
    spdlog::error("{}: INTx irqfd: {}", id_, r.error().message);
    return;
  }
  const int fd = trigger.get();
  if (auto r = io_->set_irq_eventfds(kIntxIrq, std::span<const int>(&fd, 1)); !r) {
    ++device_errors_;
    spdlog::error("{}: INTx trigger: {}", id_, r.error().message);
    wiring_.intx->disconnect();
    return;
  }
  if (auto r = io_->set_intx_unmask_eventfd(resample.get()); !r) {
    ++device_errors_;
    spdlog::warn("{}: INTx unmask eventfd: {} (INTx stays masked after its first interrupt)", id_, r.error().message);
  }
  intx_trigger_ = std::move(trigger);
  intx_resample_ = std::move(resample);
  intx_on_ = true;
}

void VfioPciFunction::disable_intx() {
  if (!intx_on_) return;
  if (auto r = io_->set_irq_eventfds(kIntxIrq, {}); !r) ++device_errors_;
  wiring_.intx->disconnect();
  intx_trigger_ = Fd();
  intx_resample_ = Fd();
  intx_on_ = false;
}

void VfioPciFunction::trapped_read(unsigned bar, uint64_t offset, std::span<uint8_t> data) {
  if (removed_) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  const MsixShape& m = config_.shape().msix;  // immutable after construction
  if (msix_ && in_table(m, bar, offset)) {
    msix_->read(pci::Msix::kTableOffset + (offset - m.table_offset), data);
    return;
  }
  if (msix_ && in_pba(m, bar, offset)) {
    msix_->read(pci::Msix::kPbaOffset + (offset - m.pba_offset), data);
    return;
  }
  ++trapped_reads_;
  if (auto r = io_->read(bar, offset, data); !r) {
    ++device_errors_;
    FRANCA_WARN_RATELIMITED("{}: BAR{} read at {:#x}: {}", id_, bar, offset, r.error().message);
    std::fill(data.begin(), data.end(), 0xff);
  }
}

void VfioPciFunction::trapped_write(unsigned bar, uint64_t offset, std::span<const uint8_t> data) {
  if (removed_) return;
  const MsixShape& m = config_.shape().msix;
  if (msix_ && in_table(m, bar, offset)) {
    msix_->write(pci::Msix::kTableOffset + (offset - m.table_offset), data);
    return;
  }
  if (msix_ && in_pba(m, bar, offset)) return;  // read-only
  ++trapped_writes_;
  if (auto r = io_->write(bar, offset, data); !r) {
    ++device_errors_;
    FRANCA_WARN_RATELIMITED("{}: BAR{} write at {:#x}: {}", id_, bar, offset, r.error().message);
  }
}

void VfioPciFunction::shutdown() {
  std::lock_guard lock(mutex_);
  if (removed_) return;
  removed_ = true;
  if (msix_on_) {
    [[maybe_unused]] auto r = io_->set_irq_eventfds(kMsixIrq, {});
    msix_on_ = false;
  }
  if (msix_) msix_->set_control(0);  // every vector closed
  if (msi_on_) {
    [[maybe_unused]] auto r = io_->set_irq_eventfds(kMsiIrq, {});
    for (unsigned v = 0; v < msi_on_; ++v) wiring_.msi->set_open(static_cast<uint16_t>(v), false);
    msi_on_ = 0;
  }
  disable_intx();
  for (unsigned i = 0; i < 6; ++i) unmap_bar(i);
  if (auto r = io_->reset(); !r) spdlog::warn("{}: reset: {}", id_, r.error().message);
}

VfioPciFunction::Stats VfioPciFunction::stats() const {
  std::lock_guard lock(mutex_);
  Stats s;
  s.config_reads = config_reads_;
  s.config_writes = config_writes_;
  s.trapped_reads = trapped_reads_;
  s.trapped_writes = trapped_writes_;
  s.device_errors = device_errors_;
  for (unsigned i = 0; i < 6; ++i) {
    if (!mapped_[i]) continue;
    for (const Piece& p : pieces_[i]) (p.direct_now ? s.direct_bytes : s.trapped_bytes) += p.plan.size;
  }
  s.irq_mode = msix_on_ ? "msix" : msi_on_ ? "msi" : intx_on_ ? "intx" : "none";
  return s;
}

}  // namespace franca::vfio
