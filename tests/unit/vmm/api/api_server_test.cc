// The control socket server over a real unix socket in a temp dir, with a fake
// target: round trips, bad requests keep the connection, limits, socket file life.
#include "vmm/api/api_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "tests/unit/vmm/api/fake_target.h"
#include "vmm/api/unix_socket.h"

namespace franca::api {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "franca-api-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "api.sock").string();
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  void start() {
    auto server = ApiServer::create(path_);
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
    server_->start(target_);
  }

  static Fd connect_to(const std::string& path) {
    auto fd = connect_unix(path);
    EXPECT_TRUE(fd) << fd.error().message;
    return fd ? std::move(*fd) : Fd();
  }

  static void send_all(const Fd& fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = send(fd.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

  // The next reply line, or "" on EOF / after 5 s.
  static std::string read_line(const Fd& fd) {
    std::string line;
    char c;
    pollfd p{fd.get(), POLLIN, 0};
    while (poll(&p, 1, 5000) == 1 && recv(fd.get(), &c, 1, 0) == 1) {
      if (c == '\n') return line;
      line += c;
    }
    return "";
  }

  static json ask(const Fd& fd, const std::string& request) {
    send_all(fd, request + "\n");
    const std::string line = read_line(fd);
    return line.empty() ? json() : json::parse(line);
  }

  // True when the server has closed `fd` within 5 s: EOF, or ECONNRESET for a
  // connection still in the backlog when the listener closed.
  static bool closed_by_server(const Fd& fd) {
    char c;
    pollfd p{fd.get(), POLLIN, 0};
    return poll(&p, 1, 5000) == 1 && recv(fd.get(), &c, 1, 0) <= 0;
  }

  fs::path dir_;
  std::string path_;
  FakeTarget target_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(ApiServerTest, EachCommandRoundTrips) {
  start();
  Fd c = connect_to(path_);
  EXPECT_EQ(ask(c, R"({"cmd":"status"})"), (json{{"ok", true}, {"state", "running"}}));
  EXPECT_EQ(ask(c, R"({"cmd":"pause"})"), (json{{"ok", true}, {"state", "paused"}}));
  EXPECT_EQ(ask(c, R"({"cmd":"status"})")["state"], "paused");
  EXPECT_EQ(ask(c, R"({"cmd":"resume"})"), (json{{"ok", true}, {"state", "running"}}));
  EXPECT_EQ(ask(c, R"({"cmd":"net-link","id":"net0","state":"down"})"),
            (json{{"ok", true}, {"id", "net0"}, {"link", "down"}}));
  EXPECT_EQ(ask(c, R"({"cmd":"net-backend","id":"net0","backend":"vhost"})")["backend"], "vhost");
  EXPECT_EQ(ask(c, R"({"cmd":"counters"})")["devices"]["blk0"]["kicks"], 3);
  EXPECT_EQ(ask(c, R"({"cmd":"counters","id":"net0"})")["devices"]["net0"]["kicks"], 3);
  EXPECT_EQ(ask(c, R"({"cmd":"shutdown"})"), (json{{"ok", true}}));
  EXPECT_EQ(target_.calls().size(), 9u);
}

TEST_F(ApiServerTest, BadRequestsGetErrorRepliesAndTheConnectionKeepsServing) {
  start();
  Fd c = connect_to(path_);
  for (const char* bad : {"{not json", "42", R"({"cmd":"fly"})", R"({"cmd":"net-link","state":"up"})",
                          R"({"cmd":"net-link","id":["net0"],"state":"up"})", R"({"cmd":"net-link","id":"blk0"})"}) {
    const json reply = ask(c, bad);
    EXPECT_EQ(reply["ok"], false) << bad;
    EXPECT_TRUE(reply["error"].is_string()) << bad;
  }
  EXPECT_EQ(ask(c, R"({"cmd":"status"})")["ok"], true);
}

TEST_F(ApiServerTest, OverlongLineGetsAnErrorAndTheClientIsDropped) {
  start();
  Fd c = connect_to(path_);
  send_all(c, std::string(ApiServer::kMaxLine + 100, ' '));
  const json reply = json::parse(read_line(c));
  EXPECT_EQ(reply["ok"], false);
  EXPECT_NE(reply["error"].get<std::string>().find("longer than 65536"), std::string::npos);
  EXPECT_TRUE(closed_by_server(c));
  Fd next = connect_to(path_);
  EXPECT_EQ(ask(next, R"({"cmd":"status"})")["ok"], true);
}

TEST_F(ApiServerTest, LineOfExactlyTheLimitIsServed) {
  start();
  Fd c = connect_to(path_);
  std::string request = R"({"cmd":"status"})";
  request += std::string(ApiServer::kMaxLine - request.size(), ' ');
  EXPECT_EQ(ask(c, request)["ok"], true);
}

TEST_F(ApiServerTest, SocketFileIsOwnerOnlyWhateverTheUmask) {
  const mode_t old = umask(0);
  auto server = ApiServer::create(path_);
  umask(old);
  ASSERT_TRUE(server) << server.error().message;
  struct stat st {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ApiServerTest, SocketFileIsRemovedWhenTheServerStops) {
  start();
  server_.reset();
  EXPECT_FALSE(fs::exists(fs::symlink_status(path_)));
}

TEST_F(ApiServerTest, TwoConcurrentClientsAreBothServed) {
  start();
  Fd a = connect_to(path_);
  Fd b = connect_to(path_);
  send_all(a, R"({"cmd":"pause"})");  // a's request is incomplete while b asks
  EXPECT_EQ(ask(b, R"({"cmd":"status"})")["ok"], true);
  send_all(a, "\n");
  EXPECT_EQ(json::parse(read_line(a))["state"], "paused");
  EXPECT_EQ(ask(b, R"({"cmd":"status"})")["state"], "paused");
}

TEST_F(ApiServerTest, ClientsOneAfterAnotherAreServed) {
  start();
  for (int i = 0; i < 3; ++i) {
    Fd c = connect_to(path_);
    EXPECT_EQ(ask(c, R"({"cmd":"status"})")["ok"], true);
  }
}

TEST_F(ApiServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  Fd c = connect_to(path_);
  send_all(c, "{\"cmd\":\"pause\"}\n\n{\"cmd\":\"resume\"}\r\n{\"cmd\":\"status\"}\n");
  EXPECT_EQ(json::parse(read_line(c))["state"], "paused");
  EXPECT_EQ(json::parse(read_line(c))["state"], "running");
  EXPECT_EQ(json::parse(read_line(c))["state"], "running");
}

TEST_F(ApiServerTest, HalfClosedClientStillGetsItsReply) {
  start();
  Fd c = connect_to(path_);
  send_all(c, R"({"cmd":"status"})");  // no newline: the end of input ends the request
  shutdown(c.get(), SHUT_WR);
  EXPECT_EQ(json::parse(read_line(c))["ok"], true);
  EXPECT_TRUE(closed_by_server(c));
}

TEST_F(ApiServerTest, ClientBeyondTheCapIsToldAndClosed) {
  start();
  std::vector<Fd> clients;
  for (size_t i = 0; i < ApiServer::kMaxClients; ++i) {
    clients.push_back(connect_to(path_));
    ASSERT_EQ(ask(clients.back(), R"({"cmd":"status"})")["ok"], true);
  }
  Fd extra = connect_to(path_);
  const json reply = json::parse(read_line(extra));
  EXPECT_EQ(reply["ok"], false);
  EXPECT_TRUE(closed_by_server(extra));
  clients.pop_back();  // a slot frees up once the server has seen the close
  bool served = false;
  for (int attempt = 0; attempt < 200 && !served; ++attempt) {
    Fd later = connect_to(path_);
    served = ask(later, R"({"cmd":"status"})")["ok"] == true;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(served);
}

TEST_F(ApiServerTest, StaleSocketFileIsReplaced) {
  {
    auto stale = listen_owner_only(path_, "stale");  // a listener that dies without unlinking
    ASSERT_TRUE(stale);
  }
  ASSERT_TRUE(fs::exists(fs::symlink_status(path_)));
  start();
  Fd c = connect_to(path_);
  EXPECT_EQ(ask(c, R"({"cmd":"status"})")["ok"], true);
}

TEST_F(ApiServerTest, LiveSocketIsRefusedAndKept) {
  start();
  auto second = ApiServer::create(path_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind, ErrorKind::kUsage);
  EXPECT_EQ(second.error().message, "--api-socket " + path_ + ": another process is listening on it");
  Fd c = connect_to(path_);
  EXPECT_EQ(ask(c, R"({"cmd":"status"})")["ok"], true);
}

TEST_F(ApiServerTest, RegularFileAtThePathIsRefused) {
  {
    std::FILE* f = std::fopen(path_.c_str(), "w");
    std::fclose(f);
  }
  auto server = ApiServer::create(path_);
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().message, "--api-socket " + path_ + ": exists and is not a socket");
}

TEST_F(ApiServerTest, OverlongPathIsAUsageError) {
  auto server = ApiServer::create("/" + std::string(200, 'x'));
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().kind, ErrorKind::kUsage);
}

TEST_F(ApiServerTest, StopIsPromptWithIdleClientsConnected) {
  start();
  Fd a = connect_to(path_);
  Fd b = connect_to(path_);
  send_all(b, R"({"cmd":"sta)");
  const auto t0 = std::chrono::steady_clock::now();
  server_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));  // woken by the eventfd, not a timeout
  EXPECT_TRUE(closed_by_server(a));
}

}  // namespace
}  // namespace franca::api
