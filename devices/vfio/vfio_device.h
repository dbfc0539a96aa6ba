// A host PCI device handed to franca through VFIO (Documentation/driver-api/
// vfio.rst): its IOMMU group, a type1 container holding the DMA map of guest
// RAM (iova = guest-physical), and the device fd with its regions (BARs 0-5,
// ROM 6, config 7) and interrupts (INTx 0, MSI 1, MSI-X 2). Each device has a
// container of its own, so unplugging one closes everything it held: the DMA
// map, the pinned pages' accounting and the interrupts go with the fds.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vmm/core/error.h"
#include "vmm/core/fd.h"
#include "vmm/core/guest_memory.h"

namespace franca::vfio {

// VFIO_PCI_*_INDEX from <linux/vfio.h>, without the header.
inline constexpr unsigned kRomRegion = 6;
inline constexpr unsigned kConfigRegion = 7;
inline constexpr unsigned kIntxIrq = 0;
inline constexpr unsigned kMsiIrq = 1;
inline constexpr unsigned kMsixIrq = 2;

// A part of a region that may be mmapped (the whole region, or the sparse-mmap
// areas the kernel lists: vfio-pci leaves the MSI-X table page out of them on
// hosts without interrupt-remapping-safe MSI-X mapping).
struct MmapArea {
  uint64_t offset = 0;  // within the region
  uint64_t size = 0;
};

struct RegionInfo {
  uint64_t size = 0;
  bool readable = false;
  bool writable = false;
  std::vector<MmapArea> mmap;  // empty: trap every access
};

// What the PCI function needs from the device: its regions and interrupts,
// region access, interrupt eventfds, reset. VfioDevice implements it over the
// device fd; unit tests fake it.
class DeviceIo {
 public:
  virtual ~DeviceIo() = default;
  virtual const std::string& name() const = 0;
  virtual const RegionInfo& region(unsigned index) const = 0;  // index <= kConfigRegion
  virtual uint32_t irq_count(unsigned index) const = 0;
  // mmap()s `area` of `region` for the guest (kept until the device goes); nullptr: trap it.
  virtual void* map_area(unsigned region, const MmapArea& area) = 0;
  virtual Result<void> read(unsigned region, uint64_t offset, std::span<uint8_t> data) = 0;
  virtual Result<void> write(unsigned region, uint64_t offset, std::span<const uint8_t> data) = 0;
  // VFIO_DEVICE_SET_IRQS, ACTION_TRIGGER: vector start+i signals fds[i]; an
  // empty span disables interrupt `index` (DATA_NONE, count 0).
  virtual Result<void> set_irq_eventfds(unsigned index, std::span<const int> fds) = 0;
  // INTx is level-triggered: VFIO masks it when it fires; a write to `fd` unmasks it.
  virtual Result<void> set_intx_unmask_eventfd(int fd) = 0;
  virtual Result<void> reset() = 0;
};

class VfioDevice : public DeviceIo {
 public:
  // `sysfs_path`: /sys/bus/pci/devices/DDDD:BB:DD.F, bound to vfio-pci. Opens
  // the group (must be viable: every device in it bound to vfio-pci or no
  // driver), a type1v2 container, maps every region of `memory` for DMA, gets
  // the device fd and resets the device. Errors name the group and what to do.
  static Result<std::unique_ptr<VfioDevice>> open(const std::string& sysfs_path, const GuestMemory& memory);
  ~VfioDevice() override;

  const std::string& name() const override { return name_; }  // DDDD:BB:DD.F
  uint32_t irq_count(unsigned index) const override;
  const RegionInfo& region(unsigned index) const override { return regions_.at(index); }
  // MAP_SHARED, read/write; nullptr on failure (logged).
  void* map_area(unsigned region, const MmapArea& area) override;

  Result<void> read(unsigned region, uint64_t offset, std::span<uint8_t> data) override;
  Result<void> write(unsigned region, uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> set_irq_eventfds(unsigned index, std::span<const int> fds) override;
  Result<void> set_intx_unmask_eventfd(int fd) override;
  Result<void> reset() override;

 private:
  VfioDevice() = default;
  Result<void> read_regions();
  Result<void> map_dma(const GuestMemory& memory);

  std::string name_;
  int group_number_ = -1;
  Fd container_;
  Fd group_;
  Fd device_;
  uint32_t num_regions_ = 0;
  std::vector<RegionInfo> regions_;
  std::vector<uint64_t> region_offsets_;  // file offset of each region on the device fd
  std::vector<uint32_t> irq_counts_;
  bool can_reset_ = false;
  uint64_t dma_bytes_ = 0;
  struct Mapping {
    void* host;
    size_t size;
  };
  std::vector<Mapping> mappings_;  // munmap()ed at destruction
};

}  // namespace franca::vfio
