// Parsers for option values shared by every flag: sizes ("512M", "2G") and
// the device grammar "key=value,key=value" (like cloud-hypervisor's --disk).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "vmm/core/error.h"

namespace franca {

// "512M", "1G", "2GiB", "65536K"; a bare number means MiB (as QEMU's -m). Errors name `flag`.
Result<uint64_t> parse_size(std::string_view text, std::string_view flag);

// "path=/x,readonly=on" -> {path: /x, readonly: on}. An item without '=' continues
// the previous value, so "features=-a,-b" keeps both. Duplicate or empty keys are errors.
Result<std::map<std::string, std::string>> parse_key_values(std::string_view text, std::string_view flag);

}  // namespace franca
