// Size and key=value parsing.
#include "vmm/option_parse.h"

#include <gtest/gtest.h>

namespace franca {
namespace {

TEST(ParseSize, BareNumberIsMebibytes) { EXPECT_EQ(*parse_size("256", "--memory"), 256ull << 20); }
TEST(ParseSize, AcceptsUnitsInAnyCase) {
  EXPECT_EQ(*parse_size("4k", "-m"), 4096u);
  EXPECT_EQ(*parse_size("512M", "-m"), 512ull << 20);
  EXPECT_EQ(*parse_size("2GiB", "-m"), 2ull << 30);
  EXPECT_EQ(*parse_size("1GB", "-m"), 1ull << 30);
  EXPECT_EQ(*parse_size("1T", "-m"), 1ull << 40);
}
TEST(ParseSize, RejectsGarbage) {
  EXPECT_FALSE(parse_size("", "-m"));
  EXPECT_FALSE(parse_size("M", "-m"));
  EXPECT_FALSE(parse_size("12Q", "-m"));
  EXPECT_FALSE(parse_size("-5M", "-m"));
}
TEST(ParseSize, RejectsOverflow) { EXPECT_FALSE(parse_size("99999999999999999T", "-m")); }
TEST(ParseSize, ErrorNamesTheFlag) {
  EXPECT_NE(parse_size("x", "--memory").error().message.find("--memory"), std::string::npos);
}

TEST(ParseKeyValues, SplitsPairs) {
  auto kv = parse_key_values("path=/a/b,readonly=on", "--disk");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->at("path"), "/a/b");
  EXPECT_EQ(kv->at("readonly"), "on");
}
TEST(ParseKeyValues, ItemsWithoutEqualsContinueThePreviousValue) {
  auto kv = parse_key_values("path=x.img,features=-ring_packed,-event_idx,serial=abc", "--disk");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->at("features"), "-ring_packed,-event_idx");
  EXPECT_EQ(kv->at("serial"), "abc");
}

TEST(ParseKeyValues, RejectsDuplicatesAndEmptyItems) {
  EXPECT_FALSE(parse_key_values("a=1,a=2", "--disk"));
  EXPECT_FALSE(parse_key_values("a=1,,b=2", "--disk"));
  EXPECT_FALSE(parse_key_values("novalue", "--disk"));
  EXPECT_FALSE(parse_key_values("=x", "--disk"));
}

}  // namespace
}  // namespace franca
