// The Ctrl-A escape filter.
#include "vmm/host_terminal.h"

#include <gtest/gtest.h>

namespace franca {
namespace {

TEST(EscapeFilter, PassesOrdinaryBytes) {
  EscapeFilter f([] { FAIL(); });
  const std::vector<uint8_t> in{'l', 's', '\r'};
  EXPECT_EQ(f.filter(in), in);
}

TEST(EscapeFilter, CtrlAXQuitsAndSwallowsTheSequence) {
  int quits = 0;
  EscapeFilter f([&] { ++quits; });
  EXPECT_TRUE(f.filter(std::vector<uint8_t>{0x01}).empty());
  EXPECT_TRUE(f.filter(std::vector<uint8_t>{'x'}).empty());
  EXPECT_EQ(quits, 1);
}

TEST(EscapeFilter, DoubleCtrlASendsOneCtrlA) {
  EscapeFilter f([] { FAIL(); });
  EXPECT_EQ(f.filter(std::vector<uint8_t>{0x01, 0x01, 'a'}), (std::vector<uint8_t>{0x01, 'a'}));
}

TEST(EscapeFilter, CtrlAThenOtherKeyForwardsBoth) {
  EscapeFilter f([] { FAIL(); });
  EXPECT_EQ(f.filter(std::vector<uint8_t>{0x01, 'c'}), (std::vector<uint8_t>{0x01, 'c'}));
}

}  // namespace
}  // namespace franca
