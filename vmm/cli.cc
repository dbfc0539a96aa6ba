// Command-line parsing with Boost.Program_options; one error line per mistake.
#include "vmm/cli.h"

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include <set>
#include <sstream>

#include "vmm/core/log.h"
#include "vmm/option_parse.h"
#include "vmm/virtio_devices.h"

namespace po = boost::program_options;

namespace franca {
namespace {

constexpr const char* kUsage = R"(franca - a small KVM virtual machine monitor for Linux guests

USAGE
  franca --kernel PATH [--initrd PATH] [--cmdline STR] [--cpus N] [--memory SIZE]
         [--kernel-cache DIR|off] [--serial stdio|file:PATH|none]
         [--disk path=IMG,...]... [--console MODE,...] [--net tap=NAME,...]...
         [--balloon OPTS] [--vfio path=/sys/bus/pci/devices/BDF,...]...
         [--timeout SECONDS] [--log-level LEVEL] [--api-socket PATH]
  franca ctl PATH COMMAND [ARGS]

DESCRIPTION
  Boots a Linux kernel on KVM (x86_64) through the 64-bit boot protocol, with an
  8250 UART on COM1 (ttyS0), ACPI tables (MADT for SMP, HW-reduced power-off),
  and the guest's console wired to this terminal by default.
  With stdio serial on a terminal, type Ctrl-A x to quit.

  The kernel inside the bzImage (xz, gzip or zstd) is decompressed on the host
  and loaded where it runs, so the guest skips its own decompressor; the
  result is kept in a cache keyed by the kernel's hash (--kernel-cache,
  default $XDG_CACHE_HOME/franca/kernels or ~/.cache/franca/kernels), so
  later boots of the same image only copy it. The guest kernel then runs at
  its link address without KASLR (as with nokaslr). --kernel-cache off boots
  through the bzImage's decompressor, with KASLR, as QEMU does. An unwritable
  cache directory only costs the cache.

