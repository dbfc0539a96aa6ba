// `franca ctl`: turns words into one request line, sends it, prints the reply.
#include "vmm/api/ctl_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <charconv>
#include <cstdio>
#include <initializer_list>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "vmm/api/dispatch.h"
#include "vmm/api/unix_socket.h"
#include "vmm/core/stop.h"

namespace franca::api {
namespace {

using json = nlohmann::json;

constexpr const char* kUsage = R"(franca ctl - talk to a running franca over its --api-socket

USAGE
  franca ctl PATH COMMAND [ARGS]

COMMANDS
  status                          state, vCPUs, memory, uptime, devices
  pause | resume                  park / release every vCPU (devices keep running)
  shutdown                        stop the VM; franca exits 0
  counters [ID]                   device counters (all devices, or device ID)
  queues [ID]                     each queue's ring state and how long its driver
                                  has waited without progress (I/O that stopped)
  vcpus                           each vCPU's thread id, registers, pending events
                                  and local APIC (a stopped guest: where is it?)
  net-link ID up|down             set a net device's link state
  net-backend ID inprocess|vhost  move a net device's data path
  balloon MIB                     the memory the guest keeps: the balloon inflates
                                  to the rest (QEMU's `balloon`; MIB = all: empty)
  balloon-stats                   target, balloon size and what it holds, and the
                                  guest's memory statistics with their age
  device-add disk|net|console|vfio OPTS
                                  hot-add a PCI device; OPTS as --disk, --net,
                                  --console or --vfio take them; replies with its
                                  id and PCI address (the guest needs ACPI)
  device-del ID                   ask the guest to eject device ID; replies once
                                  it did (an error after 20 s, device in place)
  failover-unplug ID              eject standby ID's failover primary (its VFIO
                                  NIC); traffic moves to the standby; replies
                                  once the guest let it go
  failover-plug ID                plug the primary back (the guest must have
                                  accepted STANDBY); status shows each pair
  '{"cmd": ...}'                  send a raw JSON request

Prints the reply as JSON on stdout. Exit status: 0 ok, 1 the VM answered with
an error (printed on stderr) or PATH could not be reached, 2 usage error.

EXAMPLES
  franca ctl /run/vm.sock status
  franca ctl /run/vm.sock net-link net0 down
  franca ctl /run/vm.sock balloon 128
  franca ctl /run/vm.sock device-add disk path=extra.img,serial=extra
  franca ctl /run/vm.sock device-del blk1
  franca ctl /run/vm.sock failover-unplug net0
  franca ctl /run/vm.sock '{"cmd": "counters", "id": "blk0"}'
)";

constexpr std::size_t kMaxReply = 16 * 1024 * 1024;
constexpr int kReplyTimeoutMs = 60'000;

Result<json> one_of(const std::string& cmd, const std::string& value, const char* field,
                    std::initializer_list<const char*> choices) {
  for (const char* c : choices) {
    if (value == c) return json{{"cmd", cmd}, {field, value}};
  }
  return usage_error(fmt::format("{}: '{}' is not one of {}", cmd, value, fmt::join(choices, ", ")));
}

// The request for COMMAND and its ARGS (`words` starts at COMMAND).
Result<json> build_request(const std::vector<std::string>& words) {
  const std::string& cmd = words[0];
  const size_t nargs = words.size() - 1;
  auto arity = [&](size_t lo, size_t hi, const char* shape) -> Result<void> {
    if (nargs < lo || nargs > hi) return usage_error(fmt::format("usage: franca ctl PATH {}", shape));
    return {};
  };
  if (cmd.starts_with("{")) {
    if (auto r = arity(0, 0, "'{...}' (one JSON argument)"); !r) return std::unexpected(r.error());
    json raw = json::parse(cmd, nullptr, false);
    if (raw.is_discarded()) return usage_error("raw request: not valid JSON");
    return raw;
  }
  if (cmd == "status" || cmd == "pause" || cmd == "resume" || cmd == "shutdown" || cmd == "vcpus" ||
      cmd == "balloon-stats") {
    if (auto r = arity(0, 0, cmd.c_str()); !r) return std::unexpected(r.error());
    return json{{"cmd", cmd}};
  }
  if (cmd == "counters" || cmd == "queues") {
    if (auto r = arity(0, 1, (cmd + " [ID]").c_str()); !r) return std::unexpected(r.error());
    return nargs ? json{{"cmd", cmd}, {"id", words[1]}} : json{{"cmd", cmd}};
  }
  if (cmd == "balloon") {
    if (auto r = arity(1, 1, "balloon MIB"); !r) return std::unexpected(r.error());
    uint64_t mib = 0;
    const std::string& v = words[1];
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), mib);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size())
      return usage_error(fmt::format("balloon: '{}' is not a size in MiB", v));
    return json{{"cmd", cmd}, {"target_mib", mib}};
  }
  if (cmd == "device-add") {
    if (auto r = arity(2, 2, "device-add disk|net|console|vfio OPTS"); !r) return std::unexpected(r.error());
    auto request = one_of(cmd, words[1], "type", {"disk", "net", "console", "vfio"});
    if (request) (*request)["opts"] = words[2];
    return request;
  }
  if (cmd == "device-del" || cmd == "failover-unplug" || cmd == "failover-plug") {
    if (auto r = arity(1, 1, (cmd + " ID").c_str()); !r) return std::unexpected(r.error());
    return json{{"cmd", cmd}, {"id", words[1]}};
  }
  const bool link = cmd == "net-link";
  if (link || cmd == "net-backend") {
    if (auto r = arity(2, 2, link ? "net-link ID up|down" : "net-backend ID inprocess|vhost"); !r)
      return std::unexpected(r.error());
    auto request = link ? one_of(cmd, words[2], "state", {"up", "down"})
                        : one_of(cmd, words[2], "backend", {"inprocess", "vhost"});
    if (request) (*request)["id"] = words[1];
    return request;
  }
  return usage_error(fmt::format("unknown command '{}'", cmd));
}

