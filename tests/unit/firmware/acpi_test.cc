// ACPI tables: checksums, lengths, the pointer chain, MADT contents, DSDT
// objects, AML PkgLength encoding, and a clean `iasl -d` disassembly.
#include "firmware/acpi.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace franca::firmware {
namespace {

constexpr uint64_t kBase = 0xe0000;

uint64_t le(const std::vector<uint8_t>& b, size_t off, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | b[off + i];
  return v;
}

const AcpiTable& table_at(const AcpiBlob& blob, uint64_t addr) {
  for (const auto& t : blob.tables)
    if (t.addr == addr) return t;
  ADD_FAILURE() << "no table at " << std::hex << addr;
  return blob.tables.front();
}

std::string sig(const AcpiTable& t) { return std::string(t.bytes.begin(), t.bytes.begin() + 4); }

bool contains(const std::vector<uint8_t>& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

AcpiConfig config(unsigned cpus, size_t mmio = 0) {
  AcpiConfig c;
  c.cpus = cpus;
  for (size_t i = 0; i < mmio; ++i) c.mmio_devices.push_back({0xd0000000 + i * 0x1000, 0x1000, uint32_t(5 + i)});
  return c;
}

AcpiConfig with_pci(AcpiConfig c) {
  c.pci = AcpiPci{0xe0000000,  0x100000,           0xc0000000,       0x10000000,
                  0x100000000, uint64_t{16} << 30, {16, 17, 18, 19}, std::nullopt};
  return c;
}

TEST(Acpi, PciAddsMcfgWithTheEcamWindowForBus0) {
  const AcpiBlob blob = build_acpi_tables(with_pci(config(1)), kBase);
  const auto mcfg = std::find_if(blob.tables.begin(), blob.tables.end(), [](auto& t) { return sig(t) == "MCFG"; });
  ASSERT_NE(mcfg, blob.tables.end());
  EXPECT_EQ(acpi_checksum(mcfg->bytes, 0, mcfg->bytes.size()), 0);
  EXPECT_EQ(le(mcfg->bytes, 44, 8), 0xe0000000u);  // base address
  EXPECT_EQ(le(mcfg->bytes, 52, 2), 0u);           // segment
  EXPECT_EQ(mcfg->bytes[54], 0);                   // start bus
  EXPECT_EQ(mcfg->bytes[55], 0);                   // end bus
  const AcpiTable& xsdt = table_at(blob, le(blob.tables[0].bytes, 24, 8));
  EXPECT_EQ(le(xsdt.bytes, 36 + 16, 8), mcfg->addr);
}

TEST(Acpi, NoPciMeansNoMcfg) {
  for (const auto& t : build_acpi_tables(config(1), kBase).tables) EXPECT_NE(sig(t), "MCFG");
}

TEST(Acpi, EveryTableChecksumsToZeroAndHasItsLength) {
  const AcpiBlob blob = build_acpi_tables(config(2, 2), kBase);
  for (const auto& t : blob.tables) {
    if (sig(t) == "RSD ") {
      EXPECT_EQ(acpi_checksum(t.bytes, 0, 20), 0);
      EXPECT_EQ(acpi_checksum(t.bytes, 0, 36), 0);
      continue;
    }
    EXPECT_EQ(acpi_checksum(t.bytes, 0, t.bytes.size()), 0) << sig(t);
    EXPECT_EQ(le(t.bytes, 4, 4), t.bytes.size()) << sig(t);
  }
}

TEST(Acpi, RsdpLeadsToXsdtFadtDsdtAndMadt) {
  const AcpiBlob blob = build_acpi_tables(config(1), kBase);
  const AcpiTable& rsdp = table_at(blob, blob.rsdp_addr);
  ASSERT_EQ(std::string(rsdp.bytes.begin(), rsdp.bytes.begin() + 8), "RSD PTR ");
  EXPECT_EQ(rsdp.bytes[15], 2);
  const AcpiTable& xsdt = table_at(blob, le(rsdp.bytes, 24, 8));
  ASSERT_EQ(sig(xsdt), "XSDT");
  ASSERT_EQ(xsdt.bytes.size(), 36u + 16u);
  const AcpiTable& fadt = table_at(blob, le(xsdt.bytes, 36, 8));
  const AcpiTable& madt = table_at(blob, le(xsdt.bytes, 44, 8));
  EXPECT_EQ(sig(fadt), "FACP");
  EXPECT_EQ(sig(madt), "APIC");
  EXPECT_EQ(sig(table_at(blob, le(fadt.bytes, 140, 8))), "DSDT");
}

TEST(Acpi, FadtIsHardwareReducedWithSleepAndResetRegisters) {
  const AcpiBlob blob = build_acpi_tables(config(1), kBase);
  const AcpiTable& fadt = blob.tables[2];
  ASSERT_EQ(sig(fadt), "FACP");
  EXPECT_TRUE(le(fadt.bytes, 112, 4) & (1u << 20));  // HW_REDUCED_ACPI
  EXPECT_EQ(fadt.bytes[244], 1);                     // sleep control: system I/O
  EXPECT_EQ(le(fadt.bytes, 248, 8), 0x3c0u);
  EXPECT_EQ(le(fadt.bytes, 260, 8), 0x3c1u);  // sleep status
  EXPECT_EQ(le(fadt.bytes, 120, 8), 0x3c2u);  // reset register
  EXPECT_EQ(le(fadt.bytes, 109, 2) & 2, 0u);  // no 8042 flag: Linux skips i8042 probing
}

class MadtTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(MadtTest, HasOneEnabledLocalApicPerCpuAndOneIoapic) {
  const unsigned cpus = GetParam();
  const AcpiBlob blob = build_acpi_tables(config(cpus), kBase);
  const AcpiTable& madt = blob.tables[4];
  ASSERT_EQ(sig(madt), "APIC");
  EXPECT_EQ(le(madt.bytes, 36, 4), 0xfee00000u);
  unsigned lapics = 0, ioapics = 0;
  for (size_t off = 44; off < madt.bytes.size(); off += madt.bytes[off + 1]) {
    ASSERT_GT(madt.bytes[off + 1], 0);
    if (madt.bytes[off] == 0) {
      EXPECT_EQ(madt.bytes[off + 3], lapics);  // APIC id
      EXPECT_EQ(le(madt.bytes, off + 4, 4), 1u);
      ++lapics;
    }
    if (madt.bytes[off] == 1) {
      ++ioapics;
      EXPECT_EQ(le(madt.bytes, off + 4, 4), 0xfec00000u);
    }
  }
  EXPECT_EQ(lapics, cpus);
  EXPECT_EQ(ioapics, 1u);
}

INSTANTIATE_TEST_SUITE_P(Cpus, MadtTest, ::testing::Values(1u, 2u, 8u));

TEST(Acpi, DsdtHasS5AndOneVirtioMmioDevicePerConfiguredDevice) {
  const AcpiBlob blob = build_acpi_tables(config(1, 3), kBase);
  const AcpiTable& dsdt = blob.tables[3];
  ASSERT_EQ(sig(dsdt), "DSDT");
  EXPECT_TRUE(contains(dsdt.bytes, "_S5_"));
  size_t count = 0;
  const std::string hid = "LNRO0005";
  for (auto it = dsdt.bytes.begin();
       (it = std::search(it, dsdt.bytes.end(), hid.begin(), hid.end())) != dsdt.bytes.end(); ++it)
    ++count;
  EXPECT_EQ(count, 3u);
}

TEST(Acpi, DsdtDescribesCom1WithItsPortsAndIrq4) {
  const AcpiBlob blob = build_acpi_tables(config(1), kBase);
  const auto& d = blob.tables[3].bytes;
  EXPECT_TRUE(contains(d, "COM1"));
  const aml::Bytes pnp0501 = aml::eisa_id("PNP0501");
  EXPECT_NE(std::search(d.begin(), d.end(), pnp0501.begin(), pnp0501.end()), d.end());
  const aml::Bytes irq4 = aml::interrupt(4, true);
  EXPECT_NE(std::search(d.begin(), d.end(), irq4.begin(), irq4.end()), d.end());
}

TEST(Aml, PkgLengthUsesOneToFourBytesAtTheBoundaries) {
  EXPECT_EQ(aml::pkg_length(62), (aml::Bytes{63}));
  EXPECT_EQ(aml::pkg_length(63).size(), 2u);  // 63 + 1 = 64 no longer fits 6 bits
  EXPECT_EQ(aml::pkg_length(63), (aml::Bytes{0x40 | (65 & 0xf), 65 >> 4}));
  EXPECT_EQ(aml::pkg_length(4093).size(), 2u);  // 4093 + 2 = 4095
  EXPECT_EQ(aml::pkg_length(4094).size(), 3u);  // 4094 + 2 = 4096 needs 3 bytes
  const aml::Bytes three = aml::pkg_length(4094);
  EXPECT_EQ(three[0] >> 6, 2);
  EXPECT_EQ((three[0] & 0xf) | (three[1] << 4) | (three[2] << 12), 4094 + 3);
}

TEST(Aml, IntegersUseTheShortestEncoding) {
  EXPECT_EQ(aml::integer(0), (aml::Bytes{0x00}));
  EXPECT_EQ(aml::integer(1), (aml::Bytes{0x01}));
  EXPECT_EQ(aml::integer(5), (aml::Bytes{0x0a, 5}));
  EXPECT_EQ(aml::integer(0x1234).size(), 3u);
  EXPECT_EQ(aml::integer(0x12345678).size(), 5u);
  EXPECT_EQ(aml::integer(0x123456789).size(), 9u);
}

TEST(Aml, EisaIdCompressesLikeIasl) { EXPECT_EQ(aml::eisa_id("PNP0A08"), (aml::Bytes{0x0c, 0x41, 0xd0, 0x0a, 0x08})); }

// iasl (acpica-tools) must disassemble every table without errors.
TEST(Acpi, TablesDisassembleCleanlyWithIasl) {
  ASSERT_EQ(std::system("command -v iasl >/dev/null 2>&1"), 0) << "iasl not found: apt-get install acpica-tools";
  const auto dir = std::filesystem::temp_directory_path() / ("franca-acpi-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const auto& t : build_acpi_tables(with_pci(config(2, 2)), kBase).tables) {
    if (sig(t) == "RSD ") continue;  // iasl -d takes only SDTs; RSDP checksums are tested above
    const std::string name = sig(t);
    const auto path = dir / (name + ".dat");
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
    const std::string cmd =
        "cd " + dir.string() + " && iasl -d " + path.filename().string() + " > " + name + ".log 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << name;
    std::ifstream log(dir / (name + ".log"));
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text.find("Error"), std::string::npos) << name << ":\n" << text;
  }
  std::ifstream dsl(dir / "DSDT.dsl");
  const std::string text((std::istreambuf_iterator<char>(dsl)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("Name (\\_S5, Package"), std::string::npos) << text;
  EXPECT_NE(text.find("Memory32Fixed (ReadWrite"), std::string::npos) << text;
  EXPECT_NE(text.find("EisaId (\"PNP0A08\")"), std::string::npos) << text;
  EXPECT_NE(text.find("Name (_PRT, Package (0x7C)"), std::string::npos) << text;
  EXPECT_NE(text.find("QWordMemory"), std::string::npos) << text;
  std::filesystem::remove_all(dir);
}

// The hotplug AML (GED, register fields, PCNT/PCEJ, one Device per slot)
// disassembles cleanly, says what acpiphp and acpi-ged look for, and the
// disassembly compiles back with iasl.
TEST(Acpi, PciHotplugAmlDisassemblesAndRecompiles) {
  ASSERT_EQ(std::system("command -v iasl >/dev/null 2>&1"), 0) << "iasl not found: apt-get install acpica-tools";
  AcpiConfig c = with_pci(config(2));
  c.pci->hotplug = AcpiPciHotplug{0xae00, 3, 0xfffffffc};  // slot 1 cold-plugged, not removable
  const auto dir = std::filesystem::temp_directory_path() / ("franca-acpi-hp-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const AcpiBlob blob = build_acpi_tables(c, kBase);
  const auto dsdt = std::find_if(blob.tables.begin(), blob.tables.end(), [](auto& t) { return sig(t) == "DSDT"; });
  ASSERT_NE(dsdt, blob.tables.end());
  EXPECT_EQ(acpi_checksum(dsdt->bytes, 0, dsdt->bytes.size()), 0);
  std::ofstream(dir / "DSDT.dat", std::ios::binary)
      .write(reinterpret_cast<const char*>(dsdt->bytes.data()), dsdt->bytes.size());
  const std::string cmd = "cd " + dir.string() + " && iasl -d DSDT.dat > d.log 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream dsl(dir / "DSDT.dsl");
  const std::string text((std::istreambuf_iterator<char>(dsl)), std::istreambuf_iterator<char>());
  for (const char* want :
       {"OperationRegion (PCST, SystemIO, 0xAE00, 0x0C)", "PCIU,   32", "B0EJ,   32", "Mutex (BLCK, 0x00)",
        "Method (PCEJ, 1, NotSerialized)", "Method (PCNT, 0, NotSerialized)", "Notify (SL05, One)",
        "Notify (SL05, 0x03)", "Name (_HID, \"ACPI0013\"", "Method (_EVT, 1, Serialized)", "\\_SB.PCI0.PCNT ()",
        "Device (SL1F)", "Name (_ADR, 0x001F0000)", "Name (_SUN, 0x1F)", "PCEJ (0x1F)"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
  // Slot 1 is not ejectable: its Device has no _EJ0.
  const size_t sl01 = text.find("Device (SL01)"), sl02 = text.find("Device (SL02)");
  ASSERT_NE(sl01, std::string::npos);
  EXPECT_EQ(text.substr(sl01, sl02 - sl01).find("_EJ0"), std::string::npos);
  const std::string recompile = "cd " + dir.string() + " && iasl -p re DSDT.dsl > r.log 2>&1";
  EXPECT_EQ(std::system(recompile.c_str()), 0) << "the disassembly does not compile back";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace franca::firmware
