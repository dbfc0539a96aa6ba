# Helpers shared by integration cases (sourced). Environment, set by ctest:
#   FRANCA_BIN    the franca executable        FRANCA_CACHE  kernel cache (scripts/fetch-kernel.sh)
#   FRANCA_REPO   the source tree              FRANCA_WORK   a scratch dir for this case (cwd)
set -euo pipefail
: "${FRANCA_BIN:?}" "${FRANCA_CACHE:?}" "${FRANCA_REPO:?}" "${FRANCA_WORK:=$PWD}"
KERNEL=$FRANCA_CACHE/kernel/vmlinuz
# franca's decompressed-kernel cache (--kernel-cache) in the build's cache, not
# the user's home: the first case decompresses the kernel, the rest load it.
export XDG_CACHE_HOME=$FRANCA_CACHE/xdg

log() { printf '[%(%T)T] %s\n' -1 "$*"; }  # no fork: cheap under nested KVM
fail() { echo "FAIL: $*" >&2; exit 1; }

# make_initramfs OUT INIT_BODY [MODULES] [SRC:DEST...]: a busybox initramfs whose
# /init runs the standard prologue (mounts, module loading) and then INIT_BODY;
# SRC:DEST are extra files (e.g. a static tool) copied into the image.
make_initramfs() {
  local out=$1 body=$2 modules=${3:-} extra=() f
  for f in "${@:4}"; do extra+=(-f "$f"); done
  local init=$FRANCA_WORK/init.$$.sh
  {
    echo '#!/bin/sh'
    echo 'mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev 2>/dev/null'
    echo '[ -x /bin/load-modules ] && /bin/load-modules'
    echo 'verdict() { printf "\\$(printf %o "$1")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null; }'
    echo 'echo FRANCA_GUEST_UP'
    printf '%s\n' "$body"
  } >"$init"
  "$FRANCA_REPO/tests/guest/mkinitramfs.sh" -o "$out" -i "$init" ${modules:+-m "$modules"} "${extra[@]}"
}

# run_franca LOG [franca args...]: boots with serial to LOG and a control socket
# ($FRANCA_WORK/api.sock, for franca_evidence), echoes the exit status (never
# fails itself, so a case can assert on any status).
run_franca() {
  local out=$1; shift
  local rc=0
  "$FRANCA_BIN" --kernel "$KERNEL" --serial "file:$out" --api-socket "$FRANCA_WORK/api.sock" "$@" || rc=$?
  echo "--- guest serial log ($out) ---" >&2
  tail -n 40 "$out" >&2 || true
  echo "$rc"
}

expect_eq() { [[ "$1" == "$2" ]] || fail "$3: expected '$2', got '$1'"; log "ok: $3 = '$1'"; }
# guest_value LOG KEY: the value of the last "KEY=value" line the guest printed.
# A last line without its newline (the VMM was killed while the guest printed
# it) is not a value: "W0_ACKED=18" cut from "W0_ACKED=184" must not count.
guest_value() { complete_lines "$1" | grep -a "^$2=" | tail -n 1 | cut -d= -f2- | tr -d '\r'; }
complete_lines() {
  if [[ -s $1 && $(tail -c 1 "$1" | od -An -tx1 | tr -d ' \n') != 0a ]]; then head -n -1 "$1"; else cat "$1"; fi
}

# json_value KEY < JSON: the first number or string value of "KEY" (franca ctl replies).
json_value() { grep -o "\"$1\" *: *\(\"[^\"]*\"\|[0-9-]*\)" | head -n 1 | sed 's/^[^:]*: *//; s/"//g'; }

# need_l1_vfio_nic: fails unless the harness's VFIO flavour gave the case its
# passthrough NIC (FRANCA_L1_VFIO_DEV) and that NIC's wire (FRANCA_L1_WIRE).
need_l1_vfio_nic() {
  [[ -n ${FRANCA_L1_VFIO_DEV:-} && -n ${FRANCA_L1_WIRE:-} ]] ||
    fail "no VFIO NIC: FRANCA_L1_VFIO_DEV and FRANCA_L1_WIRE unset (run-on-kvm.sh's VFIO flavour sets them; on a real KVM host, set them to a vfio-pci-bound e1000e and a NIC on its wire)"
}

