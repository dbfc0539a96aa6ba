#!/usr/bin/env bash
# Inside L1: boots the stock kernel N times plain and M times with noxsave,
# each with a tiny initramfs that reports the guest's FPU setup and powers off;
# counts boots whose serial log has "XSAVE consistency" and non-zero exits.
# usage: xsave_probe.sh RESULTS N M
set -uo pipefail
results=${1:?} n=${2:?} m=${3:?}
mkdir -p "$results"
export FRANCA_WORK=$(mktemp -d /tmp/xsave-probe.XXXXXX)
cd "$FRANCA_WORK"
source "$FRANCA_REPO/tests/integration/lib.sh"
set +e
make_initramfs initrd.gz '
echo XSAVE_FLAGS=$(grep -m1 ^flags /proc/cpuinfo | tr " " "\n" | grep -c "^xsave\|^avx\|^pku\|^ospke")
echo FLAGS=$(grep -m1 ^flags /proc/cpuinfo | tr " " "\n" | grep "xsave\|avx\|pku\|ospke" | tr "\n" " ")
dmesg | grep -i "x86/fpu\|xstate\|XSAVE" | head -n 5
echo PROBE_DONE
poweroff -f'
run() {  # run TAG i CMDLINE
  local log=$results/$1.$2.log rc=0 t0=$SECONDS
  timeout 300 "$FRANCA_BIN" --kernel "$KERNEL" --serial "file:$log" --initrd initrd.gz --cpus 1 --memory 256M \
    --cmdline "$3" --timeout 240 >"$results/$1.$2.franca" 2>&1 || rc=$?
  local warn; warn=$(grep -ac "XSAVE consistency" "$log")
  local done; done=$(grep -ac PROBE_DONE "$log")
  echo "[probe] $1 #$2: rc=$rc warn=$warn done=$done $((SECONDS - t0))s $(grep -a '^FLAGS=' "$log" | tr -d '\r')"
}
for ((i = 1; i <= n; i++)); do run plain "$i" "console=ttyS0 panic=-1"; done
for ((i = 1; i <= m; i++)); do run noxsave "$i" "console=ttyS0 panic=-1 noxsave"; done
echo "[probe] summary: plain warned in $(grep -la 'XSAVE consistency' "$results"/plain.*.log 2>/dev/null | wc -l)/$n, noxsave warned in $(grep -la 'XSAVE consistency' "$results"/noxsave.*.log 2>/dev/null | wc -l)/$m"
grep -l "triple fault" "$results"/*.franca 2>/dev/null | sed 's/^/[probe] triple fault: /'
rm -rf "$FRANCA_WORK"
