#!/usr/bin/env bash
# govulncheck without vuln.go.dev: the Go module proxy serves both the
# scanner (golang.org/x/vuln) and the vulnerability reports
# (golang.org/x/vulndb, whose data/osv holds one OSV JSON file per report).
# vulndb's own indexdb command turns that folder into the v1 database layout
# govulncheck reads (index/db.json, index/modules.json, ID/GO-*.json), and
# govulncheck reads it with -db file://.
#
# Usage: .ci/govulncheck.sh [package patterns]   (default ./...)
# Exit status: govulncheck's (0 clean, 3 vulnerable code found).
#
# To take newer reports, bump VULNDB_VERSION to a newer pseudo-version of
# golang.org/x/vulndb (its commit date is the database's date).
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

# The tools live outside the project's module, so its go.mod is untouched;
# -mod=readonly (set by .ci/run) does not apply to "go install pkg@version".
bin="$(go env GOPATH)/bin"
have() { # have BINARY MODULE VERSION: is BINARY built from MODULE@VERSION?
	[ -x "$bin/$1" ] && go version -m "$bin/$1" 2>/dev/null | grep -qE "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3([[:space:]]|$)"
}
if ! have govulncheck golang.org/x/vuln "$GOVULNCHECK_VERSION"; then
	go install "golang.org/x/vuln/cmd/govulncheck@${GOVULNCHECK_VERSION}"
fi
if ! have indexdb golang.org/x/vulndb "$VULNDB_VERSION"; then
	go install "golang.org/x/vulndb/cmd/indexdb@${VULNDB_VERSION}"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Download the data module outside our module (a temp dir has no go.mod).
src="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "golang.org/x/vulndb@${VULNDB_VERSION}" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ ! -d "$src/data/osv" ]; then
	echo "govulncheck.sh: no data/osv in golang.org/x/vulndb@${VULNDB_VERSION} (got dir '$src')" >&2
	exit 1
fi
"$bin/indexdb" -vulns "$src/data/osv" -out "$work/db"
echo "vulnerability database: golang.org/x/vulndb@${VULNDB_VERSION}, $(ls "$work/db/ID" | grep -c '\.json$') reports"

"$bin/govulncheck" -db "file://$work/db" "${@:-./...}"
