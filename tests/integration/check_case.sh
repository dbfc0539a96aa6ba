#!/usr/bin/env bash
# Reports one integration case from the suite run: prints its log, exits with its status.
set -euo pipefail
results=$1 case=$2
if [[ ! -f "$results/$case.rc" ]]; then
  echo "integration case '$case' got no verdict (no $results/$case.rc); the suite's L1 runs:" >&2
  sed 's/^/  /' "$results/l1-runs.txt" >&2 2>/dev/null || echo "  (none recorded: see the integration.suite output)" >&2
  if [[ -f $results/$case.stalled.log ]]; then
    echo "  L1 died while this case ran; the end of its log ($results/$case.stalled.log):" >&2
    tail -n 15 "$results/$case.stalled.log" | sed 's/^/  | /' >&2
  fi
  exit 1
fi
cat "$results/$case.log" 2>/dev/null || true
rc=$(cat "$results/$case.rc")
echo "== $case: exit status $rc"
exit "$rc"
