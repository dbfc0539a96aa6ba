// ACPI tables franca places in guest RAM (ACPI 6.5 §5.2): RSDP -> XSDT ->
// FADT (hardware-reduced, sleep control/status and reset registers) -> DSDT
// (_S5 and virtio-mmio LNRO0005 devices), and MADT (one LAPIC per vCPU, IOAPIC).
#pragma once

#include <cstdint>
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

struct AcpiConfig {
  unsigned cpus = 1;
  std::vector<AcpiMmioDevice> mmio_devices;
  // Extra AML terms placed in \_SB_ (e.g. a PCI host bridge added by a later transport).
  std::vector<aml::Bytes> extra_sb_terms;
};

struct AcpiTable {
  uint64_t addr;
  std::vector<uint8_t> bytes;
};

struct AcpiBlob {
  uint64_t rsdp_addr;
  std::vector<AcpiTable> tables;  // RSDP first, then XSDT, FADT, DSDT, MADT
};

// Pure layout of every table at `base`; unit-testable without guest memory.
AcpiBlob build_acpi_tables(const AcpiConfig& config, uint64_t base);

// Writes the tables into [x86::kAcpiStart, +kAcpiSize) and returns the RSDP's guest address.
Result<uint64_t> write_acpi_tables(const GuestMemory& mem, const AcpiConfig& config);

// ACPI checksum helper: the byte that makes `bytes` sum to zero.
uint8_t acpi_checksum(const std::vector<uint8_t>& bytes, size_t begin, size_t end);

}  // namespace franca::firmware
