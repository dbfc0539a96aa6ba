// A recording ApiTarget for the control API tests: canned replies, every call logged.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "vmm/api/api_target.h"

namespace franca::api {

class FakeTarget : public ApiTarget {
 public:
  using json = nlohmann::json;

  Result<json> status() override { return record("status", json{{"state", paused_ ? "paused" : "running"}}); }
  Result<json> pause() override {
    paused_ = true;
    return record("pause", json{{"state", "paused"}});
  }
  Result<json> resume() override {
    paused_ = false;
    return record("resume", json{{"state", "running"}});
  }
  Result<json> shutdown() override { return record("shutdown", json::object()); }
  Result<json> set_net_link(const std::string& id, bool up) override {
    if (id != "net0") return usage_error("no device \"" + id + "\"");
    return record("net-link " + id + (up ? " up" : " down"), json{{"id", id}, {"link", up ? "up" : "down"}});
  }
  Result<json> set_net_backend(const std::string& id, const std::string& backend) override {
    if (id != "net0") return usage_error(id + " is a block device, not a net device");
    return record("net-backend " + id + " " + backend, json{{"id", id}, {"backend", backend}});
  }
  Result<json> counters(const std::optional<std::string>& id) override {
    return record("counters " + id.value_or("*"), json{{"devices", {{id.value_or("blk0"), {{"kicks", 3}}}}}});
  }

  Result<json> queues(const std::optional<std::string>& id) override {
    return record("queues " + id.value_or("*"), json{{"devices", {{id.value_or("blk0"), {"requests 0: ..."}}}}});
  }

  Result<json> vcpus() override {
    return record("vcpus", json{{"vcpus", json::array({{{"id", 0}, {"tid", 42}, {"state", "rip=0x1"}}})}});
  }

  Result<json> set_balloon(uint64_t target_mib) override {
    if (target_mib > 512) return usage_error("balloon target " + std::to_string(target_mib) + " MiB: too much");
    return record("balloon " + std::to_string(target_mib), json{{"target_mib", target_mib}});
  }
  Result<json> balloon_stats() override { return record("balloon-stats", json{{"stats", {{"free_memory", 1}}}}); }
  Result<json> device_add(const std::string& type, const std::string& opts) override {
    return record("device-add " + type + " " + opts, json{{"id", "blk1"}, {"pci", "0000:00:05.0"}});
  }
  Result<json> set_failover(const std::string& id, bool plugged) override {
    if (id != "net0") return usage_error(id + ": not a failover standby");
    return record(std::string(plugged ? "failover-plug " : "failover-unplug ") + id,
                  json{{"standby", id}, {"state", plugged ? "plugged" : "unplugged"}});
  }
  Result<json> device_del(const std::string& id) override {
    if (id != "blk1") return usage_error("no device \"" + id + "\"");
    return record("device-del " + id, json{{"id", id}, {"removed", true}});
  }

  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  Result<json> record(std::string call, json result) {
    std::lock_guard lock(mutex_);
    calls_.push_back(std::move(call));
    return result;
  }

  mutable std::mutex mutex_;
  std::vector<std::string> calls_;
  bool paused_ = false;
};

}  // namespace franca::api