  --kernel also takes an uncompressed vmlinux (an ELF file, told by its magic,
  e.g. a kernel build's vmlinux or a --kernel-cache entry): its segments are
  loaded at their physical addresses and entered at its ELF entry, with the
  setup header a bzImage would carry written by franca (no --kernel-cache).

  At --log-level info franca logs its boot milestones in ms since it started:
  vcpu0's first entry into the guest, the guest's power-off request (ACPI S5)
  and its own exit, with the time from that request to the exit.

  Virtio devices take one option grammar, key=value items separated by commas
  (like cloud-hypervisor); every device accepts transport=pci|mmio,
  features=-name,-name to hide offered feature bits from the driver (the way
  around a buggy driver or device feature), and id=NAME (1-16 letters, digits,
  '-', '_'; default blkN, netN, console0, balloon0: the name logs, status and
  the control socket use). PCI devices also take slot=N (1-31 on bus 0,
  default the lowest free one) and removable=on|off (default on: device-del
  may remove it; off: the guest's ACPI has no eject method for its slot).
  transport=pci (default): a modern virtio-pci function (1af4:1040+type) on PCI
  bus 0 (ACPI MCFG + PCI0), MSI-X vectors per queue, INTx with pci=nomsi; the
  guest needs virtio_pci. transport=mmio: virtio-mmio described in the ACPI
  DSDT (LNRO0005), which the stock kernel's virtio_mmio driver binds.

DEVICES
  --disk path=IMG[,readonly=on][,serial=ID][,queues=N][,transport=pci|mmio][,features=...]
      virtio-blk over a raw image file or block device (repeatable: vda, vdb, ...).
      Writes reach the host file before the guest sees them complete; a flush
      is an fdatasync. The image is locked against a second franca.
      features: ring_packed event_idx indirect_desc flush ro blk_size seg_max
                size_max topology discard write_zeroes mq
  --console stdio|pty|file:PATH|socket:PATH|none[,transport=pci|mmio][,features=...]
      virtio-console, the guest's hvc0 (boot with console=hvc0). stdio takes the
      terminal from the serial port (unless --serial is given too); pty prints
      the pseudo-terminal to attach to; socket:PATH serves one client on a unix
      socket. features: ring_packed event_idx indirect_desc size emerg_write
  --net tap=NAME|fd=N[,mac=MAC][,backend=inprocess|vhost|auto][,queues=N][,mtu=N]
        [,packed=on|off][,failover=on][,transport=pci|mmio][,features=...]
      virtio-net NIC on a host TAP (repeatable: net0, net1, ...; the guest needs
      the virtio_net module). tap=NAME attaches to that interface, creating it
      if it does not exist (then configure it on the host: ip link set NAME up);
      fd=N takes an open TAP fd (opened with IFF_VNET_HDR). mac= defaults to
      52:54:00:12:34:56 (+ the device index). backend= picks who moves the
      packets: inprocess (franca's vmm-io thread, the default), vhost (the host
      kernel's vhost-net; an error if /dev/vhost-net is not usable) or auto
      (vhost if usable, else inprocess). The back-end can be switched on a
      running guest through the control socket (net-backend). packed=on offers
      packed rings (off by default: kernel vhost-net has split rings only, so a
      guest on packed rings cannot be switched to vhost). queues=N
      (1-16) offers N rx/tx pairs (multiqueue; the TAP must be multi_queue if it
      exists). mtu=N advertises the host MTU (68-65535). failover=on makes it
      the standby of a failover pair (VIRTIO_NET_F_STANDBY, as QEMU's
      failover=on): give it the primary's MAC with mac=, and name it in the
      primary's --vfio failover_pair= (see FAILOVER).
      features: ring_packed event_idx indirect_desc csum guest_csum
                ctrl_guest_offloads mtu mac guest_tso4 guest_tso6 guest_ecn
                host_tso4 host_tso6 host_ecn mrg_rxbuf status ctrl_vq ctrl_rx
                guest_announce mq ctrl_mac_addr standby
  --balloon [size=MIB][,deflate_on_oom=on][,free_page_reporting=on][,stats_period=SECS]
            [,transport=pci|mmio][,features=...]
      virtio-balloon (balloon0; the guest needs the virtio_balloon module): the
      host takes guest memory back. The pages the guest puts in the balloon are
      released from franca's memory (madvise MADV_DONTNEED), so its RSS falls.
      size=MIB is the balloon's size at boot (default 0: the guest keeps all its
      memory); on a running guest `franca ctl SOCK balloon MIB` sets the memory
      the guest keeps, as QEMU's `balloon` command does. deflate_on_oom=on lets
      the guest take pages back from the balloon rather than run out of memory.
      free_page_reporting=on has the guest report the memory it frees (blocks
      of 2 MiB and up, a few seconds after they are freed), which is released
      the same way, with no target to manage. stats_period=SECS polls the
      guest's memory statistics every SECS seconds (0, the default: only when
      `balloon-stats` asks). `--balloon on` takes every default.
      features: ring_packed event_idx indirect_desc must_tell_host stats_vq
                deflate_on_oom reporting
  --vfio path=/sys/bus/pci/devices/DDDD:BB:DD.F[,id=NAME][,slot=N][,removable=off]
        [,failover_pair=NETID]
      passes a host PCI function through to the guest (vfio0, vfio1, ...; a
      bare DDDD:BB:DD.F is taken as that path). The host function must be bound
      to vfio-pci and its IOMMU group viable (every function in the group bound
      to vfio-pci or to no driver); franca says which step is missing:
        echo vfio-pci > /sys/bus/pci/devices/BDF/driver_override
        echo BDF > /sys/bus/pci/devices/BDF/driver/unbind
        echo BDF > /sys/bus/pci/drivers_probe
      All guest RAM is mapped for the device's DMA and pinned: RLIMIT_MEMLOCK
      (ulimit -l) must cover --memory unless franca runs with CAP_IPC_LOCK.
      The host needs an IOMMU with interrupt remapping (intel_iommu=on or
      amd_iommu=on). BARs are mapped straight into the guest, except the pages
      holding the MSI-X table and PBA (franca's, so the guest's masks hold);
      MSI-X, MSI and INTx reach the guest through KVM irqfds without franca in
      the path. The guest sees function 0 only, no expansion ROM, no I/O BARs
      and no PCIe extended capabilities; the device is reset when it is
      removed and when franca exits. A guest with a VFIO device cannot give
      memory back: --balloon then refuses size= and free_page_reporting=on,
      and `balloon` refuses a target. failover_pair=NETID makes the function
      the failover primary of the --net with that id (see FAILOVER).

FAILOVER
  One guest NIC on two paths, as with QEMU's virtio-net failover: a fast
  primary (a VFIO NIC, --vfio ...,failover_pair=net0) and a virtio-net standby
  with the same MAC (--net ...,mac=MAC,failover=on). Linux's net_failover
  joins them under one master interface (which carries the IP; the standby
  shows as <master>nsby) and sends over the primary while it is there. franca
  keeps the primary hidden until the standby's driver accepts STANDBY, then
  hot-plugs it (ACPI PCI hotplug; the guest's driver for it probes it). A
  driver that does not accept STANDBY gets one plain virtio NIC and never the
  primary (logged, and `status` says "hidden"); if a later negotiation (a
  reboot into a kernel without failover) leaves STANDBY out, franca unplugs
  the primary again. `failover-unplug net0` on the control socket ejects the
  primary (what a migration does first): traffic continues on the standby;
  `failover-plug net0` brings it back. `status` lists each pair's state
  (waiting, plugging, plugged, unplugging, unplugged, hidden, failed). The
  host must deliver frames for the guest's MAC to the path in use (a bridge
  over the primary's wire and the standby's TAP learns it by itself): Linux
  does not pass up frames that arrive on the standby while a primary exists.

CONTROL SOCKET
  --api-socket PATH serves a control socket: a unix stream socket, owner-only
  (0600), removed at exit; a stale socket file at PATH is replaced, a live one
  is an error. Up to 16 clients, one JSON object per line each way:
    {"cmd": "status"}       state, cpus, memory_mib, uptime_s, devices
    {"cmd": "pause"}        every vCPU leaves the guest and waits; devices run on
    {"cmd": "resume"}
    {"cmd": "shutdown"}     stop the VM; franca exits 0
    {"cmd": "counters"[, "id": "blk0"]}
    {"cmd": "queues"[, "id": "blk0"]}  each queue's ring state; a queue whose
                            driver waits without progress says for how long
    {"cmd": "net-link", "id": "net0", "state": "up"|"down"}
    {"cmd": "net-backend", "id": "net0", "backend": "inprocess"|"vhost"}
    {"cmd": "balloon", "target_mib": N}  the memory the guest keeps: the
                            balloon inflates to the rest (QEMU's `balloon`)
    {"cmd": "balloon-stats"}  the target, what the balloon holds, the guest's
                            memory statistics and their age
    {"cmd": "device-add", "type": "disk"|"net"|"console"|"vfio", "opts": "path=b.img"}
                            hot-adds a PCI device (opts as --disk, --net,
                            --console, --vfio take them); replies with its id and slot
    {"cmd": "device-del", "id": "blk1"}  asks the guest to eject it; replies once
                            the guest has (an error after 20 s, device in place)
  Replies are {"ok": true, ...} or {"ok": false, "error": "..."}.
  franca ctl PATH COMMAND [ARGS] sends one request and prints the reply; COMMAND
  is status, pause, resume, shutdown, counters [ID], queues [ID], net-link ID
  up|down, net-backend ID inprocess|vhost, balloon MIB, balloon-stats,
  device-add disk|net|console|vfio OPTS, device-del ID, or a raw JSON object (see
  franca ctl --help).

HOTPLUG
  Virtio-pci disks, NICs, consoles and VFIO functions can be added to and removed from a
  running guest (device-add, device-del above) through ACPI: a Generic Event
  Device (ACPI0013) tells the guest's acpiphp of the new or departing slot, as
  QEMU's acpi-pci-hotplug and Cloud Hypervisor do; the guest assigns the new
  function's BARs itself and needs no rescan. The guest must have taken the
  event's interrupt (a kernel with ACPI, acpi-ged and acpiphp, e.g. Debian's;
  until it has, device-add says so). A removal completes when the guest has
  released the device (its driver finished the I/O in flight and ejected the
  slot); franca then frees its BARs, MSI-X routes, irqfds and files (for VFIO:
  its memory slots, DMA map and container, after resetting it). Limits:
  bus 0 only (31 slots), virtio-mmio devices and the balloon are fixed at boot.

)";

constexpr const char* kExitStatus = R"(
EXIT STATUS
  0      the guest powered off (ACPI S5, e.g. `poweroff`), or `shutdown` on --api-socket
  N      the guest wrote byte N to I/O port 0xf4 (the test-exit port), e.g.
           printf '\003' | dd of=/dev/port bs=1 seek=244 count=1   -> exit 3
  1      host error (no /dev/kvm, a KVM-PVM /dev/kvm, KVM failure, out of memory)
  2      usage error (bad option, unreadable or invalid kernel/initrd)
  124    --timeout expired
  125    the guest reset (reboot, triple fault, or panic with panic=N)
  128+S  stopped by signal S (SIGINT, SIGTERM); Ctrl-A x exits 130

ENVIRONMENT
  FRANCA_ALLOW_PVM=1  use a KVM-PVM /dev/kvm (/sys/module/kvm_pvm, offered by some
                      cloud VMs) anyway: only a CONFIG_PVM_GUEST guest kernel boots
                      there. Without it franca refuses KVM-PVM, where a stock kernel
                      hangs silently; tests/harness/run-on-kvm.sh goes nested instead.

EXAMPLES
  franca --kernel /boot/vmlinuz --initrd initrd.img --cmdline "console=ttyS0"
  franca --kernel bzImage --initrd test.cpio.gz --cpus 2 --memory 1G --timeout 60 \
         --serial file:console.log
  franca --kernel bzImage --initrd initrd.img --cmdline "console=hvc0" \
         --disk path=root.img,serial=root --disk path=data.img,readonly=on --console stdio
  franca --kernel bzImage --initrd initrd.img --api-socket /tmp/vm.sock &
  franca ctl /tmp/vm.sock pause
)";

