#!/bin/sh
# bench/run.sh: produce every table of BENCHMARKS.md from scratch.
#
#   bench/run.sh [OUTDIR]          (default: bench/results)
#
# Records the machine, runs `ftpdtls bench` (the micro groups: the
# packages' own benchmarks, from this checkout) and, when run as root,
# bench/e2e.sh. Writes OUTDIR/tables.md (markdown ready for
# BENCHMARKS.md) and the progress logs. Knobs (environment): DURATION
# (-test.benchtime of one run, default 300ms), RUNS (default 5), and
# bench/e2e.sh's (E2E_RUNS becomes its RUNS, default 3).
set -eu
cd "$(dirname "$0")/.."
out=${1:-bench/results}
mkdir -p "$out"
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT INT TERM

CGO_ENABLED=0 go build -o "$tmp/ftpdtls" ./cmd/ftpdtls

{
	echo "## Machine"
	echo
	echo '```'
	echo "\$ nproc; grep -m1 'model name' /proc/cpuinfo; uname -srm; go version; date -u; cat /proc/loadavg"
	nproc
	grep -m1 'model name' /proc/cpuinfo
	uname -srm
	go version
	date -u
	cat /proc/loadavg
	echo '```'
	echo
	echo "## ftpdtls bench"
	echo
	echo '```'
	echo "\$ ftpdtls bench -md -duration ${DURATION:-300ms} -runs ${RUNS:-5}"
	echo '```'
	echo
} >"$out/tables.md"

"$tmp/ftpdtls" bench -md -duration "${DURATION:-300ms}" -runs "${RUNS:-5}" \
	>>"$out/tables.md" 2>"$out/bench.log"

if [ "$(id -u)" = 0 ]; then
	FTPDTLS="$tmp/ftpdtls" RUNS="${E2E_RUNS:-3}" sh bench/e2e.sh >>"$out/tables.md" 2>"$out/e2e.log"
else
	echo "(e2e skipped: needs root)" >>"$out/tables.md"
fi
echo "wrote $out/tables.md" >&2
