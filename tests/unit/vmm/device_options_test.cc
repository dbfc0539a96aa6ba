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

TEST(DeviceCommon, IdSlotAndRemovableOnEveryDevice) {
  auto d = parse_disk_option("a.img,id=data-1,slot=7,removable=off");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->id, "data-1");
  EXPECT_EQ(d->slot, 7u);
  EXPECT_FALSE(d->removable);
  auto n = parse_net_option("tap=t0,id=uplink");
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_EQ(n->id, "uplink");
  EXPECT_FALSE(n->slot.has_value());
  EXPECT_TRUE(n->removable);
  EXPECT_EQ(parse_console_option("pty,slot=31")->slot, 31u);
  EXPECT_EQ(parse_balloon_option("size=1,id=b")->id, "b");
}

TEST(DeviceCommon, BadValuesGetOneLine) {
  EXPECT_EQ(disk_error("a.img,slot=0"), "--disk slot=0: expected a number from 1 to 31");
  EXPECT_EQ(disk_error("a.img,slot=32"), "--disk slot=32: expected a number from 1 to 31");
  EXPECT_EQ(disk_error("a.img,id=a/b"), "--disk id=a/b: 1-16 letters, digits, '-' or '_'");
  EXPECT_EQ(disk_error("a.img,id="), "--disk id=: 1-16 letters, digits, '-' or '_'");
  EXPECT_EQ(disk_error("a.img,removable=maybe"), "--disk removable=maybe: expected on or off");
  EXPECT_EQ(disk_error("a.img,transport=mmio,slot=3"),
            "--disk: slot= and removable= are PCI keys (transport=mmio has no slots)");
  EXPECT_EQ(disk_error("a.img,transport=mmio,removable=off"),
            "--disk: slot= and removable= are PCI keys (transport=mmio has no slots)");
  EXPECT_EQ(disk_error("a.img,colour=red"),
            "--disk: unknown key 'colour' (known: path, readonly, serial, queues, transport, id, slot, removable, "
            "features)");
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

namespace franca {
namespace {

TEST(BalloonOption, ParsesEveryKey) {
  auto b = parse_balloon_option(
      "size=64,deflate_on_oom=on,free_page_reporting=on,stats_period=5,transport=mmio,features=-stats_vq");
  ASSERT_TRUE(b.has_value()) << b.error().message;
  EXPECT_EQ(b->balloon.size_mib, 64u);
  EXPECT_TRUE(b->balloon.deflate_on_oom);
  EXPECT_TRUE(b->balloon.free_page_reporting);
  EXPECT_EQ(b->balloon.stats_period_s, 5u);
  EXPECT_EQ(b->transport, Transport::kMmio);
  EXPECT_EQ(b->balloon.feature_mask, uint64_t{1} << 1);
}

TEST(BalloonOption, DefaultsAndShortForms) {
  for (const char* text : {"", "on"}) {
    auto b = parse_balloon_option(text);
    ASSERT_TRUE(b.has_value()) << text;
    EXPECT_EQ(b->balloon.size_mib, 0u);
    EXPECT_FALSE(b->balloon.deflate_on_oom);
    EXPECT_FALSE(b->balloon.free_page_reporting);
    EXPECT_EQ(b->balloon.stats_period_s, 0u);
    EXPECT_EQ(b->transport, Transport::kPci);
  }
  auto bare = parse_balloon_option("128M");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->balloon.size_mib, 128u);
}

TEST(BalloonOption, MistakesAreOneLineNamingTheFlag) {
  for (const char* text : {"size=lots", "size=-1", "stats_period=1h", "deflate_on_oom=maybe", "hint=on",
                           "features=-free_page_hint", "transport=usb"}) {
    auto b = parse_balloon_option(text);
    ASSERT_FALSE(b.has_value()) << text;
    EXPECT_TRUE(b.error().message.starts_with("--balloon")) << b.error().message;
    EXPECT_EQ(b.error().message.find('\n'), std::string::npos);
  }
}

TEST(Cli, BalloonLargerThanMemoryIsRefused) {
  auto r = parse({"--memory", "256M", "--balloon", "size=300"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "--balloon size=300: more than the guest's --memory of 256 MiB");
  auto ok = parse({"--memory", "256M", "--balloon", "size=200"});
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(std::get<VmConfig>(*ok).balloon->balloon.size_mib, 200u);
}

TEST(VfioOption, PathBdfAndFailoverPair) {
  auto v = parse_vfio_option("0000:01:00.0,id=nic,failover_pair=net0");
  ASSERT_TRUE(v.has_value()) << v.error().message;
  EXPECT_EQ(v->path, "/sys/bus/pci/devices/0000:01:00.0");
  EXPECT_EQ(v->id, "nic");
  EXPECT_EQ(v->failover_pair, "net0");
  EXPECT_EQ(parse_vfio_option("path=/sys/bus/pci/devices/0000:02:00.0")->failover_pair, "");
  EXPECT_EQ(parse_vfio_option("0000:01:00.0,failover_pair=net0,removable=off").error().message,
            "--vfio failover_pair= with removable=off: a failover primary is plugged and unplugged");
  EXPECT_EQ(parse_vfio_option("0000:01:00.0,features=-x").error().message, "--vfio: features= is for virtio devices");
  EXPECT_EQ(parse_vfio_option("0000:01:00.0,transport=mmio").error().message,
            "--vfio: transport=mmio: a passed-through device is PCI");
}

TEST(NetOption, FailoverOffersStandbyAndPairsAreChecked) {
  auto n = parse_net_option("tap=t0,mac=52:54:00:fa:00:01,failover=on");
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_TRUE(n->net.failover);
  EXPECT_FALSE(parse_net_option("tap=t0")->net.failover);
  EXPECT_EQ(parse_net_option("tap=t0,failover=maybe").error().message, "--net failover=maybe: expected on or off");
  auto masked = parse_net_option("tap=t0,features=-standby");
  ASSERT_TRUE(masked.has_value()) << masked.error().message;
  EXPECT_NE(masked->net.feature_mask, 0u);

  auto error_of = [](std::initializer_list<const char*> args) {
    auto r = parse(args);
    return r ? std::string{} : r.error().message;
  };
  EXPECT_EQ(
      error_of({"--net", "tap=t0,mac=52:54:00:fa:00:01,failover=on", "--vfio", "0000:01:00.0,failover_pair=net0"}), "");
  EXPECT_EQ(error_of({"--net", "tap=t0,mac=52:54:00:fa:00:01", "--vfio", "0000:01:00.0,failover_pair=net0"}),
            "--vfio failover_pair=net0: that --net is not a standby (give it failover=on)");
  EXPECT_EQ(error_of({"--vfio", "0000:01:00.0,failover_pair=net3"}),
            "--vfio failover_pair=net3: no --net with that id");
  EXPECT_EQ(error_of({"--net", "tap=t0,failover=on"}),
            "--net failover=on: give mac= (the primary's MAC: the guest pairs the two by it)");
  EXPECT_EQ(error_of({"--net", "tap=t0,mac=52:54:00:fa:00:01,failover=on", "--vfio", "0000:01:00.0,failover_pair=net0",
                      "--vfio", "0000:02:00.0,failover_pair=net0"}),
            "--vfio failover_pair=net0: two primaries for one standby");
}

}  // namespace
}  // namespace franca
