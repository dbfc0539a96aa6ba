# Helpers shared by integration cases (sourced). Environment, set by ctest:
#   FRANCA_BIN    the franca executable        FRANCA_CACHE  kernel cache (scripts/fetch-kernel.sh)
#   FRANCA_REPO   the source tree              FRANCA_WORK   a scratch dir for this case (cwd)
set -euo pipefail
: "${FRANCA_BIN:?}" "${FRANCA_CACHE:?}" "${FRANCA_REPO:?}" "${FRANCA_WORK:=$PWD}"
KERNEL=$FRANCA_CACHE/kernel/vmlinuz

log() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# make_initramfs OUT INIT_BODY [MODULES]: a busybox initramfs whose /init runs
# the standard prologue (mounts, module loading) and then INIT_BODY.
make_initramfs() {
  local out=$1 body=$2 modules=${3:-}
  local init=$FRANCA_WORK/init.$$.sh
  {
    echo '#!/bin/sh'
    echo 'mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev 2>/dev/null'
    echo '[ -x /bin/load-modules ] && /bin/load-modules'
    echo 'verdict() { printf "\\$(printf %o "$1")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null; }'
    echo 'echo FRANCA_GUEST_UP'
    printf '%s\n' "$body"
  } >"$init"
  "$FRANCA_REPO/tests/guest/mkinitramfs.sh" -o "$out" -i "$init" ${modules:+-m "$modules"}
}

# run_franca LOG [franca args...]: boots with serial to LOG, echoes the exit status
# (never fails itself, so a case can assert on any status).
run_franca() {
  local out=$1; shift
  local rc=0
  "$FRANCA_BIN" --kernel "$KERNEL" --serial "file:$out" "$@" || rc=$?
  echo "--- guest serial log ($out) ---" >&2
  tail -n 40 "$out" >&2 || true
  echo "$rc"
}

expect_eq() { [[ "$1" == "$2" ]] || fail "$3: expected '$2', got '$1'"; log "ok: $3 = '$1'"; }
# guest_value LOG KEY: the value of the last "KEY=value" line the guest printed.
guest_value() { grep -a "^$2=" "$1" | tail -n 1 | cut -d= -f2- | tr -d '\r'; }
