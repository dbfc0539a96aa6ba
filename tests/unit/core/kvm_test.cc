// Opening KVM fails with one clear host error when the device is missing.
#include "vmm/core/kvm.h"

#include <gtest/gtest.h>

namespace franca {
namespace {

TEST(Kvm, MissingDeviceIsAHostErrorNamingThePath) {
  auto kvm = Kvm::open("/nonexistent/kvm");
  ASSERT_FALSE(kvm);
  EXPECT_EQ(kvm.error().kind, ErrorKind::kHost);
  EXPECT_NE(kvm.error().message.find("/nonexistent/kvm: not present"), std::string::npos);
}

TEST(Kvm, NonKvmDeviceIsRejected) {
  auto kvm = Kvm::open("/dev/null");
  ASSERT_FALSE(kvm);
  EXPECT_NE(kvm.error().message.find("/dev/null"), std::string::npos);
}

}  // namespace
}  // namespace franca
