// `franca ctl`: argument parsing into one request, and the exit status against a
// real server with a fake target (0 ok, 1 error reply or unreachable, 2 usage).
#include "vmm/api/ctl_client.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/unit/vmm/api/fake_target.h"
#include "vmm/api/api_server.h"

namespace franca::api {
namespace {

using json = nlohmann::json;

json request_of(const std::vector<std::string>& args) {
  auto action = parse_ctl_args(args);
  EXPECT_TRUE(action) << (action ? "" : action.error().message);
  if (!action || !std::holds_alternative<CtlRequest>(*action)) return json();
  EXPECT_EQ(std::get<CtlRequest>(*action).socket_path, args[0]);
  return std::get<CtlRequest>(*action).request;
}

std::string error_of(const std::vector<std::string>& args) {
  auto action = parse_ctl_args(args);
  EXPECT_FALSE(action);
  if (action) return "";
  EXPECT_EQ(action.error().kind, ErrorKind::kUsage);
  return action.error().message;
}

TEST(CtlArgs, SimpleCommandsTakeNoArguments) {
  for (const char* cmd : {"status", "pause", "resume", "shutdown"}) {
    EXPECT_EQ(request_of({"/s", cmd}), (json{{"cmd", cmd}}));
    EXPECT_EQ(error_of({"/s", cmd, "extra"}), std::string("usage: franca ctl PATH ") + cmd);
  }
}

TEST(CtlArgs, CountersTakesAnOptionalId) {
  EXPECT_EQ(request_of({"/s", "counters"}), (json{{"cmd", "counters"}}));
  EXPECT_EQ(request_of({"/s", "counters", "blk0"}), (json{{"cmd", "counters"}, {"id", "blk0"}}));
  EXPECT_EQ(error_of({"/s", "counters", "a", "b"}), "usage: franca ctl PATH counters [ID]");
  EXPECT_EQ(request_of({"/s", "queues"}), (json{{"cmd", "queues"}}));
  EXPECT_EQ(request_of({"/s", "queues", "blk0"}), (json{{"cmd", "queues"}, {"id", "blk0"}}));
  EXPECT_EQ(error_of({"/s", "queues", "a", "b"}), "usage: franca ctl PATH queues [ID]");
}

TEST(CtlArgs, NetLinkTakesAnIdAndUpOrDown) {
  EXPECT_EQ(request_of({"/s", "net-link", "net0", "down"}),
            (json{{"cmd", "net-link"}, {"id", "net0"}, {"state", "down"}}));
  EXPECT_EQ(error_of({"/s", "net-link", "net0"}), "usage: franca ctl PATH net-link ID up|down");
  EXPECT_EQ(error_of({"/s", "net-link", "net0", "off"}), "net-link: 'off' is not one of up, down");
}

TEST(CtlArgs, NetBackendTakesAnIdAndABackend) {
  EXPECT_EQ(request_of({"/s", "net-backend", "net0", "vhost"}),
            (json{{"cmd", "net-backend"}, {"id", "net0"}, {"backend", "vhost"}}));
  EXPECT_EQ(error_of({"/s", "net-backend", "net0", "tap"}), "net-backend: 'tap' is not one of inprocess, vhost");
}

TEST(CtlArgs, BalloonTakesMibAndBalloonStatsNothing) {
  EXPECT_EQ(request_of({"/s", "balloon", "128"}), (json{{"cmd", "balloon"}, {"target_mib", 128}}));
  EXPECT_EQ(error_of({"/s", "balloon"}), "usage: franca ctl PATH balloon MIB");
  EXPECT_EQ(error_of({"/s", "balloon", "1G"}), "balloon: '1G' is not a size in MiB");
  EXPECT_EQ(request_of({"/s", "balloon-stats"}), (json{{"cmd", "balloon-stats"}}));
  EXPECT_EQ(error_of({"/s", "balloon-stats", "x"}), "usage: franca ctl PATH balloon-stats");
}

TEST(CtlArgs, RawJsonIsSentAsGiven) {
  EXPECT_EQ(request_of({"/s", R"({"cmd": "counters", "id": "blk0"})"}), (json{{"cmd", "counters"}, {"id", "blk0"}}));
  EXPECT_EQ(error_of({"/s", "{oops"}), "raw request: not valid JSON");
}

TEST(CtlArgs, MissingWordsAndUnknownCommandsAreUsageErrors) {
  EXPECT_EQ(error_of({}), "missing PATH and COMMAND");
  EXPECT_EQ(error_of({"/s"}), "missing COMMAND");
  EXPECT_EQ(error_of({"/s", "reboot"}), "unknown command 'reboot'");
}

TEST(CtlArgs, HelpAnywhereAsksForUsage) {
  EXPECT_TRUE(std::holds_alternative<CtlHelp>(*parse_ctl_args({"--help"})));
  EXPECT_TRUE(std::holds_alternative<CtlHelp>(*parse_ctl_args({"/s", "status", "-h"})));
  EXPECT_NE(std::string(ctl_usage()).find("net-backend ID inprocess|vhost"), std::string::npos);
}

class CtlRun : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "franca-ctl-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/api.sock";
    auto server = ApiServer::create(path_);
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
    server_->start(target_);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  int run(std::vector<std::string> words) {
    std::vector<const char*> argv{"franca", "ctl"};
    for (const std::string& w : words) argv.push_back(w.c_str());
    return run_ctl(static_cast<int>(argv.size()), argv.data());
  }

  std::string dir_;
  std::string path_;
  FakeTarget target_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(CtlRun, OkReplyIsPrintedPrettyAndExitsZero) {
  testing::internal::CaptureStdout();
  EXPECT_EQ(run({path_, "pause"}), 0);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "{\n  \"ok\": true,\n  \"state\": \"paused\"\n}\n");
  EXPECT_EQ(target_.calls(), std::vector<std::string>{"pause"});
}

TEST_F(CtlRun, ErrorReplyExitsOneWithTheErrorOnStderr) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(run({path_, "net-link", "net7", "up"}), 1);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "franca ctl: no device \"net7\"\n");
}

TEST_F(CtlRun, UnreachableSocketExitsOneNamingThePath) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(run({dir_ + "/missing.sock", "status"}), 1);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "franca ctl: cannot connect to " + dir_ + "/missing.sock: No such file or directory\n");
}

TEST_F(CtlRun, UsageErrorExitsTwo) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(run({path_, "pause", "now"}), 2);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("usage: franca ctl PATH COMMAND"), std::string::npos);
  EXPECT_TRUE(target_.calls().empty());
}

}  // namespace
}  // namespace franca::api
