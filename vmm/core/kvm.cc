// KVM ioctl wrappers: open, VM setup, vCPU run and register access.
#include "vmm/core/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace franca {
namespace {

// <linux/kvm.h> compiled as C++ mis-sizes structs that end in __DECLARE_FLEX_ARRAY
// (kvm_cpuid2, kvm_msrs, kvm_irq_routing): the empty struct it expands to has
// size 1 in C++, which moves `entries` to offset 12 and changes the ioctl
// numbers (seen with Debian's linux-libc-dev 6.1.187). Use the C layout:
// an 8-byte header {count, padding/flags} followed by the entries.
struct FlexHeader {
  uint32_t count;
  uint32_t padding;
};
static_assert(sizeof(FlexHeader) == 8);
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, FlexHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, FlexHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, FlexHeader);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, FlexHeader);

template <class Entry>
std::vector<uint8_t> flex_buffer(uint32_t count, std::span<const Entry> entries = {}) {
  std::vector<uint8_t> buf(sizeof(FlexHeader) + size_t{count} * sizeof(Entry), 0);
  const FlexHeader header{count, 0};
  std::memcpy(buf.data(), &header, sizeof(header));
  if (!entries.empty()) std::memcpy(buf.data() + sizeof(FlexHeader), entries.data(), entries.size_bytes());
  return buf;
}

Result<void> check(int rc, const char* what) {
  if (rc < 0) return errno_error(what);
  return {};
}

// The virt-pvm RFC's KVM_CPUID_VENDOR_FEATURES leaf and "PVM\0" in its EBX
// (arch/x86/include/uapi/asm/pvm_para.h there; not in the upstream uapi).
constexpr uint32_t kPvmVendorLeaf = 0x40000002;
constexpr uint32_t kPvmSignature = 0x4d5650;

bool pvm_allowed() {
  const char* env = std::getenv("FRANCA_ALLOW_PVM");
  return env != nullptr && *env != '\0' && std::string_view(env) != "0";
}

}  // namespace

std::optional<std::string> kvm_pvm_evidence(const std::string& sys_module,
                                            std::span<const kvm_cpuid_entry2> supported) {
  std::error_code ec;
  const std::string module = sys_module + "/kvm_pvm";
  if (std::filesystem::is_directory(module, ec)) return module;
  for (const auto& entry : supported) {
    if (entry.function == kPvmVendorLeaf && entry.ebx == kPvmSignature) return "a PVM signature in its CPUID";
  }
  return std::nullopt;
}

Result<Kvm> Kvm::open(const char* path) {
  Fd fd(::open(path, O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    if (err == ENOENT)
      return host_error(
          fmt::format("{}: not present (is KVM enabled on this host? try tests/harness/run-on-kvm.sh)", path));
    if (err == EACCES) return host_error(fmt::format("{}: permission denied (add yourself to the 'kvm' group)", path));
    errno = err;
    return errno_error(path);
  }
  const int version = ioctl(fd.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION)
    return host_error(fmt::format("{}: KVM API version {} (need {})", path, version, KVM_API_VERSION));
  Kvm kvm(std::move(fd));
  for (long cap : {KVM_CAP_IRQCHIP, KVM_CAP_IRQFD, KVM_CAP_IOEVENTFD, KVM_CAP_PIT2, KVM_CAP_SET_TSS_ADDR,
                   KVM_CAP_EXT_CPUID, KVM_CAP_USER_MEMORY, KVM_CAP_IMMEDIATE_EXIT}) {
    if (!kvm.has(cap)) return host_error(fmt::format("{}: KVM lacks capability {}", path, cap));
  }
  if (pvm_allowed()) return kvm;
  auto cpuid = kvm.supported_cpuid();
  if (!cpuid) return std::unexpected(cpuid.error());
  if (auto evidence = kvm_pvm_evidence("/sys/module", *cpuid)) {
    return host_error(
        fmt::format("{}: KVM-PVM ({}) runs only PVM-enabled guest kernels and would hang a stock one; use "
                    "tests/harness/run-on-kvm.sh (nested KVM), or FRANCA_ALLOW_PVM=1 for a CONFIG_PVM_GUEST kernel",
                    path, *evidence));
  }
  return kvm;
}

bool Kvm::has(long capability) const { return ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability) > 0; }

