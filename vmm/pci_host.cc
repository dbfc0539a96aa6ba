// PCI on KVM: GSI routing shadow, MSI-X irqfds, BAR mapping, INTx levels.
#include "vmm/pci_host.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <set>

#include <spdlog/spdlog.h>

#include "arch/x86_64/layout.h"
#include "devices/vfio/vfio_pci.h"
#include "devices/virtio/transport/pci/pci_transport.h"
#include "vmm/core/log.h"

namespace franca {

// The MSI part of the GSI routing table; every change installs the whole table.
class PciHost::MsiRoutes {
 public:
  explicit MsiRoutes(KvmVm& vm) : vm_(vm) {}
  uint32_t allocate() {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      const uint32_t gsi = *free_.begin();
      free_.erase(free_.begin());
      ++in_use_;
      return gsi;
    }
    ++in_use_;
    return next_gsi_++;
  }
  // `gsi` is no longer used: its route goes and it may be allocated again.
  void release(uint32_t gsi) {
    std::lock_guard lock(mutex_);
    if (routes_.erase(gsi)) install();
    free_.insert(gsi);
    --in_use_;
  }
  void set(uint32_t gsi, uint64_t address, uint32_t data) {
    std::lock_guard lock(mutex_);
    routes_[gsi] = MsiRoute{gsi, address, data};
    install();
  }
  size_t in_use() const {
    std::lock_guard lock(mutex_);
    return in_use_;
  }

 private:
  void install() {
    std::vector<MsiRoute> all;
    for (const auto& [_, r] : routes_) all.push_back(r);
    if (auto r = vm_.set_gsi_routing(all); !r) FRANCA_WARN_RATELIMITED("MSI routes: {}", r.error().message);
  }

  KvmVm& vm_;
  mutable std::mutex mutex_;
  uint32_t next_gsi_ = x86::kFirstMsiGsi;
  std::set<uint32_t> free_;
  size_t in_use_ = 0;
  std::map<uint32_t, MsiRoute> routes_;
};

// INTx pins are shared between slots: a GSI is high while any source holds it.
class PciHost::IntxLevels {
 public:
  explicit IntxLevels(KvmVm& vm) : vm_(vm) {}
  void change(uint32_t gsi, bool high) {
    std::lock_guard lock(mutex_);
    int& count = asserted_[gsi];
    const bool was = count > 0;
    count += high ? 1 : -1;
    if ((count > 0) == was) return;
    if (auto r = vm_.irq_line(gsi, count > 0); !r) FRANCA_WARN_RATELIMITED("INTx gsi {}: {}", gsi, r.error().message);
  }

 private:
  KvmVm& vm_;
  std::mutex mutex_;
  std::map<uint32_t, int> asserted_;
};

namespace {

class IntxLine : public IrqLine {
 public:
  IntxLine(std::shared_ptr<PciHost::IntxLevels> levels, uint32_t gsi) : levels_(std::move(levels)), gsi_(gsi) {}
  void set_level(bool high) override {
    std::lock_guard lock(mutex_);
    if (high == level_) return;
    level_ = high;
    levels_->change(gsi_, high);
  }

 private:
  std::shared_ptr<PciHost::IntxLevels> levels_;
  uint32_t gsi_;
  std::mutex mutex_;
  bool level_ = false;
};

}  // namespace

