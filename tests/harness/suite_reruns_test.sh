#!/usr/bin/env bash
# harness.suite_reruns: tests/integration/suite.sh's L1 rerun rules, without KVM.
# A fake harness runs run_suite.sh as "L1" in its own process group and ends
# that "L1" the moment a case asks for it (exit 125, as a dead L1 does); the
# cases count their own runs in $FAKE. Checked: the cases without a verdict run
# again in a fresh "L1"; a case during which L1 died twice gets a failing
# verdict (125, both logs) and no longer blocks the rest; each L1 run is a line
# of l1-runs.txt, which check_case.sh prints for a case without a verdict; the
# run limit leaves the remaining cases without a verdict.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=$here/../integration/suite.sh check=$here/../integration/check_case.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export FAKE=$tmp/fake
mkdir -p "$FAKE" "$tmp/cases"

cat >"$tmp/harness.sh" <<'EOF'
#!/usr/bin/env bash
# fake run-on-kvm.sh -- CMD...: CMD is "L1"; a case that creates $FAKE/die kills it.
shift
setsid "$@" &
l1=$!
while kill -0 "$l1" 2>/dev/null; do
  if [[ -e $FAKE/die ]]; then
    rm -f "$FAKE/die"
    kill -KILL -- "-$l1" 2>/dev/null
    wait "$l1" 2>/dev/null
    echo "run-on-kvm: L1 did not report an exit status after 1s: QEMU exited normally (fake)" >&2
    exit 125
  fi
  sleep 0.1
done
wait "$l1"
EOF
chmod +x "$tmp/harness.sh"
# case NAME DIE_RUNS EXIT: a case that ends "L1" in its first DIE_RUNS runs, then exits EXIT.
case_script() {
  cat >"$tmp/cases/$1.sh" <<EOF
n=\$(( \$(cat "\$FAKE/$1" 2>/dev/null || echo 0) + 1 )); echo \$n >"\$FAKE/$1"
echo "$1 run \$n"
if (( n <= $2 )); then touch "\$FAKE/die"; sleep 30; fi
exit $3
EOF
}
case_script a 0 0
case_script b 2 0   # L1 dies twice while it runs: failing verdict
case_script c 1 0   # L1 dies once: passes in the next L1
case_script d 0 0
case_script e 0 3   # a plain failure, never rerun

fail() { echo "FAIL: $*" >&2; echo "--- suite output:" >&2; cat "$tmp/out" >&2; exit 1; }
rc_of() { cat "$tmp/results/$1.rc" 2>/dev/null || echo none; }

FRANCA_SUITE_HARNESS=$tmp/harness.sh FRANCA_SUITE_CASES=$tmp/cases "$suite" "$tmp/results" >"$tmp/out" 2>&1
for want in a:0 b:125 c:0 d:0 e:3; do
  [[ $(rc_of "${want%%:*}") == "${want#*:}" ]] || fail "case ${want%%:*}: verdict $(rc_of "${want%%:*}"), want ${want#*:}"
done
for want in a:1 b:2 c:2 d:1 e:1; do
  [[ $(cat "$FAKE/${want%%:*}") == "${want#*:}" ]] || fail "case ${want%%:*} ran $(cat "$FAKE/${want%%:*}") times, want ${want#*:}"
done
[[ $(wc -l <"$tmp/results/l1-runs.txt") == 4 ]] || fail "want 4 L1 runs in l1-runs.txt"
grep -q '^L1 run 1: exit 125 .*verdicts for 1 of 5 .*L1 died while b ran; L1 did not report' "$tmp/results/l1-runs.txt" ||
  fail "L1 run 1 not described: $(head -n 1 "$tmp/results/l1-runs.txt")"
grep -q '^L1 run 4: exit 0 .*verdicts for 3 of 3' "$tmp/results/l1-runs.txt" || fail "L1 run 4 not described"
grep -q 'L1 died twice while this case ran' "$tmp/results/b.log" || fail "b's log does not say why it failed"
[[ $(grep -c '^b run' "$tmp/results/b.log") == 2 ]] || fail "b's log does not hold both attempts"
[[ -f $tmp/results/c.stalled.log ]] || fail "c's first attempt was not kept"
set +e
"$check" "$tmp/results" b >/dev/null 2>&1; [[ $? == 125 ]] || fail "check_case b: want exit 125"

# A limit of 2 L1 runs: c, d and e get no verdict, and their ctest entries say why.
rm -rf "$FAKE" && mkdir -p "$FAKE"
FRANCA_SUITE_L1_RUNS=2 FRANCA_SUITE_HARNESS=$tmp/harness.sh FRANCA_SUITE_CASES=$tmp/cases \
  "$suite" "$tmp/results" >"$tmp/out" 2>&1
[[ $(rc_of b) == 125 && $(rc_of c) == none && $(rc_of d) == none ]] || fail "with 2 L1 runs: b $(rc_of b), c $(rc_of c), d $(rc_of d)"
msg=$("$check" "$tmp/results" d 2>&1); rc=$?
[[ $rc == 1 ]] || fail "check_case d without a verdict: exit $rc"
grep -q 'got no verdict' <<<"$msg" && grep -q 'L1 run 2: exit 125' <<<"$msg" &&
  grep -q 'after 2 L1 run(s), no verdict for: c d e' <<<"$msg" || fail "check_case d does not show the L1 runs: $msg"
echo "suite rerun rules: ok"
