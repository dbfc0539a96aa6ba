#!/usr/bin/env bash
# Runs a command with a real /dev/kvm and exits with the command's status.
#
# usage: tests/harness/run-on-kvm.sh [--scratch SIZE] [--rw DIR]... [--keep] [--kvm-only] -- CMD [ARGS...]
#   --scratch SIZE  give L1 a sparse raw disk of SIZE (e.g. 2G) holding a fresh
#                   ext4, mounted at $FRANCA_SCRATCH (default /tmp/franca-scratch)
#                   for O_DIRECT-capable storage (9p and tmpfs are not)
#   --rw DIR        directory L1 may write to, at the same path (repeatable; also
#                   $FRANCA_RW_DIRS, colon-separated). Default: the build dir
#                   ($FRANCA_BUILD, else the parent of $FRANCA_CACHE, else <repo>/build)
#   --keep          keep the per-run directory (build/harness/run.*)
#   --kvm-only      CMD needs no networking: run it here whenever /dev/kvm is usable
#
# Where /dev/kvm, /dev/vhost-net and /dev/net/tun all open read/write (and
# FRANCA_FORCE_NESTED is unset), CMD is simply exec'd: the virtio-net cases need
# all three, so a host lacking one goes nested rather than skipping them
# (with --kvm-only, a usable /dev/kvm is enough).
# Otherwise a nested "L1" Linux is booted under QEMU TCG (-cpu max emulates AMD
# SVM + NPT, so L1 has a working /dev/kvm, /dev/vhost-net, /dev/net/tun; XSAVE
# is left out of L1's CPU, see the QEMU command below); L1
# mounts L0's root read-only over 9p and runs CMD in a chroot of it, in the
# same cwd, with PATH, HOME, FRANCA_* (and the names in $FRANCA_PASS_ENV)
# passed through and FRANCA_NESTED=1. Everything outside the --rw dirs is
# read-only there, except tmpfs on /tmp, /run and /dev/shm; a checkout under
# /tmp or /run is shared too (read-only, at its path), so it stays visible.
# CMD's output (L1's ttyS1) is streamed to stdout. L1's kernel console (ttyS0,
# not quiet) goes to l1-console.log and QEMU's `-d cpu_reset,guest_errors` log
# to qemu.log in the run directory, which is kept (and named) whenever the run
# fails; FRANCA_L1_LOG_DIR, if set, gets a copy of both after every run.
#
# Cost (2-core machine, no KVM): L1 boot to CMD ~5 s, a whole L1 run with a
# trivial CMD ~9 s; a stock-kernel L2 guest booted with QEMU -accel kvm inside
# L1 adds 10-15 s. Everything inside L1 is emulated and 10-100x slower than
# hardware: only ratios measured side by side in the SAME L1 run mean anything,
# never absolute times. Boot L1 once per test suite, not once per test.
#
# Which hosts go nested: tests/harness/kvm-host.sh (shared with scripts/quickstart.sh).
# Env: FRANCA_L1_MEM (MiB, 3072), FRANCA_L1_CPUS (2), FRANCA_L1_TIMEOUT (s, 3600),
#      FRANCA_CACHE (kernel from scripts/fetch-kernel.sh; <repo>/build/cache),
#      FRANCA_L1_HEARTBEAT_SECS (240), FRANCA_L1_STALL_DIR, FRANCA_L1_STALL_SECS
#      (720): the watchdog below; FRANCA_L1_VFIO (1; 0: an i440fx L1 without
#      the IOMMU and the passthrough NIC, see below).
# Exit: CMD's status; 124 if the watchdog stopped a stuck L1; 125 if L1 failed
# to report one (crash, timeout).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
usage() { sed -n '3,13p' "$0" >&2; exit 2; }