// One GSI + irqfd per MSI-X vector; the transport writes the eventfd (no ioctl),
// and so may vhost (notifier()). The irqfd is assigned to KVM only while the
// vector is open (MSI-X on, unmasked): a write while it is closed stays in the
// eventfd, and KVM injects it when the irqfd is assigned again on unmask.
// Destroyed with its function: the irqfds are deassigned and the GSIs released.
class PciHost::KvmMsiSink : public pci::MsiSink {
 public:
  static Result<std::shared_ptr<KvmMsiSink>> create(KvmVm& vm, std::shared_ptr<PciHost::MsiRoutes> routes,
                                                    uint16_t vectors) {
    auto sink = std::make_shared<KvmMsiSink>(vm, std::move(routes));
    for (uint16_t v = 0; v < vectors; ++v) {
      Fd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      if (!fd.valid()) return errno_error("eventfd for an MSI-X vector");
      sink->gsis_.push_back(sink->routes_->allocate());
      sink->fds_.push_back(std::move(fd));
      sink->open_.push_back(false);
    }
    return sink;
  }
  KvmMsiSink(KvmVm& vm, std::shared_ptr<PciHost::MsiRoutes> routes) : vm_(vm), routes_(std::move(routes)) {}
  ~KvmMsiSink() override { close(); }
  // Unplug: the irqfds deassigned and the GSIs released now; a late MSI-X
  // write (a vCPU that found the table before the unplug) routes nothing.
  void close() {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    for (size_t i = 0; i < gsis_.size(); ++i) {
      assign(static_cast<uint16_t>(i), false);
      routes_->release(gsis_[i]);
    }
  }
  void route(uint16_t vector, uint64_t address, uint32_t data) override {
    std::lock_guard lock(mutex_);
    if (!closed_ && vector < gsis_.size()) routes_->set(gsis_[vector], address, data);
  }
  void fire(uint16_t vector) override {
    if (vector >= fds_.size()) return;  // fds_ never changes; a write after close() reaches nobody
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fds_[vector].get(), &one, sizeof(one));
  }
  void set_open(uint16_t vector, bool open) override {
    std::lock_guard lock(mutex_);
    if (!closed_ && vector < fds_.size()) assign(vector, open);
  }
  int notifier(uint16_t vector) const override { return vector < fds_.size() ? fds_[vector].get() : -1; }

 private:
  void assign(uint16_t vector, bool open) {  // under mutex_
    if (open_[vector] == open) return;
    if (auto r = vm_.irqfd(fds_[vector].get(), gsis_[vector], /*deassign=*/!open); !r) {
      FRANCA_WARN_RATELIMITED("irqfd of gsi {}: {}", gsis_[vector], r.error().message);
      return;
    }
    open_[vector] = open;
  }

  KvmVm& vm_;
  std::shared_ptr<PciHost::MsiRoutes> routes_;
  std::mutex mutex_;  // closed_ and open_, against route() and set_open() on vCPU threads
  bool closed_ = false;
  std::vector<uint32_t> gsis_;
  std::vector<Fd> fds_;
  std::vector<bool> open_;  // irqfd assigned
};

// KVM memory slots for passed-through BARs, above the guest RAM's (vm.cc uses 0..n-1).
class PciHost::MemorySlots {
 public:
  explicit MemorySlots(KvmVm& vm) : vm_(vm) {}
  Result<void> map(uint64_t base, uint64_t size, void* host) {
    std::lock_guard lock(mutex_);
    if (by_base_.contains(base)) return host_error(fmt::format("memory slot at {:#x}: already mapped", base));
    uint32_t slot = next_;
    if (!free_.empty()) {
      slot = *free_.begin();
    }
    if (auto r = vm_.set_user_memory_region(slot, base, size, host); !r) return r;
    if (slot == next_) {
      ++next_;
    } else {
      free_.erase(slot);
    }
    by_base_[base] = slot;
    return {};
  }
  void unmap(uint64_t base) {
    std::lock_guard lock(mutex_);
    const auto it = by_base_.find(base);
    if (it == by_base_.end()) return;
    if (auto r = vm_.set_user_memory_region(it->second, base, 0, nullptr); !r)
      FRANCA_WARN_RATELIMITED("memory slot {} at {:#x}: {}", it->second, base, r.error().message);
    free_.insert(it->second);
    by_base_.erase(it);
  }

 private:
  static constexpr uint32_t kFirst = 32;
  KvmVm& vm_;
  std::mutex mutex_;
  uint32_t next_ = kFirst;
  std::set<uint32_t> free_;
  std::map<uint64_t, uint32_t> by_base_;
};

namespace {

// The slot's INTA as a KVM irqfd with resampling, for a passed-through function's INTx.
class KvmIntxRouter : public vfio::IntxRouter {
 public:
  KvmIntxRouter(KvmVm& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
  Result<void> connect(int trigger_fd, int resample_fd) override {
    if (auto r = vm_.irqfd_resample(trigger_fd, gsi_, resample_fd); !r) return r;
    trigger_ = trigger_fd;
    return {};
  }
  void disconnect() override {
    if (trigger_ < 0) return;
    if (auto r = vm_.irqfd(trigger_, gsi_, /*deassign=*/true); !r)
      FRANCA_WARN_RATELIMITED("INTx irqfd of gsi {}: {}", gsi_, r.error().message);
    trigger_ = -1;
  }

 private:
  KvmVm& vm_;
  uint32_t gsi_;
  int trigger_ = -1;
};

class KvmBarHost : public pci::PciBarHost {
 public:
  KvmBarHost(KvmVm& vm, Bus& mmio, std::shared_ptr<PciHost::MemorySlots> slots = nullptr)
      : vm_(vm), mmio_(mmio), slots_(std::move(slots)) {}
  Result<void> map_memory(uint64_t base, uint64_t size, void* host) override {
    if (!slots_) return host_error("no memory slots for this function");
    return slots_->map(base, size, host);
  }
  void unmap_memory(uint64_t base) override {
    if (slots_) slots_->unmap(base);
  }
  Result<void> map(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device) override {
    return mmio_.insert(base, size, std::move(device));
  }
  void unmap(uint64_t base) override { mmio_.remove(base); }
  Result<void> add_notify(int fd, uint64_t addr) override { return vm_.ioeventfd(fd, addr, 0, false, std::nullopt); }
  void remove_notify(int fd, uint64_t addr) override {
    if (auto r = vm_.ioeventfd(fd, addr, 0, false, std::nullopt, /*deassign=*/true); !r)
      FRANCA_WARN_RATELIMITED("notify ioeventfd at {:#x}: {}", addr, r.error().message);
  }

