// virtio-console without traffic: features, config space (its change interrupt
// through an mmio transport), back-end creation errors, and the socket, pty and
// file back-ends with real host fds.
#include "devices/virtio/console/console.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/driver_queue.h"
#include "tests/support/loop_thread.h"
#include "tests/support/probed_device.h"
#include "vmm/core/fd.h"

namespace franca::virtio {
namespace {

using franca::testing::LoopThread;
using franca::testing::ProbedDevice;
using franca::testing::ProbeOptions;
using franca::testing::TestRam;
using franca::testing::wait_until;

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "franca-console-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::unique_ptr<Console> make_console(ConsoleConfig config) {
  auto console = Console::create(config, "console0");
  EXPECT_TRUE(console.has_value()) << (console ? "" : console.error().message);
  return console ? std::move(*console) : nullptr;
}

std::unique_ptr<Console> none_console(uint64_t mask = 0) {
  return make_console({.mode = ConsoleConfig::Mode::kNone, .path = {}, .feature_mask = mask});
}

// A console started on a running loop. The loop stops before the console is
// destroyed, and the EventLoop outlives it, as in Vm.
struct Rig {
  explicit Rig(const ConsoleConfig& config) : console(make_console(config)) {
    if (console) {
      EXPECT_TRUE(console->start(loop.loop()));
    }
  }
  ~Rig() { loop.stop(); }
  LoopThread loop;
  std::shared_ptr<Console> console;
};

uint16_t read_u16(Console& console, uint64_t offset) {
  uint8_t b[2];
  console.read_config(offset, b);
  return static_cast<uint16_t>(b[0] | b[1] << 8);
}

void emerg_write(Console& console, char c) {
  const uint8_t value[4] = {static_cast<uint8_t>(c), 0, 0, 0};
  console.write_config(offsetof(virtio_console_config, emerg_wr), value);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Fd connect_to(const std::string& path) {
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) return Fd();
  return fd;
}

// Reads exactly `n` bytes from `fd` within five seconds ("" on timeout).
std::string read_n(int fd, size_t n) {
  std::string out;
  while (out.size() < n) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 5000) <= 0) return "";
    char buf[256];
    const ssize_t got = ::read(fd, buf, std::min(sizeof(buf), n - out.size()));
    if (got <= 0) return "";
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

TEST(ConsoleFeatures, OffersSizeEmergWriteAndRingFeaturesButNotMultiport) {
  auto console = none_console();
  const uint64_t offered = console->offered_features();
  EXPECT_TRUE(offered & bit(VIRTIO_CONSOLE_F_SIZE));
  EXPECT_TRUE(offered & bit(VIRTIO_CONSOLE_F_EMERG_WRITE));
  EXPECT_TRUE(offered & bit(VIRTIO_F_RING_PACKED));
  EXPECT_TRUE(offered & bit(VIRTIO_F_VERSION_1));
  EXPECT_TRUE(offered & bit(28));  // VIRTIO_RING_F_INDIRECT_DESC
  EXPECT_TRUE(offered & bit(29));  // VIRTIO_RING_F_EVENT_IDX
  EXPECT_FALSE(offered & bit(VIRTIO_CONSOLE_F_MULTIPORT));
  EXPECT_EQ(console->device_type(), uint32_t{VIRTIO_ID_CONSOLE});
  EXPECT_EQ(console->num_queues(), 2);
}

TEST(ConsoleFeatures, MaskHidesOfferedBits) {
  auto console = none_console(bit(VIRTIO_CONSOLE_F_SIZE) | bit(VIRTIO_F_RING_PACKED));
  EXPECT_FALSE(console->offered_features() & bit(VIRTIO_CONSOLE_F_SIZE));
  EXPECT_FALSE(console->offered_features() & bit(VIRTIO_F_RING_PACKED));
  EXPECT_TRUE(console->offered_features() & bit(VIRTIO_CONSOLE_F_EMERG_WRITE));
}

TEST(ConsoleFeatures, NamesAreSizeAndEmergWrite) {
  std::vector<std::string> names;
  for (const FeatureName& f : console_feature_names()) names.emplace_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"size", "emerg_write"}));
  EXPECT_EQ(console_feature_names()[0].bit, uint32_t{VIRTIO_CONSOLE_F_SIZE});
  EXPECT_EQ(console_feature_names()[1].bit, uint32_t{VIRTIO_CONSOLE_F_EMERG_WRITE});
}

TEST(ConsoleConfigSpace, ReportsDefaultSizeWithoutATerminal) {
  auto console = none_console();
  EXPECT_EQ(read_u16(*console, offsetof(virtio_console_config, cols)), 80);
  EXPECT_EQ(read_u16(*console, offsetof(virtio_console_config, rows)), 25);
}

