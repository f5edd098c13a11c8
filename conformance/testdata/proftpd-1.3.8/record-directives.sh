#!/usr/bin/env bash
# record-directives.sh: print directives.tsv, proftpd -t's answer to every
# probe of a probe list, from the real proftpd (Debian 12, proftpd-core +
# proftpd-mod-crypto, run as root).
#
# Usage: record-directives.sh directive-probes.txt > directives.tsv
#
# A probe is a proftpd.conf fragment on one line: "\n" stands for a line
# end, "\t" for a tab, "\\" for a backslash. Each probe goes through
# proftpd-check.sh --no-sweep (the same wrapped file, the same fixtures;
# probes configure no shm cache); the row is the probe as given, ACCEPT or
# REJECT, and the messages joined by " || ".
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 directive-probes.txt" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/record-directives.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# one probe: its row, in the file named after its line number
record() {
  local n=$1 probe=$2 out verdict msgs
  printf '%b\n' "$probe" > "$tmp/$n.conf"
  # From the scratch directory: proftpd -t creates the files some probes
  # name relatively (SystemLog maybe).
  out=$(cd "$tmp" && bash "$here/proftpd-check.sh" --no-sweep "$tmp/$n.conf" || true)
  verdict=$(head -n 1 <<<"$out")
  case "$verdict" in ACCEPT|REJECT) ;; *) echo "unexpected output for $probe: $out" >&2; return 1 ;; esac
  msgs=$(tail -n +2 <<<"$out" | grep -v -e 'unable to bind to local socket: Address already in use$' |
    paste -sd '\t' | sed 's/\t/ || /g' || true)
  printf '%s\t%s\t%s\n' "$probe" "$verdict" "$msgs" > "$tmp/$n.row"
}
export -f record
export here tmp
# proftpd -t leaves SysV objects behind for two probes: mod_ban's shm
# segment (project id 76, 'L') for a usable BanTable, and mod_shaper's
# message queue (project id 24) for a usable ShaperTable. Those that
# appear during the run are removed at its end.
ipc_ids() { ipcs "$1" | awk -v p="$2" 'substr($1,1,4)==p {print $2}' | sort; }
shm_before=$(ipc_ids -m 0x4c)
msg_before=$(ipc_ids -q 0x18)
cleanup_ipc() {
  comm -13 <(echo "$shm_before") <(ipc_ids -m 0x4c) | while read -r id; do [ -n "$id" ] && ipcrm -m "$id"; done
  comm -13 <(echo "$msg_before") <(ipc_ids -q 0x18) | while read -r id; do [ -n "$id" ] && ipcrm -q "$id"; done
  rm -rf "$tmp"
}
trap cleanup_ipc EXIT
# Two at a time (proftpd -t takes its time to start); rows in probe order.
grep -n . "$1" | sed 's/:/\t/' | xargs -d '\n' -P 2 -I{} bash -c 'IFS=$'"'"'\t'"'"' read -r n p <<<"$1"; record "$n" "$p"' _ {}
printf 'probe\tverdict\tmessages\n'
for f in $(ls "$tmp" | grep '\.row$' | sort -n); do cat "$tmp/$f"; done
