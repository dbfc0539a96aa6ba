#!/usr/bin/env bash
# Reports one integration case from the suite run: prints its log, exits with its status.
set -euo pipefail
results=$1 case=$2
if [[ ! -f "$results/$case.rc" ]]; then
  echo "integration case '$case' did not run (no $results/$case.rc); see the integration.suite output" >&2
  exit 1
fi
cat "$results/$case.log" 2>/dev/null || true
rc=$(cat "$results/$case.rc")
echo "== $case: exit status $rc"
exit "$rc"
