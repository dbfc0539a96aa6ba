// Vm: build order, run, stop and shutdown order.
#include "vmm/vm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "arch/x86_64/boot_cpu.h"
#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/layout.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/serial_8250.h"
#include "devices/legacy/test_exit.h"
#include "devices/vfio/vfio_device.h"
#include "devices/vfio/vfio_pci.h"
#include "devices/virtio/balloon/balloon.h"
#include "devices/virtio/device.h"
#include "devices/virtio/net/net.h"
#include "firmware/acpi.h"
#include "firmware/boot_params.h"
#include "firmware/bzimage.h"
#include "firmware/reset_vector.h"
#include "vmm/api/api_server.h"
#include "vmm/core/log.h"
#include "vmm/core/thread.h"
#include "vmm/core/timeline.h"
#include "vmm/failover.h"
#include "vmm/host_events.h"
#include "vmm/host_memory.h"
#include "vmm/hotplug.h"
#include "vmm/kernel_cache.h"
#include "vmm/mmio_host.h"
#include "vmm/pci_host.h"
#include "vmm/virtio_devices.h"
#include "vmm/vm_api.h"

namespace franca {
namespace {

// Raises a GSI on the in-kernel irqchip.
class KvmIrqLine : public IrqLine {
 public:
  KvmIrqLine(KvmVm& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
  void set_level(bool high) override {
    if (auto r = vm_.irq_line(gsi_, high); !r) FRANCA_WARN_RATELIMITED("irq {}: {}", gsi_, r.error().message);
  }

 private:
  KvmVm& vm_;
  uint32_t gsi_;
};

// CMOS/RTC index and data ports: reads return 0 so "update in progress" reads clear.
class ZeroPorts : public BusDevice {
 public:
  void read(uint64_t, std::span<uint8_t> data) override { std::fill(data.begin(), data.end(), 0); }
  void write(uint64_t, std::span<const uint8_t>) override {}
};

// The initrd, checked now and read later straight into guest RAM (never onto our heap).
Result<firmware::InitrdSource> open_initrd(const std::string& path) {
  auto fd = std::make_shared<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd->valid()) return usage_error(fmt::format("--initrd {}: {}", path, std::strerror(errno)));
  struct stat st {};
  if (fstat(fd->get(), &st) < 0) return usage_error(fmt::format("--initrd {}: {}", path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return usage_error(fmt::format("--initrd {}: not a regular file", path));
  auto read = [fd](std::span<uint8_t> dest) { return pread_all(fd->get(), dest, 0); };
  return firmware::InitrdSource{static_cast<uint64_t>(st.st_size), std::move(read)};
}

}  // namespace

Result<std::unique_ptr<Vm>> Vm::create(const VmConfig& config) {
  // Inputs first: a bad kernel or size is the user's error whatever the host has.
  auto kernel = open_boot_kernel(config.kernel, config.kernel_cache);
  if (!kernel) return std::unexpected(kernel.error());
  log_step("kernel file and cache");
  firmware::InitrdSource initrd;
  if (!config.initrd.empty()) {
    auto bytes = open_initrd(config.initrd);
    if (!bytes) return std::unexpected(bytes.error());
    initrd = std::move(*bytes);
  }
  if (auto r = check_memory_fits_host(config.memory); !r) return std::unexpected(r.error());
  auto devices = open_virtio_devices(config);
  if (!devices) return std::unexpected(devices.error());
  auto api_server = open_api_socket(config);
  if (!api_server) return std::unexpected(api_server.error());

  auto kvm = Kvm::open();
  if (!kvm) return std::unexpected(kvm.error());
  if (config.cpus > static_cast<unsigned>(kvm->max_vcpus())) {
    return usage_error(fmt::format("--cpus {}: this host's KVM allows at most {}", config.cpus, kvm->max_vcpus()));
  }
  auto kvm_vm = kvm->create_vm();
  if (!kvm_vm) return std::unexpected(kvm_vm.error());
  std::unique_ptr<Vm> vm(new Vm(config, std::move(*kvm_vm)));
  vm->stdio_input_ = devices->stdio_input;
  vm->devices_ = std::move(*devices);
  vm->api_server_ = std::move(*api_server);
  log_step("KVM VM");
  for (auto step : {&Vm::setup_memory, &Vm::setup_devices}) {
    if (auto r = (vm.get()->*step)(); !r) return std::unexpected(r.error());
  }
  log_step("guest RAM and devices");
  if (auto r = vm->load_kernel(kernel->image, kernel->direct, initrd); !r) return std::unexpected(r.error());
  log_step("kernel, initrd and ACPI tables in guest RAM");
  if (auto r = vm->setup_vcpus(*kvm); !r) return std::unexpected(r.error());
  log_step("vCPUs");
  return vm;
}

Vm::Vm(const VmConfig& config, KvmVm kvm_vm) : config_(config), kvm_vm_(std::move(kvm_vm)) {}

Vm::~Vm() { shutdown(); }

Result<void> Vm::setup_memory() {
  if (auto r = kvm_vm_.set_tss_addr(x86::kTssAddr); !r) return r;
  if (auto r = kvm_vm_.create_irqchip(); !r) return r;
  if (auto r = kvm_vm_.create_pit2(); !r) return r;
  const auto layout = firmware::guest_ram_layout(config_.memory);
  auto mem = GuestMemory::map_anonymous(layout);
  if (!mem) return std::unexpected(mem.error());
  memory_ = std::move(*mem);
  uint32_t slot = 0;
  for (const MemoryRegion& r : memory_.regions()) {
    if (auto ok = kvm_vm_.set_user_memory_region(slot++, r.gpa, r.size, r.host); !ok) return ok;
  }
  spdlog::info("guest RAM: {} MiB in {} region(s)", config_.memory >> 20, memory_.regions().size());
  return {};
}

Result<void> Vm::load_kernel(const firmware::BzImage& image, const std::optional<DecompressedKernel>& direct,
                             const firmware::InitrdSource& initrd) {
  firmware::AcpiConfig acpi;
  acpi.cpus = config_.cpus;
  acpi.mmio_devices = mmio_->acpi();
  acpi.pci = pci_->acpi();
  auto rsdp = firmware::write_acpi_tables(memory_, acpi);
  if (!rsdp) return std::unexpected(rsdp.error());
  std::optional<firmware::DirectKernel> loaded;
  if (direct) loaded.emplace(firmware::DirectKernel{direct->elf, direct->file});
  auto boot = firmware::load_linux(memory_, image, initrd, config_.cmdline, *rsdp, loaded ? &*loaded : nullptr);
  if (!boot) return std::unexpected(boot.error());
  if (direct) {
    spdlog::info("kernel: {}; loaded at {:#x}-{:#x}, entered at {:#x} (the guest skips its decompressor)",
                 direct->origin, direct->elf.lowest, direct->elf.end, direct->elf.entry);
  }
  boot_entry_ = boot->entry;
  boot_zero_page_ = boot->zero_page;
  if (auto r = x86::write_boot_tables(memory_); !r) return r;
  if (auto r = firmware::write_reset_vector(memory_); !r) return r;
  spdlog::info("kernel {} (boot protocol {}.{:02}), initrd {} bytes, cmdline \"{}\"", config_.kernel,
               image.protocol_version >> 8, image.protocol_version & 0xff, initrd.size, config_.cmdline);
  return {};
}

Result<void> Vm::setup_serial_output() {
  switch (config_.serial.mode) {
    case SerialConfig::Mode::kNone:
      return {};
    case SerialConfig::Mode::kStdio:
      serial_out_fd_ = STDOUT_FILENO;
      return {};
    case SerialConfig::Mode::kFile: {
      Fd fd(open(config_.serial.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!fd.valid())
        return usage_error(fmt::format("--serial file:{}: {}", config_.serial.path, std::strerror(errno)));
      serial_out_fd_ = fd.get();
      serial_file_ = std::move(fd);
      return {};
    }
  }
  return {};
}

Result<void> Vm::setup_devices() {
  auto loop = EventLoop::create();
  if (!loop) return std::unexpected(loop.error());
  loop_ = std::move(*loop);
  if (auto r = setup_serial_output(); !r) return r;
  const int out_fd = serial_out_fd_;
  auto sink = [out_fd](std::span<const uint8_t> bytes) {
    if (out_fd < 0) return;
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(out_fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // host output gone: drop, the guest must not block on it
      done += static_cast<size_t>(n);
    }
  };
  serial_ = std::make_shared<Serial8250>(std::make_shared<KvmIrqLine>(kvm_vm_, x86::kCom1Irq), sink);
  if (!stdio_input_ && config_.serial.mode == SerialConfig::Mode::kStdio) stdio_input_ = serial_;
  StopFn stop = [this](StopReason reason, int code) { request_stop(reason, code); };
  struct PortDevice {
    uint16_t base;
    uint16_t len;
    std::shared_ptr<BusDevice> device;
  };
  const PortDevice ports[] = {
      {x86::kCom1Port, 8, serial_},
      {x86::kI8042DataPort, I8042::kSize, std::make_shared<I8042>(stop)},
      {0x70, 2, std::make_shared<ZeroPorts>()},  // CMOS/RTC
      {x86::kAcpiSleepControlPort, AcpiPm::kSize, std::make_shared<AcpiPm>(stop)},
      {x86::kTestExitPort, 1, std::make_shared<TestExit>(stop)},
  };
  for (const PortDevice& p : ports) {
    if (auto r = pio_bus_.insert(p.base, p.len, p.device); !r) return r;
  }
  uint64_t ram_top = 0;  // end of the highest RAM region: the 64-bit PCI window starts above it
  for (const MemoryRegion& r : memory_.regions()) ram_top = std::max(ram_top, r.gpa + r.size);
  mmio_ = std::make_unique<MmioHost>(kvm_vm_, mmio_bus_, memory_, *loop_);
  pci_ = std::make_unique<PciHost>(kvm_vm_, pio_bus_, mmio_bus_, memory_, *loop_, ram_top);
  hotplug_ = std::make_unique<PciHotplug>(*pci_, *loop_, registry_);
  if (auto r = pci_->attach([this](unsigned slot) { hotplug_->ejected(slot); }); !r) return r;
  return setup_virtio_devices();
}

Result<void> Vm::setup_virtio_devices() {
  if (auto r = devices_.start(*loop_); !r) return r;
  for (size_t i = 0; i < devices_.all.size(); ++i) {
    const DeviceCommon& place = devices_.placement[i];
    DeviceEntry entry{.device = devices_.all[i],
                      .vfio = nullptr,
                      .id = devices_.all[i]->id(),
                      .transport = place.transport,
                      .pci_slot = std::nullopt,
                      .hotplugged = false,
                      .removable = false};
    if (place.transport == Transport::kPci) {
      using enum PciHost::Placement;
      auto slot = pci_->add_virtio(devices_.all[i], place.removable ? kColdRemovable : kColdFixed, place.slot);
      if (!slot) return std::unexpected(slot.error());
      entry.pci_slot = *slot;
      entry.removable = place.removable;
    } else if (auto r = mmio_->add_virtio(devices_.all[i]); !r) {
      return r;
    }
    registry_.add(std::move(entry));
  }
  // From here the registry and the transports hold the devices: a removed disk
  // or NIC is freed (its image lock, its TAP) once the guest ejected it.
  devices_.all.clear();
  return setup_vfio_devices();
}

Result<void> Vm::setup_vfio_devices() {
  const std::vector<std::string> ids = device_ids(config_);  // the VFIO functions' come last
  const size_t first = ids.size() - config_.vfio.size();
  for (size_t i = 0; i < config_.vfio.size(); ++i) {
    const VfioOption& option = config_.vfio[i];
    if (!option.failover_pair.empty()) {  // hidden until the standby's driver accepts STANDBY
      if (auto r = add_failover_pair(option, ids[first + i]); !r) return r;
      continue;
    }
    auto io = vfio::VfioDevice::open(option.path, memory_);  // logs its group and the DMA map
    if (!io) return std::unexpected(io.error());
    using enum PciHost::Placement;
    auto added =
        pci_->add_vfio(ids[first + i], std::move(*io), option.removable ? kColdRemovable : kColdFixed, option.slot);
    if (!added) return std::unexpected(added.error());
    registry_.add(DeviceEntry{.device = nullptr,
                              .vfio = added->function,
                              .id = ids[first + i],
                              .transport = Transport::kPci,
                              .pci_slot = added->slot,
                              .hotplugged = false,
                              .removable = option.removable});
  }
  // A hot-added VFIO function and a balloon giving memory back do not mix (cli.cc says why).
  hotplug_->set_balloon_check(
      [balloon = devices_.balloon, reporting = config_.balloon && config_.balloon->balloon.free_page_reporting] {
        return balloon && (reporting || balloon->size_pages() || balloon->actual_pages());
      });
  return {};
}

Result<void> Vm::add_failover_pair(const VfioOption& option, const std::string& primary_id) {
  const auto entry = registry_.find(option.failover_pair);
  auto net = entry ? std::dynamic_pointer_cast<virtio::Net>(entry->device) : nullptr;
  if (!net)
    return usage_error(
        fmt::format("--vfio failover_pair={}: no --net with that id (the standby, failover=on)", option.failover_pair));
  // The primary is opened when it is plugged; a path that cannot work is an error now, not at the guest's boot.
  if (access(option.path.c_str(), F_OK) != 0)
    return usage_error(fmt::format("--vfio {}: no such PCI function", option.path));
  if (!failover_) failover_ = std::make_unique<FailoverManager>(*hotplug_, *pci_);
  failover_->add_pair(std::move(net), option, primary_id);
  return {};
}

Result<void> Vm::setup_vcpus(const Kvm& kvm) {
  auto supported = kvm.supported_cpuid();
  if (!supported) return std::unexpected(supported.error());
  Vcpu::install_kick_handler();
  StopFn stop = [this](StopReason reason, int code) { request_stop(reason, code); };
  for (unsigned id = 0; id < config_.cpus; ++id) {
    auto kvm_vcpu = kvm_vm_.create_vcpu(id);
    if (!kvm_vcpu) return std::unexpected(kvm_vcpu.error());
    if (auto r = kvm_vcpu->set_cpuid(x86::cpuid_for_vcpu(*supported, id, config_.cpus)); !r) return r;
    if (auto r = x86::setup_common_vcpu_state(*kvm_vcpu); !r) return r;
    if (id == 0) {
      if (auto r = x86::setup_bsp_registers(*kvm_vcpu, boot_entry_, boot_zero_page_); !r) return r;
    }
    vcpus_.push_back(std::make_unique<Vcpu>(id, std::move(*kvm_vcpu), pio_bus_, mmio_bus_, stop));
  }
  return {};
}

Result<void> Vm::setup_host_events() {
  host_events_ = std::make_unique<HostEvents>(*loop_);
  StopFn stop = [this](StopReason reason, int code) { request_stop(reason, code); };
  if (auto r = host_events_->watch_signals(stop); !r) return r;
  if (config_.timeout_seconds) {
    const double seconds = *config_.timeout_seconds;
    auto expired = [this, seconds] {
      spdlog::warn("--timeout {}s expired, stopping the guest", seconds);
      log_guest_state(vcpu_control_, registry_.devices(), "--timeout");
      request_stop(StopReason::kTimeout, kExitTimeout);
    };
    if (auto r = host_events_->add_timeout(seconds, expired); !r) return r;
  }
  if (stdio_input_) host_events_->feed_stdin(stdio_input_, stop);
  // The UART's lost-edge check runs 100 ms after each edge it sends and again
  // while an interrupt stays pending, never while the UART is idle.
  auto arm =
      host_events_->add_on_demand(std::chrono::milliseconds(100), [this] { return serial_->resend_stuck_interrupt(); });
  if (!arm) return std::unexpected(arm.error());
  serial_->set_on_interrupt(std::move(*arm));
  return {};
}

void Vm::request_stop(StopReason reason, int exit_code) {
  {
    std::lock_guard lock(stop_mutex_);
    if (stop_) return;
    stop_ = {reason, exit_code};
  }
  stop_cv_.notify_all();
}

int Vm::run() {
  // Block SIGINT/SIGTERM in main too so only the signalfd sees them (start_thread
  // blocks them in every thread it starts).
  const sigset_t signals = vmm_blocked_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (auto r = setup_host_events(); !r) {
    spdlog::error("{}", r.error().message);
    return kExitHostError;
  }
  // A fenced exception stops the VM, and the loop dispatches again: shutdown()
  // still resets the devices through it (EventLoop::invoke) and stops it. A
  // second exception is not fenced (std::terminate).
  const auto on_fault = [this] {
    request_stop(StopReason::kError, kExitHostError);
    loop_->run();
  };
  loop_thread_ = start_thread({.name = "vmm-io", .on_fault = on_fault}, [this](std::stop_token) { loop_->run(); });
  spdlog::info("starting {} vCPU(s)", vcpus_.size());
  for (auto& vcpu : vcpus_) vcpu->start();
  start_api();
  std::unique_lock lock(stop_mutex_);
  stop_cv_.wait(lock, [this] { return stop_.has_value(); });
  const auto [reason, code] = *stop_;
  lock.unlock();
  log_step("shutdown: stop request seen");
  shutdown();
  if (reason == StopReason::kTimeout) log_vcpu_positions();
  spdlog::info("guest stopped, exit status {}", code);
  return code;
}

// Where each vCPU was when a hung guest was stopped: the first clue a user needs.
void Vm::log_vcpu_positions() {
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    kvm_regs regs{};
    if (vcpus_[i]->kvm().get_regs(regs)) spdlog::warn("vcpu{} was at rip {:#x}", i, regs.rip);
  }
}

void Vm::shutdown() {
  if (hotplug_) hotplug_->stop_waiting();  // a device-del waiting for the guest lets the api thread go
  if (failover_) failover_->stop();        // so does a failover-plug/unplug; no plug starts now
  api_server_.reset();                     // its thread may be pausing vCPUs: stop it before them
  for (auto& vcpu : vcpus_) vcpu->stop();
  for (auto& vcpu : vcpus_) vcpu->join();
  log_step("shutdown: vCPUs stopped");
  failover_.reset();
  hotplug_.reset();              // no eject arrives now; a release in progress finishes before the data paths stop
  if (mmio_) mmio_->shutdown();  // data paths stop before the loop
  if (pci_) pci_->shutdown();
  log_step("shutdown: device data paths stopped");
  if (loop_) loop_->stop();
  if (loop_thread_.joinable()) loop_thread_.join();
  log_step("shutdown: I/O loop stopped");
  if (host_events_) host_events_->restore_terminal();  // before anything else prints
}

Result<std::unique_ptr<api::ApiServer>> Vm::open_api_socket(const VmConfig& config) {
  if (config.api_socket.empty()) return nullptr;
  return api::ApiServer::create(config.api_socket);
}

void Vm::start_api() {
  started_ = std::chrono::steady_clock::now();
  if (!api_server_) return;
  StopFn stop = [this](StopReason reason, int code) { request_stop(reason, code); };
  api_target_ = make_vm_api({config_.cpus, config_.memory, registry_, *hotplug_, failover_.get(), vcpu_control_,
                             std::move(stop), started_, *loop_});
  api_server_->start(*api_target_);
  spdlog::info("control socket on {}", api_server_->path());
}

}  // namespace franca