int Kvm::max_vcpus() const {
  int n = ioctl(fd_.get(), KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
  if (n <= 0) n = ioctl(fd_.get(), KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
  return n > 0 ? n : 4;
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
  for (uint32_t nent = 64; nent <= 1024; nent *= 2) {
    auto buf = flex_buffer<kvm_cpuid_entry2>(nent);
    if (ioctl(fd_.get(), kGetSupportedCpuid, buf.data()) == 0) {
      FlexHeader header;
      std::memcpy(&header, buf.data(), sizeof(header));
      std::vector<kvm_cpuid_entry2> entries(std::min(header.count, nent));
      std::memcpy(entries.data(), buf.data() + sizeof(FlexHeader), entries.size() * sizeof(kvm_cpuid_entry2));
      return entries;
    }
    if (errno != E2BIG) return errno_error("KVM_GET_SUPPORTED_CPUID");
  }
  return host_error("KVM_GET_SUPPORTED_CPUID: too many entries");
}

Result<KvmVm> Kvm::create_vm() const {
  const int mmap_size = ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size <= 0) return errno_error("KVM_GET_VCPU_MMAP_SIZE");
  int vm;
  do {
    vm = ioctl(fd_.get(), KVM_CREATE_VM, 0);
  } while (vm < 0 && errno == EINTR);
  if (vm < 0) return errno_error("KVM_CREATE_VM");
  return KvmVm(Fd(vm), mmap_size);
}

Result<void> KvmVm::set_tss_addr(uint64_t addr) {
  return check(ioctl(fd_.get(), KVM_SET_TSS_ADDR, addr), "KVM_SET_TSS_ADDR");
}

Result<void> KvmVm::create_irqchip() { return check(ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP"); }

Result<void> KvmVm::create_pit2() {
  kvm_pit_config config{};
  config.flags = KVM_PIT_SPEAKER_DUMMY;
  return check(ioctl(fd_.get(), KVM_CREATE_PIT2, &config), "KVM_CREATE_PIT2");
}

Result<void> KvmVm::set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size, void* host) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  return check(ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region), "KVM_SET_USER_MEMORY_REGION");
}

Result<void> KvmVm::irq_line(uint32_t gsi, bool level) {
  kvm_irq_level irq{};
  irq.irq = gsi;
  irq.level = level ? 1 : 0;
  return check(ioctl(fd_.get(), KVM_IRQ_LINE, &irq), "KVM_IRQ_LINE");
}

Result<void> KvmVm::irqfd(int event_fd, uint32_t gsi, bool deassign) {
  kvm_irqfd request{};
  request.fd = static_cast<uint32_t>(event_fd);
  request.gsi = gsi;
  request.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
  return check(ioctl(fd_.get(), KVM_IRQFD, &request), "KVM_IRQFD");
}

Result<void> KvmVm::irqfd_resample(int event_fd, uint32_t gsi, int resample_fd) {
  kvm_irqfd request{};
  request.fd = static_cast<uint32_t>(event_fd);
  request.gsi = gsi;
  request.flags = KVM_IRQFD_FLAG_RESAMPLE;
  request.resamplefd = static_cast<uint32_t>(resample_fd);
  return check(ioctl(fd_.get(), KVM_IRQFD, &request), "KVM_IRQFD (resample)");
}

Result<bool> KvmVm::ioapic_pin_masked(uint32_t pin) const {
  kvm_irqchip chip{};
  chip.chip_id = KVM_IRQCHIP_IOAPIC;
  if (auto r = check(ioctl(fd_.get(), KVM_GET_IRQCHIP, &chip), "KVM_GET_IRQCHIP"); !r)
    return std::unexpected(r.error());
  if (pin >= KVM_IOAPIC_NUM_PINS) return true;
  return chip.chip.ioapic.redirtbl[pin].fields.mask != 0;
}

