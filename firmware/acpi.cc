// Building the RSDP, XSDT, FADT, DSDT and MADT byte images.
#include "firmware/acpi.h"

#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "arch/x86_64/layout.h"

namespace franca::firmware {
namespace {

using aml::Bytes;

constexpr size_t kHeaderSize = 36;
constexpr uint8_t kFadtRevision = 6, kFadtMinor = 5;
constexpr uint32_t kFadtHwReduced = 1u << 20, kFadtResetRegSup = 1u << 10;
constexpr uint16_t kBootArchNoVga = 1 << 2, kBootArchNoCmosRtc = 1 << 5;
constexpr uint8_t kGasSystemIo = 1, kGasByteAccess = 1;

void put(Bytes& b, size_t offset, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) b[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

void append(Bytes& b, uint64_t value, int width) {
  b.resize(b.size() + width);
  put(b, b.size() - width, value, width);
}

// Standard description header (§5.2.6); length and checksum are fixed up by finish().
Bytes header(std::string_view signature, uint8_t revision) {
  Bytes b(kHeaderSize, 0);
  std::memcpy(b.data(), signature.data(), 4);
  b[8] = revision;
  std::memcpy(b.data() + 10, "FRANCA", 6);
  std::memcpy(b.data() + 16, "FRANCAVM", 8);
  put(b, 24, 1, 4);                       // OEM revision
  std::memcpy(b.data() + 28, "FRCA", 4);  // creator id
  put(b, 32, 1, 4);                       // creator revision
  return b;
}

Bytes finish(Bytes b) {
  put(b, 4, b.size(), 4);
  b[9] = 0;
  b[9] = acpi_checksum(b, 0, b.size());
  return b;
}

// Generic address structure (§5.2.3.2) for an 8-bit I/O port register.
void put_io_gas(Bytes& b, size_t offset, uint16_t port) {
  b[offset] = kGasSystemIo;
  b[offset + 1] = 8;  // bit width
  b[offset + 2] = 0;  // bit offset
  b[offset + 3] = kGasByteAccess;
  put(b, offset + 4, port, 8);
}

Bytes build_fadt(uint64_t dsdt_addr) {
  Bytes b = header("FACP", kFadtRevision);
  b.resize(276, 0);
  put(b, 40, dsdt_addr, 4);                             // DSDT (32-bit)
  put(b, 109, kBootArchNoVga | kBootArchNoCmosRtc, 2);  // IAPC_BOOT_ARCH: no 8042 flag -> no i8042 probe
  put(b, 112, kFadtHwReduced | kFadtResetRegSup, 4);
  put_io_gas(b, 116, x86::kAcpiResetPort);
  b[128] = x86::kAcpiResetValue;
  b[131] = kFadtMinor;
  put(b, 140, dsdt_addr, 8);  // X_DSDT
  put_io_gas(b, 244, x86::kAcpiSleepControlPort);
  put_io_gas(b, 256, x86::kAcpiSleepStatusPort);
  std::memcpy(b.data() + 268, "FRANCAVM", 8);  // hypervisor vendor identity
  return finish(std::move(b));
}

Bytes mmio_device_aml(size_t index, const AcpiMmioDevice& dev) {
  const std::string name = fmt::format("V{:03X}", index & 0xfff);
  return aml::device(
      name,
      {
          aml::name("_HID", aml::string("LNRO0005")),
          aml::name("_UID", aml::integer(index)),
          aml::name("_CCA", aml::integer(1)),  // cache-coherent DMA
          aml::name("_CRS", aml::resource_template({
                                aml::memory32_fixed(static_cast<uint32_t>(dev.base), static_cast<uint32_t>(dev.size)),
                                aml::interrupt(dev.gsi, /*edge=*/true),
                            })),
      });
}

// COM1. Hardware-reduced ACPI makes Linux drop the legacy PIC and with it the
// identity ISA IRQ mappings, so the UART's IRQ 4 reaches the IOAPIC only when
// the port is described here (8250_pnp then requests GSI 4 through ACPI).
Bytes com1_aml() {
  return aml::device("COM1", {
                                 aml::name("_HID", aml::eisa_id("PNP0501")),
                                 aml::name("_UID", aml::integer(1)),
                                 aml::name("_CRS", aml::resource_template({
                                                       aml::io_port(x86::kCom1Port, 8),
                                                       aml::interrupt(x86::kCom1Irq, /*edge=*/true),
                                                   })),
                             });
}

std::string slot_name(uint32_t slot) { return fmt::format("SL{:02X}", slot); }

// The hotplug registers, the methods the GED and the slots call, and one
// Device per slot (acpiphp registers a slot for each; _EJ0 makes it removable).
std::vector<Bytes> pci0_hotplug_aml(const AcpiPciHotplug& hp) {
  using namespace aml;
  std::vector<Bytes> terms{
      operation_region("PCST", RegionSpace::kSystemIo, hp.port, AcpiPciHotplug::kRegisterBytes),
      dword_fields("PCST", {"PCIU", "PCID", "B0EJ"}),
      mutex("BLCK"),
      // PCEJ(slot): the guest ejected `slot`.
      method("PCEJ", 1, false,
             {acquire("BLCK"), store(shift_left(integer(1), arg(0)), name_string("B0EJ")), release("BLCK"),
              return_(integer(0))}),
  };
  // PCNT: read (and so clear) both bitmaps, then tell the OS about each slot.
  std::vector<Bytes> pcnt{acquire("BLCK"), store(name_string("PCIU"), local(0)), store(name_string("PCID"), local(1)),
                          release("BLCK")};
  for (uint32_t slot = 1; slot < 32; ++slot) {
    pcnt.push_back(if_(and_(local(0), integer(uint64_t{1} << slot)), {notify(slot_name(slot), integer(1))}));
    pcnt.push_back(if_(and_(local(1), integer(uint64_t{1} << slot)), {notify(slot_name(slot), integer(3))}));
  }
  terms.push_back(method("PCNT", 0, false, pcnt));
  for (uint32_t slot = 1; slot < 32; ++slot) {
    std::vector<Bytes> dev{name("_ADR", integer(slot << 16)), name("_SUN", integer(slot))};
    if (hp.ejectable_slots & (1u << slot)) dev.push_back(method("_EJ0", 1, false, {call("PCEJ", {integer(slot)})}));
    terms.push_back(device(slot_name(slot), dev));
  }
  return terms;
}

// GED0: its one interrupt runs _EVT(gsi); every event is a PCI hotplug event.
Bytes ged_aml(const AcpiPciHotplug& hp) {
  return aml::device("GED0", {
                                 aml::name("_HID", aml::string("ACPI0013")),
                                 aml::name("_UID", aml::integer(0)),
                                 aml::name("_CRS", aml::resource_template({aml::interrupt(hp.ged_gsi, /*edge=*/true)})),
                                 aml::method("_EVT", 1, true, {aml::call("\\_SB_.PCI0.PCNT", {})}),
                             });
}

// PCI0: root bus 0 with its windows (_CRS) and legacy INTx routing (_PRT:
// every slot's INTA-INTD to a GSI, level-triggered active-low by PCI convention).
Bytes pci0_aml(const AcpiPci& pci) {
  std::vector<Bytes> prt;
  for (uint32_t slot = 1; slot < 32; ++slot) {
    for (uint32_t pin = 0; pin < 4; ++pin) {
      prt.push_back(aml::package({aml::integer((slot << 16) | 0xffff), aml::integer(pin), aml::integer(0),
                                  aml::integer(pci.intx_gsis[(slot + pin) % 4])}));
    }
  }
  const uint16_t last_bus = static_cast<uint16_t>(pci.ecam_size / (1 << 20) - 1);
  std::vector<Bytes> terms{
      aml::name("_HID", aml::eisa_id("PNP0A08")),
      aml::name("_CID", aml::eisa_id("PNP0A03")),
      aml::name("_UID", aml::integer(0)),
      aml::name("_SEG", aml::integer(0)),
      aml::name("_BBN", aml::integer(0)),
      aml::name("_CRS", aml::resource_template({
                            aml::word_bus_number(0, last_bus),
                            aml::io_port(0xcf8, 8),
                            aml::word_io(0x0d00, 0xffff),
                            aml::dword_memory(pci.mmio32_base, pci.mmio32_base + pci.mmio32_size - 1),
                            aml::qword_memory(pci.mmio64_base, pci.mmio64_base + pci.mmio64_size - 1),
                        })),
      aml::name("_PRT", aml::package(prt)),
  };
  if (pci.hotplug) {
    for (Bytes& t : pci0_hotplug_aml(*pci.hotplug)) terms.push_back(std::move(t));
  }
  return aml::device("PCI0", terms);
}

// A motherboard resource reserving ECAM: Linux uses MCFG only when it is reserved.
Bytes ecam_reservation_aml(const AcpiPci& pci) {
  return aml::device(
      "MCFR", {
                  aml::name("_HID", aml::eisa_id("PNP0C02")),
                  aml::name("_UID", aml::integer(0)),
                  aml::name("_CRS", aml::resource_template({aml::memory32_fixed(
                                        static_cast<uint32_t>(pci.ecam_base), static_cast<uint32_t>(pci.ecam_size))})),
              });
}

Bytes build_mcfg(const AcpiPci& pci) {
  Bytes b = header("MCFG", 1);
  append(b, 0, 8);  // reserved
  append(b, pci.ecam_base, 8);
  append(b, 0, 2);  // segment group
  append(b, 0, 1);  // start bus
  append(b, pci.ecam_size / (1 << 20) - 1, 1);
  append(b, 0, 4);  // reserved
  return finish(std::move(b));
}

Bytes build_dsdt(const AcpiConfig& config) {
  std::vector<Bytes> sb = config.extra_sb_terms;
  if (config.pci) {
    sb.push_back(pci0_aml(*config.pci));
    sb.push_back(ecam_reservation_aml(*config.pci));
    if (config.pci->hotplug) sb.push_back(ged_aml(*config.pci->hotplug));
  }
  sb.push_back(com1_aml());
  for (size_t i = 0; i < config.mmio_devices.size(); ++i) sb.push_back(mmio_device_aml(i, config.mmio_devices[i]));
  Bytes b = header("DSDT", 2);
  const Bytes body = aml::concat({
      // \_S5: SLP_TYPa = 5, written by Linux as SLP_TYP into the sleep control register.
      aml::name("\\_S5_", aml::package({aml::integer(5), aml::integer(0), aml::integer(0), aml::integer(0)})),
      aml::scope("\\_SB_", sb),
  });
  b.insert(b.end(), body.begin(), body.end());
  return finish(std::move(b));
}

Bytes build_madt(unsigned cpus) {
  Bytes b = header("APIC", 5);
  append(b, x86::kLapicAddr, 4);
  append(b, 1, 4);                       // PCAT_COMPAT: dual 8259s present
  for (unsigned i = 0; i < cpus; ++i) {  // Processor Local APIC (type 0)
    b.insert(b.end(), {0, 8, static_cast<uint8_t>(i), static_cast<uint8_t>(i)});
    append(b, 1, 4);  // enabled
  }
  b.insert(b.end(), {1, 12, static_cast<uint8_t>(cpus), 0});  // I/O APIC (type 1), id after the CPUs
  append(b, x86::kIoapicAddr, 4);
  append(b, 0, 4);                           // GSI base
  b.insert(b.end(), {4, 6, 0xff, 0, 0, 1});  // Local APIC NMI: all processors, LINT1
  return finish(std::move(b));
}

Bytes build_xsdt(const std::vector<uint64_t>& entries) {
  Bytes b = header("XSDT", 1);
  for (uint64_t e : entries) append(b, e, 8);
  return finish(std::move(b));
}

Bytes build_rsdp(uint64_t xsdt_addr) {
  Bytes b(36, 0);
  std::memcpy(b.data(), "RSD PTR ", 8);
  std::memcpy(b.data() + 9, "FRANCA", 6);
  b[15] = 2;  // revision: ACPI 2.0+
  put(b, 20, 36, 4);
  put(b, 24, xsdt_addr, 8);
  b[8] = acpi_checksum(b, 0, 20);
  b[32] = acpi_checksum(b, 0, 36);
  return b;
}

uint64_t align16(uint64_t v) { return (v + 15) & ~uint64_t{15}; }

}  // namespace

uint8_t acpi_checksum(const std::vector<uint8_t>& bytes, size_t begin, size_t end) {
  uint8_t sum = 0;
  for (size_t i = begin; i < end; ++i) sum = static_cast<uint8_t>(sum + bytes[i]);
  return static_cast<uint8_t>(-sum);
}

AcpiBlob build_acpi_tables(const AcpiConfig& config, uint64_t base) {
  // Layout: RSDP at base, then DSDT, FADT, MADT, XSDT, each 16-byte aligned.
  const uint64_t rsdp_addr = base;
  const Bytes dsdt = build_dsdt(config);
  const uint64_t dsdt_addr = align16(rsdp_addr + 36);
  const Bytes fadt = build_fadt(dsdt_addr);
  const uint64_t fadt_addr = align16(dsdt_addr + dsdt.size());
  const Bytes madt = build_madt(config.cpus);
  const uint64_t madt_addr = align16(fadt_addr + fadt.size());
  const Bytes mcfg = config.pci ? build_mcfg(*config.pci) : Bytes{};
  const uint64_t mcfg_addr = align16(madt_addr + madt.size());
  const uint64_t xsdt_addr = align16(mcfg_addr + mcfg.size());
  std::vector<uint64_t> entries{fadt_addr, madt_addr};
  if (config.pci) entries.push_back(mcfg_addr);
  const Bytes xsdt = build_xsdt(entries);
  AcpiBlob blob{
      rsdp_addr,
      {{rsdp_addr, build_rsdp(xsdt_addr)}, {xsdt_addr, xsdt}, {fadt_addr, fadt}, {dsdt_addr, dsdt}, {madt_addr, madt}}};
  if (config.pci) blob.tables.push_back({mcfg_addr, mcfg});
  return blob;
}

Result<uint64_t> write_acpi_tables(const GuestMemory& mem, const AcpiConfig& config) {
  const AcpiBlob blob = build_acpi_tables(config, x86::kAcpiStart);
  for (const AcpiTable& t : blob.tables) {
    if (t.addr + t.bytes.size() > x86::kAcpiStart + x86::kAcpiSize || !mem.write(t.addr, t.bytes)) {
      return host_error("ACPI tables do not fit in the BIOS area (too many devices)");
    }
  }
  return blob.rsdp_addr;
}

}  // namespace franca::firmware