scratch="" keep=0 rw=() kvm_only=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --scratch) scratch=${2:?}; shift 2 ;;
    --rw) rw+=("$(realpath -m "${2:?}")"); shift 2 ;;
    --keep) keep=1; shift ;;
    --kvm-only) kvm_only=1; shift ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[[ $# -gt 0 ]] || usage
cache=${FRANCA_CACHE:-$repo/build/cache}
build=${FRANCA_BUILD:-${FRANCA_CACHE:+$(dirname "$FRANCA_CACHE")}}
build=$(realpath -m "${build:-$repo/build}")
[[ -z $scratch ]] || export FRANCA_SCRATCH=${FRANCA_SCRATCH:-/tmp/franca-scratch}

# --- real KVM (and vhost-net, TUN) here: just run it ----------------------------
. "$repo/tests/harness/kvm-host.sh"
if [[ -z ${FRANCA_FORCE_NESTED:-} ]] && kvm_usable &&
   { [[ $kvm_only == 1 ]] || { dev_usable /dev/vhost-net && dev_usable /dev/net/tun; }; }; then
  [[ -z $scratch ]] || mkdir -p "$FRANCA_SCRATCH"
  exec "$@"
fi

# --- nested: boot L1 under TCG -------------------------------------------------
kdir=$("$repo/scripts/fetch-kernel.sh" "$cache/kernel")
mkdir -p "$build/harness"
# Failed runs keep their directory (logs); only the 10 newest are kept.
{ ls -dt "$build"/harness/run.* 2>/dev/null || true; } | tail -n +11 | xargs -r rm -rf
out=$(mktemp -d "$build/harness/run.XXXXXX")
img="" failed=1
cleanup() {
  [[ -z $img ]] || rm -f "$img"
  if [[ -n ${FRANCA_L1_LOG_DIR:-} ]]; then
    mkdir -p "$FRANCA_L1_LOG_DIR" && cp -f "$out/l1-console.log" "$out/qemu.log" "$FRANCA_L1_LOG_DIR/" 2>/dev/null
    [[ ! -f $out/l1-stall.log ]] || cp -f "$out/l1-stall.log" "$FRANCA_L1_LOG_DIR/"
    [[ ! -f $out/l1-down.log ]] || cp -f "$out/l1-down.log" "$FRANCA_L1_LOG_DIR/"
  fi
  [[ $keep == 1 || $failed == 1 ]] || rm -rf "$out"
}
trap cleanup EXIT

l1_modules="irqbypass ccp kvm kvm-amd virtio_ring virtio virtio_pci_modern_dev
  virtio_pci_legacy_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p tun tap
  vhost_iotlb vhost vhost_net stp llc bridge veth virtio_blk crc32c_generic ext4"
# The VFIO flavour (FRANCA_L1_VFIO, default 1): L1 is a q35 with an emulated
# Intel IOMMU (interrupt remapping on: VFIO_SET_IOMMU fails with EPERM without
# it) and an e1000e (8086:10d3, alone in its IOMMU group) that l1-init.sh binds
# to vfio-pci for a case to pass through; a virtio-net NIC on the same QEMU hub
# is its wire (wire0 in L1). L1 has no e1000e driver, so nothing else claims it.
# iommu=pt keeps L1's own devices (9p, the scratch disk) off the IOMMU's
# translation. Cases find the device in FRANCA_L1_VFIO_DEV and the wire in
# FRANCA_L1_WIRE (/sys path and netdev name), unset in the plain flavour.
l1_vfio=${FRANCA_L1_VFIO:-1}
l1_machine=(-M pc) l1_append=""
if [[ $l1_vfio == 1 ]]; then
  l1_modules+=" vfio vfio_iommu_type1 vfio_pci_core vfio_pci failover net_failover virtio_net"
  l1_machine=(-M q35 -device intel-iommu,caching-mode=on,intremap=on
    -netdev hubport,id=hp0,hubid=0 -netdev hubport,id=hp1,hubid=0
    -device e1000e,netdev=hp0,mac=52:54:00:fa:00:01 -device virtio-net-pci,netdev=hp1,mac=52:54:00:fa:00:02)
  l1_append=" intel_iommu=on iommu=pt"
fi
# L1 initramfs, cached per flavour; rebuilt when the kernel or these scripts change.
initrd=$cache/harness/l1-initramfs.cpio.gz
[[ $l1_vfio != 1 ]] || initrd=$cache/harness/l1-initramfs-vfio.cpio.gz
for f in "$0" "$repo/tests/harness/l1-init.sh" "$repo/tests/guest/mkinitramfs.sh" "$kdir/version"; do
  [[ -f $initrd && ! $f -nt $initrd ]] || { rm -f "$initrd"; break; }
done
if [[ ! -f $initrd ]]; then
  "$repo/tests/guest/mkinitramfs.sh" -o "$initrd" -i "$repo/tests/harness/l1-init.sh" \
    -k "$kdir/modules" -m "$l1_modules"
fi

# The command, with its environment and cwd, as a script L1 runs in the chroot.
{
  echo "export FRANCA_NESTED=1"
  for v in PATH HOME USER LOGNAME LANG LC_ALL TERM TZ TMPDIR ${FRANCA_PASS_ENV:-} \
           $(compgen -e | grep '^FRANCA_' || true); do
    [[ -z ${!v+x} ]] || printf 'export %s=%q\n' "$v" "${!v}"
  done
  printf '[ ! -f %q ] || . %q\n' "$out/l1-env" "$out/l1-env"  # FRANCA_L1_VFIO_DEV, FRANCA_L1_WIRE
  printf 'cd %q 2>/dev/null || { echo "[L1] warning: cwd %q not visible in L1; using /" >&2; cd /; }\n' "$PWD" "$PWD"
  printf '%q ' "$@"; echo
} >"$out/cmd.sh"

# Shares mounted over L1's tmpfs at their L0 paths and L1 settings (read by
# l1-init.sh from the `out` share): the writable dirs, and the checkout itself
# (read-only) when it lies under /tmp or /run, which L1 covers with tmpfs.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }  # single-quote for busybox sh
IFS=: read -r -a env_rw <<<"${FRANCA_RW_DIRS:-}"
for d in "${env_rw[@]}"; do [[ -z $d ]] || rw+=("$(realpath -m "$d")"); done
[[ ${#rw[@]} -gt 0 ]] || rw=("$build")
shares=()
for d in "${rw[@]}"; do shares+=("$d rw"); done
hidden=0
case $repo/ in /tmp/* | /run/*) hidden=1 ;; esac
for d in "${rw[@]}"; do [[ $repo/ != "$d"/* ]] || hidden=0; done  # already under a writable share
[[ $hidden == 0 ]] || shares+=("$repo ro")
qargs=() i=0
: >"$out/rw"
while read -r d mode; do  # sorted: parents are mounted before their subdirectories
  [[ $d != *[[:space:]]* ]] || { echo "run-on-kvm: share path with whitespace: $d" >&2; exit 125; }
  ro="" && [[ $mode == rw ]] || ro=,readonly=on
  [[ -n $ro ]] || mkdir -p "$d"
  qargs+=(-virtfs "local,path=${d//,/,,},mount_tag=$mode$i,security_model=none,multidevs=remap$ro")
  echo "$mode$i $d ${ro:+ro}" >>"$out/rw"; i=$((i + 1))
done < <(printf '%s\n' "${shares[@]}" | LC_ALL=C sort -u)
# L1 holds an idle KVM VM (kvm-hold.py: why); FRANCA_L1_KVM_HOLD=0 leaves it out.
[[ ${FRANCA_L1_KVM_HOLD:-1} == 0 ]] || cp "$repo/tests/harness/kvm-hold.py" "$out/"
{ echo "OUTDIR=$(q "$out")"; echo "SCRATCH=$(q "${scratch:+$FRANCA_SCRATCH}")"; echo "VFIO=$l1_vfio"; } >"$out/l1.conf"

if [[ -n $scratch ]]; then
  img=$(mktemp "$build/harness/scratch.XXXXXX.img")
  truncate -s "$scratch" "$img"
  qargs+=(-drive "file=${img//,/,,},if=virtio,format=raw,cache=unsafe")
fi

# Watchdog, two rules; either one stops QEMU and makes the harness exit 124
# instead of waiting for FRANCA_L1_TIMEOUT:
# - heartbeat: l1-init.sh writes L1's uptime to $out/heartbeat every 10 s; once
#   one has come, none for FRANCA_L1_HEARTBEAT_SECS (240) means L1's user space
#   no longer runs (seen under QEMU TCG: L1 busy, nothing progressing);
# - progress (FRANCA_L1_STALL_DIR): nothing under that directory changed for
#   FRANCA_L1_STALL_SECS (720): L1 lives but CMD is stuck past its own timeouts.
# l1_monitor COMMAND...: HMP commands to L1's QEMU, replies on stdout.
l1_monitor() { python3 "$repo/tests/harness/qemu-monitor.py" "$out/monitor.sock" "$@"; }
l1_cpu_state=("info cpus" "info registers -a")  # where each L1 CPU is
# l1_post_mortem: where a stuck L1 is, from QEMU's monitor: both vCPUs' registers
# twice (moving: L1 runs but makes no progress; still: it is wedged), then the
# kernel's blocked-task and all-task dumps (sysrq w, t) into l1-console.log.
l1_post_mortem() {
  command -v python3 >/dev/null || { echo "no python3: no post-mortem"; return; }
  l1_monitor "info status" "${l1_cpu_state[@]}" "sleep 5" "${l1_cpu_state[@]}" \
    "sendkey alt-sysrq-w" "sleep 5" "sendkey alt-sysrq-t" "sleep 15"
}
# l1_symbols FILE...: the kernel functions the RIPs in QEMU's register dumps
# fall in, from the kallsyms L1 wrote at boot (KASLR makes raw RIPs meaningless).
# (L1 writes them over 9p in the background for a while after boot: one that
# dies early leaves kallsyms.tmp, whole or nearly, which still names most RIPs.)
l1_symbols() {
  local syms=$out/kallsyms
  [[ -s $syms ]] || syms=$out/kallsyms.tmp
  [[ -s $syms ]] || { echo "(no symbols: L1 did not write its kallsyms)"; return; }
  python3 "$repo/tests/harness/symbolise.py" "$syms" "$@" 2>&1 || true
}
mtime() { stat -c %Y "$1" 2>/dev/null || echo 0; }
# l1_paused: true when QEMU has paused on L1's shutdown (see -action below).
l1_paused() {
  l1_monitor "info status" 2>/dev/null | grep -q 'paused (shutdown)'
}
# l1_went_down: L1 shut down (QEMU paused) without writing CMD's status: where
# its CPUs were (a triple fault leaves the faulting instruction in RIP; a panic,
# the reboot path), named from L1's kallsyms, into l1-down.log; then quit.
l1_went_down() {
  l1_monitor "info status" "${l1_cpu_state[@]}" >"$out/l1-down.log" 2>&1
  l1_symbols "$out/l1-down.log" >>"$out/l1-down.log"
}
watchdog() {
  local dir=$1 limit=$2 beat_limit=$3 newest now why tick=0
  while sleep 2; do
    # Every 2 s once CMD's status is there or the heartbeat is late: has L1 gone down?
    if [[ -s $out/rc ]] || { [[ -f $out/heartbeat ]] && (($(date +%s) - $(mtime "$out/heartbeat") > 15)); }; then
      if l1_paused; then
        [[ -s $out/rc ]] || l1_went_down
        l1_monitor quit >/dev/null 2>&1
        return
      fi
    fi
    ((++tick % 10 == 0)) || continue  # the stall rules every 20 s
    now=$(date +%s) why=""
    if [[ -f $out/heartbeat ]] && ((now - $(mtime "$out/heartbeat") > beat_limit)); then
      why="no heartbeat from L1 for ${beat_limit}s (last: $(cat "$out/heartbeat" 2>/dev/null)s of L1 uptime): L1 is stuck"
    elif [[ -n $dir ]]; then
      newest=$(find "$dir" -type f -printf '%T@\n' 2>/dev/null | sort -n | tail -n 1)
      newest=${newest%.*}
      [[ -n $newest && $newest -gt $watch_start ]] || newest=$watch_start
      ((now - newest <= limit)) || why="nothing in $dir changed for ${limit}s: L1 is stuck"
    fi
    [[ -n $why ]] || continue
    echo "run-on-kvm: $why, stopping it" >&2
    echo "$why" >"$out/stalled"
    l1_post_mortem >"$out/l1-stall.log" 2>&1
    l1_symbols "$out/l1-stall.log" | tee -a "$out/l1-stall.log" | sed 's/^/run-on-kvm: L1 vCPU at /' >&2
    echo "run-on-kvm: L1's vCPU registers (twice, 5 s apart) and its sysrq w/t task dumps: $out/l1-stall.log, $out/l1-console.log" >&2
    pkill -f -- "path=${out//,/,,},mount_tag=out" || true
    return
  done
}
# Without python3 (the monitor client) nothing could unpause QEMU: plain -no-reboot.
down_action=(-no-reboot)
! command -v python3 >/dev/null || down_action=(-action reboot=shutdown,shutdown=pause)
watch_start=$(date +%s)
watchdog "${FRANCA_L1_STALL_DIR:-}" "${FRANCA_L1_STALL_SECS:-720}" "${FRANCA_L1_HEARTBEAT_SECS:-240}" &
watch_pid=$!

echo "[run-on-kvm] booting a nested L1 under QEMU TCG (usually 10-30 s); its console: $out/l1-console.log"
start=$(date +%s%N)
set +e
# ttyS0 (L1's kernel console) to a file, ttyS1 (CMD's output) to stdout.
# -action reboot=shutdown,shutdown=pause: L1 never boots twice (as -no-reboot),
# and whatever takes it down — its poweroff, a panic's reboot, a triple fault —
# pauses QEMU with every CPU's state still where it was: the watchdog quits QEMU
# at once after a normal end (CMD's status written) and takes a post-mortem
# first otherwise (l1_went_down).
# -xsave: QEMU before 8.2 (Debian 12 ships 7.2) does not check the SVM XSETBV
# intercept under TCG (fixed upstream by 24b34590d07f, "target/i386: check
# intercept for XSETBV"), so L1's KVM never sees an L2 guest's XSETBV, keeps
# XCR0=1 for it and reports CPUID(0xD,0).EBX=576: every L2 Linux then warns
# "XSAVE consistency problem: size 2696 != kernel_size 576", runs with XCR0
# reset to 1 on each VM entry until it disables XSAVE, and now and then
# triple-faults in that window. Without XSAVE in L1, KVM offers none to L2.
# QEMU 7.2 does not drop what needs XSAVE by itself, and L1's KVM would still
# offer it from the raw CPUID: take out the VEX (AVX) family, PKU and MPX too.
timeout -k 10 "${FRANCA_L1_TIMEOUT:-3600}" qemu-system-x86_64 \
  -accel tcg,thread=multi -cpu max,-xsave,-avx,-avx2,-fma,-f16c,-vaes,-pku,-mpx -smp "${FRANCA_L1_CPUS:-2}" -m "${FRANCA_L1_MEM:-3072}" \
  -nodefaults -no-user-config -display none -vga none "${down_action[@]}" \
  -monitor "unix:$out/monitor.sock,server=on,wait=off" \
  -serial "file:$out/l1-console.log" -serial stdio -d cpu_reset,guest_errors -D "$out/qemu.log" \
  -kernel "$kdir/vmlinuz" -initrd "$initrd" -append "console=ttyS0 panic=-1$l1_append" "${l1_machine[@]}" \
  -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=${out//,/,,},mount_tag=out,security_model=none,multidevs=remap" \
  "${qargs[@]}" </dev/null | sed -u 's/\r$//'
qemu_rc=${PIPESTATUS[0]}
kill "$watch_pid" 2>/dev/null
set -e
ms=$(( ($(date +%s%N) - start) / 1000000 ))
wall=$((ms / 1000)).$(printf %03d $((ms % 1000)))

logs="L1 console: $out/l1-console.log, QEMU log: $out/qemu.log"
if [[ -e $out/stalled ]]; then
  echo "run-on-kvm: L1 was stopped ($(cat "$out/stalled")) ($logs)" >&2
  exit 124
fi
# show_tail FILE LINES LABEL: the end of a log, labelled, on stderr.
show_tail() {
  [[ -s $1 ]] || { echo "  [$3] (empty)" >&2; return; }
  tail -n "$2" "$1" | sed -u 's/\r$//; s/^/  ['"$3"'] /' >&2
}
if [[ ! -s $out/rc ]]; then
  if [[ $qemu_rc == 124 || $qemu_rc == 137 ]]; then
    why="timed out after ${FRANCA_L1_TIMEOUT:-3600}s (FRANCA_L1_TIMEOUT)"
  elif ((qemu_rc > 128)); then
    why="QEMU killed by signal $((qemu_rc - 128)) (SIG$(kill -l $((qemu_rc - 128)) 2>/dev/null))"
  elif [[ $qemu_rc == 0 ]]; then
    why="QEMU exited normally: L1 powered off or reset (panic?) before CMD ended"
  else
    why="QEMU exited with status $qemu_rc"
  fi
  echo "run-on-kvm: L1 did not report an exit status after ${wall}s: $why" >&2
  show_tail "$out/l1-console.log" 25 "L1 console"
  # (a CPU reset's dump without its FPU/vector registers: the last one is where L1 died)
  grep -vE '^(FCW|FPR|XMM|YMM|ZMM|Opmask)' "$out/qemu.log" >"$out/qemu-short.log" 2>/dev/null
  show_tail "$out/qemu-short.log" 12 "qemu -d"
  if [[ -s $out/l1-down.log ]]; then
    echo "run-on-kvm: L1's CPUs where it went down (QEMU paused there): $out/l1-down.log" >&2
    grep -E '^(CPU#|RIP=|RIP )|^\* CPU|CPU #' "$out/l1-down.log" | sed 's/^/  [L1 down] /' >&2
  fi
  echo "run-on-kvm: $logs" >&2
  exit 125
fi
rc=$(cat "$out/rc")
[[ $rc != 0 ]] || failed=0
if [[ $rc == 0 ]]; then
  echo "[run-on-kvm] status $rc, L1 wall time ${wall}s"
else
  echo "[run-on-kvm] status $rc, L1 wall time ${wall}s ($logs)"
fi
exit "$rc"
