// Request validation and dispatch over ApiTarget; one error line per mistake.
#include "vmm/api/dispatch.h"

#include <array>
#include <functional>
#include <initializer_list>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace franca::api {
namespace {

using json = nlohmann::json;

// Returns an error message when `request` has a field outside `allowed` (typos
// like "ID" must not silently widen `counters` to every device).
std::optional<std::string> check_fields(const json& request, std::string_view cmd,
                                        const std::vector<std::string_view>& allowed) {
  for (const auto& [key, value] : request.items()) {
    if (key == "cmd") continue;
    bool known = false;
    for (std::string_view name : allowed) known = known || key == name;
    if (!known) return fmt::format("unknown field \"{}\" for {}", key, cmd);
  }
  return std::nullopt;
}

Result<std::string> string_field(const json& request, const char* name) {
  const auto it = request.find(name);
  if (it == request.end()) return usage_error(fmt::format("missing \"{}\"", name));
  if (!it->is_string()) return usage_error(fmt::format("\"{}\" must be a string", name));
  return it->get<std::string>();
}

// `name` must be one of `choices`.
Result<std::string> choice_field(const json& request, const char* name,
                                 std::initializer_list<std::string_view> choices) {
  auto value = string_field(request, name);
  if (!value) return value;
  for (std::string_view c : choices) {
    if (*value == c) return value;
  }
  return usage_error(fmt::format("\"{}\": \"{}\" is not one of {}", name, *value, fmt::join(choices, ", ")));
}

Result<json> net_link(ApiTarget& target, const json& request) {
  auto id = string_field(request, "id");
  if (!id) return std::unexpected(id.error());
  auto state = choice_field(request, "state", {"up", "down"});
  if (!state) return std::unexpected(state.error());
  return target.set_net_link(*id, *state == "up");
}

Result<json> net_backend(ApiTarget& target, const json& request) {
  auto id = string_field(request, "id");
  if (!id) return std::unexpected(id.error());
  auto backend = choice_field(request, "backend", {"inprocess", "vhost"});
  if (!backend) return std::unexpected(backend.error());
  return target.set_net_backend(*id, *backend);
}

// `request`'s optional "id": every device when absent.
Result<std::optional<std::string>> optional_id(const json& request) {
  if (!request.contains("id")) return std::optional<std::string>{};
  auto id = string_field(request, "id");
  if (!id) return std::unexpected(id.error());
  return std::optional<std::string>{std::move(*id)};
}

Result<json> counters(ApiTarget& target, const json& request) {
  auto id = optional_id(request);
  if (!id) return std::unexpected(id.error());
  return target.counters(*id);
}

Result<json> queues(ApiTarget& target, const json& request) {
  auto id = optional_id(request);
  if (!id) return std::unexpected(id.error());
  return target.queues(*id);
}

Result<json> balloon(ApiTarget& target, const json& request) {
  const auto it = request.find("target_mib");
  if (it == request.end()) return usage_error("missing \"target_mib\"");
  if (!it->is_number_unsigned()) return usage_error("\"target_mib\" must be a non-negative integer (MiB)");
  return target.set_balloon(it->get<uint64_t>());
}

Result<json> device_add(ApiTarget& target, const json& request) {
  auto type = choice_field(request, "type", {"disk", "net", "console", "vfio"});
  if (!type) return std::unexpected(type.error());
  auto opts = string_field(request, "opts");
  if (!opts) return std::unexpected(opts.error());
  return target.device_add(*type, *opts);
}

Result<json> device_del(ApiTarget& target, const json& request) {
  auto id = string_field(request, "id");
  if (!id) return std::unexpected(id.error());
  return target.device_del(*id);
}

Result<json> failover(ApiTarget& target, const json& request, bool plugged) {
  auto id = string_field(request, "id");
  if (!id) return std::unexpected(id.error());
  return target.set_failover(*id, plugged);
}

struct Command {
  std::string_view name;
  std::vector<std::string_view> fields;  // allowed besides "cmd"
  std::function<Result<json>(ApiTarget&, const json&)> run;
};

const std::array<Command, 15>& commands() {
  static const std::array<Command, 15> table{{
      {"status", {}, [](ApiTarget& t, const json&) { return t.status(); }},
      {"pause", {}, [](ApiTarget& t, const json&) { return t.pause(); }},
      {"resume", {}, [](ApiTarget& t, const json&) { return t.resume(); }},
      {"shutdown", {}, [](ApiTarget& t, const json&) { return t.shutdown(); }},
      {"net-link", {"id", "state"}, net_link},
      {"net-backend", {"id", "backend"}, net_backend},
      {"counters", {"id"}, counters},
      {"queues", {"id"}, queues},
      {"vcpus", {}, [](ApiTarget& t, const json&) { return t.vcpus(); }},
      {"balloon", {"target_mib"}, balloon},
      {"balloon-stats", {}, [](ApiTarget& t, const json&) { return t.balloon_stats(); }},
      {"device-add", {"type", "opts"}, device_add},
      {"device-del", {"id"}, device_del},
      {"failover-unplug", {"id"}, [](ApiTarget& t, const json& r) { return failover(t, r, false); }},
      {"failover-plug", {"id"}, [](ApiTarget& t, const json& r) { return failover(t, r, true); }},
  }};
  return table;
}

Result<json> parse(std::string_view line) {
  try {
    return json::parse(line);
  } catch (const json::parse_error& e) {
    std::string_view what = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    if (const auto end = what.find("] "); end != std::string_view::npos) what.remove_prefix(end + 2);
    return usage_error(fmt::format("malformed JSON: {}", what));
  }
}

Result<json> dispatch(ApiTarget& target, std::string_view line) {
  auto request = parse(line);
  if (!request) return request;
  if (!request->is_object()) return usage_error("a request must be a JSON object");
  auto cmd = string_field(*request, "cmd");
  if (!cmd) return std::unexpected(cmd.error());
  for (const Command& c : commands()) {
    if (c.name != *cmd) continue;
    if (auto bad = check_fields(*request, c.name, c.fields)) return usage_error(*bad);
    return c.run(target, *request);
  }
  return usage_error(fmt::format(
      "unknown cmd \"{}\" (expected status, pause, resume, shutdown, net-link, net-backend, counters, queues, "
      "vcpus, balloon, balloon-stats, device-add, device-del, failover-unplug or failover-plug)",
      *cmd));
}

}  // namespace

json error_reply(std::string_view message) { return json{{"ok", false}, {"error", message}}; }

json handle_request(ApiTarget& target, std::string_view line) {
  try {
    auto result = dispatch(target, line);
    if (!result) return error_reply(result.error().message);
    json reply{{"ok", true}};
    if (result->is_object()) reply.update(*result);
    reply["ok"] = true;  // a target cannot override it
    return reply;
  } catch (const std::exception& e) {  // a target bug or bad_alloc: one request fails, not the VMM
    return error_reply(fmt::format("internal error: {}", e.what()));
  }
}

std::string reply_line(const nlohmann::json& reply) {
  return reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace franca::api