po::options_description make_options() {
  po::options_description opts("OPTIONS");
  opts.add_options()("kernel", po::value<std::string>()->value_name("PATH"),
                     "Linux bzImage or vmlinux ELF to boot (required)")(
      "initrd", po::value<std::string>()->value_name("PATH"), "initial ramdisk (cpio, optionally compressed)")(
      "kernel-cache", po::value<std::string>()->value_name("DIR|off"),
      "where decompressed kernels are kept, or off: the guest decompresses [~/.cache/franca/kernels]")(
      "cmdline", po::value<std::string>()->value_name("STR"), "kernel command line [console=ttyS0 panic=1]")(
      "cpus", po::value<std::string>()->value_name("N"), "number of vCPUs, 1 to the host's KVM limit [1]")(
      "memory", po::value<std::string>()->value_name("SIZE"), "guest RAM: 512M, 2G, ... (bare number = MiB) [512M]")(
      "serial", po::value<std::string>()->value_name("MODE"), "COM1 backend: stdio, file:PATH or none [stdio]")(
      "disk", po::value<std::vector<std::string>>()->value_name("OPTS"), "virtio-blk disk (repeatable, see DEVICES)")(
      "console", po::value<std::string>()->value_name("OPTS"), "virtio-console (see DEVICES)")(
      "net", po::value<std::vector<std::string>>()->value_name("OPTS"), "virtio-net NIC (repeatable, see DEVICES)")(
      "balloon", po::value<std::string>()->value_name("OPTS"), "virtio-balloon (see DEVICES)")(
      "vfio", po::value<std::vector<std::string>>()->value_name("OPTS"),
      "host PCI function passed through (repeatable, see DEVICES)")(
      "timeout", po::value<std::string>()->value_name("SECONDS"),
      "stop the guest after SECONDS, logging each vCPU's state and the device counters first; exit 124")(
      "log-level", po::value<std::string>()->value_name("LEVEL"), "trace, debug, info, warn, error, off [warn]")(
      "api-socket", po::value<std::string>()->value_name("PATH"), "serve the control socket (see CONTROL SOCKET)")(
      "help,h", "print this help and exit")("version", "print the version and exit");
  return opts;
}

