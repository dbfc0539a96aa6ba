# Shared by the benchmarks (sourced): locating build outputs, guest images,
# timing a VMM to a marker on its console, and memory overhead sampling.
set -euo pipefail
BENCH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${FRANCA_BUILD:=$BENCH_REPO/build}"
: "${FRANCA_CACHE:=$FRANCA_BUILD/cache}"
: "${FRANCA_BIN:=$FRANCA_BUILD/vmm/franca}"
export FRANCA_BUILD FRANCA_CACHE FRANCA_BIN
KERNEL=$FRANCA_CACHE/kernel/vmlinuz

# bench_ensure_kvm [--harness OPTS... --] ARGS...: re-runs the calling benchmark
# with ARGS on real KVM (nested VM if needed), once. OPTS go to
# tests/harness/run-on-kvm.sh, e.g. `--harness --scratch 2G --` for a fresh ext4
# at $FRANCA_SCRATCH. A benchmark may define bench_prepare: it runs here, before
# the re-run, after the build and the kernel fetch (work that is slow under TCG;
# hand results to the re-run through FRANCA_* variables and the build dir).
# A benchmark that needs TAP and vhost-net sets BENCH_NEEDS_NET=1 first; the
# others run directly wherever /dev/kvm is usable (the harness's --kvm-only).
bench_ensure_kvm() {
  local harness=()
  [[ -n ${BENCH_NEEDS_NET:-} ]] || harness+=(--kvm-only)
  if [[ ${1:-} == --harness ]]; then
    shift
    while [[ $# -gt 0 && $1 != -- ]]; do harness+=("$1"); shift; done
    [[ $# -gt 0 ]] || { echo "bench_ensure_kvm: --harness needs a closing --" >&2; exit 2; }
    shift
  fi
  if [[ -z "${FRANCA_BENCH_INSIDE:-}" ]]; then
    "$BENCH_REPO/scripts/build.sh" >/dev/null
    "$BENCH_REPO/scripts/fetch-kernel.sh" >/dev/null
    if declare -F bench_prepare >/dev/null; then bench_prepare "$@"; fi
    FRANCA_BENCH_INSIDE=1 exec "$BENCH_REPO/tests/harness/run-on-kvm.sh" "${harness[@]}" -- "$0" "$@"
  fi
}

now_ns() { date +%s%N; }

# guest_ram_rss_kb PID MEM_BYTES: Rss of the guest RAM: the mappings over 64 MiB
# (a VMM's guest RAM may be more than one; glibc's malloc arenas are 64 MiB at most).
guest_ram_rss_kb() {
  awk '
    /^[0-9a-f]+-[0-9a-f]+ / { cur = 0 }
    /^Size:/ { cur = ($2 > 65536) }
    /^Rss:/ && cur { sum += $2 }
    END { print sum + 0 }' "/proc/$1/smaps" 2>/dev/null || echo 0
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# time_to_marker NAME MEM_BYTES CMD...: runs CMD (its console on stdout), prints
# "NAME <ms to marker> <peak RSS minus guest RAM, KiB>" once the guest prints
# FRANCA_BENCH_INIT; waits for CMD to exit.
time_to_marker() {
  local name=$1 mem=$2; shift 2
  local fifo; fifo=$(mktemp -u); mkfifo "$fifo"
  local start; start=$(now_ns)
  "$@" >"$fifo" 2>/dev/null &
  local pid=$! ms=-1 overhead=-1 line
  while IFS= read -r line; do
    if [[ $ms -lt 0 && $line == *FRANCA_BENCH_INIT* ]]; then
      ms=$(( ($(now_ns) - start) / 1000000 ))
      overhead=$(( $(status_kb "$pid" VmHWM) - $(guest_ram_rss_kb "$pid" "$mem") ))
    fi
  done <"$fifo"
  wait "$pid" || true
  rm -f "$fifo"
  echo "$name $ms $overhead"
}

# vmm_cpu_ticks PID: the CPU a VMM process spent outside its vCPU threads, in
# clock ticks (getconf CLK_TCK): the process's utime + stime (every thread's,
# exited io_uring workers included; the kernel keeps that sum exact) minus its
# vCPU threads' (franca's "vcpuN", QEMU's "CPU N/KVM": their time is mostly the
# guest's own), plus its vhost workers' (the vhost-TID kernel threads of Linux
# < 6.4, TID being the owning thread's). So: the VMM's I/O threads, main loop and kernel workers. (Not guest
# time subtracted from the total: /proc's guest_time is sampled per tick while
# utime + stime are exact, and their difference can run backwards.) -1 once
# PID is gone.
vmm_cpu_ticks() {
  local pid=$1 line comm f total t
  read -r line 2>/dev/null <"/proc/$pid/stat" || { echo -1; return; }
  read -r -a f <<<"${line##*) }"  # f[0] is field 3 (state): utime is field 14, stime 15
  total=$((f[11] + f[12]))
  for t in /proc/"$pid"/task/*; do
    read -r comm 2>/dev/null <"$t/comm" || continue
    [[ $comm == vcpu[0-9]* || $comm == "CPU "*/KVM ]] || continue
    read -r line 2>/dev/null <"$t/stat" || continue
    read -r -a f <<<"${line##*) }"
    total=$((total - f[11] - f[12]))
  done
  # A vhost worker is named after the *thread* that took ownership (vhost-TID;
  # QEMU's main thread, franca's vmm-io): look for one per thread.
  local owners=() w
  for t in /proc/"$pid"/task/*; do owners+=("vhost-${t##*/}"); done
  for w in "${owners[@]}"; do
    for t in $(pgrep -x "$w" 2>/dev/null || true); do
      read -r line 2>/dev/null <"/proc/$t/stat" || continue
      read -r -a f <<<"${line##*) }"
      total=$((total + f[11] + f[12]))
    done
  done
  echo "$total"
}

# cpu_marks PID LOG OUT: until PID exits, follows the guest console LOG (which
# must exist) and appends "NAME TICKS" to OUT for each line "FRANCA_CPU NAME"
# the guest prints, TICKS being vmm_cpu_ticks PID when the host saw the line
# (polled every 0.1 s, without a fork per poll). A benchmark's guest prints a
# mark before and after each measured phase; the difference is that phase's
# VMM CPU.
cpu_marks() {
  local pid=$1 log=$2 out=$3 line partial="" con tick fifo
  fifo=$(mktemp -u) && mkfifo "$fifo" && exec {tick}<>"$fifo" && rm -f "$fifo"
  exec {con}<"$log"
  while kill -0 "$pid" 2>/dev/null; do
    while IFS= read -r -u "$con" line; do
      line=$partial${line%$'\r'} partial=""
      [[ ! $line =~ FRANCA_CPU\ ([A-Za-z0-9_-]+) ]] || echo "${BASH_REMATCH[1]} $(vmm_cpu_ticks "$pid")" >>"$out"
    done
    partial+=$line
    read -r -t 0.1 -u "$tick" _ || true
  done
  exec {con}<&- {tick}>&-
}

# vmm_pid PID: PID, or the VMM it runs when PID is timeout(1) (waits for its exec).
vmm_pid() {
  local pid=$1 child i
  for ((i = 0; i < 50; i++)); do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == timeout ]] || { echo "$pid"; return; }
    child=$(pgrep -P "$pid" 2>/dev/null | head -n 1 || true)
    [[ -z $child || $(cat "/proc/$child/comm" 2>/dev/null) == timeout ]] || { echo "$child"; return; }
    sleep 0.1
  done
  echo "$pid"
}

# median_range [DIGITS]: "median (min-max)" of the numbers on stdin ("-" for none).
median_range() {
  sort -g | awk -v d="${1:-0}" '{ v[NR] = $1 }
    END { if (!NR) { print "-"; exit }
          m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          printf "%.*f (%.*f-%.*f)\n", d, m, d, v[1], d, v[NR] }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print -1; else if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a >= 0) printf "%.2f", a / b; else print "n/a" }'; }

nested_note() {
  if [[ -n "${FRANCA_NESTED:-}" ]]; then
    echo "NOTE: measured inside a nested VM under QEMU TCG: absolute times are distorted;"
    echo "      only the ratios between peers measured in this same run mean anything."
  fi
}
