#!/usr/bin/env bash
# make vuln: govulncheck against an offline vulnerability database, built
# from the golang.org/x/vulndb module (its data/osv folder, indexed by the
# module's own cmd/indexdb), since the vulnerability service is not
# reachable from here. The database is built once per vulndb version under
# the Go cache. Fails when the code reaches a vulnerable symbol of a
# module or of the standard library of the toolchain go.mod names (see
# internal/vulngate).
set -euo pipefail
cd "$(dirname "$0")/.."
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
bin="$(go env GOPATH)/bin"
db="$(go env GOCACHE)/tipbox-vulndb-$VULNDB_VERSION"
if [ ! -x "$bin/govulncheck" ] || ! "$bin/govulncheck" -version 2>/dev/null | grep -q "govulncheck@$GOVULNCHECK_VERSION"; then
  echo "vuln: installing govulncheck $GOVULNCHECK_VERSION"
  go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
fi
if [ ! -f "$db/index/db.json" ]; then
  echo "vuln: building the offline database from golang.org/x/vulndb@$VULNDB_VERSION"
  src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { echo "vuln: no data/osv in $src" >&2; exit 1; }
  rm -rf "$db.tmp"
  (cd "$(mktemp -d)" && GOFLAGS=-mod=mod go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp")
  mv "$db.tmp" "$db"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# govulncheck exits 3 when it finds anything; vulngate decides.
"$bin/govulncheck" -db "file://$db" -format json ./... > "$out" || [ $? -eq 3 ]
go run ./internal/vulngate < "$out"
