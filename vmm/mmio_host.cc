// virtio-mmio on KVM: slot placement, irqfd per GSI, QueueNotify ioeventfds, DSDT entries.
#include "vmm/mmio_host.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "arch/x86_64/layout.h"
#include "devices/virtio/transport/mmio/mmio_transport.h"

namespace franca {
namespace {

// An edge on a GSI through a KVM irqfd: no ioctl on the signalling thread.
class IrqfdLine : public IrqLine {
 public:
  explicit IrqfdLine(int fd) : fd_(fd) {}
  void set_level(bool high) override {
    if (!high) return;
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof(one));
  }

 private:
  int fd_;  // owned by MmioHost::irq_fds_
};

}  // namespace

MmioHost::MmioHost(KvmVm& vm, Bus& mmio, const GuestMemory& memory, EventLoop& loop)
    : vm_(vm), mmio_(mmio), memory_(memory), loop_(loop) {}

MmioHost::~MmioHost() = default;

// One 4 KiB virtio-mmio slot: bus range, irqfd on its GSI, one ioeventfd per
// queue on QueueNotify, and an LNRO0005 entry for the DSDT.
Result<void> MmioHost::add_virtio(std::shared_ptr<virtio::VirtioDevice> device) {
  const size_t index = transports_.size();
  if (index >= std::size(x86::kVirtioMmioGsis)) return usage_error("too many virtio-mmio devices");
  const uint64_t base = x86::kVirtioMmioBase + index * virtio::MmioTransport::kSize;
  const uint32_t gsi = x86::kVirtioMmioGsis[index];
  Fd irq_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!irq_fd.valid()) return errno_error("eventfd for an irqfd");
  if (auto r = vm_.irqfd(irq_fd.get(), gsi); !r) return r;
  auto irq = std::make_shared<IrqfdLine>(irq_fd.get());
  irq_fds_.push_back(std::move(irq_fd));
  const std::string id = device->id();
  auto transport = virtio::MmioTransport::create(std::move(device), memory_, loop_, irq);
  if (!transport) return std::unexpected(transport.error());
  if (auto r = mmio_.insert(base, virtio::MmioTransport::kSize, *transport); !r) return r;
  for (uint16_t q = 0; q < (*transport)->num_queues(); ++q) {
    auto r = vm_.ioeventfd((*transport)->kick_fd(q), base + virtio::MmioTransport::kNotifyOffset, 4, false, q);
    if (!r) return r;
  }
  transports_.push_back(std::move(*transport));
  acpi_.push_back({base, virtio::MmioTransport::kSize, gsi});
  spdlog::info("{}: virtio-mmio at {:#x}, gsi {}", id, base, gsi);
  return {};
}

void MmioHost::shutdown() {
  for (auto& transport : transports_) transport->shutdown();
}

}  // namespace franca