 private:
  KvmVm& vm_;
  Bus& mmio_;
  std::shared_ptr<PciHost::MemorySlots> slots_;
};

constexpr uint64_t kGiB = uint64_t{1} << 30;
// BAR4 (16 KiB) must stay size-aligned: each function gets a 32 KiB-aligned chunk.
constexpr uint64_t kSlotSpan = 0x8000;
static_assert(virtio::VirtioPciTransport::kMmioSpan <= kSlotSpan);
static_assert(pci::PciHotplugRegisters::kSize == firmware::AcpiPciHotplug::kRegisterBytes,
              "the DSDT's PCST region covers the register block");

}  // namespace

PciHost::PciHost(KvmVm& vm, Bus& pio, Bus& mmio, const GuestMemory& memory, EventLoop& loop, uint64_t ram_top)
    : vm_(vm),
      pio_(pio),
      mmio_(mmio),
      memory_(memory),
      loop_(loop),
      mmio64_base_((std::max(ram_top, x86::kMmioHoleEnd) + kGiB - 1) & ~(kGiB - 1)),
      routes_(std::make_shared<MsiRoutes>(vm)),
      intx_(std::make_shared<IntxLevels>(vm)),
      memory_slots_(std::make_shared<MemorySlots>(vm)),
      next_bar_(x86::kPciMmio32Base),
      next_bar64_(mmio64_base_) {}

PciHost::~PciHost() { shutdown(); }

Result<void> PciHost::attach(std::function<void(unsigned slot)> on_eject) {
  if (auto r = pio_.insert(pci::PciRoot::kConfigAddressPort, pci::PciRoot::kConfigPortsLen, root_.config_ports()); !r)
    return r;
  // The eject write hides the slot at once (a rescan must not find it again);
  // the teardown runs later, off the vCPU thread (release()).
  hotplug_ = std::make_shared<pci::PciHotplugRegisters>([this, on_eject = std::move(on_eject)](unsigned slot) {
    {
      std::lock_guard lock(mutex_);
      const auto it = slots_.find(slot);
      if (it == slots_.end() || it->second.ejected) return;
      it->second.ejected = true;  // request_eject refuses it and release() may take it from here
    }
    root_.remove(slot);
    spdlog::info("pci: the guest ejected slot {}", slot);
    if (on_eject) on_eject(slot);
  });
  if (auto r = pio_.insert(x86::kPciHotplugPort, pci::PciHotplugRegisters::kSize, hotplug_); !r) return r;
  return mmio_.insert(x86::kPciEcamBase, x86::kPciEcamSize, root_.ecam());
}

Result<unsigned> PciHost::add_virtio(std::shared_ptr<virtio::VirtioDevice> device, Placement placement,
                                     std::optional<unsigned> wanted) {
  // One add at a time, and slots_ is what decides a slot is free: a slot the
  // guest ejected is gone from config space but busy until release().
  std::lock_guard lock(mutex_);
  auto picked = pick_slot(device->id(), wanted);
  if (!picked) return std::unexpected(picked.error());
  const unsigned slot = *picked;
  const bool hot = placement == Placement::kHot;
  if (!hot && next_bar_ + kSlotSpan > x86::kPciMmio32Base + x86::kPciMmio32Size)
    return usage_error("PCI BAR window full");
  const uint32_t gsi = x86::kPciIntxGsis[slot % 4];  // INTA of `slot`, as in the _PRT
  const uint16_t vectors = std::min<uint16_t>(device->num_queues() + 1, pci::Msix::kMaxVectors);
  auto sink = KvmMsiSink::create(vm_, routes_, vectors);
  if (!sink) return std::unexpected(sink.error());
  const std::string id = device->id();
  const uint64_t base = hot ? 0 : next_bar_;  // a hot-plugged function's BARs are the guest's to place
  virtio::VirtioPciTransport::Wiring wiring{std::make_shared<KvmBarHost>(vm_, mmio_), *sink,
                                            std::make_shared<IntxLine>(intx_, gsi), base};
  auto transport = virtio::VirtioPciTransport::create(device, memory_, loop_, std::move(wiring));
  if (!transport) return std::unexpected(transport.error());
  if (auto r = (*transport)->map_bars(); !r) return std::unexpected(r.error());
  hotplug_->forget(slot);  // no bit or eject request left from the slot's last device
  if (auto r = root_.add(slot, *transport); !r) return std::unexpected(r.error());
  if (hot) {
    spdlog::info("{}: virtio-pci hot-added at 00:{:02x}.0, INTA gsi {}, {} MSI-X vectors", id, slot, gsi, vectors);
  } else {
    spdlog::info("{}: virtio-pci at 00:{:02x}.0, BARs at {:#x}, INTA gsi {}, {} MSI-X vectors", id, slot, next_bar_,
                 gsi, vectors);
    next_bar_ += kSlotSpan;
  }
  slots_[slot] = Slot{std::move(*transport), nullptr, std::move(*sink), std::move(device), placement};
  if (placement == Placement::kColdFixed) fixed_slots_ |= 1u << slot;
  return slot;
}

Result<unsigned> PciHost::pick_slot(const std::string& id, std::optional<unsigned> wanted) const {
  if (wanted) {
    if (*wanted == 0 || *wanted >= pci::PciRoot::kSlots)
      return usage_error(fmt::format("{} slot={}: PCI slots are 1-31 (0 is the host bridge)", id, *wanted));
    if (slots_.contains(*wanted)) return usage_error(fmt::format("{} slot={}: in use", id, *wanted));
    return *wanted;
  }
  for (unsigned s = 1; s < pci::PciRoot::kSlots; ++s)
    if (!slots_.contains(s)) return s;
  return usage_error("too many PCI devices (31 on bus 0)");
}

Result<PciHost::VfioAdded> PciHost::add_vfio(const std::string& id, std::shared_ptr<vfio::DeviceIo> io,
                                             Placement placement, std::optional<unsigned> wanted) {
  std::lock_guard lock(mutex_);
  auto picked = pick_slot(id, wanted);
  if (!picked) return std::unexpected(picked.error());
  const unsigned slot = *picked;
  const bool hot = placement == Placement::kHot;
  auto probe = vfio::VfioPciFunction::probe(*io);
  if (!probe) return std::unexpected(probe.error());
  const vfio::DeviceShape& shape = probe->shape;
  // Cold: each BAR size-aligned in its window, the largest first (no holes between them).
  vfio::VfioPciFunction::Wiring wiring;
  uint64_t bar32 = next_bar_, bar64 = next_bar64_;
  if (!hot) {
    std::vector<unsigned> order;
    for (unsigned i = 0; i < 6; ++i)
      if (shape.bars[i].size) order.push_back(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](unsigned a, unsigned b) { return shape.bars[a].size > shape.bars[b].size; });
    for (unsigned i : order) {
      const vfio::BarShape& bar = shape.bars[i];
      uint64_t& next = bar.is64 ? bar64 : bar32;
      const uint64_t end = bar.is64 ? mmio64_base_ + x86::kPciMmio64Size : x86::kPciMmio32Base + x86::kPciMmio32Size;
      const uint64_t at = (next + bar.size - 1) & ~(bar.size - 1);
      if (at + bar.size > end || at + bar.size < at)
        return usage_error(fmt::format("{} ({}): BAR{} of {:#x} bytes does not fit in the PCI {}-bit window", id,
                                       io->name(), i, bar.size, bar.is64 ? 64 : 32));
      wiring.bar_addresses[i] = at;
      next = at + bar.size;
    }
  }
  const uint16_t vectors = vfio::VfioPciFunction::sink_vectors(shape);
  const std::string host_name = io->name();
  auto sink = KvmMsiSink::create(vm_, routes_, vectors);
  if (!sink) return std::unexpected(sink.error());
  const uint32_t gsi = x86::kPciIntxGsis[slot % 4];
  wiring.bars = std::make_shared<KvmBarHost>(vm_, mmio_, memory_slots_);
  wiring.msi = *sink;
  wiring.intx = std::make_shared<KvmIntxRouter>(vm_, gsi);
  auto function = vfio::VfioPciFunction::create(id, std::move(io), *probe, std::move(wiring));
  if (!function) return std::unexpected(function.error());
  if (auto r = (*function)->map_bars(); !r) return std::unexpected(r.error());
  hotplug_->forget(slot);
  if (auto r = root_.add(slot, *function); !r) {
    (*function)->shutdown();
    return std::unexpected(r.error());
  }
  if (!hot) {
    next_bar_ = (bar32 + kSlotSpan - 1) & ~(kSlotSpan - 1);  // virtio functions after it stay chunk-aligned
    next_bar64_ = bar64;
  }
  const auto stats = (*function)->stats();
  spdlog::info(
      "{}: VFIO {} at 00:{:02x}.0{}, INTA gsi {}, {} MSI vectors, {} KiB of BARs mapped straight, {} KiB trapped", id,
      host_name, slot, hot ? " (hot-added)" : "", gsi, vectors, stats.direct_bytes >> 10, stats.trapped_bytes >> 10);
  slots_[slot] = Slot{nullptr, *function, std::move(*sink), nullptr, placement};
  if (placement == Placement::kColdFixed) fixed_slots_ |= 1u << slot;
  return VfioAdded{slot, *function};
}

