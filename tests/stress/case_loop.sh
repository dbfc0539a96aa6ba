#!/usr/bin/env bash
# Runs integration cases again and again to catch a rare failure: each named
# case N times in turn, every run in a fresh work dir, the log of each failed
# run kept as RESULTS/<case>.<run>.log (with the evidence run_suite.sh appends on
# a timeout). Prints a line per run and the counts.
# usage (inside the harness):
#   tests/harness/run-on-kvm.sh -- tests/stress/case_loop.sh RESULTS N CASE...
# Env as for tests/integration/run_suite.sh (FRANCA_BIN, FRANCA_CACHE, FRANCA_REPO,
# FRANCA_NETTOOL, FRANCA_BLKTOOL).
set -uo pipefail
results=${1:?usage: case_loop.sh RESULTS N CASE...} n=${2:?} ; shift 2
here=$(cd "$(dirname "$0")/../integration" && pwd)
mkdir -p "$results"
declare -A fails=()
for ((i = 1; i <= n; i++)); do
  for c in "$@"; do
    "$here/run_suite.sh" "$results" "$c" | grep '^\[integration\] '"$c"':' | sed "s/^/[loop $i] /"
    if [[ $(cat "$results/$c.rc") != 0 ]]; then
      fails[$c]=$((${fails[$c]:-0} + 1))
      cp "$results/$c.log" "$results/$c.$i.log"
    fi
  done
done
for c in "$@"; do echo "[loop] $c: $n runs, ${fails[$c]:-0} failed"; done
