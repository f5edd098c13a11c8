#!/bin/sh
# bench/e2e.sh: ftpdtls serve (1 and 2 workers) against ProFTPD 1.3.8,
# vsftpd and pure-ftpd, end to end, with this program's client, curl and
# lftp; prints markdown for BENCHMARKS.md.
#
# Needs root (a system user for vsftpd's PAM login; the daemons start as
# root as their packages do), Debian's proftpd-core, curl and lftp.
# vsftpd and pure-ftpd are NOT installed (their packages would remove
# ProFTPD): `ftpdtls bench` fetches them with `apt-get download` and
# unpacks them with `dpkg -x` into ~/.cache/ftpdtls-bench/peers. Everything
# listens on 127.0.0.1; servers, user, PAM file, cgroups and files are
# removed at the end (also on ^C). The measuring is `ftpdtls bench -only
# e2e` (bench/internal/e2e); this script builds ftpdtls if FTPDTLS is not
# set. Knobs: RUNS (3), SEQUENTIAL (20), CONCURRENT (16),
# CONCURRENT_SESSIONS (96), TRANSFER (1G; 0 for none), WORKERS (1,2).
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "e2e.sh: needs root" >&2
	exit 1
fi
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT INT TERM
bin=${FTPDTLS:-}
if [ -z "$bin" ]; then
	CGO_ENABLED=0 go build -o "$tmp/ftpdtls" ./cmd/ftpdtls
	bin=$tmp/ftpdtls
fi
set -- -md -only e2e -runs "${RUNS:-3}" -e2e-sequential "${SEQUENTIAL:-20}" -e2e-concurrent "${CONCURRENT:-16}" \
	-e2e-concurrent-sessions "${CONCURRENT_SESSIONS:-96}" -e2e-transfer "${TRANSFER:-1G}" -e2e-workers "${WORKERS:-1,2}"
echo
echo '```'
echo "\$ ftpdtls bench $*"
echo '```'
"$bin" bench -ftpdtls "$bin" "$@"
