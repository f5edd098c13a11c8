#!/bin/sh
# bench/e2e.sh: ProFTPD 1.3.8 against `ftpdtls serve`, end to end.
#
# Needs root (ProFTPD runs as a daemon with User nobody) and Debian's
# proftpd-core + proftpd-mod-crypto. Everything listens on 127.0.0.1; the
# servers, their segments and files are removed at the end (also on ^C).
# The measuring is done by `ftpdtls bench -only e2e` (internal/bench/e2e.go);
# this script builds ftpdtls if FTPDTLS is not set and prints markdown.
# Knobs: E2E_DURATION (default 5s), E2E_RUNS (3), E2E_CLIENTS (4),
# E2E_WORKERS (adds a row for ftpdtls serve -workers N; default 2, 0 leaves it out).
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "e2e.sh: needs root (ProFTPD runs as a daemon)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
bin=${FTPDTLS:-}
if [ -z "$bin" ]; then
	go build -o "$tmp/ftpdtls" ./cmd/ftpdtls
	bin=$tmp/ftpdtls
fi
cmd="ftpdtls bench -md -only e2e -runs ${E2E_RUNS:-3} -e2e-duration ${E2E_DURATION:-5s} -e2e-clients ${E2E_CLIENTS:-4} -e2e-workers ${E2E_WORKERS:-2}"
echo
echo "## End to end"
echo
echo '```'
echo "\$ $cmd"
echo '```'
echo
"$bin" bench -md -ftpdtls "$bin" -only e2e -runs "${E2E_RUNS:-3}" -e2e-duration "${E2E_DURATION:-5s}" \
	-e2e-clients "${E2E_CLIENTS:-4}" -e2e-workers "${E2E_WORKERS:-2}"
