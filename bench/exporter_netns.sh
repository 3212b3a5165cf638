#!/usr/bin/env bash
# The exporter's fds, threads and memory while network namespaces come and go (issue 12:
# "open/close 1,000 namespaces in a loop: no fd or memory growth"). Starts `nettune export`
# reading every namespace (`--max-netns` above what the host has, so each one has its own
# `netns` label), then ROUNDS times: adds BATCH namespaces (`$PREFIX-R-i`, lo up), scrapes
# until every one of them is labelled in /metrics, deletes them, scrapes until none is, and
# samples the exporter's open fds, threads and VmRSS. Other sessions' namespaces on the host
# are read too: each sample says how many `ip netns` namespaces exist.
# Needs root, `ip` and curl. Usage: bash bench/exporter_netns.sh BIN
#   (ROUNDS=50 BATCH=20 PORT=19479 MAXNETNS=512 PREFIX=ntexp-$$ SETTLE=0; 50 x 20 = 1,000
#   namespaces; SETTLE=N also samples N s after each round's namespaces are gone)
set -euo pipefail
BIN=${1:?nettune binary}
ROUNDS=${ROUNDS:-50}
BATCH=${BATCH:-20}
PORT=${PORT:-19479}
MAXNETNS=${MAXNETNS:-512}
PREFIX=${PREFIX:-ntexp-$$}
EXP=
cleanup() {
  if [ -n "$EXP" ]; then kill "$EXP" 2>/dev/null || true; wait "$EXP" 2>/dev/null || true; fi
  for f in /run/netns/"$PREFIX"-*; do [ -e "$f" ] && echo "netns del ${f##*/}"; done |
    ip -force -batch - 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$BIN" -q export --listen "127.0.0.1:$PORT" --interval 500ms --max-netns "$MAXNETNS" >/dev/null 2>&1 &
EXP=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/metrics" && break; sleep 0.1; done
# How many of round $1's namespaces /metrics labels.
mine() { curl -s "http://127.0.0.1:$PORT/metrics" | grep -o "netns=\"$PREFIX-$1-[0-9]*\"" | sort -u | wc -l; }
sample() {
  local fds th rss
  fds=$(ls "/proc/$EXP/fd" | wc -l)
  th=$(ls "/proc/$EXP/task" | wc -l)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$EXP/status")
  # Namespaces the exporter labels besides the host, and a few of them not made here.
  labels=$(curl -s "http://127.0.0.1:$PORT/metrics" | grep -o 'netns="[^"]*"' | sort -u |
    grep -v -e 'netns="host"' -e 'netns="other"' || true)
  others=$(grep -v -e "netns=\"$PREFIX-" -e "^$" <<<"$labels" | head -3 | tr '\n' ' ' || true)
  echo "$1 fds $fds threads $th rss_kib $rss labelled $(grep -c . <<<"$labels" || true) ip_netns $(ip netns list | wc -l) ${others:+others: $others}"
}
wait_for() { # round, wanted count
  for _ in $(seq 100); do [ "$(mine "$1")" -eq "$2" ] && return 0; sleep 0.2; done
  echo "round $1: expected $2 of its namespaces in /metrics, saw $(mine "$1")" >&2; return 1
}
sample start
for r in $(seq "$ROUNDS"); do
  for i in $(seq "$BATCH"); do echo "netns add $PREFIX-$r-$i"; done | ip -force -batch - 2>/dev/null
  for i in $(seq "$BATCH"); do ip -n "$PREFIX-$r-$i" link set lo up; done
  wait_for "$r" "$BATCH"
  sample "round $r with"
  for i in $(seq "$BATCH"); do echo "netns del $PREFIX-$r-$i"; done | ip -force -batch - 2>/dev/null
  wait_for "$r" 0
  sample "round $r after"
  # SETTLE seconds later: the exporter has forgotten them (5 collections) and trimmed its heap.
  if [ "${SETTLE:-0}" != 0 ]; then sleep "$SETTLE"; sample "round $r settled"; fi
done
