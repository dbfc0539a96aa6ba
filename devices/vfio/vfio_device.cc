// VFIO container, group and device fd (Documentation/driver-api/vfio.rst, "VFIO Usage Example").
#include "devices/vfio/vfio_device.h"

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace franca::vfio {
namespace {

static_assert(kRomRegion == VFIO_PCI_ROM_REGION_INDEX && kConfigRegion == VFIO_PCI_CONFIG_REGION_INDEX);
static_assert(kIntxIrq == VFIO_PCI_INTX_IRQ_INDEX && kMsiIrq == VFIO_PCI_MSI_IRQ_INDEX &&
              kMsixIrq == VFIO_PCI_MSIX_IRQ_INDEX);

std::string mib(uint64_t bytes) { return fmt::format("{} MiB", (bytes + (1 << 20) - 1) >> 20); }

// The sparse-mmap capability of a region, if its info carries one.
std::vector<MmapArea> sparse_areas(const std::vector<uint8_t>& info_bytes) {
  std::vector<MmapArea> out;
  vfio_region_info info{};
  std::memcpy(&info, info_bytes.data(), sizeof(info));
  if (!(info.flags & VFIO_REGION_INFO_FLAG_CAPS)) return out;
  uint32_t at = info.cap_offset;
  for (int hops = 0; at && hops < 16; ++hops) {  // a chain the kernel built, bounded anyway
    vfio_info_cap_header header{};
    if (at + sizeof(header) > info_bytes.size()) break;
    std::memcpy(&header, info_bytes.data() + at, sizeof(header));
    if (header.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
      vfio_region_info_cap_sparse_mmap sparse{};
      if (at + sizeof(sparse) > info_bytes.size()) break;
      std::memcpy(&sparse, info_bytes.data() + at, sizeof(sparse));
      for (uint32_t i = 0; i < sparse.nr_areas; ++i) {
        vfio_region_sparse_mmap_area area{};
        const size_t pos = at + sizeof(sparse) + i * sizeof(area);
        if (pos + sizeof(area) > info_bytes.size()) break;
        std::memcpy(&area, info_bytes.data() + pos, sizeof(area));
        if (area.size) out.push_back(MmapArea{area.offset, area.size});
      }
      return out;
    }
    at = header.next;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<VfioDevice>> VfioDevice::open(const std::string& sysfs_path, const GuestMemory& memory) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dev = fs::canonical(sysfs_path, ec);
  if (ec) return usage_error(fmt::format("--vfio {}: {}", sysfs_path, ec.message()));
  std::unique_ptr<VfioDevice> d(new VfioDevice());
  d->name_ = dev.filename().string();
  const fs::path group_link = dev / "iommu_group";
  const fs::path group_dir = fs::read_symlink(group_link, ec);
  if (ec) {
    return usage_error(
        fmt::format("--vfio {}: no IOMMU group (is the IOMMU on? intel_iommu=on / amd_iommu=on)", sysfs_path));
  }
  d->group_number_ = std::atoi(group_dir.filename().c_str());
  std::error_code driver_ec;
  const std::string driver = fs::read_symlink(dev / "driver", driver_ec).filename().string();
  if (driver_ec || driver != "vfio-pci") {
    return usage_error(fmt::format(
        "--vfio {}: bound to {}, not vfio-pci (echo vfio-pci > {}/driver_override; echo {} > {}/driver/unbind; echo "
        "{} > /sys/bus/pci/drivers_probe)",
        d->name_, driver_ec ? "no driver" : driver, dev.string(), d->name_, dev.string(), d->name_));
  }

  d->container_ = Fd(::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC));
  if (!d->container_.valid()) return errno_error("/dev/vfio/vfio (modprobe vfio-pci)");
  if (ioctl(d->container_.get(), VFIO_GET_API_VERSION) != VFIO_API_VERSION)
    return host_error("/dev/vfio/vfio: unknown VFIO API version");
  if (ioctl(d->container_.get(), VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1)
    return host_error("/dev/vfio/vfio: no type1v2 IOMMU support");
  const std::string group_path = fmt::format("/dev/vfio/{}", d->group_number_);
  d->group_ = Fd(::open(group_path.c_str(), O_RDWR | O_CLOEXEC));
  if (!d->group_.valid()) {
    if (errno == EBUSY)
      return usage_error(fmt::format("--vfio {}: IOMMU group {} is in use (by another VMM, or another --vfio here)",
                                     d->name_, d->group_number_));
    return errno_error(fmt::format("--vfio {}: {}", d->name_, group_path));
  }
  vfio_group_status status{};
  status.argsz = sizeof(status);
  if (ioctl(d->group_.get(), VFIO_GROUP_GET_STATUS, &status) < 0) return errno_error(group_path + ": GET_STATUS");
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
    std::string members;
    for (const auto& e : fs::directory_iterator(
             fs::path("/sys/kernel/iommu_groups") / std::to_string(d->group_number_) / "devices", ec))
      members += " " + e.path().filename().string();
    return usage_error(fmt::format(
        "--vfio {}: IOMMU group {} is not viable: every device in it must be bound to vfio-pci (or no driver); "
        "members:{}",
        d->name_, d->group_number_, members));
  }
  const int container_fd = d->container_.get();
  if (ioctl(d->group_.get(), VFIO_GROUP_SET_CONTAINER, &container_fd) < 0)
    return errno_error(group_path + ": SET_CONTAINER");
  if (ioctl(d->container_.get(), VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
    if (errno == EPERM) {
      return host_error(fmt::format(
          "--vfio {}: VFIO_SET_IOMMU: {} (the IOMMU does not remap interrupts: enable interrupt remapping, or load "
          "vfio_iommu_type1 with allow_unsafe_interrupts=1)",
          d->name_, std::strerror(errno)));
    }
    return errno_error(fmt::format("--vfio {}: VFIO_SET_IOMMU", d->name_));
  }
  if (auto r = d->map_dma(memory); !r) return std::unexpected(r.error());

  d->device_ = Fd(ioctl(d->group_.get(), VFIO_GROUP_GET_DEVICE_FD, d->name_.c_str()));
  if (!d->device_.valid()) return errno_error(fmt::format("--vfio {}: GET_DEVICE_FD", d->name_));
  if (auto r = d->read_regions(); !r) return std::unexpected(r.error());
  if (d->can_reset_) {
    if (auto r = d->reset(); !r) spdlog::warn("{}: reset at open: {}", d->name_, r.error().message);
  }
  spdlog::info("vfio {}: IOMMU group {}, {} regions, INTx {}, MSI {}, MSI-X {}, {} of guest RAM mapped for DMA{}",
               d->name_, d->group_number_, d->num_regions_, d->irq_count(kIntxIrq), d->irq_count(kMsiIrq),
               d->irq_count(kMsixIrq), mib(d->dma_bytes_), d->can_reset_ ? "" : ", no reset");
  return d;
}

VfioDevice::~VfioDevice() {
  if (device_.valid() && can_reset_) {
    for (unsigned index : {kMsixIrq, kMsiIrq, kIntxIrq})
      if (irq_count(index)) (void)set_irq_eventfds(index, {});
    (void)reset();  // leave the device quiet for its next user
  }
  for (const Mapping& m : mappings_) munmap(m.host, m.size);
}

Result<void> VfioDevice::map_dma(const GuestMemory& memory) {
  uint64_t total = 0;
  for (const MemoryRegion& r : memory.regions()) total += r.size;
  for (const MemoryRegion& r : memory.regions()) {
    vfio_iommu_type1_dma_map map{.argsz = sizeof(map),
                                 .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                                 .vaddr = reinterpret_cast<uint64_t>(r.host),
                                 .iova = r.gpa,
                                 .size = r.size};
    if (ioctl(container_.get(), VFIO_IOMMU_MAP_DMA, &map) == 0) {
      dma_bytes_ += r.size;
      continue;
    }
    if (errno == ENOMEM) {
      rlimit lim{};
      getrlimit(RLIMIT_MEMLOCK, &lim);
      const std::string have = lim.rlim_cur == RLIM_INFINITY ? "unlimited" : mib(lim.rlim_cur);
      return host_error(fmt::format(
          "--vfio {}: cannot pin guest RAM for DMA ({}): the device needs all {} of it locked and RLIMIT_MEMLOCK is "
          "{}; raise it (ulimit -l {} or more, LimitMEMLOCK= in a unit) or give franca CAP_IPC_LOCK",
          name_, std::strerror(ENOMEM), mib(total), have, (total >> 10) + 65536));
    }
    return errno_error(fmt::format("--vfio {}: VFIO_IOMMU_MAP_DMA of {:#x}+{:#x}", name_, r.gpa, r.size));
  }
  return {};
}

Result<void> VfioDevice::read_regions() {
  vfio_device_info info{};
  info.argsz = sizeof(info);
  if (ioctl(device_.get(), VFIO_DEVICE_GET_INFO, &info) < 0) return errno_error(name_ + ": DEVICE_GET_INFO");
  if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) || info.num_regions <= kConfigRegion || info.num_irqs <= kMsixIrq)
    return usage_error(fmt::format("--vfio {}: not a vfio-pci device", name_));
  can_reset_ = info.flags & VFIO_DEVICE_FLAGS_RESET;
  num_regions_ = info.num_regions;
  for (unsigned i = 0; i <= kConfigRegion; ++i) {
    std::vector<uint8_t> bytes(sizeof(vfio_region_info));
    vfio_region_info r{};
    r.argsz = sizeof(r);
    r.index = i;
    if (ioctl(device_.get(), VFIO_DEVICE_GET_REGION_INFO, &r) < 0)
      return errno_error(fmt::format("{}: region {} info", name_, i));
    if (r.argsz > sizeof(r) && r.argsz < 65536) {  // capabilities follow: ask again with room for them
      bytes.assign(r.argsz, 0);
      auto* big = reinterpret_cast<vfio_region_info*>(bytes.data());
      big->argsz = r.argsz;
      big->index = i;
      if (ioctl(device_.get(), VFIO_DEVICE_GET_REGION_INFO, big) < 0)
        return errno_error(fmt::format("{}: region {} info", name_, i));
      std::memcpy(&r, big, sizeof(r));
    } else {
      std::memcpy(bytes.data(), &r, sizeof(r));
    }
    RegionInfo region{
        r.size, bool(r.flags & VFIO_REGION_INFO_FLAG_READ), bool(r.flags & VFIO_REGION_INFO_FLAG_WRITE), {}};
    if (r.flags & VFIO_REGION_INFO_FLAG_MMAP) {
      region.mmap = sparse_areas(bytes);
      if (region.mmap.empty() && !(r.flags & VFIO_REGION_INFO_FLAG_CAPS)) region.mmap.push_back(MmapArea{0, r.size});
    }
    regions_.push_back(std::move(region));
    region_offsets_.push_back(r.offset);
  }
  for (unsigned i = 0; i <= kMsixIrq; ++i) {
    vfio_irq_info irq{};
    irq.argsz = sizeof(irq);
    irq.index = i;
    if (ioctl(device_.get(), VFIO_DEVICE_GET_IRQ_INFO, &irq) < 0)
      return errno_error(fmt::format("{}: irq {} info", name_, i));
    irq_counts_.push_back(irq.count);
  }
  return {};
}

uint32_t VfioDevice::irq_count(unsigned index) const { return index < irq_counts_.size() ? irq_counts_[index] : 0; }

void* VfioDevice::map_area(unsigned region, const MmapArea& area) {
  if (region >= regions_.size()) return nullptr;
  void* host = mmap(nullptr, area.size, PROT_READ | PROT_WRITE, MAP_SHARED, device_.get(),
                    static_cast<off_t>(region_offsets_[region] + area.offset));
  if (host == MAP_FAILED) {
    spdlog::warn("vfio {}: mmap of region {} +{:#x} ({:#x} bytes): {}; its accesses are trapped", name_, region,
                 area.offset, area.size, std::strerror(errno));
    return nullptr;
  }
  mappings_.push_back(Mapping{host, area.size});
  return host;
}

Result<void> VfioDevice::read(unsigned region, uint64_t offset, std::span<uint8_t> data) {
  if (region >= regions_.size() || offset + data.size() > regions_[region].size)
    return host_error("vfio read outside its region");
  if (!pread_all(device_.get(), data, region_offsets_[region] + offset))
    return errno_error(fmt::format("vfio {}: read of region {} +{:#x}", name_, region, offset));
  return {};
}

Result<void> VfioDevice::write(unsigned region, uint64_t offset, std::span<const uint8_t> data) {
  if (region >= regions_.size() || offset + data.size() > regions_[region].size)
    return host_error("vfio write outside its region");
  if (!pwrite_all(device_.get(), data, region_offsets_[region] + offset))
    return errno_error(fmt::format("vfio {}: write of region {} +{:#x}", name_, region, offset));
  return {};
}

Result<void> VfioDevice::set_irq_eventfds(unsigned index, std::span<const int> fds) {
  std::vector<uint8_t> bytes(sizeof(vfio_irq_set) + fds.size() * sizeof(int));
  vfio_irq_set set{.argsz = static_cast<uint32_t>(bytes.size()),
                   .flags = static_cast<uint32_t>(VFIO_IRQ_SET_ACTION_TRIGGER |
                                                  (fds.empty() ? VFIO_IRQ_SET_DATA_NONE : VFIO_IRQ_SET_DATA_EVENTFD)),
                   .index = index,
                   .start = 0,
                   .count = static_cast<uint32_t>(fds.size())};
  std::memcpy(bytes.data(), &set, sizeof(set));
  if (!fds.empty()) std::memcpy(bytes.data() + sizeof(set), fds.data(), fds.size() * sizeof(int));
  if (ioctl(device_.get(), VFIO_DEVICE_SET_IRQS, bytes.data()) < 0)
    return errno_error(fmt::format("vfio {}: SET_IRQS index {} count {}", name_, index, fds.size()));
  return {};
}

Result<void> VfioDevice::set_intx_unmask_eventfd(int fd) {
  std::vector<uint8_t> bytes(sizeof(vfio_irq_set) + sizeof(int));
  vfio_irq_set set{.argsz = static_cast<uint32_t>(bytes.size()),
                   .flags = VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_DATA_EVENTFD,
                   .index = kIntxIrq,
                   .start = 0,
                   .count = 1};
  std::memcpy(bytes.data(), &set, sizeof(set));
  std::memcpy(bytes.data() + sizeof(set), &fd, sizeof(int));
  if (ioctl(device_.get(), VFIO_DEVICE_SET_IRQS, bytes.data()) < 0)
    return errno_error(fmt::format("vfio {}: INTx unmask eventfd", name_));
  return {};
}

Result<void> VfioDevice::reset() {
  if (ioctl(device_.get(), VFIO_DEVICE_RESET) < 0) return errno_error(fmt::format("vfio {}: reset", name_));
  return {};
}

}  // namespace franca::vfio
