// Thin RAII wrappers over the KVM uapi (Documentation/virt/kvm/api.rst): the
// system fd, a VM fd, and vCPU fds with their shared kvm_run page. Only this
// file, its .cc and arch/ include <linux/kvm.h>.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "vmm/core/error.h"
#include "vmm/core/fd.h"

namespace franca {

class KvmVcpu;

// One MSI route: a GSI whose irqfd (or KVM_IRQ_LINE) delivers this message.
struct MsiRoute {
  uint32_t gsi;
  uint64_t address;
  uint32_t data;
};

class KvmVm {
 public:
  explicit KvmVm(Fd fd, int vcpu_mmap_size) : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}
  int fd() const { return fd_.get(); }

  Result<void> set_tss_addr(uint64_t addr);
  Result<void> create_irqchip();
  Result<void> create_pit2();
  Result<void> set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size, void* host);
  Result<void> irq_line(uint32_t gsi, bool level);
  Result<void> irqfd(int event_fd, uint32_t gsi, bool deassign = false);
  // A level-triggered irqfd (KVM_IRQFD_FLAG_RESAMPLE): a write to `event_fd`
  // raises `gsi` until the guest's EOI, which lowers it and signals `resample_fd`.
  Result<void> irqfd_resample(int event_fd, uint32_t gsi, int resample_fd);
  // Whether the in-kernel IOAPIC's redirection entry `pin` is masked: a guest
  // that has not requested that interrupt leaves it masked.
  Result<bool> ioapic_pin_masked(uint32_t pin) const;
  // KVM_SET_GSI_ROUTING replaces the whole table: this installs KVM's 24 default
  // IRQCHIP routes (GSI 0-15 -> PIC + IOAPIC, 16-23 -> IOAPIC) plus `msi`.
  Result<void> set_gsi_routing(std::span<const MsiRoute> msi);
  Result<void> ioeventfd(int event_fd, uint64_t addr, uint32_t len, bool pio, std::optional<uint64_t> datamatch,
                         bool deassign = false);
  Result<KvmVcpu> create_vcpu(uint32_t id);

 private:
  Fd fd_;
  int vcpu_mmap_size_;
};

// KVM-PVM (the virt-pvm tree's arch/x86/kvm/pvm, a paravirtual KVM some cloud
// VMs offer instead of nested virtualisation) runs only guest kernels built with
// CONFIG_PVM_GUEST: a stock kernel never prints a byte. Returns what gives it
// away (the kvm_pvm module under `sys_module`, or the "PVM" signature the
// virt-pvm RFC puts in KVM_GET_SUPPORTED_CPUID leaf 0x40000002 EBX), or nullopt.
std::optional<std::string> kvm_pvm_evidence(const std::string& sys_module, std::span<const kvm_cpuid_entry2> supported);

class Kvm {
 public:
  // Opens /dev/kvm (or `path`) and checks the API version and needed
  // capabilities, and refuses KVM-PVM unless FRANCA_ALLOW_PVM=1.
  static Result<Kvm> open(const char* path = "/dev/kvm");
  int fd() const { return fd_.get(); }
  int max_vcpus() const;
  Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
  Result<KvmVm> create_vm() const;

 private:
  explicit Kvm(Fd fd) : fd_(std::move(fd)) {}
  bool has(long capability) const;
  Fd fd_;
};

// Decoded vCPU exits, so code outside the wrappers never touches kvm_run.
namespace vcpu_exit {
struct Io {
  bool is_write;
  uint16_t port;
  uint8_t size;             // bytes per access
  uint32_t count;           // > 1 for string I/O
  std::span<uint8_t> data;  // size * count bytes inside kvm_run
};
struct Mmio {
  bool is_write;
  uint64_t addr;
  std::span<uint8_t> data;  // 1..8 bytes inside kvm_run
};
struct Shutdown {};  // triple fault
struct SystemEvent {
  bool power_off;  // KVM_SYSTEM_EVENT_SHUTDOWN; anything else is a reset or crash
};
struct Interrupted {};  // EINTR or KVM_EXIT_INTR: a signal kicked the vCPU
struct Failed {
  uint32_t reason;  // KVM_EXIT_* that we do not handle
  uint64_t detail;
};
}  // namespace vcpu_exit
using VcpuExit = std::variant<vcpu_exit::Io, vcpu_exit::Mmio, vcpu_exit::Shutdown, vcpu_exit::SystemEvent,
                              vcpu_exit::Interrupted, vcpu_exit::Failed>;

class KvmVcpu {
 public:
  KvmVcpu(Fd fd, kvm_run* run, int mmap_size) : fd_(std::move(fd)), run_(run), mmap_size_(mmap_size) {}
  KvmVcpu(KvmVcpu&& other) noexcept;
  KvmVcpu& operator=(KvmVcpu&&) = delete;
  KvmVcpu(const KvmVcpu&) = delete;
  ~KvmVcpu();

  int fd() const { return fd_.get(); }
  Result<VcpuExit> run();
  // Makes the next (or current) KVM_RUN return at once; safe from a signal handler.
  void set_immediate_exit(bool on) { run_->immediate_exit = on ? 1 : 0; }

  Result<void> get_regs(kvm_regs& regs) const;
  Result<void> set_regs(const kvm_regs& regs) const;
  Result<void> get_sregs(kvm_sregs& sregs) const;
  Result<void> set_sregs(const kvm_sregs& sregs) const;
  Result<void> get_vcpu_events(kvm_vcpu_events& events) const;
  Result<void> set_fpu(const kvm_fpu& fpu) const;
  Result<void> set_cpuid(std::span<const kvm_cpuid_entry2> entries) const;
  Result<void> set_msrs(std::span<const kvm_msr_entry> entries) const;
  // Reads entries[i].data for each entries[i].index.
  Result<void> get_msrs(std::span<kvm_msr_entry> entries) const;
  Result<void> get_lapic(kvm_lapic_state& lapic) const;
  Result<void> get_mp_state(kvm_mp_state& state) const;
  Result<void> set_lapic(const kvm_lapic_state& lapic) const;

 private:
  Fd fd_;
  kvm_run* run_;
  int mmap_size_;
};

}  // namespace franca
