// Writes the seed corpus of queue_fuzz (queue_fuzz_input.h): well-formed split
// and packed rings (virtio 1.x §2.7 / §2.8) laid out by the test driver, plus a
// few corrupt ones. Usage: queue_fuzz_seeds DIR (files are overwritten).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tests/fuzz/queue_fuzz_input.h"
#include "tests/support/driver_queue.h"

namespace {

using franca::GuestMemory;
using franca::MemoryRegion;
using franca::testing::DriverQueue;
using franca::testing::DriverQueueOptions;
using namespace franca::fuzz;

constexpr uint64_t kData = 0x8000;

struct Seed {
  std::string name;
  DriverQueueOptions options;
  uint16_t start = 0;  // DriverQueue::start_at and the header's next_avail / next_used
  bool reverse = false;
  void (*fill)(DriverQueue&);
};

void simple(DriverQueue& q) {
  q.add({{kData, 16, false}, {kData + 0x100, 64, true}});
  q.add({{kData + 0x200, 8, false}});
  q.add({{kData + 0x300, 32, true}, {kData + 0x400, 32, true}});
}

void indirect(DriverQueue& q) {
  q.add_indirect({{kData, 16, false}, {kData + 0x100, 512, true}});
  q.add_mixed({{kData + 0x200, 16, false}}, {{kData + 0x300, 8, false}, {kData + 0x400, 8, true}});
  q.add({{kData + 0x500, 4, false}});
}

void cross_region(DriverQueue& q) { q.add({{kData, 16, false}, {kLowRamSize - 32, 64, true}}); }

void loop(DriverQueue& q) {
  const uint16_t id = q.add({{kData, 16, false}, {kData, 16, false}});
  q.set_next(id, 1, id);
}

void write_seed(const std::string& dir, const Seed& seed) {
  std::vector<uint8_t> ram(kLowRamSize + kHighRamSize);
  const std::vector<MemoryRegion> regions{{0, ram.size(), ram.data()}};
  const GuestMemory memory = GuestMemory::over(regions);
  DriverQueue q(memory, seed.options);
  q.start_at(seed.start);
  seed.fill(q);
  q.publish();
  if (seed.options.event_idx) q.set_used_event(static_cast<uint16_t>(q.used_position() + 1));
  const auto config = q.config();
  QueueFuzzHeader header{
      .flags = static_cast<uint8_t>((seed.options.packed ? kPacked : 0) | (seed.options.event_idx ? kEventIdx : 0) |
                                    (seed.options.indirect ? kIndirect : 0) | (seed.reverse ? kReverseCompletion : 0)),
      .size = config.size,
      .desc = static_cast<uint16_t>(config.desc),
      .driver = static_cast<uint16_t>(config.driver),
      .device = static_cast<uint16_t>(config.device),
      .next_avail = seed.start,
      .next_used = seed.start};
  size_t used = ram.size();
  while (used > 0 && ram[used - 1] == 0) --used;  // the target zero-fills the rest
  std::ofstream out(dir + "/" + seed.name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&header), sizeof(header));
  out.write(reinterpret_cast<const char*>(ram.data()), static_cast<std::streamsize>(used));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::vector<Seed> seeds = {
      {"split-simple", {.size = 8, .ring_base = 0x100}, 0, false, simple},
      {"split-indirect-event-idx",
       {.size = 8, .event_idx = true, .indirect = true, .ring_base = 0x100},
       0,
       true,
       indirect},
      {"split-index-wrap", {.size = 8, .ring_base = 0x100}, 65534, false, simple},
      {"split-cross-region", {.size = 2, .ring_base = 0x100}, 0, false, cross_region},
      {"split-loop", {.size = 8, .ring_base = 0x100}, 0, false, loop},
      {"packed-simple", {.size = 8, .packed = true, .ring_base = 0x100}, 0x8000, true, simple},
      {"packed-indirect-event-idx",
       {.size = 8, .packed = true, .event_idx = true, .indirect = true, .ring_base = 0x100},
       0x8000,
       false,
       indirect},
      {"packed-wrapping-chain", {.size = 5, .packed = true, .ring_base = 0x100}, 0x0003, false, simple},
  };
  for (const Seed& seed : seeds) write_seed(argv[1], seed);
  return 0;
}
