// libFuzzer target for the virtqueue core (virtio 1.x §2.7 split, §2.8 packed):
// the input is a ring configuration plus guest RAM contents (queue_fuzz_input.h).
// Activates a Queue, pops until empty or error, gives some chains back and
// pops them again, reads and writes every chain through the cursors, pushes
// everything back, and runs the notification calls.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "devices/virtio/queue/queue.h"
#include "tests/fuzz/queue_fuzz_input.h"

namespace {

using franca::GuestMemory;
using franca::MemoryRegion;
using namespace franca::virtio;
using namespace franca::fuzz;

constexpr size_t kMaxPops = 256;
constexpr size_t kMaxCopy = 4096;  // bytes copied per chain direction: keeps executions fast

// Reads, maps and writes a chain as a device would; returns the bytes written.
uint32_t exercise(const DescriptorChain& chain) {
  static std::array<uint8_t, kMaxCopy> scratch;
  ChainReader reader(chain);
  std::vector<iovec> iov;
  reader.iovecs(kMaxCopy, iov);
  reader.read(scratch);
  reader.skip(reader.remaining());
  ChainWriter writer(chain);
  writer.write(std::span(scratch).first(std::min<size_t>(kMaxCopy, writer.remaining()) / 2));
  writer.write_obj<uint8_t>(0x5a);
  return writer.written();
}

void check(bool ok) {
  if (!ok) std::abort();
}

// Pops until empty, error or kMaxPops; `before[i]` is next_avail() before
// chain i. True when it stopped at a ring error.
bool pop_all(Queue& queue, std::vector<DescriptorChain>& chains, std::vector<uint16_t>& before) {
  while (chains.size() < kMaxPops) {
    const uint16_t at = queue.next_avail();
    DescriptorChain chain;
    auto popped = queue.pop(chain);
    if (!popped) return true;
    if (!*popped) return false;
    chains.push_back(std::move(chain));
    before.push_back(at);
  }
  return false;
}

// Gives the last `n` chains back (refused only after a ring error or when
// more than a ring's worth were popped), checks the ring went back to before
// the first of them, and pops again.
void undo_some(Queue& queue, std::vector<DescriptorChain>& chains, std::vector<uint16_t>& before, size_t n,
               bool failed) {
  n = std::min(n, chains.size());
  if (n == 0) return;
  const size_t first = chains.size() - n;
  const bool given = queue.undo_pop(std::span(chains).subspan(first));
  check(given == (!failed && n <= queue.size()));
  if (!given) return;
  check(queue.next_avail() == before[first]);
  chains.resize(first);
  before.resize(first);
  pop_all(queue, chains, before);
}

void run(Queue& queue, bool reverse, size_t undo) {
  std::vector<DescriptorChain> chains;
  std::vector<uint16_t> before;
  const bool failed = pop_all(queue, chains, before);
  undo_some(queue, chains, before, undo, failed);
  std::vector<uint32_t> written;
  for (const DescriptorChain& chain : chains) written.push_back(exercise(chain));
  for (size_t i = 0; i < chains.size(); ++i) {
    const size_t at = reverse ? chains.size() - 1 - i : i;  // out-of-order completion
    queue.push(chains[at], written[at]);
  }
  queue.should_signal();
  queue.disable_notifications();
  if (queue.enable_notifications()) {
    DescriptorChain chain;
    if (auto popped = queue.pop(chain); popped && *popped) queue.push(chain, 0);
  }
  queue.should_signal();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  QueueFuzzHeader header;
  if (size < sizeof(header)) return 0;
  std::memcpy(&header, data, sizeof(header));
  std::vector<uint8_t> ram(kLowRamSize + kHighRamSize);
  std::memcpy(ram.data(), data + sizeof(header), std::min(size - sizeof(header), ram.size()));
  const std::array<MemoryRegion, 2> regions{
      {{0, kLowRamSize, ram.data()}, {kLowRamSize, kHighRamSize, ram.data() + kLowRamSize}}};
  const GuestMemory memory = GuestMemory::over(regions);

  const QueueConfig config{.max_size = 0xffff,
                           .size = header.size,
                           .ready = true,
                           .desc = header.desc,
                           .driver = header.driver,
                           .device = header.device};
  const RingFeatures features{.packed = bool(header.flags & kPacked),
                              .event_idx = bool(header.flags & kEventIdx),
                              .indirect = bool(header.flags & kIndirect)};
  auto queue = Queue::activate(config, features, memory);
  if (!queue) return 0;
  queue->set_next_avail(header.next_avail);
  queue->set_next_used(header.next_used);
  run(*queue, header.flags & kReverseCompletion, header.undo);
  return 0;
}
