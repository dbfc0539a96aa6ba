// Parsing of --disk and --console values into device configs; one error line naming the flag.
#include "vmm/device_options.h"

#include <charconv>

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

Result<Transport> parse_transport(Items& items, std::string_view flag) {
  const auto value = take(items, "transport");
  if (!value || *value == "pci") return Transport::kPci;
  if (*value == "mmio") return Transport::kMmio;
  return usage_error(fmt::format("{} transport={}: expected mmio or pci", flag, *value));
}

Result<void> no_leftovers(const Items& items, std::string_view flag, std::string_view known) {
  if (items.empty()) return {};
  return usage_error(fmt::format("{}: unknown key '{}' (known: {})", flag, items.begin()->first, known));
}

Result<uint64_t> feature_mask(Items& items, std::span<const virtio::FeatureName> names, std::string_view flag) {
  const auto value = take(items, "features");
  if (!value) return uint64_t{0};
  return virtio::parse_feature_mask(*value, names, flag);
}

Result<uint16_t> parse_queues(const std::string& value, std::string_view flag) {
  unsigned n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n < 1 || n > 16) {
    return usage_error(fmt::format("{} queues={}: expected a number from 1 to 16", flag, value));
  }
  return static_cast<uint16_t>(n);
}

// "stdio,transport=mmio" -> "mode=stdio,transport=mmio": the leading bare item is the main value.
std::string with_main_key(std::string_view text, std::string_view key) {
  const size_t comma = text.find(',');
  const std::string_view first = text.substr(0, comma);
  if (first.find('=') != std::string_view::npos) return std::string(text);
  return fmt::format("{}={}", key, text);
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
    auto n = parse_queues(*q, kFlag);
    if (!n) return std::unexpected(n.error());
    out.block.queues = *n;
  }
  auto mask = feature_mask(*items, virtio::block_feature_names(), kFlag);
  if (!mask) return std::unexpected(mask.error());
  out.block.feature_mask = *mask;
  auto transport = parse_transport(*items, kFlag);
  if (!transport) return std::unexpected(transport.error());
  out.transport = *transport;
  if (auto r = no_leftovers(*items, kFlag, "path, readonly, serial, queues, transport, features"); !r)
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
  auto transport = parse_transport(*items, kFlag);
  if (!transport) return std::unexpected(transport.error());
  out.transport = *transport;
  if (auto r = no_leftovers(*items, kFlag, "transport, features"); !r) return std::unexpected(r.error());
  return out;
}

}  // namespace franca
