// Guest RAM for fuzzing and tests where every buffer ends at a PROT_NONE page:
// slot i is `kSlotSize` readable/writable bytes followed by a guard page, so a
// buffer placed flush against the guard faults on the first byte past its end.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace franca::testing {

class GuardedSlots {
 public:
  GuardedSlots(size_t slots, size_t slot_size) : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
    slot_size_ = (slot_size + page_ - 1) / page_ * page_;
    for (size_t i = 0; i < slots; ++i) {
      void* p = mmap(nullptr, slot_size_ + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) std::abort();
      auto* base = static_cast<uint8_t*>(p);
      if (mprotect(base + slot_size_, page_, PROT_NONE) != 0) std::abort();
      bases_.push_back(base);
    }
  }
  ~GuardedSlots() {
    for (uint8_t* base : bases_) munmap(base, slot_size_ + page_);
  }
  GuardedSlots(const GuardedSlots&) = delete;
  GuardedSlots& operator=(const GuardedSlots&) = delete;

  size_t slot_size() const { return slot_size_; }
  // The first byte of slot i's guard page: a `len`-byte buffer ends here at end(i) - len.
  uint8_t* end(size_t i) const { return bases_[i] + slot_size_; }

 private:
  size_t page_;
  size_t slot_size_ = 0;
  std::vector<uint8_t*> bases_;
};

}  // namespace franca::testing
