#!/usr/bin/env bash
# make test: every test with the race detector, against real Redis and
# PostgreSQL. Prints, besides go test's package lines, which contract
# suites ran against which backend (sqlite, postgres, memory, redis,
# cluster, tiered), and on failure the failing tests' output.
# Extra arguments go to go test (e.g. scripts/test.sh -run TestStore).
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
go test -race -count=1 -timeout 25m -v "$@" ./... > "$log" 2>&1
rc=$?
echo "== Contract suites by backend"
grep -E '^ {4}--- (PASS|FAIL|SKIP): Test[A-Za-z0-9_]+/(sqlite|postgres|memory|redis|cluster|tiered|none)( |/)' "$log" \
  | sed -E 's/^ +//; s/ \([0-9.]+s\)$//' | sort | uniq -c | awk '{c=$1; $1=""; print $0 (c>1 ? " ×" c : "")}'
echo "== Shared suites (one suite, every adapter)"
awk '/^--- (PASS|FAIL|SKIP): Test(Contract|Universal|Semantics|Bus)[A-Za-z0-9_]* /{buf = buf $2 " " $3 "\n"; next}
     /^(ok|FAIL)[ \t]+[a-z]/{ if (buf != "") { n = split(buf, l, "\n"); for (i = 1; i < n; i++) print l[i] "  (" $2 ")"; buf = "" } }' "$log"
if [ $rc -ne 0 ]; then
  echo "== Failures"
  grep -nE -- '--- FAIL|^FAIL|panic:|^\s+[A-Za-z0-9_]+\.go:[0-9]+:|DATA RACE|build failed|cannot|undefined' "$log" | grep -v '^\s*time=' | head -200
  if grep -q 'WARNING: DATA RACE' "$log"; then
    echo "== Data races (the detector's reports)"
    awk '/^WARNING: DATA RACE/{p=1} p{print} p && /^==================$/{p=0}' "$log" | head -300
  fi
fi
echo "== Packages"
grep -E '^(ok|FAIL|---|\?)\s' "$log" | grep -v '^---' 
passed=$(grep -cE '^\s*--- PASS' "$log")
failed=$(grep -cE '^\s*--- FAIL' "$log")
skipped=$(grep -cE '^\s*--- SKIP' "$log")
echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
