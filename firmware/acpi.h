// ACPI tables franca places in guest RAM (ACPI 6.5 §5.2): RSDP -> XSDT ->
// FADT (hardware-reduced, sleep control/status and reset registers) -> DSDT
// (_S5, virtio-mmio LNRO0005 devices, the PCI host bridge PCI0 with _CRS and
// _PRT), MADT (one LAPIC per vCPU, IOAPIC) and MCFG (PCI ECAM, PCI fw 3.2 §4.1.2).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "firmware/aml.h"
#include "vmm/core/error.h"
#include "vmm/core/guest_memory.h"

namespace franca::firmware {

// A virtio-mmio device as the DSDT describes it (found by Linux's virtio_mmio platform driver).
struct AcpiMmioDevice {
  uint64_t base;
  uint64_t size;
  uint32_t gsi;
};

// ACPI PCI hotplug on a hardware-reduced machine (Cloud Hypervisor's scheme):
// a Generic Event Device (ACPI0013) whose interrupt runs _EVT -> PCI0.PCNT,
// which reads the "up" and "down" slot bitmaps from franca's register block
// (devices/pci/hotplug.h) and Notifies each slot (1 = device check, 3 = eject
// request); a slot's _EJ0 writes its bit to the eject register.
struct AcpiPciHotplug {
  static constexpr uint16_t kRegisterBytes = 12;  // the PCST region: three dwords
  uint16_t port;                                  // PCIU at +0, PCID at +4, B0EJ at +8 (32-bit registers)
  uint32_t ged_gsi;                               // edge-triggered, active-high
  uint32_t ejectable_slots;                       // bit s: slot s has _EJ0 (bit 0, the host bridge, never)
};

// The PCI root bus 0 (PNP0A08): ECAM, BAR windows and INTx routing.
struct AcpiPci {
  uint64_t ecam_base;
  uint64_t ecam_size;  // 1 MiB per bus
  uint32_t mmio32_base;
  uint32_t mmio32_size;
  uint64_t mmio64_base;
  uint64_t mmio64_size;
  std::array<uint32_t, 4> intx_gsis;      // slot s, pin p (0 = INTA) -> intx_gsis[(s + p) % 4]
  std::optional<AcpiPciHotplug> hotplug;  // every slot 1-31 a Device SLxx under PCI0 when set
};

struct AcpiConfig {
  unsigned cpus = 1;
  std::vector<AcpiMmioDevice> mmio_devices;
  std::optional<AcpiPci> pci;
  // Extra AML terms placed in \_SB_ (e.g. a PCI host bridge added by a later transport).
  std::vector<aml::Bytes> extra_sb_terms;
};

struct AcpiTable {
  uint64_t addr;
  std::vector<uint8_t> bytes;
};

struct AcpiBlob {
  uint64_t rsdp_addr;
  std::vector<AcpiTable> tables;  // RSDP first, then XSDT, FADT, DSDT, MADT[, MCFG]
};

// Pure layout of every table at `base`; unit-testable without guest memory.
AcpiBlob build_acpi_tables(const AcpiConfig& config, uint64_t base);

// Writes the tables into [x86::kAcpiStart, +kAcpiSize) and returns the RSDP's guest address.
Result<uint64_t> write_acpi_tables(const GuestMemory& mem, const AcpiConfig& config);

// ACPI checksum helper: the byte that makes `bytes` sum to zero.
uint8_t acpi_checksum(const std::vector<uint8_t>& bytes, size_t begin, size_t end);

}  // namespace franca::firmware
