// AML encoding of names, data objects, named objects and resource descriptors.
#include "firmware/aml.h"

namespace franca::firmware::aml {
namespace {

constexpr uint8_t kZeroOp = 0x00, kOneOp = 0x01, kNameOp = 0x08, kBytePrefix = 0x0a, kWordPrefix = 0x0b,
                  kDWordPrefix = 0x0c, kStringPrefix = 0x0d, kQWordPrefix = 0x0e, kScopeOp = 0x10, kBufferOp = 0x11,
                  kPackageOp = 0x12, kExtOpPrefix = 0x5b, kDeviceOp = 0x82, kRootChar = 0x5c, kDualNamePrefix = 0x2e,
                  kMultiNamePrefix = 0x2f;
// Executable opcodes (§20.3, §20.4).
constexpr uint8_t kMethodOp = 0x14, kLocal0Op = 0x60, kArg0Op = 0x68, kStoreOp = 0x70, kShiftLeftOp = 0x79,
                  kAndOp = 0x7b, kNotifyOp = 0x86, kIfOp = 0xa0, kReturnOp = 0xa4, kMutexOp = 0x01, kAcquireOp = 0x23,
                  kReleaseOp = 0x27, kOpRegionOp = 0x80, kFieldOp = 0x81;

void put_le(Bytes& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

Bytes with_pkg_length(std::initializer_list<uint8_t> op, const Bytes& body) {
  Bytes out(op);
  const Bytes len = pkg_length(body.size());
  out.insert(out.end(), len.begin(), len.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// `op` PkgLength NameString `flags` TermList: Scope, Device, Method.
Bytes named_block(std::initializer_list<uint8_t> op, std::string_view path, std::initializer_list<uint8_t> flags,
                  const std::vector<Bytes>& terms) {
  Bytes body = name_string(path);
  body.insert(body.end(), flags);
  for (const auto& t : terms) body.insert(body.end(), t.begin(), t.end());
  return with_pkg_length(op, body);
}

// Address space descriptor common part (§6.4.3.5): type 0 memory, 2 bus number.
Bytes address_space(uint8_t tag, uint8_t type, uint8_t type_flags, int width, uint64_t min, uint64_t max) {
  Bytes out{tag};
  put_le(out, 3 + 5 * width, 2);  // length after the length field
  out.push_back(type);
  out.push_back(0x0c);  // general flags: MinFixed, MaxFixed, producer
  out.push_back(type_flags);
  put_le(out, 0, width);              // granularity
  put_le(out, min, width);            // range minimum
  put_le(out, max, width);            // range maximum
  put_le(out, 0, width);              // translation offset
  put_le(out, max - min + 1, width);  // length
  return out;
}

}  // namespace

Bytes pkg_length(size_t body_len) {
  if (body_len + 1 < 0x40) return {static_cast<uint8_t>(body_len + 1)};
  for (size_t n = 2; n <= 4; ++n) {
    const size_t total = body_len + n;
    if (total < (size_t{1} << (4 + 8 * (n - 1)))) {
      Bytes out{static_cast<uint8_t>(((n - 1) << 6) | (total & 0x0f))};
      for (size_t i = 1; i < n; ++i) out.push_back(static_cast<uint8_t>(total >> (4 + 8 * (i - 1))));
      return out;
    }
  }
  return {};  // > 256 MiB: not representable; callers never build such tables
}

Bytes name_string(std::string_view path) {
  Bytes out;
  if (!path.empty() && path[0] == '\\') {
    out.push_back(kRootChar);
    path.remove_prefix(1);
  }
  std::vector<std::string> segments;
  while (!path.empty()) {
    const size_t dot = path.find('.');
    std::string seg(path.substr(0, dot));
    seg.resize(4, '_');
    segments.push_back(seg);
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
  }
  if (segments.size() == 2) out.push_back(kDualNamePrefix);
  if (segments.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segments.size()));
  }
  for (const auto& seg : segments) out.insert(out.end(), seg.begin(), seg.end());
  return out;
}

Bytes integer(uint64_t value) {
  Bytes out;
  if (value == 0) return {kZeroOp};
  if (value == 1) return {kOneOp};
  if (value <= 0xff)
    out = {kBytePrefix}, put_le(out, value, 1);
  else if (value <= 0xffff)
    out = {kWordPrefix}, put_le(out, value, 2);
  else if (value <= 0xffffffff)
    out = {kDWordPrefix}, put_le(out, value, 4);
  else
    out = {kQWordPrefix}, put_le(out, value, 8);
  return out;
}

Bytes string(std::string_view text) {
  Bytes out;
  out.reserve(text.size() + 2);
  out.push_back(kStringPrefix);
  for (char c : text) out.push_back(static_cast<uint8_t>(c));
  out.push_back(0);
  return out;
}

Bytes package(const std::vector<Bytes>& elements) {
  Bytes body{static_cast<uint8_t>(elements.size())};
  for (const auto& e : elements) body.insert(body.end(), e.begin(), e.end());
  return with_pkg_length({kPackageOp}, body);
}

Bytes buffer(const Bytes& data) {
  Bytes body = integer(data.size());
  body.insert(body.end(), data.begin(), data.end());
  return with_pkg_length({kBufferOp}, body);
}

Bytes name(std::string_view path, const Bytes& object) {
  Bytes out{kNameOp};
  const Bytes n = name_string(path);
  out.insert(out.end(), n.begin(), n.end());
  out.insert(out.end(), object.begin(), object.end());
  return out;
}

Bytes scope(std::string_view path, const std::vector<Bytes>& terms) { return named_block({kScopeOp}, path, {}, terms); }

Bytes device(std::string_view path, const std::vector<Bytes>& terms) {
  return named_block({kExtOpPrefix, kDeviceOp}, path, {}, terms);
}

Bytes eisa_id(std::string_view id) {
  // Three letters (5 bits each, 'A' = 1) then four hex digits, stored big-endian.
  auto letter = [&](size_t i) { return static_cast<uint32_t>(id[i] - 'A' + 1) & 0x1f; };
  auto hex = [&](size_t i) {
    const char c = id[i];
    return static_cast<uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  };
  const uint32_t be = (letter(0) << 26) | (letter(1) << 21) | (letter(2) << 16) | (hex(3) << 12) | (hex(4) << 8) |
                      (hex(5) << 4) | hex(6);
  return integer(__builtin_bswap32(be));
}

Bytes memory32_fixed(uint32_t base, uint32_t size, bool writable) {
  Bytes out{0x86, 0x09, 0x00, static_cast<uint8_t>(writable ? 1 : 0)};
  put_le(out, base, 4);
  put_le(out, size, 4);
  return out;
}

Bytes io_port(uint16_t base, uint8_t len) {
  Bytes out{0x47, 0x01};  // decodes 16-bit addresses
  put_le(out, base, 2);
  put_le(out, base, 2);
  out.push_back(1);  // alignment
  out.push_back(len);
  return out;
}

Bytes interrupt(uint32_t gsi, bool edge, bool active_low, bool shared) {
  const uint8_t flags = 0x01 | (edge ? 0x02 : 0) | (active_low ? 0x04 : 0) | (shared ? 0x08 : 0);
  Bytes out{0x89, 0x06, 0x00, flags, 0x01};
  put_le(out, gsi, 4);
  return out;
}

Bytes word_bus_number(uint16_t min, uint16_t max) { return address_space(0x88, 2, 0, 2, min, max); }
Bytes word_io(uint16_t min, uint16_t max) { return address_space(0x88, 1, 0x03, 2, min, max); }
Bytes dword_memory(uint32_t min, uint32_t max, bool cacheable) {
  return address_space(0x87, 0, static_cast<uint8_t>(cacheable ? 0x03 : 0x01), 4, min, max);
}
Bytes qword_memory(uint64_t min, uint64_t max, bool cacheable) {
  return address_space(0x8a, 0, static_cast<uint8_t>(cacheable ? 0x03 : 0x01), 8, min, max);
}

Bytes resource_template(const std::vector<Bytes>& descriptors) {
  Bytes data = concat(descriptors);
  data.push_back(0x79);  // end tag
  data.push_back(0x00);  // checksum 0: "treat as correct"
  return buffer(data);
}

Bytes method(std::string_view path, unsigned args, bool serialized, const std::vector<Bytes>& terms) {
  return named_block({kMethodOp}, path, {static_cast<uint8_t>((args & 7) | (serialized ? 0x08 : 0))}, terms);
}

Bytes operation_region(std::string_view path, RegionSpace space, uint64_t offset, uint64_t length) {
  return concat({{kExtOpPrefix, kOpRegionOp},
                 name_string(path),
                 {static_cast<uint8_t>(space)},
                 integer(offset),
                 integer(length)});
}

Bytes dword_fields(std::string_view region, const std::vector<std::string_view>& names) {
  Bytes body = name_string(region);
  body.push_back(0x03 | (1 << 5));  // DWordAcc, NoLock, WriteAsZeros
  for (std::string_view n : names) {
    const Bytes seg = name_string(n);  // one NameSeg, padded with '_'
    body.insert(body.end(), seg.begin(), seg.end());
    body.push_back(32);  // the field's width in bits, PkgLength-encoded
  }
  return with_pkg_length({kExtOpPrefix, kFieldOp}, body);
}

// SyncLevel 0.
Bytes mutex(std::string_view path) { return concat({{kExtOpPrefix, kMutexOp}, name_string(path), {0}}); }
// Timeout 0xFFFF: wait forever.
Bytes acquire(std::string_view mutex_path) {
  return concat({{kExtOpPrefix, kAcquireOp}, name_string(mutex_path), {0xff, 0xff}});
}
Bytes release(std::string_view mutex_path) { return concat({{kExtOpPrefix, kReleaseOp}, name_string(mutex_path)}); }

Bytes local(unsigned n) { return {static_cast<uint8_t>(kLocal0Op + (n & 7))}; }
Bytes arg(unsigned n) { return {static_cast<uint8_t>(kArg0Op + (n < 7 ? n : 6))}; }

Bytes store(const Bytes& source, const Bytes& target) { return concat({{kStoreOp}, source, target}); }
Bytes and_(const Bytes& a, const Bytes& b) { return concat({{kAndOp}, a, b, {kZeroOp}}); }
Bytes shift_left(const Bytes& value, const Bytes& count) { return concat({{kShiftLeftOp}, value, count, {kZeroOp}}); }

Bytes if_(const Bytes& predicate, const std::vector<Bytes>& terms) {
  Bytes body = predicate;
  for (const auto& t : terms) body.insert(body.end(), t.begin(), t.end());
  return with_pkg_length({kIfOp}, body);
}

Bytes notify(std::string_view path, const Bytes& value) { return concat({{kNotifyOp}, name_string(path), value}); }
Bytes return_(const Bytes& value) { return concat({{kReturnOp}, value}); }

Bytes call(std::string_view path, const std::vector<Bytes>& args) {
  Bytes out = name_string(path);
  for (const auto& a : args) out.insert(out.end(), a.begin(), a.end());
  return out;
}

Bytes concat(const std::vector<Bytes>& parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace franca::firmware::aml
