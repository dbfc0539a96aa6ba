#!/usr/bin/env bash
# From a fresh Debian checkout to a booted guest: installs dependencies, builds
# franca, fetches the stock Debian kernel, builds a busybox initramfs and boots it.
# With a usable /dev/kvm you get an interactive shell on the serial console
# (`poweroff -f` or Ctrl-A x to leave). Without one, franca runs inside the
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

interactive=0
if [[ -c /dev/kvm && -r /dev/kvm && -w /dev/kvm && -t 0 && -z ${FRANCA_FORCE_NESTED:-} ]]; then interactive=1; fi
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
args=(--kernel "$kdir/vmlinuz" --initrd "$initrd" --cpus 2 --memory 512M --cmdline "console=ttyS0 quiet panic=-1")
echo "== booting: franca ${args[*]}"
if [[ $interactive == 1 ]]; then
  exec "$build/vmm/franca" "${args[@]}"
fi
echo "   (no usable /dev/kvm here: running inside the nested-KVM harness; this takes a minute)"
exec "$repo/tests/harness/run-on-kvm.sh" --kvm-only -- "$build/vmm/franca" "${args[@]}" --timeout 600