Result<void> apply_serial(VmConfig& config, const std::string& value) {
  if (value == "stdio")
    config.serial.mode = SerialConfig::Mode::kStdio;
  else if (value == "none")
    config.serial.mode = SerialConfig::Mode::kNone;
  else if (value.starts_with("file:") && value.size() > 5) {
    config.serial = {SerialConfig::Mode::kFile, value.substr(5)};
  } else {
    return usage_error(fmt::format("--serial '{}': expected stdio, file:PATH or none", value));
  }
  return {};
}

Result<unsigned> parse_cpus(const std::string& value) {
  unsigned long n = 0;
  size_t used = 0;
  try {
    n = std::stoul(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || value.empty() || value[0] == '-') {
    return usage_error(fmt::format("--cpus '{}': not a number", value));
  }
  if (n == 0 || n > kMaxCpus) return usage_error(fmt::format("--cpus {}: must be between 1 and {}", value, kMaxCpus));
  return static_cast<unsigned>(n);
}

Result<double> parse_timeout(const std::string& value) {
  double seconds = 0;
  size_t used = 0;
  try {
    seconds = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || !(seconds > 0) || seconds > 1e7) {
    return usage_error(fmt::format("--timeout '{}': expected a positive number of seconds", value));
  }
  return seconds;
}

Result<void> apply_devices(VmConfig& config, const po::variables_map& vm) {
  config.serial_given = vm.count("serial") > 0;
  if (vm.count("disk")) {
    for (const std::string& text : vm["disk"].as<std::vector<std::string>>()) {
      auto disk = parse_disk_option(text);
      if (!disk) return std::unexpected(disk.error());
      config.disks.push_back(std::move(*disk));
    }
  }
  if (vm.count("net")) {
    for (const std::string& text : vm["net"].as<std::vector<std::string>>()) {
      auto net = parse_net_option(text);
      if (!net) return std::unexpected(net.error());
      config.nets.push_back(std::move(*net));
    }
  }
  if (vm.count("balloon")) {
    auto balloon = parse_balloon_option(vm["balloon"].as<std::string>());
    if (!balloon) return std::unexpected(balloon.error());
    if (balloon->balloon.size_mib > config.memory / kMiB) {
      return usage_error(fmt::format("--balloon size={}: more than the guest's --memory of {} MiB",
                                     balloon->balloon.size_mib, config.memory / kMiB));
    }
    config.balloon = std::move(*balloon);
  }
  if (vm.count("vfio")) {
    for (const std::string& text : vm["vfio"].as<std::vector<std::string>>()) {
      auto vfio = parse_vfio_option(text);
      if (!vfio) return std::unexpected(vfio.error());
      config.vfio.push_back(std::move(*vfio));
    }
  }
  // The IOMMU maps (and pins) all guest RAM for the device's DMA: a page the
  // balloon gave back would stay the device's while the guest gets a fresh one.
  if (!config.vfio.empty() && config.balloon &&
      (config.balloon->balloon.size_mib || config.balloon->balloon.free_page_reporting)) {
    return usage_error(
        "--balloon size= or free_page_reporting=on with --vfio: a passed-through device may DMA to any guest page, "
        "so franca never gives guest memory back while one is attached");
  }
  if (!vm.count("console")) return {};
  auto console = parse_console_option(vm["console"].as<std::string>());
  if (!console) return std::unexpected(console.error());
  const bool console_stdio = console->console.mode == virtio::ConsoleConfig::Mode::kStdio;
  if (console_stdio && config.serial_given && config.serial.mode == SerialConfig::Mode::kStdio) {
    return usage_error("--console stdio and --serial stdio: only one device can own the terminal");
  }
  if (console_stdio && !config.serial_given) config.serial.mode = SerialConfig::Mode::kNone;
  config.console = std::move(*console);
  return {};
}

// Two devices with one id=, or two PCI devices with one slot=.
Result<void> check_unique(const VmConfig& config) {
  std::set<std::string> ids;
  for (const std::string& id : device_ids(config)) {
    if (!ids.insert(id).second) return usage_error(fmt::format("two devices have id={}", id));
  }
  std::set<unsigned> slots;
  auto check_slot = [&](const DeviceCommon& d) -> Result<void> {
    if (d.slot && !slots.insert(*d.slot).second) return usage_error(fmt::format("two devices have slot={}", *d.slot));
    return {};
  };
  for (const DeviceCommon& d : config.disks)
    if (auto r = check_slot(d); !r) return r;
  for (const DeviceCommon& d : config.nets)
    if (auto r = check_slot(d); !r) return r;
  if (config.console)
    if (auto r = check_slot(*config.console); !r) return r;
  if (config.balloon)
    if (auto r = check_slot(*config.balloon); !r) return r;
  for (const DeviceCommon& d : config.vfio)
    if (auto r = check_slot(d); !r) return r;
  // Failover pairs: each primary names a --net failover=on that has a MAC and no other primary.
  const std::vector<std::string> all = device_ids(config);
  std::set<std::string> paired;
  for (const VfioOption& v : config.vfio) {
    if (v.failover_pair.empty()) continue;
    const NetOption* standby = nullptr;
    for (size_t i = 0; i < config.nets.size(); ++i) {
      if (all[config.disks.size() + i] == v.failover_pair) standby = &config.nets[i];
    }
    if (!standby) return usage_error(fmt::format("--vfio failover_pair={}: no --net with that id", v.failover_pair));
    if (!standby->net.failover)
      return usage_error(
          fmt::format("--vfio failover_pair={}: that --net is not a standby (give it failover=on)", v.failover_pair));
    if (!paired.insert(v.failover_pair).second)
      return usage_error(fmt::format("--vfio failover_pair={}: two primaries for one standby", v.failover_pair));
  }
  for (const NetOption& n : config.nets) {
    if (n.net.failover && !n.net.mac_given)
      return usage_error("--net failover=on: give mac= (the primary's MAC: the guest pairs the two by it)");
  }
  return {};
}

Result<VmConfig> to_config(const po::variables_map& vm) {
  VmConfig config;
  if (!vm.count("kernel")) return usage_error("--kernel PATH is required (see franca --help)");
  config.kernel = vm["kernel"].as<std::string>();
  if (vm.count("initrd")) config.initrd = vm["initrd"].as<std::string>();
  if (vm.count("kernel-cache")) {
    const auto& value = vm["kernel-cache"].as<std::string>();
    if (value.empty()) return usage_error("--kernel-cache: give a directory, or off");
    if (value == "off") {
      config.kernel_cache.enabled = false;
    } else {
      config.kernel_cache.dir = value;
    }
  }
  if (vm.count("cmdline")) config.cmdline = vm["cmdline"].as<std::string>();
  if (vm.count("cpus")) {
    auto cpus = parse_cpus(vm["cpus"].as<std::string>());
    if (!cpus) return std::unexpected(cpus.error());
    config.cpus = *cpus;
  }
  if (vm.count("memory")) {
    auto size = parse_size(vm["memory"].as<std::string>(), "--memory");
    if (!size) return std::unexpected(size.error());
    if (*size < kMinMemory)
      return usage_error(
          fmt::format("--memory {}: too small, need at least {}M", vm["memory"].as<std::string>(), kMinMemory >> 20));
    config.memory = *size;
  }
  if (vm.count("serial")) {
    if (auto r = apply_serial(config, vm["serial"].as<std::string>()); !r) return std::unexpected(r.error());
  }
  if (auto r = apply_devices(config, vm); !r) return std::unexpected(r.error());
  if (auto r = check_unique(config); !r) return std::unexpected(r.error());
  if (vm.count("timeout")) {
    auto t = parse_timeout(vm["timeout"].as<std::string>());
    if (!t) return std::unexpected(t.error());
    config.timeout_seconds = *t;
  }
  if (vm.count("api-socket")) config.api_socket = vm["api-socket"].as<std::string>();
  if (vm.count("log-level")) {
    const auto& name = vm["log-level"].as<std::string>();
    auto level = parse_log_level(name);
    if (!level)
      return usage_error(fmt::format("--log-level '{}': expected trace, debug, info, warn, error or off", name));
    config.log_level = *level;
  }
  return config;
}

}  // namespace

Result<CliAction> parse_cli(int argc, const char* const* argv) {
  const po::options_description opts = make_options();
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(fmt::format("{} (see franca --help)", e.what()));
  }
  if (vm.count("help")) {
    std::ostringstream text;
    text << kUsage << opts << kExitStatus;
    return ShowText{text.str()};
  }
  if (vm.count("version")) return ShowText{"franca " FRANCA_VERSION "\n"};
  auto config = to_config(vm);
  if (!config) return std::unexpected(config.error());
  return *config;
}

}  // namespace franca
