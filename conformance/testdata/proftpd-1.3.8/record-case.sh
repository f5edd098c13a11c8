#!/usr/bin/env bash
# record-case.sh: print the expected.tsv row for one fragment, from the real
# proftpd (Debian 12, proftpd-core + proftpd-mod-crypto, run as root).
#
# Usage: record-case.sh cases/NAME.conf >> expected.tsv
#
# It runs proftpd-check.sh --run 3 on the fragment and turns its output into
# the columns case, verdict, check_message, shm_after_t, runtime (several lines
# joined by " || ").
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 cases/NAME.conf" >&2; exit 2; }
frag=$1
name=$(basename "$frag" .conf)
out=$(bash "$(dirname "$0")/proftpd-check.sh" --run 3 "$frag" || true)
verdict=$(head -n 1 <<<"$out")
case "$verdict" in ACCEPT|REJECT) ;; *) echo "unexpected output: $out" >&2; exit 1 ;; esac
join() { paste -sd '\t' | sed 's/\t/ || /g'; }
check=$(tail -n +2 <<<"$out" | grep -v -e '^SHM-LEFT-BY-CHECK: ' -e '^RUNTIME: ' | join || true)
shm=$(grep '^SHM-LEFT-BY-CHECK: ' <<<"$out" |
  sed -E 's/^SHM-LEFT-BY-CHECK: key=(0x[0-9a-f]+) proj=([0-9]+) perms=[0-9]+ bytes=([0-9]+).*/\1(proj \2) \3 bytes/' |
  paste -sd ';' | sed 's/;/; /g' || true)
# The runtime column keeps what tells the cache's fate: how the daemon ended,
# cache errors, and the trace lines about size and segment (timestamps dropped).
runtime=$(grep '^RUNTIME: ' <<<"$out" | sed -E -e 's/^RUNTIME: //' \
    -e 's/^\[trace\] [0-9-]+ [0-9:,]+ \[[0-9]+\] /[trace] /' |
  grep -E -e '^daemon ' \
    -e '^mod_tls(_shmcache)?/[0-9.]+: .*(error|badly|not an absolute|unable)' \
    -e '^\[trace\] <tls\.shmcache:1>: ' \
    -e '^\[trace\] <tls\.shmcache:9>: (requested (session|OCSP) cache size|rounded|using shm ID)' |
  join || true)
printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$verdict" "$check" "$shm" "$runtime"