Result<void> KvmVm::set_gsi_routing(std::span<const MsiRoute> msi) {
  constexpr uint32_t kIrqchipPins = 24, kPicPins = 16;
  std::vector<kvm_irq_routing_entry> entries;
  for (uint32_t gsi = 0; gsi < kIrqchipPins; ++gsi) {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_IRQCHIP;
    if (gsi < kPicPins) {
      e.u.irqchip = {static_cast<uint32_t>(gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE), gsi % 8};
      entries.push_back(e);
    }
    e.u.irqchip = {KVM_IRQCHIP_IOAPIC, gsi};
    entries.push_back(e);
  }
  for (const MsiRoute& r : msi) {
    kvm_irq_routing_entry e{};
    e.gsi = r.gsi;
    e.type = KVM_IRQ_ROUTING_MSI;
    e.u.msi.address_lo = static_cast<uint32_t>(r.address);
    e.u.msi.address_hi = static_cast<uint32_t>(r.address >> 32);
    e.u.msi.data = r.data;
    entries.push_back(e);
  }
  // <linux/kvm.h> declares kvm_irq_routing with __DECLARE_FLEX_ARRAY, whose C++
  // expansion adds a 1-byte empty member: sizeof becomes 16 and `entries` moves
  // to offset 16, so KVM_SET_GSI_ROUTING encodes the wrong size (ENOTTY). The
  // kernel's (C) layout is {u32 nr; u32 flags;} then the entries at offset 8.
  struct RoutingHeader {
    uint32_t nr;
    uint32_t flags;
  };
  constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, RoutingHeader);
  static_assert(alignof(kvm_irq_routing_entry) <= sizeof(RoutingHeader));
  std::vector<uint8_t> buf(sizeof(RoutingHeader) + entries.size() * sizeof(kvm_irq_routing_entry));
  const RoutingHeader header{static_cast<uint32_t>(entries.size()), 0};
  std::memcpy(buf.data(), &header, sizeof(header));
  std::memcpy(buf.data() + sizeof(header), entries.data(), entries.size() * sizeof(kvm_irq_routing_entry));
  return check(ioctl(fd_.get(), kSetGsiRouting, buf.data()), "KVM_SET_GSI_ROUTING");
}