# device_field ID KEY < STATUS_JSON: KEY of device ID in a `franca ctl status`
# reply (pretty-printed: one key per line, each device one block).
device_field() {
  awk -v id="$1" -v key="$2" '
    /^    {/ { block = ""; found = 0; inside = 1; next }
    inside && /^    }/ { inside = 0; if (found) { print value; exit } }
    inside && $0 ~ "^      \"id\": \"" id "\"" { found = 1 }
    inside && $0 ~ "^      \"" key "\": " { value = $0; sub(/^[^:]*: */, "", value); sub(/,$/, "", value); gsub(/"/, "", value) }'
}

# boot_and_report CPUS TAG: boots 256M with CPUS vCPUs; the guest reports CPU
# count, MemTotal, cmdline, MADT use and online CPUs, then powers off. Asserts
# exit 0 and the common values; leaves serial.log for case-specific checks.
boot_and_report() {
  local cpus=$1 cmdline="console=ttyS0 panic=-1 franca.test=$2"  # not quiet: a hang shows where
  make_initramfs initrd.gz '
echo CPUS=$(grep -c ^processor /proc/cpuinfo)
echo MEMTOTAL_KB=$(awk "/MemTotal/ {print \$2}" /proc/meminfo)
echo CMDLINE=$(cat /proc/cmdline)
echo ACPI_SMP=$(dmesg | grep -c "Using ACPI (MADT) for SMP")
echo ONLINE=$(cat /sys/devices/system/cpu/online)
poweroff -f'
  local rc mem
  rc=$(run_franca serial.log --initrd initrd.gz --cpus "$cpus" --memory 256M --cmdline "$cmdline" --timeout 180)
  expect_eq "$rc" 0 "exit status"
  expect_eq "$(guest_value serial.log CPUS)" "$cpus" "guest CPU count"
  mem=$(guest_value serial.log MEMTOTAL_KB)
  (( mem > 200000 && mem <= 262144 )) || fail "MemTotal $mem kB not within (200000, 262144] for 256M"
  log "ok: MemTotal $mem kB"
  expect_eq "$(guest_value serial.log CMDLINE)" "$cmdline" "guest cmdline"
}

# franca_evidence PID [SOCK]: what a stopped franca and its guest look like, on
# stdout: each thread's state, CPU time and wchan (two samples 5 s apart) and
# kernel stack; counters, status and every vCPU's registers and local APIC over
# the control socket SOCK; L1's KVM per-vCPU exit counters (debugfs); gdb's
# user-space stacks of every thread; the blocked tasks of the host (sysrq w).
franca_evidence() {
  local pid=$1 sock=${2:-} t round f args
  echo "=== evidence: franca pid $pid at $(date +%T)"
  kill -0 "$pid" 2>/dev/null || { echo "(process $pid is gone)"; return 0; }
  if [[ -z $sock ]]; then  # the --api-socket it was started with, if any
    mapfile -d '' -t args <"/proc/$pid/cmdline"
    for ((f = 0; f < ${#args[@]} - 1; f++)); do [[ ${args[f]} != --api-socket ]] || sock=${args[f + 1]}; done
    [[ -z $sock || $sock == /* ]] || sock=/proc/$pid/cwd/$sock
  fi
  for round in 1 2; do
    echo "--- threads (sample $round): tid comm state utime stime wchan"
    for t in /proc/"$pid"/task/*; do
      read -r -a st <"$t/stat" || continue
      echo "${t##*/} $(cat "$t/comm" 2>/dev/null) ${st[2]} ${st[13]} ${st[14]} $(cat "$t/wchan" 2>/dev/null)"
    done
    [[ $round == 2 ]] || sleep 5
  done
  for t in /proc/"$pid"/task/*; do
    echo "--- kernel stack of ${t##*/} ($(cat "$t/comm" 2>/dev/null))"
    cat "$t/stack" 2>/dev/null
  done
  if [[ -n $sock && -S $sock ]]; then
    for cmd in status counters queues vcpus; do
      echo "--- franca ctl $cmd"
      timeout 20 "$FRANCA_BIN" ctl "$sock" "$cmd" 2>&1 | sed 's/\\n/\n    /g'
    done
  fi
  mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
  for d in /sys/kernel/debug/kvm/"$pid"-* /sys/kernel/debug/kvm/"$pid"-*/vcpu*; do
    [[ -d $d ]] || continue
    echo "--- KVM stats ${d#/sys/kernel/debug/kvm/}"
    for f in exits halt_exits halt_wakeup halt_successful_poll irq_exits irq_injections nmi_injections \
             request_irq_exits signal_exits io_exits mmio_exits hypercalls; do
      [[ -r $d/$f ]] && printf '%s=%s ' "$f" "$(cat "$d/$f")"
    done
    echo
  done
  if command -v gdb >/dev/null; then
    echo "--- gdb: thread apply all bt"
    timeout 60 gdb -q -batch -p "$pid" -ex 'set pagination off' -ex 'thread apply all bt' 2>&1 |
      grep -v '^\[New LWP\|^warning: ' | head -n 400
  fi
  if [[ -w /proc/sysrq-trigger ]]; then
    echo "--- host blocked tasks (sysrq w)"
    dmesg -c >/dev/null 2>&1; echo w >/proc/sysrq-trigger; dmesg | head -n 200
  fi
  echo "=== end of evidence"
}

# A guest driven over hvc0 (its /init reads commands from /dev/hvc0 and evals
# them, printing KEY=value lines there): hvc_start [franca args...] boots
# initrd.gz, 512M, serial to serial.log, control socket api.sock, --timeout 560,
# hvc0 on a fifo (console.log holds what the guest prints); the args give at
# least --cmdline and --console stdio[,...]. Sets HVC_PID. Then:
#   guest CMD        runs CMD in the guest;
#   wait_for P SECS  until the guest printed a line starting with P (fails if franca exits first);
#   value KEY        the last KEY=value the guest printed;
#   died WHY         franca's log and both consoles on stderr (also from inside $(...)), then fail.
hvc_start() {
  mkfifo input
  exec 3<>input  # kept open: franca never sees EOF
  "$FRANCA_BIN" --kernel "$KERNEL" --initrd initrd.gz --memory 512M --serial file:serial.log --api-socket api.sock \
    --timeout 560 --log-level info "$@" <input >console.log 2>franca.err &
  HVC_PID=$!
}
guest() { echo "$*" >&3; }
value() { guest_value console.log "$1"; }
died() {
  { tail -n 60 franca.err; echo "--- hvc0 ---"; tail -n 30 console.log; echo "--- serial ---"; tail -n 60 serial.log; } >&2
  fail "$1"
}
wait_for() {
  local end=$((SECONDS + $2))
  while ((SECONDS < end)); do
    grep -aq "^$1" console.log && return 0
    kill -0 "$HVC_PID" 2>/dev/null || died "franca exited before the guest printed '$1'"
    sleep 0.2
  done
  died "the guest did not print '$1' within $2 s"
}

# no_acpi_errors LOG: fails on "ACPI Error" / "ACPI BIOS Error" lines in the
# guest console LOG (not AE_NOT_FOUND alone: "_OSC: platform retains control of
# PCIe features (AE_NOT_FOUND)" is on every boot without _OSC).
no_acpi_errors() {
  if grep -a "ACPI Error\|ACPI BIOS Error" "$1" >acpi-errors.txt; then
    cat acpi-errors.txt >&2
    fail "ACPI errors on the guest console"
  fi
}
