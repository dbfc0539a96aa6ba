#!/usr/bin/env bash
# integration.suite: every case in one harness run (one nested L1 boot). If L1
# wedges — the harness's stall watchdog finds no change in RESULTS_DIR for
# FRANCA_L1_STALL_SECS and kills it (exit 124) — the cases still without a
# verdict run again in a fresh L1 (at most twice), and it says so; the log of
# the case that was running is kept as <case>.stalled.log. Seen under QEMU TCG
# (L1 busy, no output, nothing progressing), at a different case each time.
# usage: tests/integration/suite.sh RESULTS_DIR
set -uo pipefail
results=${1:?usage: suite.sh RESULTS_DIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mkdir -p "$results"
rm -f "$results"/*.rc "$results"/*.log
all=()
for f in "$here"/cases/*.sh; do all+=("$(basename "$f" .sh)"); done
export FRANCA_L1_STALL_DIR=$results
rm -rf "$results"/l1.*
for attempt in 1 2 3; do
  export FRANCA_L1_LOG_DIR=$results/l1.$attempt  # L1's console and QEMU's -d log of this run, for a post-mortem
  todo=()
  for c in "${all[@]}"; do [[ -s $results/$c.rc ]] || todo+=("$c"); done
  [[ ${#todo[@]} -gt 0 ]] || break
  [[ $attempt == 1 ]] ||
    echo "[integration] L1 got stuck or died (its logs: $results/l1.$((attempt - 1))); running the ${#todo[@]} case(s) without a verdict in a fresh L1: ${todo[*]}"
  "$repo/tests/harness/run-on-kvm.sh" -- "$here/run_suite.sh" "$results" "${todo[@]}"
  rc=$?
  # 124: the watchdog killed a wedged L1; 125: L1 died without reporting (seen:
  # an L1 kernel panic, stack guard page hit in error_entry on a KVM vCPU thread).
  [[ $rc == 124 || $rc == 125 ]] || break
  for c in "${todo[@]}"; do
    [[ -s $results/$c.rc || ! -f $results/$c.log ]] || mv "$results/$c.log" "$results/$c.stalled.log"
  done
done
exit 0  # the per-case ctest entries carry the verdicts
