// --disk and --console: the shared key=value grammar, and one clear error per mistake.
#include "vmm/device_options.h"

#include <gtest/gtest.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>

#include <initializer_list>
#include <vector>

#include "vmm/cli.h"

namespace franca {
namespace {

std::string disk_error(std::string_view text) {
  auto r = parse_disk_option(text);
  EXPECT_FALSE(r.has_value());
  return r ? "" : r.error().message;
}

Result<CliAction> parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"franca", "--kernel", "bz"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_cli(static_cast<int>(argv.size()), argv.data());
}

TEST(DiskOption, ParsesEveryKey) {
  auto d = parse_disk_option("path=a.img,readonly=on,serial=abc,queues=2,transport=mmio,features=-discard,-flush");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->block.path, "a.img");
  EXPECT_TRUE(d->block.readonly);
  EXPECT_EQ(d->block.serial, "abc");
  EXPECT_EQ(d->block.queues, 2);
  EXPECT_EQ(d->transport, Transport::kMmio);
  EXPECT_EQ(d->block.feature_mask, (uint64_t{1} << VIRTIO_BLK_F_DISCARD) | (uint64_t{1} << VIRTIO_BLK_F_FLUSH));
}

TEST(DiskOption, TransportDefaultsToPciAndAcceptsBoth) {
  EXPECT_EQ(parse_disk_option("a.img")->transport, Transport::kPci);
  EXPECT_EQ(parse_disk_option("a.img,transport=pci")->transport, Transport::kPci);
  EXPECT_EQ(parse_disk_option("a.img,transport=mmio")->transport, Transport::kMmio);
  EXPECT_EQ(parse_console_option("none")->transport, Transport::kPci);
  EXPECT_EQ(parse_console_option("none,transport=mmio")->transport, Transport::kMmio);
}

TEST(DiskOption, BarePathIsThePath) {
  auto d = parse_disk_option("a.img");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->block.path, "a.img");
  EXPECT_FALSE(d->block.readonly);
}

TEST(DiskOption, RingFeaturesCanBeHidden) {
  auto d = parse_disk_option("path=a.img,features=-ring_packed,-event_idx");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->block.feature_mask, (uint64_t{1} << VIRTIO_F_RING_PACKED) | (uint64_t{1} << 29));
}

TEST(DiskOption, MistakesAreOneLineNamingTheFlag) {
  EXPECT_NE(disk_error("readonly=on").find("path=IMAGE is required"), std::string::npos);
  EXPECT_NE(disk_error("path=a,readonly=maybe").find("readonly=maybe"), std::string::npos);
  EXPECT_NE(disk_error("path=a,queues=0").find("queues=0"), std::string::npos);
  EXPECT_NE(disk_error("path=a,colour=red").find("unknown key 'colour'"), std::string::npos);
  EXPECT_NE(disk_error("path=a,features=-warp").find("unknown feature 'warp'"), std::string::npos);
  EXPECT_NE(disk_error("path=a,transport=usb").find("transport=usb"), std::string::npos);
  EXPECT_NE(disk_error("path=a,serial=123456789012345678901").find("at most 20"), std::string::npos);
}

TEST(ConsoleOption, ParsesEveryMode) {
  using Mode = virtio::ConsoleConfig::Mode;
  EXPECT_EQ(parse_console_option("stdio")->console.mode, Mode::kStdio);
  EXPECT_EQ(parse_console_option("pty")->console.mode, Mode::kPty);
  EXPECT_EQ(parse_console_option("none")->console.mode, Mode::kNone);
  auto f = parse_console_option("file:/tmp/x.log,transport=mmio");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->console.mode, Mode::kFile);
  EXPECT_EQ(f->console.path, "/tmp/x.log");
  auto s = parse_console_option("socket:/tmp/c.sock,features=-ring_packed");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->console.mode, Mode::kSocket);
  EXPECT_EQ(s->console.feature_mask, uint64_t{1} << VIRTIO_F_RING_PACKED);
}

TEST(ConsoleOption, UnknownModeIsAnError) {
  auto r = parse_console_option("telnet");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("--console 'telnet'"), std::string::npos);
}

TEST(Cli, DisksRepeatInOrder) {
  auto r = parse({"--disk", "path=a.img", "--disk", "path=b.img,readonly=on"});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const auto& c = std::get<VmConfig>(*r);
  ASSERT_EQ(c.disks.size(), 2u);
  EXPECT_EQ(c.disks[1].block.path, "b.img");
}

TEST(Cli, ConsoleStdioTakesTheTerminalFromTheSerialPort) {
  auto r = parse({"--console", "stdio"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(std::get<VmConfig>(*r).serial.mode, SerialConfig::Mode::kNone);
}

TEST(Cli, ConsoleStdioAndSerialStdioConflict) {
  auto r = parse({"--console", "stdio", "--serial", "stdio"});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("only one device can own the terminal"), std::string::npos);
}

TEST(Cli, ConsoleStdioKeepsAnExplicitSerialFile) {
  auto r = parse({"--console", "stdio", "--serial", "file:s.log"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(std::get<VmConfig>(*r).serial.mode, SerialConfig::Mode::kFile);
}

}  // namespace
}  // namespace franca
