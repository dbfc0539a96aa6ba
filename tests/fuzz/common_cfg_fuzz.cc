// libFuzzer target for the virtio-pci common configuration structure (virtio
// 1.x §4.1.4.3) reached through BAR4 as a driver reaches it: feature select
// and negotiation, queue select/size/vector/enable/addresses at any width and
// alignment, DRIVER_OK activation over rings in guest RAM, ISR reads, notify
// writes, device config and the MSI-X table. Never crashes; num_queues and the
// queue bounds hold.
//
// Input: a sequence of 8-byte ops: [kind][width][offset u16][value u32].
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "devices/virtio/transport/pci/pci_transport.h"
#include "tests/fuzz/fuzz_device.h"
#include "tests/support/fake_irq.h"
#include "tests/unit/devices/pci/pci_fakes.h"

namespace {

using namespace franca;
using namespace franca::virtio;
using Pci = VirtioPciTransport;

constexpr uint64_t kBase = 0xc0000000;
constexpr size_t kRamSize = 1 << 16;
constexpr uint16_t kQueues = 3;
constexpr uint64_t kFeatures = uint64_t{1} << VIRTIO_F_VERSION_1 | uint64_t{1} << VIRTIO_F_RING_PACKED |
                               uint64_t{1} << VIRTIO_RING_F_EVENT_IDX | uint64_t{1} << VIRTIO_RING_F_INDIRECT_DESC;

size_t width_of(uint8_t w) { return size_t{1} << (w % 4); }  // 1, 2, 4, 8

// Where in BAR4 (or the MSI-X BAR after it) an op lands: mostly common cfg.
uint64_t target_of(uint8_t selector, uint16_t offset) {
  switch (selector % 8) {
    case 0:
    case 1:
    case 2:
    case 3:
      return Pci::kCommonOffset + offset % Pci::kCommonSize;
    case 4:
      return Pci::kIsrOffset + offset % 4;
    case 5:
      return Pci::kDeviceOffset + offset % 0x40;
    case 6:
      return Pci::kNotifyOffset + (offset % kQueues) * Pci::kNotifyMultiplier;
    default:
      return Pci::kVirtioBarSize + offset % 0x1000;  // MSI-X table and PBA
  }
}

uint16_t common16(testing::FakeBarHost& bars, uint64_t field) {
  uint16_t v = 0;
  bars.bus.read(kBase + field, {reinterpret_cast<uint8_t*>(&v), 2});
  return v;
}

void apply(testing::FakeBarHost& bars, std::vector<uint8_t>& ram, EventLoop& loop, const uint8_t* op) {
  const uint8_t kind = op[0] % 5;
  const size_t width = width_of(op[1]);
  uint16_t offset;
  std::memcpy(&offset, op + 2, 2);
  uint8_t value[8] = {};
  std::memcpy(value, op + 4, 4);
  const uint64_t at = kBase + target_of(op[0] >> 3, offset);
  switch (kind) {
    case 0:
    case 1:
      fuzz::run_posted(loop);  // as on the loop thread: a reset never overtakes a pending activation
      bars.bus.write(at, {value, width});
      break;
    case 2:
      bars.bus.read(at, {value, width});
      break;
    case 3:  // the driver fills its rings: 4 bytes of guest RAM
      std::memcpy(ram.data() + (size_t{offset} * 4) % kRamSize, value, 4);
      break;
    case 4:  // the loop has run everything posted (activation)
      fuzz::run_posted(loop);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // the guest's mistakes are logged (rate limited) by design
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::vector<uint8_t>& ram = *new std::vector<uint8_t>(kRamSize);  // once: ASan makes a fresh 64 KiB slow
  std::memset(ram.data(), 0, ram.size());
  const MemoryRegion region{0, ram.size(), ram.data()};
  const GuestMemory memory = GuestMemory::over({&region, 1});
  auto loop = std::move(*EventLoop::create());  // destroyed after the transport, before `ram`
  auto bars = std::make_shared<testing::FakeBarHost>();
  auto transport =
      *Pci::create(std::make_shared<fuzz::RingDevice>(kFeatures, kQueues), memory, *loop,
                   {bars, std::make_shared<testing::FakeMsiSink>(), std::make_shared<testing::FakeIrq>(), kBase});
  if (!transport->map_bars()) std::abort();
  for (size_t at = 0; at + 8 <= size; at += 8) apply(*bars, ram, *loop, data + at);
  if (common16(*bars, VIRTIO_PCI_COMMON_NUMQ) != kQueues) std::abort();  // read-only
  const uint16_t sel = common16(*bars, VIRTIO_PCI_COMMON_Q_SELECT);
  if (sel >= kQueues && common16(*bars, VIRTIO_PCI_COMMON_Q_SIZE) != 0) std::abort();  // no such queue
  fuzz::run_posted(*loop);
  transport->shutdown();  // no device access to `ram` after this
  return 0;
}