// Reads one reply line (or everything up to EOF) within the timeout.
Result<std::string> read_reply(int fd, const std::string& path) {
  std::string reply;
  char buf[16 * 1024];
  while (reply.find('\n') == std::string::npos && reply.size() < kMaxReply) {
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, kReplyTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return host_error(fmt::format("{}: no reply within {} s", path, kReplyTimeoutMs / 1000));
    const ssize_t n = ready < 0 ? -1 : recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(fmt::format("{}: receive", path));
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  if (const size_t end = reply.find('\n'); end != std::string::npos) reply.resize(end);
  if (reply.empty()) return host_error(fmt::format("{}: the server closed the connection without a reply", path));
  return reply;
}

Result<json> exchange(const CtlRequest& ctl) {
  auto fd = connect_unix(ctl.socket_path);
  if (!fd) return std::unexpected(fd.error());
  const std::string line = reply_line(ctl.request);
  for (size_t done = 0; done < line.size();) {
    const ssize_t n = send(fd->get(), line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(fmt::format("{}: send", ctl.socket_path));
    done += static_cast<size_t>(n);
  }
  auto text = read_reply(fd->get(), ctl.socket_path);
  if (!text) return std::unexpected(text.error());
  json reply = json::parse(*text, nullptr, false);
  if (!reply.is_object()) return host_error(fmt::format("{}: the reply is not a JSON object", ctl.socket_path));
  return reply;
}

int usage_failure(const std::string& message) {
  std::fprintf(stderr, "franca ctl: %s\nusage: franca ctl PATH COMMAND [ARGS] (see franca ctl --help)\n",
               message.c_str());
  return kExitUsage;
}

}  // namespace

Result<CtlAction> parse_ctl_args(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return CtlHelp{};
  }
  if (args.empty()) return usage_error("missing PATH and COMMAND");
  if (args.size() == 1) return usage_error("missing COMMAND");
  if (args[0].empty()) return usage_error("PATH is empty");
  auto request = build_request({args.begin() + 1, args.end()});
  if (!request) return std::unexpected(request.error());
  return CtlRequest{args[0], std::move(*request)};
}

const char* ctl_usage() { return kUsage; }

int run_ctl(int argc, const char* const* argv) {
  auto action = parse_ctl_args(std::vector<std::string>(argv + 2, argv + argc));
  if (!action) return usage_failure(action.error().message);
  if (std::holds_alternative<CtlHelp>(*action)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto reply = exchange(std::get<CtlRequest>(*action));
  if (!reply) {
    std::fprintf(stderr, "franca ctl: %s\n", reply.error().message.c_str());
    return reply.error().kind == ErrorKind::kUsage ? kExitUsage : kExitHostError;
  }
  const auto ok = reply->find("ok");
  if (ok == reply->end() || *ok != true) {
    const auto error = reply->find("error");
    const std::string message = error != reply->end() && error->is_string() ? error->get<std::string>() : reply->dump();
    std::fprintf(stderr, "franca ctl: %s\n", message.c_str());
    return kExitHostError;
  }
  std::puts(reply->dump(2, ' ', false, json::error_handler_t::replace).c_str());
  return 0;
}

}  // namespace franca::api