TEST(ConsoleConfigSpace, ReadsPastTheEndAreZero) {
  auto console = none_console();
  uint8_t bytes[4] = {1, 2, 3, 4};
  console->read_config(sizeof(virtio_console_config) - 2, bytes);
  EXPECT_EQ(bytes[2], 0);
  EXPECT_EQ(bytes[3], 0);
  console->read_config(0x1000, bytes);
  EXPECT_EQ(bytes[0], 0);
}

TEST(ConsoleConfigSpace, SetSizeUpdatesColsAndRows) {
  auto console = none_console();
  console->set_size(132, 43);
  EXPECT_EQ(read_u16(*console, offsetof(virtio_console_config, cols)), 132);
  EXPECT_EQ(read_u16(*console, offsetof(virtio_console_config, rows)), 43);
}

TEST(ConsoleConfigSpace, SetSizeRaisesConfigInterruptWhenSizeNegotiated) {
  Rig rig({.mode = ConsoleConfig::Mode::kNone, .path = {}});
  auto& console = rig.console;
  TestRam ram;
  ProbedDevice dev(console, ram, rig.loop.loop());
  ASSERT_TRUE(
      dev.probe({.features = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_CONSOLE_F_SIZE), .queues = ProbeOptions::rings(2)}));
  const uint32_t generation = dev.config_generation();
  console->set_size(100, 30);
  EXPECT_TRUE(wait_until([&] { return dev.signals().config == 1; }));
  EXPECT_TRUE(dev.interrupt_status() & VIRTIO_MMIO_INT_CONFIG);
  EXPECT_NE(dev.config_generation(), generation);
  EXPECT_EQ(dev.config<uint16_t>(offsetof(virtio_console_config, cols)), 100);
  dev.reset();
}

TEST(ConsoleConfigSpace, SetSizeWithoutSizeFeatureRaisesNothing) {
  Rig rig({.mode = ConsoleConfig::Mode::kNone, .path = {}});
  auto& loop = rig.loop;
  auto& console = rig.console;
  TestRam ram;
  ProbedDevice dev(console, ram, loop.loop());
  ASSERT_TRUE(dev.probe({.features = bit(VIRTIO_F_VERSION_1), .queues = ProbeOptions::rings(2)}));
  console->set_size(100, 30);
  loop.sync([] {});
  loop.sync([] {});
  EXPECT_EQ(dev.signals().config, 0);
  EXPECT_EQ(dev.interrupt_status() & VIRTIO_MMIO_INT_CONFIG, 0u);
  dev.reset();
}

TEST(ConsoleBackend, StdioReportsTheTerminalSizeOrTheDefault) {
  auto console = make_console({.mode = ConsoleConfig::Mode::kStdio, .path = {}});
  winsize ws{};
  const bool tty = isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row;
  EXPECT_EQ(read_u16(*console, offsetof(virtio_console_config, cols)), tty ? ws.ws_col : 80);
  EXPECT_EQ(read_u16(*console, offsetof(virtio_console_config, rows)), tty ? ws.ws_row : 25);
  EXPECT_EQ(console->host_path(), "");
}

TEST(ConsoleBackend, FileInMissingDirectoryIsUsageErrorNamingTheFlag) {
  auto console = Console::create({.mode = ConsoleConfig::Mode::kFile, .path = "/nonexistent/dir/out.log"}, "c0");
  ASSERT_FALSE(console.has_value());
  EXPECT_EQ(console.error().kind, ErrorKind::kUsage);
  EXPECT_NE(console.error().message.find("--console file:/nonexistent/dir/out.log"), std::string::npos);
  EXPECT_EQ(console.error().message.find('\n'), std::string::npos);
}

TEST(ConsoleBackend, SocketInMissingDirectoryIsUsageErrorNamingTheFlag) {
  auto console = Console::create({.mode = ConsoleConfig::Mode::kSocket, .path = "/nonexistent/dir/s"}, "c0");
  ASSERT_FALSE(console.has_value());
  EXPECT_EQ(console.error().kind, ErrorKind::kUsage);
  EXPECT_NE(console.error().message.find("--console socket:/nonexistent/dir/s"), std::string::npos);
}

TEST(ConsoleBackend, OverlongSocketPathIsUsageError) {
  auto console = Console::create({.mode = ConsoleConfig::Mode::kSocket, .path = "/tmp/" + std::string(200, 'x')}, "c0");
  ASSERT_FALSE(console.has_value());
  EXPECT_EQ(console.error().kind, ErrorKind::kUsage);
}

