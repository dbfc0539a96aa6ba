#!/usr/bin/env bash
# Installs franca's build, test and benchmark dependencies from Debian packages.
# Idempotent; skips apt-get when everything is already present.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git clang-format
  libboost-program-options-dev libspdlog-dev libfmt-dev libgtest-dev linux-libc-dev
  qemu-system-x86 busybox-static cpio kmod zstd xz-utils e2fsprogs acpica-tools
  liburing-dev clang libclang-rt-14-dev fio util-linux nlohmann-json3-dev iperf3
  liblzma-dev zlib1g-dev libzstd-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then exit 0; fi
echo "installing: ${missing[*]}"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