void PciHost::announce(unsigned slot) {
  hotplug_->plug(slot);
  pulse_ged();
}

Result<void> PciHost::request_eject(unsigned slot) {
  {
    std::lock_guard lock(mutex_);
    const auto it = slots_.find(slot);
    if (it == slots_.end()) return usage_error(fmt::format("no PCI device in slot {}", slot));
    if (it->second.placement == Placement::kColdFixed)
      return usage_error(fmt::format("the device in slot {} is not removable (removable=off)", slot));
    if (it->second.ejected) return usage_error(fmt::format("slot {} is already ejected and going away", slot));
    hotplug_->request_eject(slot);
  }
  pulse_ged();
  return {};
}

void PciHost::release(unsigned slot) {
  Slot gone;
  {
    std::lock_guard lock(mutex_);
    const auto it = slots_.find(slot);
    if (it == slots_.end() || !it->second.ejected) return;
    gone = it->second;  // the slot stays taken until the teardown is over
  }
  hotplug_->forget(slot);
  if (gone.vfio) {
    gone.vfio->shutdown();  // interrupts off, BARs and memory slots unmapped, the device reset
  } else {
    gone.transport->shutdown();  // data path stopped, BARs and notify ioeventfds gone, late accesses ignored
  }
  gone.msi->close();  // irqfds deassigned, GSIs back in the pool (late MSI-X writes ignored)
  if (gone.device) loop_.invoke([&] { gone.device->detach(); });
  std::lock_guard lock(mutex_);
  slots_.erase(slot);
}

