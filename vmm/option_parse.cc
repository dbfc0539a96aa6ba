// Size and key=value option parsing with one-line errors naming the flag.
#include "vmm/option_parse.h"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace franca {

Result<uint64_t> parse_size(std::string_view text, std::string_view flag) {
  uint64_t value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr == begin) {
    return usage_error(fmt::format("{} '{}': not a size (examples: 512M, 2G)", flag, text));
  }
  std::string suffix(ptr, end);
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (suffix.ends_with("IB"))
    suffix.resize(suffix.size() - 2);
  else if (suffix.size() == 2 && suffix.ends_with("B"))
    suffix.resize(1);
  int shift;
  if (suffix.empty() || suffix == "M")
    shift = 20;
  else if (suffix == "K")
    shift = 10;
  else if (suffix == "G")
    shift = 30;
  else if (suffix == "T")
    shift = 40;
  else
    return usage_error(fmt::format("{} '{}': unknown unit '{}' (use K, M, G or T)", flag, text, std::string(ptr, end)));
  if (value > (UINT64_MAX >> shift)) return usage_error(fmt::format("{} '{}': too large", flag, text));
  return value << shift;
}

Result<std::map<std::string, std::string>> parse_key_values(std::string_view text, std::string_view flag) {
  std::map<std::string, std::string> out;
  std::string* last = nullptr;  // value an item without '=' continues (features=-a,-b)
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = text.substr(start, comma - start);
    start = comma + 1;
    const size_t eq = item.find('=');
    if (!item.empty() && eq == std::string_view::npos && last) {
      last->append(",").append(item);  // not '"," + std::string': GCC 12 -O3 warns -Wrestrict on that
      continue;
    }
    if (item.empty() || eq == 0 || eq == std::string_view::npos) {
      return usage_error(fmt::format("{} '{}': expected key=value, got '{}'", flag, text, item));
    }
    auto [it, inserted] = out.emplace(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    if (!inserted) return usage_error(fmt::format("{} '{}': '{}' given twice", flag, text, it->first));
    last = &it->second;
  }
  return out;
}

}  // namespace franca
