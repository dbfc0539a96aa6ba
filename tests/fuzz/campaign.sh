#!/usr/bin/env bash
# Fuzz campaign: builds tests/fuzz with clang (ASan+UBSan, as run-smoke.sh does),
# then runs each target in turn, one process at a time, for a time or an exec
# count from its corpus in the tree (corpus/<target>/). Inputs that add
# coverage are merged back into that corpus with -merge=1 (only new coverage,
# so it stays small). Prints a Markdown table per target: execs, exec/s, cov
# and ft (libFuzzer's final stats), corpus files, crashes and their artifacts.
# Exits non-zero if any target crashed (or leaked, timed out, ran out of memory).
#
# usage: tests/fuzz/campaign.sh (--time SECONDS | --runs N) [--build DIR] [--no-merge] [TARGET...]
#   e.g. tests/fuzz/campaign.sh --time 600
#        tests/fuzz/campaign.sh --runs 10000000 mmio_fuzz blk_guard_fuzz
#        tests/fuzz/campaign.sh --runs 0   # only re-minimize the corpora
# CXX_FUZZ overrides clang++; ccache is used as the compiler launcher when installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build="$here/../../build/fuzz-campaign"
limit=() merge=1 targets=()
usage() { sed -n 's/^# usage: //p' "$0" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --time) limit=(-max_total_time="${2:?}"); shift 2 ;;
    --runs) limit=(-runs="${2:?}"); shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    --no-merge) merge=0; shift ;;
    -h | --help) usage ;;
    -*) echo "campaign.sh: unknown option $1" >&2; usage ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#limit[@]})) || usage

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
mkdir -p "$build"
cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" "${launcher[@]}" >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
mapfile -t known <"$build/fuzz_targets.txt"
((${#targets[@]})) || targets=("${known[@]}")
for t in "${targets[@]}"; do
  [[ " ${known[*]} " == *" $t "* ]] || { echo "campaign.sh: no fuzz target '$t' (have: ${known[*]})" >&2; exit 2; }
done
cmake --build "$build" -j2 --target "${targets[@]}"

# The named seeds in corpus/<target>/ stay as they are; the inputs libFuzzer
# named by hash are replaced by a -merge=1 minimal set over (seeds, previous
# merged inputs, this run's inputs) that keeps every edge. Edges only
# (-use_counters=0): with hit counts too the set is ~5x the files.
minimize() {
  local t=$1 corpus=$2 work=$3 out="$build/merge/$1"
  rm -rf "$out" && mkdir -p "$out"
  find "$corpus" -maxdepth 1 -regextype posix-extended -type f ! -regex '.*/[0-9a-f]{40}' -exec cp {} "$out" \;
  if ! "$build/$t" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 "$out" "$corpus" "$work" >"$build/$t.merge.log" 2>&1; then
    echo "campaign: $t merge failed (corpus left as it was), see $build/$t.merge.log" >&2
    return
  fi
  find "$corpus" -maxdepth 1 -regextype posix-extended -type f -regex '.*/[0-9a-f]{40}' -delete
  find "$out" -maxdepth 1 -regextype posix-extended -type f -regex '.*/[0-9a-f]{40}' -exec cp {} "$corpus" \;
}

artifacts="$build/artifacts"
mkdir -p "$artifacts"
rows=() status=0
for t in "${targets[@]}"; do
  corpus="$here/corpus/$t" work="$build/work/$t" log="$build/$t.log"
  mkdir -p "$corpus"
  rm -rf "$work" && mkdir -p "$work"  # new inputs land here first, never straight in the tree
  echo "campaign: $t ${limit[*]}" >&2
  rc=0
  "$build/$t" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "$work" "$corpus" >"$log" 2>&1 || rc=$?
  ((merge)) && minimize "$t" "$corpus" "$work"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  files=$(find "$corpus" -type f | wc -l)
  kib=$(($(cat "$corpus"/* | wc -c) / 1024))
  if ((rc != 0)); then
    status=1
    art=$(ls -t "$artifacts/$t-"* 2>/dev/null | head -n1 || true)
    crash="1 (${art:-no artifact}; log $log)"  # libFuzzer stops at the first
    echo "campaign: $t FAILED (exit $rc):" >&2
    grep -E -A12 '^==[0-9]+==ERROR|runtime error:|deadly signal|^==[0-9]+== ERROR: libFuzzer' "$log" | head -n 40 >&2 || true
  else
    crash=0
  fi
  rows+=("| $t | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | $files ($kib KiB) | $crash |")
done

echo "| target | execs | exec/s | cov | ft | corpus files | crashes |"
echo "|---|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
exit "$status"