void PciHost::pulse_ged() {
  // An edge on the GED's pin: its _EVT runs PCI0.PCNT, which reads the bitmaps.
  for (bool level : {true, false}) {
    if (auto r = vm_.irq_line(x86::kGedGsi, level); !r)
      FRANCA_WARN_RATELIMITED("GED gsi {}: {}", x86::kGedGsi, r.error().message);
  }
}

bool PciHost::guest_handles_hotplug() const {
  auto masked = vm_.ioapic_pin_masked(x86::kGedGsi);
  return masked && !*masked;
}

uint32_t PciHost::ejectable_slots() const {
  std::lock_guard lock(mutex_);
  return 0xfffffffeu & ~fixed_slots_;
}

size_t PciHost::msi_gsis_in_use() const { return routes_->in_use(); }

void PciHost::shutdown() {
  std::lock_guard lock(mutex_);
  for (auto& [_, s] : slots_) {
    if (s.vfio) {
      s.vfio->shutdown();
    } else {
      s.transport->shutdown();
    }
  }
}

firmware::AcpiPci PciHost::acpi() const {
  return firmware::AcpiPci{x86::kPciEcamBase,
                           x86::kPciEcamSize,
                           static_cast<uint32_t>(x86::kPciMmio32Base),
                           static_cast<uint32_t>(x86::kPciMmio32Size),
                           mmio64_base_,
                           x86::kPciMmio64Size,
                           {x86::kPciIntxGsis[0], x86::kPciIntxGsis[1], x86::kPciIntxGsis[2], x86::kPciIntxGsis[3]},
                           firmware::AcpiPciHotplug{x86::kPciHotplugPort, x86::kGedGsi, ejectable_slots()}};
}

}  // namespace franca
