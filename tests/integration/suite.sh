#!/usr/bin/env bash
# integration.suite: every case in one harness run (one nested L1 boot). If L1
# gets stuck — the harness's watchdog sees no heartbeat from L1 for 4 minutes,
# or no change in RESULTS_DIR for FRANCA_L1_STALL_SECS, and stops it (exit 124)
# — or dies without reporting (exit 125), the cases still without a verdict run
# again in a fresh L1, and it says so; the log of the case that was running is
# kept as <case>.stalled.log. A case during which L1 has died twice gets a
# failing verdict (exit 125, both logs) so that it cannot keep the rest from
# running. At most FRANCA_SUITE_L1_RUNS (5) L1 runs, and none started after
# FRANCA_SUITE_BUDGET_SECS (2700). Every L1 run is one line of
# RESULTS_DIR/l1-runs.txt (exit, verdicts, the case it died in, the harness's
# reason), which check_case.sh prints for a case that got no verdict.
# Seen under QEMU TCG 7.2: about one L1 death per full run, at a different case
# each time (L1 triple faults, an L1 kernel panic, L1 busy with nothing moving).
# usage: tests/integration/suite.sh RESULTS_DIR
# FRANCA_SUITE_HARNESS and FRANCA_SUITE_CASES (a directory of <case>.sh) replace
# the harness and the cases: tests/harness/suite_reruns_test.sh drives this
# logic with a fake harness that kills "L1" on cue.
set -uo pipefail
results=${1:?usage: suite.sh RESULTS_DIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
max_runs=${FRANCA_SUITE_L1_RUNS:-5} budget=${FRANCA_SUITE_BUDGET_SECS:-2700}
harness=${FRANCA_SUITE_HARNESS:-$repo/tests/harness/run-on-kvm.sh}
cases_dir=${FRANCA_SUITE_CASES:-$here/cases}
mkdir -p "$results"
rm -f "$results"/*.rc "$results"/*.log "$results"/*.harness.err
rm -rf "$results"/l1.*
all=()
for f in "$cases_dir"/*.sh; do all+=("$(basename "$f" .sh)"); done
summary=$results/l1-runs.txt
: >"$summary"
export FRANCA_L1_STALL_DIR=$results
for ((run = 1; run <= max_runs; run++)); do
  export FRANCA_L1_LOG_DIR=$results/l1.$run  # L1's console and QEMU's -d log of this run, for a post-mortem
  todo=()
  for c in "${all[@]}"; do [[ -s $results/$c.rc ]] || todo+=("$c"); done
  [[ ${#todo[@]} -gt 0 ]] || break
  if ((run > 1)); then
    if ((SECONDS > budget)); then
      echo "no L1 run $run: ${SECONDS}s spent, over the ${budget}s budget; ${#todo[@]} case(s) get no verdict" | tee -a "$summary"
      break
    fi
    echo "[integration] L1 run $((run - 1)) got stuck or died (its logs: $results/l1.$((run - 1))); running the ${#todo[@]} case(s) without a verdict in a fresh L1 (run $run of at most $max_runs): ${todo[*]}"
  fi
  start=$SECONDS err=$results/l1.$run.harness.err
  "$harness" -- "$here/run_suite.sh" "$results" "${todo[@]}" 2>"$err"
  rc=$?
  cat "$err" >&2
  verdicts=0 running=""
  for c in "${todo[@]}"; do
    if [[ -s $results/$c.rc ]]; then verdicts=$((verdicts + 1)); elif [[ -f $results/$c.log ]]; then running=$c; fi
  done
  why=$(grep -m1 -E '^run-on-kvm: (L1 was stopped|L1 did not report)' "$err" | sed 's/^run-on-kvm: //')
  echo "L1 run $run: exit $rc after $((SECONDS - start))s, verdicts for $verdicts of ${#todo[@]} case(s)${running:+; L1 died while $running ran}${why:+; $why}" >>"$summary"
  # 124: the watchdog stopped a stuck L1; 125: L1 died without reporting (seen:
  # an L1 kernel panic, stack guard page hit in error_entry on a KVM vCPU thread).
  [[ $rc == 124 || $rc == 125 ]] || break
  [[ -n $running ]] || continue
  if [[ -f $results/$running.stalled.log ]]; then
    {
      echo "--- FAIL: L1 died twice while this case ran (see $summary and the l1.N logs); the first time it ended:"
      tail -n 20 "$results/$running.stalled.log"
      echo "--- the second time:"
      cat "$results/$running.log"
    } >"$results/$running.log.new"
    mv "$results/$running.log.new" "$results/$running.log"
    echo 125 >"$results/$running.rc"
    echo "[integration] $running: FAIL, L1 died twice while it ran"
  else
    mv "$results/$running.log" "$results/$running.stalled.log"
  fi
done
left=()
for c in "${all[@]}"; do [[ -s $results/$c.rc ]] || left+=("$c"); done
[[ ${#left[@]} -eq 0 ]] || echo "after $((run > max_runs ? max_runs : run)) L1 run(s), no verdict for: ${left[*]}" | tee -a "$summary"
echo "[integration] L1 runs:"
sed 's/^/  /' "$summary"
exit 0  # the per-case ctest entries carry the verdicts
