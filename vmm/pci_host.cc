// PCI on KVM: GSI routing shadow, MSI-X irqfds, BAR mapping, INTx levels.
#include "vmm/pci_host.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "arch/x86_64/layout.h"
#include "devices/virtio/transport/pci/pci_transport.h"
#include "vmm/core/log.h"

namespace franca {

// The MSI part of the GSI routing table; every change installs the whole table.
class PciHost::MsiRoutes {
 public:
  explicit MsiRoutes(KvmVm& vm) : vm_(vm) {}
  uint32_t allocate() {
    std::lock_guard lock(mutex_);
    return next_gsi_++;
  }
  void set(uint32_t gsi, uint64_t address, uint32_t data) {
    std::lock_guard lock(mutex_);
    routes_[gsi] = MsiRoute{gsi, address, data};
    std::vector<MsiRoute> all;
    for (const auto& [_, r] : routes_) all.push_back(r);
    if (auto r = vm_.set_gsi_routing(all); !r)
      FRANCA_WARN_RATELIMITED("MSI route for gsi {}: {}", gsi, r.error().message);
  }

 private:
  KvmVm& vm_;
  std::mutex mutex_;
  uint32_t next_gsi_ = x86::kFirstMsiGsi;
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

// One GSI + irqfd per MSI-X vector; the transport writes the eventfd (no ioctl).
class KvmMsiSink : public pci::MsiSink {
 public:
  static Result<std::shared_ptr<KvmMsiSink>> create(KvmVm& vm, std::shared_ptr<PciHost::MsiRoutes> routes,
                                                    uint16_t vectors) {
    auto sink = std::make_shared<KvmMsiSink>(std::move(routes));
    for (uint16_t v = 0; v < vectors; ++v) {
      Fd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      if (!fd.valid()) return errno_error("eventfd for an MSI-X vector");
      const uint32_t gsi = sink->routes_->allocate();
      if (auto r = vm.irqfd(fd.get(), gsi); !r) return std::unexpected(r.error());
      sink->gsis_.push_back(gsi);
      sink->fds_.push_back(std::move(fd));
    }
    return sink;
  }
  explicit KvmMsiSink(std::shared_ptr<PciHost::MsiRoutes> routes) : routes_(std::move(routes)) {}
  void route(uint16_t vector, uint64_t address, uint32_t data) override {
    if (vector < gsis_.size()) routes_->set(gsis_[vector], address, data);
  }
  void fire(uint16_t vector) override {
    if (vector >= fds_.size()) return;
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fds_[vector].get(), &one, sizeof(one));
  }

 private:
  std::shared_ptr<PciHost::MsiRoutes> routes_;
  std::vector<uint32_t> gsis_;
  std::vector<Fd> fds_;
};

class KvmBarHost : public pci::PciBarHost {
 public:
  KvmBarHost(KvmVm& vm, Bus& mmio) : vm_(vm), mmio_(mmio) {}
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
};

constexpr uint64_t kGiB = uint64_t{1} << 30;
// BAR4 (16 KiB) must stay size-aligned: each function gets a 32 KiB-aligned chunk.
constexpr uint64_t kSlotSpan = 0x8000;
static_assert(virtio::VirtioPciTransport::kMmioSpan <= kSlotSpan);

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
      next_bar_(x86::kPciMmio32Base) {}

PciHost::~PciHost() { shutdown(); }

Result<void> PciHost::attach() {
  if (auto r = pio_.insert(pci::PciRoot::kConfigAddressPort, pci::PciRoot::kConfigPortsLen, root_.config_ports()); !r)
    return r;
  return mmio_.insert(x86::kPciEcamBase, x86::kPciEcamSize, root_.ecam());
}

Result<void> PciHost::add_virtio(std::shared_ptr<virtio::VirtioDevice> device) {
  const unsigned slot = root_.next_free_slot();
  if (slot >= pci::PciRoot::kSlots) return usage_error("too many PCI devices (31 on bus 0)");
  if (next_bar_ + kSlotSpan > x86::kPciMmio32Base + x86::kPciMmio32Size) return usage_error("PCI BAR window full");
  const uint32_t gsi = x86::kPciIntxGsis[slot % 4];  // INTA of `slot`, as in the _PRT
  const uint16_t vectors = std::min<uint16_t>(device->num_queues() + 1, pci::Msix::kMaxVectors);
  auto sink = KvmMsiSink::create(vm_, routes_, vectors);
  if (!sink) return std::unexpected(sink.error());
  const std::string id = device->id();
  virtio::VirtioPciTransport::Wiring wiring{std::make_shared<KvmBarHost>(vm_, mmio_), *sink,
                                            std::make_shared<IntxLine>(intx_, gsi), next_bar_};
  auto transport = virtio::VirtioPciTransport::create(std::move(device), memory_, loop_, std::move(wiring));
  if (!transport) return std::unexpected(transport.error());
  if (auto r = (*transport)->map_bars(); !r) return r;
  if (auto r = root_.add(*transport); !r) return std::unexpected(r.error());
  spdlog::info("{}: virtio-pci at 00:{:02x}.0, BARs at {:#x}, INTA gsi {}, {} MSI-X vectors", id, slot, next_bar_, gsi,
               vectors);
  next_bar_ += kSlotSpan;
  transports_.push_back(std::move(*transport));
  return {};
}

void PciHost::shutdown() {
  for (auto& t : transports_) t->shutdown();
}

firmware::AcpiPci PciHost::acpi() const {
  return firmware::AcpiPci{x86::kPciEcamBase,
                           x86::kPciEcamSize,
                           static_cast<uint32_t>(x86::kPciMmio32Base),
                           static_cast<uint32_t>(x86::kPciMmio32Size),
                           mmio64_base_,
                           x86::kPciMmio64Size,
                           {x86::kPciIntxGsis[0], x86::kPciIntxGsis[1], x86::kPciIntxGsis[2], x86::kPciIntxGsis[3]},
                           std::nullopt};
}

}  // namespace franca
