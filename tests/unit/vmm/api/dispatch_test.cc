// Control protocol dispatch: each command reaches the target with its arguments,
// and every kind of bad request gets an error reply instead of a throw.
#include "vmm/api/dispatch.h"

#include <gtest/gtest.h>

#include "tests/unit/vmm/api/fake_target.h"

namespace franca::api {
namespace {

using json = nlohmann::json;

std::string error_of(const json& reply) {
  EXPECT_EQ(reply.value("ok", true), false) << reply.dump();
  return reply.value("error", "");
}

TEST(Dispatch, StatusMergesTheTargetFieldsAfterOk) {
  FakeTarget target;
  const json reply = handle_request(target, R"({"cmd": "status"})");
  EXPECT_EQ(reply, (json{{"ok", true}, {"state", "running"}}));
}

TEST(Dispatch, EachCommandReachesTheTargetWithItsArguments) {
  FakeTarget target;
  for (const char* line :
       {R"({"cmd":"pause"})", R"({"cmd":"resume"})", R"({"cmd":"shutdown"})",
        R"({"cmd":"net-link","id":"net0","state":"down"})", R"({"cmd":"net-backend","id":"net0","backend":"vhost"})",
        R"({"cmd":"counters"})", R"({"cmd":"counters","id":"blk0"})", R"({"cmd":"queues"})",
        R"({"cmd":"queues","id":"net0"})", R"({"cmd":"vcpus"})", R"({"cmd":"balloon","target_mib":128})",
        R"({"cmd":"balloon-stats"})"}) {
    EXPECT_EQ(handle_request(target, line).value("ok", false), true) << line;
  }
  EXPECT_EQ(target.calls(),
            (std::vector<std::string>{"pause", "resume", "shutdown", "net-link net0 down", "net-backend net0 vhost",
                                      "counters *", "counters blk0", "queues *", "queues net0", "vcpus", "balloon 128",
                                      "balloon-stats"}));
}

TEST(Dispatch, DeviceAddAndDelCarryTypeOptsAndId) {
  FakeTarget target;
  const json added = handle_request(target, R"({"cmd":"device-add","type":"disk","opts":"path=b.img,serial=x"})");
  EXPECT_EQ(added, (json{{"ok", true}, {"id", "blk1"}, {"pci", "0000:00:05.0"}}));
  EXPECT_EQ(handle_request(target, R"({"cmd":"device-del","id":"blk1"})").value("removed", false), true);
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"device-del","id":"blk9"})")), "no device \"blk9\"");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"device-add","type":"gpu","opts":""})")),
            "\"type\": \"gpu\" is not one of disk, net, console, vfio");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"device-add","type":"disk"})")), "missing \"opts\"");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"device-del"})")), "missing \"id\"");
  EXPECT_EQ(target.calls(), (std::vector<std::string>{"device-add disk path=b.img,serial=x", "device-del blk1"}));
}

TEST(Dispatch, FailoverPlugAndUnplugNameTheStandby) {
  FakeTarget target;
  EXPECT_EQ(handle_request(target, R"({"cmd":"failover-unplug","id":"net0"})").value("state", ""), "unplugged");
  EXPECT_EQ(handle_request(target, R"({"cmd":"failover-plug","id":"net0"})").value("state", ""), "plugged");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"failover-plug","id":"net1"})")), "net1: not a failover standby");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"failover-plug"})")), "missing \"id\"");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"failover-plug","id":"net0","x":1})")),
            "unknown field \"x\" for failover-plug");
  EXPECT_EQ(target.calls(), (std::vector<std::string>{"failover-unplug net0", "failover-plug net0"}));
}

TEST(Dispatch, BalloonNeedsANonNegativeIntegerTarget) {
  FakeTarget target;
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"balloon"})")), "missing \"target_mib\"");
  for (const char* bad : {R"({"cmd":"balloon","target_mib":-1})", R"({"cmd":"balloon","target_mib":"128"})",
                          R"({"cmd":"balloon","target_mib":1.5})"}) {
    EXPECT_EQ(error_of(handle_request(target, bad)), "\"target_mib\" must be a non-negative integer (MiB)") << bad;
  }
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"balloon","target_mib":1,"id":"x"})")),
            "unknown field \"id\" for balloon");
  EXPECT_TRUE(target.calls().empty());
}

TEST(Dispatch, MalformedJsonIsAnErrorNamingTheProblem) {
  FakeTarget target;
  EXPECT_TRUE(error_of(handle_request(target, R"({"cmd": )")).starts_with("malformed JSON: "));
}

TEST(Dispatch, NonObjectRequestIsAnError) {
  FakeTarget target;
  EXPECT_EQ(error_of(handle_request(target, R"(["status"])")), "a request must be a JSON object");
}

TEST(Dispatch, MissingOrIllTypedCmdIsAnError) {
  FakeTarget target;
  EXPECT_EQ(error_of(handle_request(target, R"({})")), "missing \"cmd\"");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd": 7})")), "\"cmd\" must be a string");
}

TEST(Dispatch, UnknownCmdIsAnError) {
  FakeTarget target;
  EXPECT_TRUE(error_of(handle_request(target, R"({"cmd": "reboot"})")).starts_with("unknown cmd \"reboot\""));
}

TEST(Dispatch, NetCommandsNeedAStringIdAndAKnownValue) {
  FakeTarget target;
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"net-link","state":"up"})")), "missing \"id\"");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"net-link","id":0,"state":"up"})")), "\"id\" must be a string");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"net-link","id":"net0","state":true})")),
            "\"state\" must be a string");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"net-link","id":"net0","state":"sideways"})")),
            "\"state\": \"sideways\" is not one of up, down");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"net-backend","id":"net0","backend":"dpdk"})")),
            "\"backend\": \"dpdk\" is not one of inprocess, vhost");
  EXPECT_TRUE(target.calls().empty());
}

TEST(Dispatch, CountersIdMustBeAString) {
  FakeTarget target;
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"counters","id":null})")), "\"id\" must be a string");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"queues","id":3})")), "\"id\" must be a string");
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"queues","queue":3})")), "unknown field \"queue\" for queues");
}

TEST(Dispatch, UnknownFieldIsAnError) {
  FakeTarget target;
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"counters","ID":"blk0"})")), "unknown field \"ID\" for counters");
}

TEST(Dispatch, TargetErrorsBecomeErrorReplies) {
  FakeTarget target;
  EXPECT_EQ(error_of(handle_request(target, R"({"cmd":"net-link","id":"net9","state":"up"})")), "no device \"net9\"");
}

TEST(Dispatch, DeeplyNestedInputIsAnErrorNotACrash) {
  FakeTarget target;
  const std::string deep = std::string(60000, '[') + std::string(60000, ']');
  EXPECT_EQ(error_of(handle_request(target, deep)), "a request must be a JSON object");
}

TEST(Dispatch, InvalidUtf8IsRejectedAndTheReplyStillSerializes) {
  FakeTarget target;
  const json reply = handle_request(target, "{\"cmd\": \"\xff\xfe\"}");
  EXPECT_TRUE(error_of(reply).starts_with("malformed JSON"));
  EXPECT_NO_THROW((void)reply_line(reply));
  EXPECT_TRUE(reply_line(reply).ends_with("}\n"));
}

}  // namespace
}  // namespace franca::api
