// libFuzzer target for the virtio-mmio register file (virtio 1.x §4.2.2): any
// sequence of register reads and writes a hostile driver can make (status and
// feature negotiation, queue setup, DRIVER_OK activation over rings in guest
// RAM, notify, interrupt ack, config space, reset) must never crash, and the
// identification registers keep their values.
//
// Input: a sequence of 8-byte ops: [kind][width][offset u16][value u32].
#include <linux/virtio_config.h>
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "devices/virtio/transport/mmio/mmio_transport.h"
#include "tests/fuzz/fuzz_device.h"
#include "tests/support/fake_irq.h"

namespace {

using namespace franca;
using namespace franca::virtio;

constexpr size_t kRamSize = 1 << 16;
constexpr uint64_t kFeatures = uint64_t{1} << VIRTIO_F_VERSION_1 | uint64_t{1} << VIRTIO_F_RING_PACKED |
                               uint64_t{1} << VIRTIO_RING_F_EVENT_IDX | uint64_t{1} << VIRTIO_RING_F_INDIRECT_DESC;

size_t width_of(uint8_t w) { return size_t{1} << (w % 4); }  // 1, 2, 4, 8

uint32_t read32(MmioTransport& t, uint64_t offset) {
  uint32_t v = 0;
  t.read(offset, {reinterpret_cast<uint8_t*>(&v), 4});
  return v;
}

// One op. Register offsets are mostly 4-aligned (the width byte picks odd ones).
void apply(MmioTransport& t, std::vector<uint8_t>& ram, EventLoop& loop, const uint8_t* op) {
  const uint8_t kind = op[0] % 6;
  const size_t width = (op[1] & 0x80) ? width_of(op[1]) : 4;
  uint16_t offset;
  std::memcpy(&offset, op + 2, 2);
  uint8_t value[8] = {};
  std::memcpy(value, op + 4, 4);
  const uint64_t reg = (op[1] & 0x40) ? offset % 0x200 : (offset % 0x200) & ~3u;
  switch (kind) {
    case 0:
    case 1:                    // writes are the interesting half: twice the weight
      fuzz::run_posted(loop);  // as on the loop thread: a reset never overtakes a pending activation
      t.write(reg, {value, width});
      break;
    case 2:
      t.read(reg, {value, width});
      break;
    case 3:  // the driver fills its rings: 4 bytes of guest RAM
      std::memcpy(ram.data() + (size_t{offset} * 4) % kRamSize, value, 4);
      break;
    case 4:  // the loop has run everything posted (activation)
      fuzz::run_posted(loop);
      break;
    case 5:  // notify as a KVM ioeventfd would deliver it
      fuzz::run_posted(loop);
      t.write(MmioTransport::kNotifyOffset, {value, 4});
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
  auto transport = *MmioTransport::create(std::make_shared<fuzz::RingDevice>(kFeatures, 2), memory, *loop,
                                          std::make_shared<testing::FakeIrq>());
  for (size_t at = 0; at + 8 <= size; at += 8) apply(*transport, ram, *loop, data + at);
  if (read32(*transport, 0) != 0x74726976 || read32(*transport, 4) != 2) std::abort();  // magic, version
  fuzz::run_posted(*loop);
  transport->shutdown();  // no device access to `ram` after this
  return 0;
}
