// franca entry point: parse the command line, build the VM, run it, map the outcome to an exit status;
// `franca ctl ...` is the control-socket client instead.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <variant>

#include "vmm/api/ctl_client.h"
#include "vmm/cli.h"
#include "vmm/core/timeline.h"
#include "vmm/vm.h"

namespace {

int exit_code_for(const franca::Error& error) {
  return error.kind == franca::ErrorKind::kUsage ? franca::kExitUsage : franca::kExitHostError;
}

void setup_logging(spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_color_mt("franca");
  logger->set_pattern("franca: %^%l%$: %v");
  logger->set_level(level);
  spdlog::set_default_logger(logger);
}

int run(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "ctl") == 0) return franca::api::run_ctl(argc, argv);
  auto action = franca::parse_cli(argc, argv);
  if (!action) {
    std::fprintf(stderr, "franca: %s\n", action.error().message.c_str());
    return franca::kExitUsage;
  }
  if (auto* text = std::get_if<franca::ShowText>(&*action)) {
    std::fputs(text->text.c_str(), stdout);
    return 0;
  }
  const auto& config = std::get<franca::VmConfig>(*action);
  setup_logging(config.log_level);
  auto vm = franca::Vm::create(config);
  if (!vm) {
    std::fprintf(stderr, "franca: %s\n", vm.error().message.c_str());
    return exit_code_for(vm.error());
  }
  const int code = (*vm)->run();
  vm->reset();  // guest RAM unmapped, every fd closed: what is left is the process's exit
  franca::log_step("shutdown: Vm destroyed (guest RAM, KVM VM)");
  franca::mark_milestone(franca::Milestone::kExit);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  franca::process_timeline();  // its origin: the boot milestones count from here
  // A closed stdout or console socket is an EPIPE on that write, not the end of franca.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "franca: internal error: %s\n", e.what());
    return franca::kExitHostError;
  }
}
