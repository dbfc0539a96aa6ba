// `franca ctl PATH COMMAND [ARGS]`: the control socket's command-line client
// (README "Control socket"). Argument parsing is a pure function for the tests.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/core/error.h"

namespace franca::api {

struct CtlRequest {
  std::string socket_path;
  nlohmann::json request;  // one object, sent as one line
};
struct CtlHelp {};  // --help: print ctl_usage(), exit 0
using CtlAction = std::variant<CtlRequest, CtlHelp>;

// `args` are the words after "ctl". Errors are usage errors (exit 2).
Result<CtlAction> parse_ctl_args(const std::vector<std::string>& args);

const char* ctl_usage();

// The whole subcommand; `argv[0..1]` are "franca" "ctl". Returns the exit status:
// 0 ok:true, 1 ok:false or socket unreachable, 2 usage error.
int run_ctl(int argc, const char* const* argv);

}  // namespace franca::api
