#!/bin/sh
# bench/run.sh: produce every table of BENCHMARKS.md from scratch.
#
#   bench/run.sh [OUTDIR]          (default: bench/results)
#
# Builds ftpdtls, records the machine, runs `ftpdtls bench` (all groups
# but e2e) and, when run as root with ProFTPD installed, bench/e2e.sh.
# Writes OUTDIR/tables.md (markdown ready for BENCHMARKS.md),
# OUTDIR/bench.json and the progress logs. Knobs (environment):
# DURATION (per run, default 500ms), RUNS (default 5), E2E_DURATION
# (default 5s), E2E_RUNS (default 3), E2E_CLIENTS (default 4).
set -eu
cd "$(dirname "$0")/.."
out=${1:-bench/results}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

go build -o "$tmp/ftpdtls" ./cmd/ftpdtls

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
	echo "\$ ftpdtls bench -md -duration ${DURATION:-500ms} -runs ${RUNS:-5}"
	echo '```'
	echo
} >"$out/tables.md"

"$tmp/ftpdtls" bench -md -duration "${DURATION:-500ms}" -runs "${RUNS:-5}" \
	>>"$out/tables.md" 2>"$out/bench.log"
# The same numbers as JSON come from a second, quicker run only when
# asked: JSON=1.
if [ "${JSON:-0}" = 1 ]; then
	"$tmp/ftpdtls" bench -json >"$out/bench.json" 2>/dev/null
fi

if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/proftpd ]; then
	FTPDTLS="$tmp/ftpdtls" sh bench/e2e.sh >>"$out/tables.md" 2>"$out/e2e.log"
else
	echo "(e2e skipped: needs root and /usr/sbin/proftpd)" >>"$out/tables.md"
fi
echo "wrote $out/tables.md" >&2
