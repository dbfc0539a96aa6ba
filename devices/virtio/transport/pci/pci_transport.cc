// virtio-pci modern: PCI identity, capabilities, BAR mapping and region decode
// (virtio 1.x §4.1.2 discovery, §4.1.4 capabilities, §4.1.5.3-4 interrupts).
#include "devices/virtio/transport/pci/pci_transport.h"

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "vmm/core/log.h"

namespace franca::virtio {
namespace {
constexpr uint16_t kVirtioVendor = 0x1af4;
constexpr uint16_t kModernDeviceBase = 0x1040;
constexpr uint16_t kSubsystemVendor = 0x1af4;
constexpr uint16_t kSubsystemDevice = 0x1100;  // >= 0x40 marks a modern-only device

// Class codes Linux shows for the device (informational; QEMU's values).
uint32_t class_code(uint32_t type) {
  switch (type) {
    case 1:
      return 0x020000;  // network
    case 2:
      return 0x010000;  // SCSI-class storage, as QEMU
    case 3:
      return 0x078000;  // communication / other
    default:
      return 0x00ff00;
  }
}
}  // namespace

Result<std::shared_ptr<VirtioPciTransport>> VirtioPciTransport::create(std::shared_ptr<VirtioDevice> device,
                                                                       const GuestMemory& memory, EventLoop& loop,
                                                                       Wiring wiring) {
  const uint16_t vectors = std::min<uint16_t>(device->num_queues() + 1, pci::Msix::kMaxVectors);
  auto msix = std::make_shared<pci::Msix>(vectors, wiring.msi);
  auto irq = std::make_shared<PciInterrupt>(msix, wiring.intx, device->num_queues());
  auto core = TransportCore::create(std::move(device), memory, loop, irq);
  if (!core) return std::unexpected(core.error());
  return std::shared_ptr<VirtioPciTransport>(
      new VirtioPciTransport(std::move(*core), std::move(irq), std::move(msix), std::move(wiring)));
}

VirtioPciTransport::VirtioPciTransport(std::unique_ptr<TransportCore> core, std::shared_ptr<PciInterrupt> irq,
                                       std::shared_ptr<pci::Msix> msix, Wiring wiring)
    : core_(std::move(core)),
      irq_(std::move(irq)),
      msix_(std::move(msix)),
      wiring_(std::move(wiring)),
      config_(pci::PciIds{.vendor = kVirtioVendor,
                          .device = static_cast<uint16_t>(kModernDeviceBase + core_->device().device_type()),
                          .revision = 1,
                          .class_code = class_code(core_->device().device_type()),
                          .subsystem_vendor = kSubsystemVendor,
                          .subsystem = kSubsystemDevice,
                          .interrupt_pin = 1}) {
  build_config_space();
}

VirtioPciTransport::~VirtioPciTransport() { shutdown(); }

// Stops the data path and takes the BARs off the bus (also what hot-unplug needs).
// After it the function is gone for good: a vCPU access that found it on a bus
// just before (and runs now) is ignored, so nothing can map or start it again.
void VirtioPciTransport::shutdown() {
  std::lock_guard lock(mutex_);
  core_->shutdown();
  config_.store(PCI_COMMAND, config_.command() & ~PCI_COMMAND_MEMORY, 2);
  removed_ = true;
  remap(kVirtioBar);
  remap(kMsixBar);
  irq_->reset();  // INTx lowered: the pin is shared with other slots
}

uint8_t VirtioPciTransport::status() const {
  std::lock_guard lock(mutex_);
  return core_->status();
}

// BARs pre-programmed (Linux keeps them), memory decode on; capability chain:
// MSI-X, then the virtio vendor caps COMMON, ISR, DEVICE, NOTIFY, PCI_CFG.
void VirtioPciTransport::build_config_space() {
  // A hot-plugged function (mmio_base 0) starts as hardware does: BARs
  // unassigned, decode off, for the guest to place in its windows.
  const bool preassigned = wiring_.mmio_base != 0;
  config_.add_memory_bar(kVirtioBar, kVirtioBarSize, /*is64=*/true, wiring_.mmio_base);
  config_.add_memory_bar(kMsixBar, pci::Msix::kBarSize, /*is64=*/false,
                         preassigned ? wiring_.mmio_base + kVirtioBarSize : 0);
  if (preassigned) config_.store(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
  const auto msix_body = msix_->capability(kMsixBar);
  const auto msix_mask = pci::Msix::capability_write_mask();
  msix_cap_ = config_.add_capability(msix_body, msix_mask);
  add_vendor_cap(VIRTIO_PCI_CAP_COMMON_CFG, kCommonOffset, kCommonSize, {}, {});
  add_vendor_cap(VIRTIO_PCI_CAP_ISR_CFG, kIsrOffset, 1, {}, {});
  add_vendor_cap(VIRTIO_PCI_CAP_DEVICE_CFG, kDeviceOffset, kDeviceSize, {}, {});
  const uint32_t mult = kNotifyMultiplier;
  const uint8_t zero4[4] = {};
  add_vendor_cap(VIRTIO_PCI_CAP_NOTIFY_CFG, kNotifyOffset, uint64_t{kNotifyMultiplier} * core_->num_queues(),
                 std::span(reinterpret_cast<const uint8_t*>(&mult), 4), zero4);
  const uint8_t ones4[4] = {0xff, 0xff, 0xff, 0xff};
  pci_cfg_cap_ = add_vendor_cap(VIRTIO_PCI_CAP_PCI_CFG, 0, 0, zero4, ones4);
}

uint8_t VirtioPciTransport::add_vendor_cap(uint8_t cfg_type, uint64_t offset, uint64_t length,
                                           std::span<const uint8_t> extra, std::span<const uint8_t> extra_mask) {
  std::vector<uint8_t> body(sizeof(virtio_pci_cap), 0), mask(sizeof(virtio_pci_cap), 0);
  body[VIRTIO_PCI_CAP_VNDR] = PCI_CAP_ID_VNDR;
  body[VIRTIO_PCI_CAP_LEN] = static_cast<uint8_t>(sizeof(virtio_pci_cap) + extra.size());
  body[VIRTIO_PCI_CAP_CFG_TYPE] = cfg_type;
  body[VIRTIO_PCI_CAP_BAR] = kVirtioBar;
  const auto off32 = static_cast<uint32_t>(offset), len32 = static_cast<uint32_t>(length);
  std::memcpy(&body[VIRTIO_PCI_CAP_OFFSET], &off32, 4);
  std::memcpy(&body[VIRTIO_PCI_CAP_LENGTH], &len32, 4);
  if (cfg_type == VIRTIO_PCI_CAP_PCI_CFG) {  // bar, offset, length and data are the driver's window
    body[VIRTIO_PCI_CAP_BAR] = 0;
    mask[VIRTIO_PCI_CAP_BAR] = 0xff;
    std::fill(mask.begin() + VIRTIO_PCI_CAP_OFFSET, mask.end(), 0xff);
  }
  body.insert(body.end(), extra.begin(), extra.end());
  mask.insert(mask.end(), extra_mask.begin(), extra_mask.end());
  return config_.add_capability(body, mask);
}

Result<void> VirtioPciTransport::map_bars() {
  std::lock_guard lock(mutex_);
  if (wiring_.mmio_base == 0) return {};  // unassigned: the guest maps them
  remap(kVirtioBar);
  remap(kMsixBar);
  if (!mapped_[kVirtioBar] || !mapped_[kMsixBar])
    return host_error(fmt::format("{}: cannot map the PCI BARs at {:#x}", core_->id(), wiring_.mmio_base));
  return {};
}

// Moves BAR `bar` (and for BAR4 the notify ioeventfds) to where config space says it decodes now.
void VirtioPciTransport::remap(unsigned bar) {
  const std::optional<uint64_t> want = removed_ ? std::nullopt : config_.bar_address(bar);
  if (want == mapped_[bar]) return;
  const uint64_t size = config_.bar_size(bar);
  if (mapped_[bar]) {
    wiring_.bars->unmap(*mapped_[bar]);
    if (bar == kVirtioBar)
      for (uint16_t q = 0; q < core_->num_queues(); ++q)
        wiring_.bars->remove_notify(core_->kick_fd(q), *mapped_[bar] + kNotifyOffset + q * kNotifyMultiplier);
    mapped_[bar].reset();
  }
  if (!want) return;
  std::shared_ptr<BusDevice> target = bar == kVirtioBar ? std::shared_ptr<BusDevice>(shared_from_this()) : msix_;
  if (auto r = wiring_.bars->map(*want, size, target); !r) {
    FRANCA_WARN_RATELIMITED("{}: BAR{} at {:#x} not mapped: {}", core_->id(), bar, *want, r.error().message);
    return;
  }
  mapped_[bar] = want;
  if (bar != kVirtioBar) return;
  for (uint16_t q = 0; q < core_->num_queues(); ++q) {
    if (auto r = wiring_.bars->add_notify(core_->kick_fd(q), *want + kNotifyOffset + q * kNotifyMultiplier); !r)
      FRANCA_WARN_RATELIMITED("{}: notify ioeventfd for queue {}: {}", core_->id(), q, r.error().message);
  }
}

void VirtioPciTransport::config_read(uint32_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (removed_) return std::fill(data.begin(), data.end(), 0xff);  // as an empty slot reads
  config_.set_interrupt_status(irq_->intx_pending());
  const uint32_t window = pci_cfg_cap_ + sizeof(virtio_pci_cap);
  if (pci_cfg_cap_ && offset < window + 4 && offset + data.size() > window) pci_cfg_access(/*is_write=*/false);
  config_.read(offset, data);
}

void VirtioPciTransport::config_write(uint32_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (removed_) return;
  config_.write(offset, data);
  const uint64_t end = uint64_t{offset} + data.size();
  auto touches = [&](uint32_t at, uint32_t len) { return offset < at + len && end > at; };
  if (touches(PCI_COMMAND, 2)) irq_->set_intx_disabled(config_.intx_disabled());
  if (msix_cap_ && touches(msix_cap_ + PCI_MSIX_FLAGS, 2)) {
    msix_->set_control(config_.load16(msix_cap_ + PCI_MSIX_FLAGS));
    irq_->set_intx_disabled(config_.intx_disabled());  // re-evaluates the INTx level
  }
  if (touches(PCI_COMMAND, 2) || touches(PCI_BASE_ADDRESS_0, 24)) {
    remap(kVirtioBar);
    remap(kMsixBar);
  }
  const uint32_t window = pci_cfg_cap_ + sizeof(virtio_pci_cap);
  if (pci_cfg_cap_ && touches(window, 4)) pci_cfg_access(/*is_write=*/true);
}

// VIRTIO_PCI_CAP_PCI_CFG (§4.1.4.9): an access to pci_cfg_data reaches BAR
// `cap.bar` at `cap.offset` with `cap.length` (1, 2 or 4) bytes. Only BAR4.
void VirtioPciTransport::pci_cfg_access(bool is_write) {
  const uint8_t bar = config_.byte(pci_cfg_cap_ + VIRTIO_PCI_CAP_BAR);
  const uint32_t off = config_.load32(pci_cfg_cap_ + VIRTIO_PCI_CAP_OFFSET);
  const uint32_t len = config_.load32(pci_cfg_cap_ + VIRTIO_PCI_CAP_LENGTH);
  const uint32_t data_at = pci_cfg_cap_ + sizeof(virtio_pci_cap);
  if (bar != kVirtioBar || (len != 1 && len != 2 && len != 4) || off % len || off >= kVirtioBarSize) return;
  uint8_t buf[4] = {};
  if (is_write) {
    config_.read(data_at, std::span(buf, len));
    region_write(off, std::span<const uint8_t>(buf, len));
  } else {
    region_read(off, std::span(buf, len));
    config_.store(data_at, buf[0] | buf[1] << 8 | buf[2] << 16 | uint32_t{buf[3]} << 24, 4);
  }
}

void VirtioPciTransport::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (removed_) return std::fill(data.begin(), data.end(), 0);
  region_read(offset, data);
}

void VirtioPciTransport::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (!removed_) region_write(offset, data);
}

void VirtioPciTransport::region_read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if (offset + data.size() <= kCommonOffset + kCommonSize) return common_read(offset, data);
  if (offset == kIsrOffset) {
    data[0] = irq_->take_isr();
  } else if (offset >= kDeviceOffset && offset + data.size() <= kDeviceOffset + kDeviceSize) {
    core_->read_config(offset - kDeviceOffset, data);
  }
}

void VirtioPciTransport::region_write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset + data.size() <= kCommonOffset + kCommonSize) return common_write(offset, data);
  if (offset >= kDeviceOffset && offset + data.size() <= kDeviceOffset + kDeviceSize) {
    core_->write_config(offset - kDeviceOffset, data);
  } else if (offset >= kNotifyOffset && offset < kNotifyOffset + uint64_t{kNotifyMultiplier} * core_->num_queues()) {
    core_->kick(static_cast<uint32_t>((offset - kNotifyOffset) / kNotifyMultiplier));  // no ioeventfd took it
  }
}

void VirtioPciTransport::reset_transport() {
  device_features_sel_ = driver_features_sel_ = 0;
  queue_sel_ = 0;
  irq_->reset();
}

}  // namespace franca::virtio
