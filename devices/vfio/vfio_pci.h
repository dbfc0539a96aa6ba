// A host PCI function passed through to the guest (--vfio): config space
// virtualised by VfioConfig, BARs mapped straight into the guest (KVM memory
// slots over the device's mmap) where VFIO allows it and trapped where it does
// not or where franca must see the access (the MSI-X table and PBA pages, BARs
// smaller than a page), interrupts delivered without franca in the path:
// - MSI-X: the guest programs franca's copy of the table (pci::Msix); VFIO
//   signals each vector's eventfd, which is the KVM irqfd of that vector's MSI
//   route, assigned only while the vector is unmasked (MsiSink::set_open), so
//   masking is honoured and a vector raised while masked arrives on unmask;
// - MSI: the same eventfds and routes, from the emulated MSI capability;
// - INTx: VFIO's trigger eventfd is a KVM irqfd with a resample eventfd that
//   unmasks the (level-triggered, auto-masked) INTx at the guest's EOI.
// vCPU threads call it (config space, trapped BAR accesses).
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "devices/pci/msix.h"
#include "devices/pci/pci_function.h"
#include "devices/vfio/vfio_config.h"
#include "devices/vfio/vfio_device.h"
#include "vmm/core/fd.h"

namespace franca::vfio {

// How a BAR is split: pieces mapped straight into the guest (`area` = index
// into the region's mmap areas) and pieces whose accesses franca traps.
struct BarPiece {
  uint64_t offset = 0;
  uint64_t size = 0;
  std::optional<size_t> area;  // nullopt: trapped
};
// Page-granular: mmap areas shrunk to whole pages, `trapped` ranges (MSI-X
// table, PBA) grown to whole pages; what is left is trapped. Sorted, covering [0, size).
std::vector<BarPiece> plan_bar(uint64_t size, std::span<const MmapArea> areas,
                               std::span<const std::pair<uint64_t, uint64_t>> trapped, uint64_t page = 4096);

// The slot's INTx GSI as a KVM irqfd with resampling (implemented by the VMM).
class IntxRouter {
 public:
  virtual ~IntxRouter() = default;
  virtual Result<void> connect(int trigger_fd, int resample_fd) = 0;
  virtual void disconnect() = 0;
};

class VfioPciFunction : public pci::PciFunction, public std::enable_shared_from_this<VfioPciFunction> {
 public:
  struct Wiring {
    std::shared_ptr<pci::PciBarHost> bars;    // traps on the MMIO bus, direct maps as KVM memory slots
    std::shared_ptr<pci::MsiSink> msi;        // vectors: max(MSI-X table size, MSI vectors), with notifiers
    std::shared_ptr<IntxRouter> intx;         // null: no INTx
    std::array<uint64_t, 6> bar_addresses{};  // franca's placement; all 0: hot-plugged, the guest places them
  };
  // The device's config space as read once, and what it says (BARs, capabilities):
  // the VMM places the BARs and sizes the MSI sink from it, then creates the function.
  struct Probe {
    std::array<uint8_t, 256> raw{};
    DeviceShape shape;
  };
  static Result<Probe> probe(DeviceIo& io);
  // How many MSI sink vectors a device of `shape` needs (0 when it has neither MSI nor MSI-X).
  static uint16_t sink_vectors(const DeviceShape& shape);
  static Result<std::shared_ptr<VfioPciFunction>> create(std::string id, std::shared_ptr<DeviceIo> io,
                                                         const Probe& probe, Wiring wiring);
  ~VfioPciFunction() override;

  void config_read(uint32_t offset, std::span<uint8_t> data) override;
  void config_write(uint32_t offset, std::span<const uint8_t> data) override;

  // Maps the BARs franca placed (a no-op when hot-plugged).
  Result<void> map_bars();
  // Interrupts off, BARs unmapped, late accesses ignored (unplug, VM shutdown).
  void shutdown();
  const std::string& id() const { return id_; }
  const std::string& host_name() const { return io_->name(); }  // DDDD:BB:DD.F
  const DeviceShape& shape() const { return config_.shape(); }

  struct Stats {
    uint64_t config_reads = 0, config_writes = 0;
    uint64_t trapped_reads = 0, trapped_writes = 0;  // BAR accesses outside the MSI-X table/PBA
    uint64_t device_errors = 0;                      // failed reads/writes of the device
    uint64_t direct_bytes = 0, trapped_bytes = 0;    // BAR space mapped straight / trapped (of the BARs decoding now)
    std::string irq_mode = "none";                   // intx, msi, msix or none
  };
  Stats stats() const;

  class BarTrap;  // a trapped piece of a BAR on the MMIO bus

 private:
  VfioPciFunction(std::string id, std::shared_ptr<DeviceIo> io, Wiring wiring, std::span<const uint8_t, 256> raw,
                  const DeviceShape& shape);
  Result<void> prepare_bars();
  // Under mutex_:
  void map_bar(unsigned bar);
  void unmap_bar(unsigned bar);
  void sync_bars();  // every BAR mapped where the config space says it decodes
  void update_msix();
  void update_msi();
  void enable_intx();
  void disable_intx();
  void device_write(uint32_t offset, std::span<const uint8_t> data);
  void trapped_read(unsigned bar, uint64_t offset, std::span<uint8_t> data);
  void trapped_write(unsigned bar, uint64_t offset, std::span<const uint8_t> data);

  std::string id_;
  std::shared_ptr<DeviceIo> io_;
  Wiring wiring_;
  std::shared_ptr<pci::Msix> msix_;  // null without MSI-X

  mutable std::mutex mutex_;
  VfioConfig config_;
  struct Piece {
    BarPiece plan;
    void* host = nullptr;  // direct pieces (null: trapped)
    std::shared_ptr<BarTrap> trap;
    bool direct_now = false;  // mapped as memory (else trapped: also when map_memory failed)
  };
  std::array<std::vector<Piece>, 6> pieces_;
  std::array<std::optional<uint64_t>, 6> mapped_{};  // where each BAR is mapped now
  bool intx_on_ = false;
  Fd intx_trigger_, intx_resample_;
  unsigned msi_on_ = 0;  // vectors handed to VFIO_DEVICE_SET_IRQS (MSI)
  bool msix_on_ = false;
  uint64_t config_reads_ = 0, config_writes_ = 0;  // under mutex_
  std::atomic<uint64_t> trapped_reads_{0}, trapped_writes_{0}, device_errors_{0};
  // shutdown(): config and trapped accesses are ignored (set under mutex_; the
  // trapped paths read it without the lock)
  std::atomic<bool> removed_{false};
};

}  // namespace franca::vfio