TEST(ConsoleBackend, FileTruncatedAndReceivesEmergencyWrites) {
  TempDir dir;
  const std::string path = dir.file("out.log");
  std::ofstream(path) << "old contents";
  Rig rig({.mode = ConsoleConfig::Mode::kFile, .path = path});
  auto& loop = rig.loop;
  auto& console = rig.console;
  emerg_write(*console, 'o');
  emerg_write(*console, 'k');
  loop.sync([] {});
  EXPECT_EQ(slurp(path), "ok");
  EXPECT_EQ(console->host_path(), path);
}

TEST(ConsoleBackend, EmergencyWriteIgnoredWhenMasked) {
  TempDir dir;
  const std::string path = dir.file("out.log");
  Rig rig({.mode = ConsoleConfig::Mode::kFile, .path = path, .feature_mask = bit(VIRTIO_CONSOLE_F_EMERG_WRITE)});
  auto& loop = rig.loop;
  auto& console = rig.console;
  emerg_write(*console, 'x');
  loop.sync([] {});
  EXPECT_EQ(slurp(path), "");
}

TEST(ConsoleBackend, SocketIsOwnerOnlyAndRemovedOnDestroy) {
  TempDir dir;
  const std::string path = dir.file("console.sock");
  auto console = make_console({.mode = ConsoleConfig::Mode::kSocket, .path = path});
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  console.reset();
  EXPECT_NE(stat(path.c_str(), &st), 0);
}

TEST(ConsoleBackend, SocketReplacesAStaleSocketFile) {
  TempDir dir;
  const std::string path = dir.file("console.sock");
  {
    Fd stale(socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    ASSERT_EQ(bind(stale.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }  // closed without unlink: the file stays, nobody listens
  auto console = Console::create({.mode = ConsoleConfig::Mode::kSocket, .path = path}, "c0");
  EXPECT_TRUE(console.has_value());
}

TEST(ConsoleBackend, SocketRoundTripWithOneClient) {
  TempDir dir;
  const std::string path = dir.file("console.sock");
  Rig rig({.mode = ConsoleConfig::Mode::kSocket, .path = path});
  auto& console = rig.console;
  Fd client = connect_to(path);
  ASSERT_TRUE(client.valid());

  ASSERT_EQ(::write(client.get(), "hello", 5), 5);
  EXPECT_TRUE(wait_until([&] { return console->buffered_input() == 5; }));
  ASSERT_TRUE(wait_until([&] {  // the accept may still be in flight
    emerg_write(*console, '!');
    pollfd p{.fd = client.get(), .events = POLLIN, .revents = 0};
    return poll(&p, 1, 20) == 1;
  }));
  EXPECT_EQ(read_n(client.get(), 1), "!");
}

TEST(ConsoleBackend, SocketDropsOutputWithoutClientAndServesTheNextClient) {
  TempDir dir;
  const std::string path = dir.file("console.sock");
  Rig rig({.mode = ConsoleConfig::Mode::kSocket, .path = path});
  auto& loop = rig.loop;
  auto& console = rig.console;
  emerg_write(*console, 'a');
  uint64_t dropped = 0;
  loop.sync([&] { dropped = console->dropped_output(); });
  EXPECT_EQ(dropped, 1u);

  Fd first = connect_to(path);
  ASSERT_TRUE(first.valid());
  ASSERT_EQ(::write(first.get(), "1", 1), 1);
  ASSERT_TRUE(wait_until([&] { return console->buffered_input() == 1; }));
  first.reset();
  Fd second = connect_to(path);
  ASSERT_TRUE(second.valid());
  ASSERT_EQ(::write(second.get(), "2", 1), 1);
  EXPECT_TRUE(wait_until([&] { return console->buffered_input() == 2; }));
}

TEST(ConsoleBackend, PtyCarriesBytesBothWays) {
  Rig rig({.mode = ConsoleConfig::Mode::kPty, .path = {}});
  auto& console = rig.console;
  ASSERT_EQ(console->host_path().rfind("/dev/pts/", 0), 0u) << console->host_path();
  Fd slave(open(console->host_path().c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(slave.valid());

  ASSERT_EQ(::write(slave.get(), "abc\n", 4), 4);
  EXPECT_TRUE(wait_until([&] { return console->buffered_input() == 4; }));  // raw: no echo, no line edits
  emerg_write(*console, 'Q');
  EXPECT_EQ(read_n(slave.get(), 1), "Q");
}

TEST(ConsoleInput, BufferIsBoundedAndKeepsInputBeforeActivation) {
  auto console = none_console();
  std::vector<uint8_t> bytes(Console::kInputCapacity + 100, 'x');
  EXPECT_EQ(console->input(bytes), Console::kInputCapacity);
  EXPECT_EQ(console->buffered_input(), Console::kInputCapacity);
  EXPECT_EQ(console->input(bytes), 0u);
}

}  // namespace
}  // namespace franca::virtio
