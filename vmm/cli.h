// The franca command line: parsing into a VmConfig, --help and --version.
// Boost.Program_options appears only in cli.cc (STYLE.md).
#pragma once

#include <string>
#include <variant>

#include "vmm/config.h"
#include "vmm/core/error.h"

namespace franca {

struct ShowText {
  std::string text;  // --help or --version output, printed to stdout, exit 0
};

using CliAction = std::variant<VmConfig, ShowText>;

// Parses and validates everything that needs no host access (files are
// checked later, when they are opened). Errors are usage errors (exit 2).
Result<CliAction> parse_cli(int argc, const char* const* argv);

}  // namespace franca