Result<void> KvmVm::ioeventfd(int event_fd, uint64_t addr, uint32_t len, bool pio, std::optional<uint64_t> datamatch,
                              bool deassign) {
  kvm_ioeventfd request{};
  request.fd = event_fd;
  request.addr = addr;
  request.len = len;
  request.datamatch = datamatch.value_or(0);
  request.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
                  (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
  return check(ioctl(fd_.get(), KVM_IOEVENTFD, &request), "KVM_IOEVENTFD");
}

Result<KvmVcpu> KvmVm::create_vcpu(uint32_t id) {
  Fd fd(ioctl(fd_.get(), KVM_CREATE_VCPU, id));
  if (!fd.valid()) return errno_error(fmt::format("KVM_CREATE_VCPU {}", id));
  void* run = mmap(nullptr, vcpu_mmap_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (run == MAP_FAILED) return errno_error("mmap kvm_run");
  return KvmVcpu(std::move(fd), static_cast<kvm_run*>(run), vcpu_mmap_size_);
}

KvmVcpu::KvmVcpu(KvmVcpu&& other) noexcept
    : fd_(std::move(other.fd_)), run_(std::exchange(other.run_, nullptr)), mmap_size_(other.mmap_size_) {}

KvmVcpu::~KvmVcpu() {
  if (run_) munmap(run_, mmap_size_);
}

Result<VcpuExit> KvmVcpu::run() {
  if (ioctl(fd_.get(), KVM_RUN, 0) < 0) {
    if (errno == EINTR || errno == EAGAIN) return vcpu_exit::Interrupted{};
    return errno_error("KVM_RUN");
  }
  auto* base = reinterpret_cast<uint8_t*>(run_);
  switch (run_->exit_reason) {
    case KVM_EXIT_IO: {
      const auto& io = run_->io;
      const uint64_t bytes = uint64_t{io.size} * io.count;
      if (io.data_offset + bytes > static_cast<uint64_t>(mmap_size_))
        return vcpu_exit::Failed{KVM_EXIT_IO, io.data_offset};
      return vcpu_exit::Io{io.direction == KVM_EXIT_IO_OUT, io.port, io.size, io.count,
                           std::span<uint8_t>(base + io.data_offset, bytes)};
    }
    case KVM_EXIT_MMIO: {
      auto& mmio = run_->mmio;
      const uint32_t len = mmio.len > 8 ? 8 : mmio.len;
      return vcpu_exit::Mmio{mmio.is_write != 0, mmio.phys_addr, std::span<uint8_t>(mmio.data, len)};
    }
    case KVM_EXIT_SHUTDOWN:
      return vcpu_exit::Shutdown{};
    case KVM_EXIT_SYSTEM_EVENT:
      return vcpu_exit::SystemEvent{run_->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN};
    case KVM_EXIT_INTR:
      return vcpu_exit::Interrupted{};
    case KVM_EXIT_FAIL_ENTRY:
      return vcpu_exit::Failed{KVM_EXIT_FAIL_ENTRY, run_->fail_entry.hardware_entry_failure_reason};
    case KVM_EXIT_INTERNAL_ERROR:
      return vcpu_exit::Failed{KVM_EXIT_INTERNAL_ERROR, run_->internal.suberror};
    default:
      return vcpu_exit::Failed{run_->exit_reason, 0};
  }
}

Result<void> KvmVcpu::get_regs(kvm_regs& regs) const {
  return check(ioctl(fd_.get(), KVM_GET_REGS, &regs), "KVM_GET_REGS");
}
Result<void> KvmVcpu::set_regs(const kvm_regs& regs) const {
  return check(ioctl(fd_.get(), KVM_SET_REGS, &regs), "KVM_SET_REGS");
}
Result<void> KvmVcpu::get_sregs(kvm_sregs& sregs) const {
  return check(ioctl(fd_.get(), KVM_GET_SREGS, &sregs), "KVM_GET_SREGS");
}
Result<void> KvmVcpu::set_sregs(const kvm_sregs& sregs) const {
  return check(ioctl(fd_.get(), KVM_SET_SREGS, &sregs), "KVM_SET_SREGS");
}
Result<void> KvmVcpu::get_mp_state(kvm_mp_state& state) const {
  return check(ioctl(fd_.get(), KVM_GET_MP_STATE, &state), "KVM_GET_MP_STATE");
}
Result<void> KvmVcpu::get_vcpu_events(kvm_vcpu_events& events) const {
  return check(ioctl(fd_.get(), KVM_GET_VCPU_EVENTS, &events), "KVM_GET_VCPU_EVENTS");
}
Result<void> KvmVcpu::set_fpu(const kvm_fpu& fpu) const {
  return check(ioctl(fd_.get(), KVM_SET_FPU, &fpu), "KVM_SET_FPU");
}
Result<void> KvmVcpu::get_lapic(kvm_lapic_state& lapic) const {
  return check(ioctl(fd_.get(), KVM_GET_LAPIC, &lapic), "KVM_GET_LAPIC");
}
Result<void> KvmVcpu::set_lapic(const kvm_lapic_state& lapic) const {
  return check(ioctl(fd_.get(), KVM_SET_LAPIC, &lapic), "KVM_SET_LAPIC");
}

Result<void> KvmVcpu::set_cpuid(std::span<const kvm_cpuid_entry2> entries) const {
  auto buf = flex_buffer(static_cast<uint32_t>(entries.size()), entries);
  return check(ioctl(fd_.get(), kSetCpuid2, buf.data()), "KVM_SET_CPUID2");
}

Result<void> KvmVcpu::set_msrs(std::span<const kvm_msr_entry> entries) const {
  auto buf = flex_buffer(static_cast<uint32_t>(entries.size()), entries);
  const int n = ioctl(fd_.get(), kSetMsrs, buf.data());
  if (n < 0) return errno_error("KVM_SET_MSRS");
  if (static_cast<size_t>(n) != entries.size()) {
    return host_error(fmt::format("KVM_SET_MSRS: only {} of {} MSRs set (first rejected: {:#x})", n, entries.size(),
                                  entries[n].index));
  }
  return {};
}

Result<void> KvmVcpu::get_msrs(std::span<kvm_msr_entry> entries) const {
  auto buf = flex_buffer(static_cast<uint32_t>(entries.size()), std::span<const kvm_msr_entry>(entries));
  const int n = ioctl(fd_.get(), kGetMsrs, buf.data());
  if (n < 0) return errno_error("KVM_GET_MSRS");
  std::memcpy(entries.data(), buf.data() + sizeof(FlexHeader), entries.size_bytes());
  if (static_cast<size_t>(n) != entries.size())
    return host_error(fmt::format("KVM_GET_MSRS: only {} of {} MSRs read", n, entries.size()));
  return {};
}

}  // namespace franca
