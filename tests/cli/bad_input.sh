#!/usr/bin/env bash
# Bad user input: franca prints exactly one "franca: ..." line naming the input,
# exits 2 (usage) or 1 (host), and never crashes. Needs no KVM.
# usage: bad_input.sh FRANCA_BIN KERNEL
set -uo pipefail
franca=$1 kernel=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CACHE_HOME=$work/xdg  # franca's kernel cache (--kernel-cache), not the user's
head -c 600 "$kernel" >"$work/truncated"
yes 'not a kernel at all' | head -c 8192 >"$work/text"
# An ELF that is not a 64-bit x86 executable: the ELF magic, class 1 (32-bit).
{ printf '\177ELF\001\001\001'; head -c 8185 /dev/zero; } >"$work/elf32"
python_free_old_protocol() {  # a bzImage header claiming boot protocol 2.06
  cp "$kernel" "$work/old"
  printf '\x06\x02' | dd of="$work/old" bs=1 seek=$((0x206)) conv=notrunc 2>/dev/null
}
python_free_old_protocol
head -c $((300 << 20)) /dev/zero >"$work/big-initrd" 2>/dev/null || truncate -s 300M "$work/big-initrd"
failures=0
# expect STATUS PATTERN ARGS...: runs franca, checks status, one line, and the pattern.
expect() {
  local want=$1 pattern=$2; shift 2
  local out rc
  out=$("$franca" "$@" 2>&1 </dev/null); rc=$?
  local lines; lines=$(printf '%s\n' "$out" | grep -c .)
  if [[ $rc -ne $want || $lines -ne 1 || $out != *"$pattern"* || $out != franca:* ]]; then
    echo "FAIL: franca $* -> status $rc (want $want), output: $out"
    failures=$((failures + 1))
  else
    echo "ok: status $rc: $out"
  fi
}
expect 2 "--kernel PATH is required" --memory 256M
expect 2 "No such file or directory" --kernel "$work/missing"
expect 2 "Is a directory" --kernel "$work"
expect 2 "not a bzImage (no boot flag 0xAA55 at 0x1fe) nor an ELF vmlinux" --kernel "$work/text"
expect 2 "truncated" --kernel "$work/truncated"
expect 2 "vmlinux: not a 64-bit x86 ELF executable" --kernel "$work/elf32"
expect 2 "boot protocol 2.06 too old" --kernel "$work/old"
expect 2 "--initrd" --kernel "$kernel" --initrd "$work/missing"
expect 2 "--memory" --kernel "$kernel" --memory lots
expect 2 "too small" --kernel "$kernel" --memory 8M
expect 2 "more than this host" --kernel "$kernel" --memory 64T
expect 2 "--cpus" --kernel "$kernel" --cpus 0
expect 2 "--cpus" --kernel "$kernel" --cpus 100000
expect 2 "--serial" --kernel "$kernel" --serial bogus
expect 2 "unrecognised option" --kernel "$kernel" --bogus
# Devices: image and console problems are found before any KVM call.
truncate -s 1M "$work/disk.img"
truncate -s 1000 "$work/odd.img"
expect 2 "--disk path=$work/missing.img" --kernel "$kernel" --disk "path=$work/missing.img"
expect 2 "--disk path=$work" --kernel "$kernel" --disk "path=$work"
expect 2 "multiple of 512" --kernel "$kernel" --disk "path=$work/odd.img"
expect 2 "unknown key 'colour'" --kernel "$kernel" --disk "path=$work/disk.img,colour=red"
expect 2 "unknown feature 'warp'" --kernel "$kernel" --disk "path=$work/disk.img,features=-warp"
expect 2 "--console" --kernel "$kernel" --console "file:$work/no/such/dir/log"
expect 2 "--console" --kernel "$kernel" --console telnet
expect 2 "only one device can own the terminal" --kernel "$kernel" --console stdio --serial stdio
# virtio-net options: found before any host access.
expect 2 "tap=NAME or fd=N" --kernel "$kernel" --net mac=52:54:00:00:00:01
expect 2 "mac=zz" --kernel "$kernel" --net tap=fbad0,mac=zz
expect 2 "queues=0" --kernel "$kernel" --net tap=fbad0,queues=0
expect 2 "backend=bogus" --kernel "$kernel" --net tap=fbad0,backend=bogus
expect 2 "--balloon size=9999: more than the guest's --memory of 512 MiB" --kernel "$kernel" --balloon size=9999
expect 2 "--balloon: unknown key 'hint'" --kernel "$kernel" --balloon hint=on
expect 2 "--balloon stats_period=x" --kernel "$kernel" --balloon stats_period=x
expect 2 "fd=999: not an open file descriptor" --kernel "$kernel" --net fd=999
# A kernel whose compressed payload is damaged 1 MiB in (setup_sects at 0x1f1,
# payload_offset at 0x248): one line from the host-side decompressor.
setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$kernel") payload=$(od -An -tu4 -j $((0x248)) -N4 "$kernel")
cp "$kernel" "$work/damaged"
dd if=/dev/zero of="$work/damaged" bs=4096 count=1 seek=$(( ((setup_sects + 1) * 512 + payload + (1 << 20)) / 4096 )) \
  conv=notrunc 2>/dev/null
expect 2 "--kernel: corrupt XZ data" --kernel "$work/damaged" --kernel-cache "$work/kcache"
expect 2 "--kernel-cache: give a directory, or off" --kernel "$kernel" --kernel-cache ""
# backend=vhost where /dev/vhost-net is missing (root: tap= may create a TAP, so
# in a network namespace of its own).
if [[ ! -e /dev/vhost-net && -c /dev/kvm && $(id -u) == 0 ]] && unshare --net true 2>/dev/null; then
  printf '#!/bin/sh\nexec unshare --net -- %q "$@"\n' "$franca" >"$work/franca-netns"
  chmod +x "$work/franca-netns"
  real_franca=$franca franca=$work/franca-netns
  expect 2 "/dev/vhost-net" --kernel "$kernel" --memory 128M --net tap=fbad0,backend=vhost
  franca=$real_franca
fi
# KVM-PVM (/sys/module/kvm_pvm) cannot boot a stock kernel: franca refuses it
# in one line instead of hanging. FRANCA_ALLOW_PVM=1 lets the KVM-only checks
# below get past that refusal (they never need the guest to boot).
if [[ -c /dev/kvm && -d /sys/module/kvm_pvm ]]; then
  expect 1 "KVM-PVM (/sys/module/kvm_pvm)" --kernel "$kernel" --memory 128M
  export FRANCA_ALLOW_PVM=1
fi
# A disk locked by another franca (a running guest holds the lock; needs KVM).
if [[ -c /dev/kvm ]]; then
"$franca" --kernel "$kernel" --disk "path=$work/disk.img" --memory 128M --timeout 30 --serial none \
  >/dev/null 2>&1 </dev/null &
holder=$!
sleep 2  # past Block::create (the kernel panics much later, with no initrd)
expect 2 "locked" --kernel "$kernel" --disk "path=$work/disk.img"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
fi
if [[ ! -e /dev/kvm ]]; then
  expect 1 "/dev/kvm: not present" --kernel "$kernel" --memory 128M
fi
if [[ -c /dev/kvm ]]; then  # needs KVM to get past the host checks
  expect 2 "does not fit" --kernel "$kernel" --initrd "$work/big-initrd" --memory 256M
fi
exit $((failures > 0))
