// Opening KVM fails with one clear host error when the device is missing, and
// KVM-PVM (which cannot boot a stock kernel) is recognised.
#include "vmm/core/kvm.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

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

// A fake /sys/module holding the named module directories.
class FakeSysModule {
 public:
  explicit FakeSysModule(std::initializer_list<const char*> modules) {
    char tmpl[] = "/tmp/franca-sysmod.XXXXXX";
    dir_ = mkdtemp(tmpl);
    for (const char* m : modules) std::filesystem::create_directories(dir_ + "/" + m + "/parameters");
  }
  ~FakeSysModule() { std::filesystem::remove_all(dir_); }
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
};

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

// KVM_CPUID_SIGNATURE: "KVMKVMKVM", max leaf 0x40000001 (what a hardware KVM reports).
const std::vector<kvm_cpuid_entry2> kHardwareKvmCpuid = {leaf(0x40000000, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d),
                                                         leaf(0x40000001, 0x01007efb, 0, 0, 0)};

TEST(KvmPvm, HardwareKvmIsNotPvm) {
  FakeSysModule sys({"kvm", "kvm_amd"});
  EXPECT_FALSE(kvm_pvm_evidence(sys.path(), kHardwareKvmCpuid));
}

TEST(KvmPvm, LoadedKvmPvmModuleIsPvmAndNamed) {
  FakeSysModule sys({"kvm", "kvm_pvm"});
  auto evidence = kvm_pvm_evidence(sys.path(), kHardwareKvmCpuid);
  ASSERT_TRUE(evidence);
  EXPECT_NE(evidence->find("kvm_pvm"), std::string::npos);
}

TEST(KvmPvm, PvmCpuidSignatureIsPvmWithoutTheModule) {
  FakeSysModule sys({"kvm"});
  auto cpuid = kHardwareKvmCpuid;
  cpuid[0].eax = 0x40000002;
  cpuid.push_back(leaf(0x40000002, 0, 0x4d5650, 0, 0));  // EBX "PVM\0"
  auto evidence = kvm_pvm_evidence(sys.path(), cpuid);
  ASSERT_TRUE(evidence);
  EXPECT_NE(evidence->find("CPUID"), std::string::npos);
}

}  // namespace
}  // namespace franca
