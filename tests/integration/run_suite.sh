#!/usr/bin/env bash
# Runs every integration case (or those named) on real KVM, one after another,
# recording <case>.rc and <case>.log in RESULTS_DIR. Meant to run inside the
# harness (tests/harness/run-on-kvm.sh), so one nested L1 boot serves them all.
set -uo pipefail
results=${1:?usage: run_suite.sh RESULTS_DIR [CASE...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$results"
export FRANCA_RESULTS=$results
cases_dir=${FRANCA_SUITE_CASES:-$here/cases}  # (a test's own cases: see suite.sh)
cases=("$@")
if [[ ${#cases[@]} -eq 0 ]]; then
  for f in "$cases_dir"/*.sh; do cases+=("$(basename "$f" .sh)"); done
fi
for c in "${cases[@]}"; do rm -f "$results/$c.rc" "$results/$c.log" "$results/$c.attempt1.log"; done
failed=0 retried=()
case_timeout=${FRANCA_CASE_TIMEOUT:-600}
# evidence_at SECS LOG: after SECS, for every franca still running (the case is
# about to be timed out), appends its threads, counters and vCPU state to LOG.
evidence_at() {
  local pid waited
  for ((waited = 0; waited < $1; waited += 5)); do sleep 5; done  # killable between short sleeps
  for pid in $(pgrep -x franca); do
    (source "$here/lib.sh" && set +e && franca_evidence "$pid") >>"$2" 2>&1
  done
}
# guest_died LOG: the case failed because its L2 guest crashed or froze — a
# triple fault, or a guest that stopped making progress until a timeout — rather
# than on a check that a live guest answered wrongly. Under QEMU TCG's emulated
# SVM (QEMU 7.2) this happens to a few boots in a hundred, at a different place
# each time (the emulator's XSETBV bug was one cause, see the harness; another
# remains). Such a case is run once more, and says so; a wrong answer is not.
guest_died() {
  grep -qE 'triple fault \(KVM_EXIT_SHUTDOWN\)|--timeout [0-9]+s expired|ran into its [0-9]+s timeout' "$1"
}
run_case() {  # run_case CASE: one attempt; sets rc, writes <case>.log
  local c=$1 work watcher
  work=$(mktemp -d "${TMPDIR:-/tmp}/franca-$c.XXXXXX")
  evidence_at $((case_timeout - 30)) "$results/$c.evidence" &
  watcher=$!
  ( cd "$work" && FRANCA_WORK=$work timeout "$case_timeout" bash "$cases_dir/$c.sh" ) >"$results/$c.log" 2>&1
  rc=$?
  kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null
  if [[ -s $results/$c.evidence ]]; then
    { echo "--- the case ran into its ${case_timeout}s timeout; what franca looked like 30 s before:"
      cat "$results/$c.evidence"; } >>"$results/$c.log"
  fi
  rm -f "$results/$c.evidence"
  rm -rf "$work"
}
for c in "${cases[@]}"; do
  start=$(date +%s)
  run_case "$c"
  if [[ $rc -ne 0 ]] && guest_died "$results/$c.log"; then
    mv "$results/$c.log" "$results/$c.attempt1.log"
    retried+=("$c")
    echo "[integration] $c: FAIL ($rc), its guest crashed or froze: running it once more (first log: $results/$c.attempt1.log)"
    run_case "$c"
    { echo "--- NOTE: this is the second attempt; the first one's guest crashed or froze (exit $rc the second time). The first attempt's end:"
      grep -E 'triple fault|timeout|FAIL' "$results/$c.attempt1.log" | head -n 5; } >>"$results/$c.log"
  fi
  echo "$rc" >"$results/$c.rc"
  echo "[integration] $c: $([[ $rc -eq 0 ]] && echo PASS || echo "FAIL ($rc)") in $(( $(date +%s) - start ))s"
  [[ $rc -eq 0 ]] || { failed=$((failed + 1)); tail -n 30 "$results/$c.log" | sed "s/^/  [$c] /"; }
done
echo "[integration] ${#cases[@]} cases, $failed failed"
[[ ${#retried[@]} -eq 0 ]] || echo "[integration] run twice because the guest crashed or froze the first time: ${retried[*]}"
exit 0  # the per-case ctest entries carry the verdicts
