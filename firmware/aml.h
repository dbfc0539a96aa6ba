// A small AML byte-code builder (ACPI 6.5 §20.2 "AML Grammar Definition"):
// enough for a DSDT with named objects, devices, scopes and resource templates.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace franca::firmware::aml {

using Bytes = std::vector<uint8_t>;

// PkgLength for a body of `body_len` bytes (the encoding counts its own bytes).
Bytes pkg_length(size_t body_len);
// "\\_SB_", "VR00", "_S5_": one optional root prefix and one or more 4-char segments separated by '.'.
Bytes name_string(std::string_view path);
Bytes integer(uint64_t value);  // shortest encoding: Zero, One, Byte/Word/DWord/QWord prefix
Bytes string(std::string_view text);
Bytes package(const std::vector<Bytes>& elements);
Bytes buffer(const Bytes& data);
Bytes name(std::string_view path, const Bytes& object);
Bytes scope(std::string_view path, const std::vector<Bytes>& terms);
Bytes device(std::string_view path, const std::vector<Bytes>& terms);
Bytes eisa_id(std::string_view id);  // "PNP0A08" -> compressed EISA id DWord

// Resource descriptors (§6.4), joined by resource_template() which appends the end tag.
Bytes memory32_fixed(uint32_t base, uint32_t size, bool writable = true);
Bytes io_port(uint16_t base, uint8_t len);
Bytes interrupt(uint32_t gsi, bool edge, bool active_low = false, bool shared = false);
Bytes word_bus_number(uint16_t min, uint16_t max);
Bytes word_io(uint16_t min, uint16_t max);  // an I/O window a bridge produces
Bytes dword_memory(uint32_t min, uint32_t max, bool cacheable = false);
Bytes qword_memory(uint64_t min, uint64_t max, bool cacheable = false);
Bytes resource_template(const std::vector<Bytes>& descriptors);

Bytes concat(const std::vector<Bytes>& parts);

// Executable code (§20.2.5): enough for the PCI hotplug methods.
enum class RegionSpace : uint8_t { kSystemMemory = 0, kSystemIo = 1 };
Bytes method(std::string_view path, unsigned args, bool serialized, const std::vector<Bytes>& terms);
Bytes operation_region(std::string_view path, RegionSpace space, uint64_t offset, uint64_t length);
// Field(region, DWordAcc, NoLock, WriteAsZeros) with consecutive 32-bit fields named `names`.
Bytes dword_fields(std::string_view region, const std::vector<std::string_view>& names);
Bytes mutex(std::string_view path);
Bytes acquire(std::string_view mutex_path);  // waits forever (0xFFFF)
Bytes release(std::string_view mutex_path);
Bytes local(unsigned n);  // Local0-7
Bytes arg(unsigned n);    // Arg0-6
Bytes store(const Bytes& source, const Bytes& target);
Bytes and_(const Bytes& a, const Bytes& b);  // And(a, b) with no target: the value
Bytes shift_left(const Bytes& value, const Bytes& count);
Bytes if_(const Bytes& predicate, const std::vector<Bytes>& terms);
Bytes notify(std::string_view path, const Bytes& value);
Bytes return_(const Bytes& value);
Bytes call(std::string_view path, const std::vector<Bytes>& args);

}  // namespace franca::firmware::aml
