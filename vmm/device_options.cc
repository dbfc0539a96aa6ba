// Parsing of --disk and --console values into device configs; one error line naming the flag.
#include "vmm/device_options.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "devices/virtio/features.h"
#include "vmm/option_parse.h"

namespace franca {
namespace {

using Items = std::map<std::string, std::string>;

// Takes `key` out of `items`; the leftovers are reported as unknown keys.
std::optional<std::string> take(Items& items, const std::string& key) {
  auto it = items.find(key);
  if (it == items.end()) return std::nullopt;
  std::string value = it->second;
  items.erase(it);
  return value;
}

Result<bool> parse_on_off(const std::string& value, std::string_view flag, std::string_view key) {
  if (value == "on" || value == "true" || value == "1") return true;
  if (value == "off" || value == "false" || value == "0") return false;
  return usage_error(fmt::format("{} {}={}: expected on or off", flag, key, value));
}

Result<uint64_t> feature_mask(Items& items, std::span<const virtio::FeatureName> names, std::string_view flag) {
  const auto value = take(items, "features");
  if (!value) return uint64_t{0};
  return virtio::parse_feature_mask(*value, names, flag);
}

// "stdio,transport=mmio" -> "mode=stdio,transport=mmio": the leading bare item is the main value.
std::string with_main_key(std::string_view text, std::string_view key) {
  const size_t comma = text.find(',');
  const std::string_view first = text.substr(0, comma);
  if (first.find('=') != std::string_view::npos) return std::string(text);
  return fmt::format("{}={}", key, text);
}

Result<uint16_t> parse_u16(const std::string& value, std::string_view flag, std::string_view key, unsigned lo,
                           unsigned hi) {
  unsigned n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n < lo || n > hi) {
    return usage_error(fmt::format("{} {}={}: expected a number from {} to {}", flag, key, value, lo, hi));
  }
  return static_cast<uint16_t>(n);
}

// The DeviceCommon keys (see the header); `known` lists the device's own keys for
// the unknown-key error, which this also gives.
Result<void> parse_common(Items& items, std::string_view flag, std::string_view known, DeviceCommon& out) {
  if (const auto value = take(items, "transport"); value && *value == "mmio") {
    out.transport = Transport::kMmio;
  } else if (value && *value != "pci") {
    return usage_error(fmt::format("{} transport={}: expected mmio or pci", flag, *value));
  }
  if (auto id = take(items, "id")) {
    const bool ok = !id->empty() && id->size() <= 16 && std::all_of(id->begin(), id->end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
    if (!ok) return usage_error(fmt::format("{} id={}: 1-16 letters, digits, '-' or '_'", flag, *id));
    out.id = *id;
  }
  if (auto slot = take(items, "slot")) {
    auto n = parse_u16(*slot, flag, "slot", 1, 31);
    if (!n) return std::unexpected(n.error());
    out.slot = *n;
  }
  if (auto removable = take(items, "removable")) {
    auto v = parse_on_off(*removable, flag, "removable");
    if (!v) return std::unexpected(v.error());
    out.removable = *v;
  }
  if (out.transport == Transport::kMmio && (out.slot || !out.removable))
    return usage_error(fmt::format("{}: slot= and removable= are PCI keys (transport=mmio has no slots)", flag));
  if (items.empty()) return {};
  return usage_error(fmt::format("{}: unknown key '{}' (known: {}, transport, id, slot, removable, features)", flag,
                                 items.begin()->first, known));
}

// "52:54:00:12:34:56": six hex bytes, unicast (bit 0 of the first byte clear).
Result<virtio::MacAddress> parse_mac(const std::string& value) {
  virtio::MacAddress mac{};
  unsigned bytes[6];
  char tail;
  if (value.size() != 17 || std::sscanf(value.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &bytes[0], &bytes[1], &bytes[2],
                                        &bytes[3], &bytes[4], &bytes[5], &tail) != 6) {
    return usage_error(fmt::format("--net mac={}: expected six hex bytes like 52:54:00:12:34:56", value));
  }
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(bytes[i]);
  if (mac[0] & 1) return usage_error(fmt::format("--net mac={}: a multicast address (first byte odd)", value));
  if (mac == virtio::MacAddress{}) return usage_error("--net mac=00:00:00:00:00:00: not a usable address");
  return mac;
}

Result<virtio::NetBackend> parse_backend(const std::string& value) {
  if (value == "inprocess") return virtio::NetBackend::kInProcess;
  if (value == "vhost") return virtio::NetBackend::kVhost;
  if (value == "auto") return virtio::NetBackend::kAuto;
  return usage_error(fmt::format("--net backend={}: expected inprocess, vhost or auto", value));
}

// tap=NAME or fd=N, exactly one.
Result<void> parse_net_port(Items& items, std::string_view text, virtio::NetConfig& net) {
  const auto tap = take(items, "tap");
  const auto fd = take(items, "fd");
  if (tap.has_value() == fd.has_value())
    return usage_error(fmt::format("--net '{}': give exactly one of tap=NAME or fd=N", text));
  if (tap) {
    net.tap = *tap;
    return {};
  }
  auto n = parse_u16(*fd, "--net", "fd", 0, 65535);
  if (!n) return std::unexpected(n.error());
  net.fd = *n;
  return {};
}

}  // namespace

Result<DiskOption> parse_disk_option(std::string_view text) {
  constexpr std::string_view kFlag = "--disk";
  auto items = parse_key_values(with_main_key(text, "path"), kFlag);
  if (!items) return std::unexpected(items.error());
  DiskOption out;
  const auto path = take(*items, "path");
  if (!path || path->empty()) return usage_error(fmt::format("--disk '{}': path=IMAGE is required", text));
  out.block.path = *path;
  if (auto ro = take(*items, "readonly")) {
    auto v = parse_on_off(*ro, kFlag, "readonly");
    if (!v) return std::unexpected(v.error());
    out.block.readonly = *v;
  }
  if (auto serial = take(*items, "serial")) {
    if (serial->size() > 20) return usage_error(fmt::format("--disk serial={}: at most 20 characters", *serial));
    out.block.serial = *serial;
  }
  if (auto q = take(*items, "queues")) {
    auto n = parse_u16(*q, kFlag, "queues", 1, 16);
    if (!n) return std::unexpected(n.error());
    out.block.queues = *n;
  }
  auto mask = feature_mask(*items, virtio::block_feature_names(), kFlag);
  if (!mask) return std::unexpected(mask.error());
  out.block.feature_mask = *mask;
  if (auto r = parse_common(*items, kFlag, "path, readonly, serial, queues", out); !r)
    return std::unexpected(r.error());
  return out;
}

Result<ConsoleOption> parse_console_option(std::string_view text) {
  constexpr std::string_view kFlag = "--console";
  auto items = parse_key_values(with_main_key(text, "mode"), kFlag);
  if (!items) return std::unexpected(items.error());
  ConsoleOption out;
  using Mode = virtio::ConsoleConfig::Mode;
  const std::string mode = take(*items, "mode").value_or("");
  if (mode == "stdio") {
    out.console.mode = Mode::kStdio;
  } else if (mode == "pty") {
    out.console.mode = Mode::kPty;
  } else if (mode == "none") {
    out.console.mode = Mode::kNone;
  } else if (mode.starts_with("file:") && mode.size() > 5) {
    out.console.mode = Mode::kFile;
    out.console.path = mode.substr(5);
  } else if (mode.starts_with("socket:") && mode.size() > 7) {
    out.console.mode = Mode::kSocket;
    out.console.path = mode.substr(7);
  } else {
    return usage_error(fmt::format("--console '{}': expected stdio, pty, file:PATH, socket:PATH or none", text));
  }
  auto mask = feature_mask(*items, virtio::console_feature_names(), kFlag);
  if (!mask) return std::unexpected(mask.error());
  out.console.feature_mask = *mask;
  if (auto r = parse_common(*items, kFlag, "mode", out); !r) return std::unexpected(r.error());
  return out;
}

Result<NetOption> parse_net_option(std::string_view text) {
  constexpr std::string_view kFlag = "--net";
  auto items = parse_key_values(with_main_key(text, "tap"), kFlag);
  if (!items) return std::unexpected(items.error());
  NetOption out;
  virtio::NetConfig& net = out.net;
  if (auto r = parse_net_port(*items, text, net); !r) return std::unexpected(r.error());
  if (auto mac = take(*items, "mac")) {
    auto m = parse_mac(*mac);
    if (!m) return std::unexpected(m.error());
    net.mac = *m;
    net.mac_given = true;
  }
  if (auto backend = take(*items, "backend")) {
    auto b = parse_backend(*backend);
    if (!b) return std::unexpected(b.error());
    net.backend = *b;
  }
  if (auto q = take(*items, "queues")) {
    auto n = parse_u16(*q, kFlag, "queues", 1, virtio::kMaxNetQueuePairs);
    if (!n) return std::unexpected(n.error());
    net.queues = *n;
  }
  if (auto mtu = take(*items, "mtu")) {
    auto n = parse_u16(*mtu, kFlag, "mtu", 68, 65535);
    if (!n) return std::unexpected(n.error());
    net.mtu = *n;
  }
  if (auto packed = take(*items, "packed")) {
    auto v = parse_on_off(*packed, kFlag, "packed");
    if (!v) return std::unexpected(v.error());
    net.packed = *v;
  }
  if (auto failover = take(*items, "failover")) {
    auto v = parse_on_off(*failover, kFlag, "failover");
    if (!v) return std::unexpected(v.error());
    net.failover = *v;
  }
  auto mask = feature_mask(*items, virtio::net_feature_names(), kFlag);
  if (!mask) return std::unexpected(mask.error());
  net.feature_mask = *mask;
  if (auto r = parse_common(*items, kFlag, "tap, fd, mac, backend, queues, mtu, packed, failover", out); !r)
    return std::unexpected(r.error());
  return out;
}

Result<BalloonOption> parse_balloon_option(std::string_view text) {
  constexpr std::string_view kFlag = "--balloon";
  BalloonOption out;
  if (text.empty() || text == "on") return out;
  auto items = parse_key_values(with_main_key(text, "size"), kFlag);
  if (!items) return std::unexpected(items.error());
  virtio::BalloonConfig& b = out.balloon;
  if (auto size = take(*items, "size")) {
    uint64_t mib = 0;
    std::string digits = *size;
    if (digits.ends_with("M") || digits.ends_with("m")) digits.pop_back();
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), mib);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || mib > (1u << 24)) {
      return usage_error(fmt::format("--balloon size={}: expected a size in MiB, like size=256", *size));
    }
    b.size_mib = mib;
  }
  for (auto [key, field] :
       {std::pair{"deflate_on_oom", &b.deflate_on_oom}, std::pair{"free_page_reporting", &b.free_page_reporting}}) {
    if (auto v = take(*items, key)) {
      auto on = parse_on_off(*v, kFlag, key);
      if (!on) return std::unexpected(on.error());
      *field = *on;
    }
  }
  if (auto period = take(*items, "stats_period")) {
    auto n = parse_u16(*period, kFlag, "stats_period", 0, 3600);
    if (!n) return std::unexpected(n.error());
    b.stats_period_s = *n;
  }
  auto mask = feature_mask(*items, virtio::balloon_feature_names(), kFlag);
  if (!mask) return std::unexpected(mask.error());
  b.feature_mask = *mask;
  if (auto r = parse_common(*items, kFlag, "size, deflate_on_oom, free_page_reporting, stats_period", out); !r)
    return std::unexpected(r.error());
  return out;
}

Result<VfioOption> parse_vfio_option(std::string_view text) {
  constexpr std::string_view kFlag = "--vfio";
  auto items = parse_key_values(with_main_key(text, "path"), kFlag);
  if (!items) return std::unexpected(items.error());
  VfioOption out;
  auto path = take(*items, "path");
  if (!path || path->empty())
    return usage_error("--vfio: path= is required (the host function, like path=/sys/bus/pci/devices/0000:01:00.0)");
  out.path = path->find('/') == std::string::npos ? "/sys/bus/pci/devices/" + *path : *path;
  if (items->contains("features")) return usage_error("--vfio: features= is for virtio devices");
  if (auto pair = take(*items, "failover_pair")) {
    if (pair->empty()) return usage_error("--vfio failover_pair=: name the standby, like failover_pair=net0");
    out.failover_pair = *pair;
  }
  if (auto r = parse_common(*items, kFlag, "path, failover_pair", out); !r) return std::unexpected(r.error());
  if (out.transport != Transport::kPci) return usage_error("--vfio: transport=mmio: a passed-through device is PCI");
  if (!out.failover_pair.empty() && !out.removable)
    return usage_error("--vfio failover_pair= with removable=off: a failover primary is plugged and unplugged");
  return out;
}

}  // namespace franca
