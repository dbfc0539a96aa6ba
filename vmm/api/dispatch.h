// The control protocol's request side: one JSON object per line in, one reply
// object out (README "Control socket"); no sockets, so it is unit-tested directly.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "vmm/api/api_target.h"

namespace franca::api {

// Answers one request line (without its '\n'). Never throws: malformed JSON,
// an unknown cmd, missing or ill-typed fields and the target's own errors all
// become {"ok": false, "error": "<one line>"}.
nlohmann::json handle_request(ApiTarget& target, std::string_view line);

nlohmann::json error_reply(std::string_view message);

// `reply` as one line ending in '\n'; invalid UTF-8 is replaced, never thrown on.
std::string reply_line(const nlohmann::json& reply);

}  // namespace franca::api
