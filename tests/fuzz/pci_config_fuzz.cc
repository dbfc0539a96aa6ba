// libFuzzer target for PCI configuration space and BAR writes (PCI 3.0 §6,
// virtio 1.x §4.1): a hostile driver's config writes (BAR sizing and moves,
// command, capability fields, MSI-X control, the PCI_CFG window), mechanism #1
// port accesses, and BAR4/MSI-X region accesses against one virtio-pci
// function must never crash, and the function keeps its identity.
//
// Input: a sequence of 8-byte ops: [kind][width][offset u16][value u32].
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "devices/pci/root.h"
#include "devices/virtio/transport/pci/pci_transport.h"
#include "tests/support/fake_device.h"
#include "tests/support/fake_irq.h"
#include "tests/support/loop_thread.h"
#include "tests/unit/devices/pci/pci_fakes.h"

namespace {

using namespace franca;
using namespace franca::virtio;

constexpr uint64_t kBase = 0xc0000000;

using franca::testing::FakeDevice;

// One loop thread for the whole run (activation is posted to it). Never
// destroyed: the loop runs until the process exits.
struct Env {
  Env() : ram(1 << 16) {
    MemoryRegion region{0, ram.size(), ram.data()};
    memory = GuestMemory::over({&region, 1});
  }
  std::vector<uint8_t> ram;
  GuestMemory memory;
  testing::LoopThread loop;
};

size_t width_of(uint8_t w) { return size_t{1} << (w % 4); }  // 1, 2, 4, 8

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env& env = *new Env;
  auto bars = std::make_shared<testing::FakeBarHost>();
  auto msi = std::make_shared<testing::FakeMsiSink>();
  auto intx = std::make_shared<testing::FakeIrq>();
  auto transport = *VirtioPciTransport::create(
      std::make_shared<FakeDevice>(FakeDevice::Options{.type = 2, .id = "fuzz0", .signal_on_activate = true}),
      env.memory, env.loop.loop(), {bars, msi, intx, kBase});
  if (!transport->map_bars()) std::abort();
  pci::PciRoot root;
  if (!root.add(1, transport)) std::abort();
  for (size_t at = 0; at + 8 <= size; at += 8) {
    const uint8_t kind = data[at] % 6;
    const size_t width = width_of(data[at + 1]);
    uint16_t offset;
    std::memcpy(&offset, data + at + 2, 2);
    uint8_t value[8] = {};
    std::memcpy(value, data + at + 4, 4);
    std::span<uint8_t> buf(value, width);
    switch (kind) {
      case 0:
        root.ecam()->write((1u << 15) | (offset & 0xfff), buf);  // slot 1
        break;
      case 1:
        root.ecam()->read((1u << 15) | (offset & 0xfff), buf);
        break;
      case 2:
        root.config_ports()->write(offset % 8, buf);
        break;
      case 3:
        root.config_ports()->read(offset % 8, buf);
        break;
      case 4:
        bars->bus.write(kBase + (offset % 0x5000), buf);
        break;
      case 5:
        bars->bus.read(kBase + (offset % 0x5000), buf);
        break;
    }
  }
  uint32_t id = 0;
  transport->config_read(0, {reinterpret_cast<uint8_t*>(&id), 4});
  if (id != 0x10421af4) std::abort();  // vendor/device are read-only
  transport->shutdown();
  return 0;
}
