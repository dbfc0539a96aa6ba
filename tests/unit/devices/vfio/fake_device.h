// A fake passed-through device: an e1000e-shaped config space (the NIC the
// nested harness passes through: 8086:10d3, BAR0 128 KiB, BAR1 128 KiB flash,
// an I/O BAR2, BAR3 16 KiB holding the MSI-X table at 0 and PBA at 0x2000, 5
// vectors, a 64-bit MSI capability, INTA, multifunction bit set to see it
// cleared), recording what the function asks of VFIO.
#pragma once

#include <linux/pci_regs.h>

#include <array>
#include <cstring>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "devices/vfio/vfio_device.h"
#include "tests/unit/devices/pci/pci_fakes.h"

namespace franca::testing {

inline constexpr uint8_t kMsiCap = 0xd0;
inline constexpr uint8_t kMsixCap = 0xa0;
inline constexpr uint8_t kPmCap = 0xc8;
inline constexpr uint8_t kExpCap = 0xe0;

class FakeDeviceIo : public vfio::DeviceIo {
 public:
  FakeDeviceIo() {
    auto put16 = [&](unsigned at, uint16_t v) { std::memcpy(&config[at], &v, 2); };
    auto put32 = [&](unsigned at, uint32_t v) { std::memcpy(&config[at], &v, 4); };
    put16(PCI_VENDOR_ID, 0x8086);
    put16(PCI_DEVICE_ID, 0x10d3);
    put16(PCI_STATUS, PCI_STATUS_CAP_LIST);
    config[PCI_HEADER_TYPE] = 0x80;
    config[PCI_BIST] = 0x40;
    put32(PCI_BASE_ADDRESS_0, 0xfebc0000);
    put32(PCI_BASE_ADDRESS_1, 0xfeba0000);
    put32(PCI_BASE_ADDRESS_2, 0xc001);  // I/O
    put32(PCI_BASE_ADDRESS_3, 0xfebe0000);
    put32(PCI_ROM_ADDRESS, 0xfeb40000);
    config[PCI_INTERRUPT_PIN] = 1;
    config[PCI_INTERRUPT_LINE] = 11;
    config[PCI_CAPABILITY_LIST] = kPmCap;
    config[kPmCap] = PCI_CAP_ID_PM;
    config[kPmCap + 1] = kMsiCap;
    config[kMsiCap] = PCI_CAP_ID_MSI;
    config[kMsiCap + 1] = kExpCap;
    put16(kMsiCap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT);  // one vector, 64-bit, no per-vector mask
    config[kExpCap] = PCI_CAP_ID_EXP;
    config[kExpCap + 1] = kMsixCap;
    config[kMsixCap] = PCI_CAP_ID_MSIX;
    config[kMsixCap + 1] = 0;
    put16(kMsixCap + PCI_MSIX_FLAGS, 4);  // 5 vectors
    put32(kMsixCap + PCI_MSIX_TABLE, 0x0000 | 3);
    put32(kMsixCap + PCI_MSIX_PBA, 0x2000 | 3);
    regions[0] = {0x20000, true, true, {{0, 0x20000}}};
    regions[1] = {0x20000, true, true, {{0, 0x20000}}};
    regions[2] = {0x20, true, true, {}};
    regions[3] = {0x4000, true, true, {{0, 0x4000}}};
    regions[4] = regions[5] = {};  // unimplemented BARs: size 0
    regions[vfio::kRomRegion] = {0x40000, true, false, {}};
    regions[vfio::kConfigRegion] = {0x100, true, true, {}};
    for (auto& b : bar_memory) b.assign(0x20000, 0);
  }

  const std::string& name() const override { return name_; }
  const vfio::RegionInfo& region(unsigned index) const override { return regions.at(index); }
  uint32_t irq_count(unsigned index) const override {
    return index == vfio::kIntxIrq ? 1 : index == vfio::kMsiIrq ? 1 : 5;
  }
  void* map_area(unsigned region, const vfio::MmapArea& area) override {
    if (fail_mmap) return nullptr;
    mapped_areas.push_back({region, area.offset});
    return bar_memory[region].data() + area.offset;
  }
  Result<void> read(unsigned region, uint64_t offset, std::span<uint8_t> data) override {
    if (fail_io) return host_error("the device is gone");
    if (region == vfio::kConfigRegion) {
      for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < 256 ? config[offset + i] : 0;
      return {};
    }
    std::memcpy(data.data(), bar_memory[region].data() + offset, data.size());
    bar_reads.push_back({region, offset});
    return {};
  }
  Result<void> write(unsigned region, uint64_t offset, std::span<const uint8_t> data) override {
    if (fail_io) return host_error("the device is gone");
    if (region == vfio::kConfigRegion) {
      for (size_t i = 0; i < data.size(); ++i) {
        if (offset + i < 256) config[offset + i] = data[i];
        config_writes.push_back(static_cast<uint32_t>(offset + i));
      }
      return {};
    }
    std::memcpy(bar_memory[region].data() + offset, data.data(), data.size());
    bar_writes.push_back({region, offset});
    return {};
  }
  Result<void> set_irq_eventfds(unsigned index, std::span<const int> fds) override {
    // (fmt, not operator+(const char*, string&&): GCC 12 -O3 reports a false -Wrestrict there)
    std::string entry = fmt::format("{}:", index);
    for (int fd : fds) fmt::format_to(std::back_inserter(entry), " {}", fd);
    irqs.push_back(std::move(entry));
    return {};
  }
  Result<void> set_intx_unmask_eventfd(int fd) override {
    unmask_fd = fd;
    return {};
  }
  Result<void> reset() override {
    ++resets;
    return {};
  }
  uint16_t command() const { return static_cast<uint16_t>(config[PCI_COMMAND] | config[PCI_COMMAND + 1] << 8); }

  std::string name_ = "0000:00:02.0";
  std::array<uint8_t, 256> config{};
  std::map<unsigned, vfio::RegionInfo> regions;
  std::array<std::vector<uint8_t>, 6> bar_memory;
  bool fail_mmap = false, fail_io = false;
  std::vector<std::pair<unsigned, uint64_t>> mapped_areas, bar_reads, bar_writes;
  std::vector<uint32_t> config_writes;  // offsets written to the device
  std::vector<std::string> irqs;        // "index: fd fd ...", in order ("2:" disables MSI-X)
  int unmask_fd = -1;
  int resets = 0;
};

// FakeBarHost that can also map memory.
class FakeMemoryBarHost : public FakeBarHost {
 public:
  Result<void> map_memory(uint64_t base, uint64_t size, void* host) override {
    if (fail_memory) return host_error("no memory slots");
    memory[base] = {size, host};
    return {};
  }
  void unmap_memory(uint64_t base) override { memory.erase(base); }
  bool fail_memory = false;
  std::map<uint64_t, std::pair<uint64_t, void*>> memory;  // base -> (size, host)
};

class FakeIntx : public vfio::IntxRouter {
 public:
  Result<void> connect(int trigger_fd, int resample_fd) override {
    trigger = trigger_fd;
    resample = resample_fd;
    log.push_back("connect");
    return {};
  }
  void disconnect() override {
    trigger = resample = -1;
    log.push_back("disconnect");
  }
  int trigger = -1, resample = -1;
  std::vector<std::string> log;
};

}  // namespace franca::testing
