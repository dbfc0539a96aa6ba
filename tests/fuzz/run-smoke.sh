#!/usr/bin/env bash
# Fuzz smoke run: configures and builds tests/fuzz with clang into BUILD_DIR,
# then runs every libFuzzer target for SECONDS on its seed corpus
# (corpus/<target>/). Fails on any crash, sanitizer report, leak or timeout.
# usage: tests/fuzz/run-smoke.sh BUILD_DIR SECONDS   (CXX_FUZZ overrides clang++)
set -euo pipefail
build=${1:?usage: run-smoke.sh BUILD_DIR SECONDS}
seconds=${2:?usage: run-smoke.sh BUILD_DIR SECONDS}
here=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$build"
cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j2

status=0
mkdir -p "$build/artifacts"
while read -r target; do
  [[ -n "$target" ]] || continue
  work="$build/work/$target"  # new inputs land here, never in the source tree
  mkdir -p "$work"
  corpora=("$work")
  [[ -d "$here/corpus/$target" ]] && corpora+=("$here/corpus/$target")
  log="$build/$target.log"
  echo "fuzz.smoke: $target for ${seconds}s"
  if "$build/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$target-" "${corpora[@]}" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units' "$log" || true
  else
    echo "fuzz.smoke: $target FAILED; artifacts in $build/artifacts, log $log"
    tail -n 60 "$log"
    status=1
  fi
done <"$build/fuzz_targets.txt"
exit "$status"
