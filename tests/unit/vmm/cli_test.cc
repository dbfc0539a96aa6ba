// CLI parsing: defaults, each option, and one clear usage error per mistake.
#include "vmm/cli.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

namespace franca {
namespace {

Result<CliAction> parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"franca"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_cli(static_cast<int>(argv.size()), argv.data());
}

VmConfig config_of(const Result<CliAction>& r) {
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return std::get<VmConfig>(*r);
}

std::string error_of(const Result<CliAction>& r) {
  EXPECT_FALSE(r.has_value());
  if (r) return "";
  EXPECT_EQ(r.error().kind, ErrorKind::kUsage);
  return r.error().message;
}

TEST(Cli, DefaultsAreOneCpu512MAndSerialOnStdio) {
  auto c = config_of(parse({"--kernel", "bz"}));
  EXPECT_EQ(c.kernel, "bz");
  EXPECT_EQ(c.cpus, 1u);
  EXPECT_EQ(c.memory, 512 * kMiB);
  EXPECT_EQ(c.serial.mode, SerialConfig::Mode::kStdio);
  EXPECT_FALSE(c.timeout_seconds.has_value());
}

TEST(Cli, ParsesEveryOption) {
  auto c =
      config_of(parse({"--kernel", "bz", "--initrd", "rd", "--cmdline", "console=ttyS0 quiet", "--cpus", "4",
                       "--memory", "2G", "--serial", "file:/tmp/x.log", "--timeout", "1.5", "--log-level", "debug"}));
  EXPECT_EQ(c.initrd, "rd");
  EXPECT_EQ(c.cmdline, "console=ttyS0 quiet");
  EXPECT_EQ(c.cpus, 4u);
  EXPECT_EQ(c.memory, 2 * kGiB);
  EXPECT_EQ(c.serial.mode, SerialConfig::Mode::kFile);
  EXPECT_EQ(c.serial.path, "/tmp/x.log");
  EXPECT_DOUBLE_EQ(*c.timeout_seconds, 1.5);
  EXPECT_EQ(c.log_level, spdlog::level::debug);
}

TEST(Cli, DeviceIdsAndSlotsAreUnique) {
  EXPECT_EQ(error_of(parse({"--kernel", "bz", "--disk", "a.img,id=x", "--net", "tap=t0,id=x"})),
            "two devices have id=x");
  EXPECT_EQ(error_of(parse({"--kernel", "bz", "--disk", "a.img", "--disk", "b.img,id=blk0"})),
            "two devices have id=blk0");
  EXPECT_EQ(error_of(parse({"--kernel", "bz", "--disk", "a.img,slot=4", "--console", "pty,slot=4"})),
            "two devices have slot=4");
  auto ok = parse(
      {"--kernel", "bz", "--disk", "a.img,id=root,slot=5,removable=off", "--disk", "b.img", "--net", "tap=t0,slot=6"});
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
}

TEST(Cli, HelpPrintsUsageAndExitStatusTable) {
  auto r = parse({"--help"});
  ASSERT_TRUE(r.has_value());
  const auto& text = std::get<ShowText>(*r).text;
  EXPECT_NE(text.find("--kernel"), std::string::npos);
  EXPECT_NE(text.find("EXIT STATUS"), std::string::npos);
}

TEST(Cli, MissingKernelIsAUsageError) { EXPECT_NE(error_of(parse({})).find("--kernel"), std::string::npos); }
TEST(Cli, ZeroCpusIsRejected) {
  EXPECT_NE(error_of(parse({"--kernel", "k", "--cpus", "0"})).find("--cpus"), std::string::npos);
}
TEST(Cli, TooManyCpusIsRejected) {
  EXPECT_NE(error_of(parse({"--kernel", "k", "--cpus", "999"})).find("--cpus"), std::string::npos);
}
TEST(Cli, NonNumericCpusIsRejected) {
  EXPECT_NE(error_of(parse({"--kernel", "k", "--cpus", "two"})).find("not a number"), std::string::npos);
}
TEST(Cli, NegativeCpusIsRejected) {
  EXPECT_NE(error_of(parse({"--kernel", "k", "--cpus", "-1"})).find("--cpus"), std::string::npos);
}
TEST(Cli, UnparseableMemoryIsRejected) {
  EXPECT_NE(error_of(parse({"--kernel", "k", "--memory", "lots"})).find("--memory"), std::string::npos);
}
TEST(Cli, TinyMemoryIsRejected) {
  EXPECT_NE(error_of(parse({"--kernel", "k", "--memory", "1M"})).find("too small"), std::string::npos);
}
TEST(Cli, BadSerialIsRejected) {
  EXPECT_NE(error_of(parse({"--kernel", "k", "--serial", "tcp:1"})).find("--serial"), std::string::npos);
}
TEST(Cli, BadTimeoutIsRejected) {
  EXPECT_NE(error_of(parse({"--kernel", "k", "--timeout", "-3"})).find("--timeout"), std::string::npos);
}
TEST(Cli, BadLogLevelIsRejected) {
  EXPECT_NE(error_of(parse({"--kernel", "k", "--log-level", "loud"})).find("--log-level"), std::string::npos);
}
TEST(Cli, UnknownOptionIsRejected) {
  EXPECT_NE(error_of(parse({"--kernel", "k", "--frobnicate"})).find("frobnicate"), std::string::npos);
}
TEST(Cli, MissingValueIsRejected) { EXPECT_FALSE(parse({"--kernel"}).has_value()); }

}  // namespace
}  // namespace franca
