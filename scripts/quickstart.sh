#!/usr/bin/env bash
# From a fresh Debian checkout to a booted guest: installs dependencies, builds
# franca, fetches the stock Debian kernel, builds a busybox initramfs and boots it.
# With a usable /dev/kvm (the harness's rule, tests/harness/kvm-host.sh: not
# KVM-PVM) and a terminal you get an interactive shell on the serial console
# (`poweroff -f` or Ctrl-A x to leave). Otherwise franca runs inside the
# nested-KVM harness, where there is no terminal: the guest greets, shows what
# it sees and powers off.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${FRANCA_BUILD:-$repo/build}
export FRANCA_BUILD=$build FRANCA_CACHE=${FRANCA_CACHE:-$build/cache}
"$repo/scripts/install-deps.sh"
echo "== building franca"
"$repo/scripts/build.sh" | tail -n 1
echo "== fetching the stock Debian kernel"
kdir=$("$repo/scripts/fetch-kernel.sh")

. "$repo/tests/harness/kvm-host.sh"
interactive=0
if kvm_usable && [[ -t 0 && -z ${FRANCA_FORCE_NESTED:-} ]]; then interactive=1; fi
init=$(mktemp)
trap 'rm -f "$init"' EXIT
cat >"$init" <<INIT
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
echo
echo "Hello from a franca guest: \$(uname -sr), \$(grep -c ^processor /proc/cpuinfo) vCPU(s),"
echo "  \$(awk '/MemTotal/ {print \$2 / 1024 " MiB RAM"}' /proc/meminfo), cmdline: \$(cat /proc/cmdline)"
if [ $interactive = 1 ]; then
  echo "Type 'poweroff -f' (or Ctrl-A x) to leave."
  setsid cttyhack sh
fi
poweroff -f
INIT
initrd=$build/cache/quickstart-initrd.gz
"$repo/tests/guest/mkinitramfs.sh" -o "$initrd" -i "$init"
args=(--kernel "$kdir/vmlinuz" --initrd "$initrd" --cpus 2 --memory 512M --cmdline "console=ttyS0 panic=-1")
echo "== booting: franca ${args[*]}"
if [[ $interactive == 1 ]]; then
  exec "$build/vmm/franca" "${args[@]}"
fi
if kvm_usable && [[ -z ${FRANCA_FORCE_NESTED:-} ]]; then
  echo "   (stdin is not a terminal: the guest greets and powers off)"
  exec "$build/vmm/franca" "${args[@]}" --timeout 600
fi
why=$(kvm_unusable_reason)
[[ -z ${FRANCA_FORCE_NESTED:-} ]] || why="FRANCA_FORCE_NESTED is set"
echo "   ($why: franca runs in a nested L1 under QEMU TCG, without a terminal)"
msg="[quickstart] L1 up: franca boots the guest now (usually 30-90 s nested; the guest kernel's messages follow)"
exec "$repo/tests/harness/run-on-kvm.sh" --kvm-only -- \
  bash -c 'echo "$0"; exec "$@"' "$msg" "$build/vmm/franca" "${args[@]}" --timeout 600
