#!/usr/bin/env bash
# Exporter benchmarks (issue 6, DESIGN §7): scrape time of `nettune export` vs node_exporter
# with the equivalent collectors, and the exporter's memory and CPU at one scrape per second.
# Needs the Debian packages prometheus-node-exporter and curl.
# Usage: bash bench/exporter.sh     (DURATION=60 SCRAPES=100; prints a Markdown section)
set -euo pipefail
cd "$(dirname "$0")/.."
NE_PORT=${NE_PORT:-19101}
NT_PORT=${NT_PORT:-19469}
NT_RATE_PORT=${NT_RATE_PORT:-19470}
DURATION=${DURATION:-60}
SCRAPES=${SCRAPES:-100}
cargo build --release --quiet
cargo bench --no-run --quiet --bench versus 2>/dev/null
BIN=target/release/nettune
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_up() { for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$1/metrics" && return; sleep 0.1; done; echo "port $1 not up" >&2; exit 1; }
scrape_ms() { # median and p90 of $SCRAPES scrapes, ms; $2: pause between scrapes, s
  for _ in $(seq 5); do curl -s -o /dev/null "http://127.0.0.1:$1/metrics"; done
  for _ in $(seq "$SCRAPES"); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$1/metrics"
    sleep "${2:-0}"
  done | sort -n | awk '{a[NR]=$1} END {printf "median %.3f ms, p90 %.3f ms", a[int(NR/2)+1]*1000, a[int(NR*0.9)]*1000}'
}
# CPU (% of one core) and memory of PID while scraping PORT once a second for DURATION s.
load_profile() {
  local pid=$1 port=$2 tck t0 t1 c0 c1
  tck=$(getconf CLK_TCK)
  c0=$(awk '{print $14+$15}' "/proc/$pid/stat"); t0=$(date +%s.%N)
  for _ in $(seq "$DURATION"); do curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; sleep 1; done
  c1=$(awk '{print $14+$15}' "/proc/$pid/stat"); t1=$(date +%s.%N)
  local rss hwm
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status"); hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
  awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v tck="$tck" -v rss="$rss" -v hwm="$hwm" \
    'BEGIN {printf "CPU %.3f %% of a core, VmRSS %.1f MiB (peak VmHWM %.1f MiB)", (c1-c0)/tck/(t1-t0)*100, rss/1024, hwm/1024}'
}

echo "### $(date -u +%Y-%m-%d) — exporter — $(uname -r), $(nproc) CPUs — \`bash bench/exporter.sh\`"
echo
# node_exporter with the collectors equivalent to nettune's exporter (as in bench/run.sh).
prometheus-node-exporter --web.listen-address=127.0.0.1:$NE_PORT --collector.disable-defaults \
  --collector.softnet --collector.netstat --collector.netdev --collector.sockstat \
  --collector.conntrack --collector.interrupts --collector.ethtool --collector.stat \
  >/dev/null 2>&1 &
NE=$!; PIDS+=("$NE")
# nettune without the cache (--interval 0ms): every scrape collects, encodes and diagnoses.
$BIN -q export --listen 127.0.0.1:$NT_PORT --interval 0ms >/dev/null 2>&1 &
NT=$!; PIDS+=("$NT")
wait_up $NE_PORT; wait_up $NT_PORT
ne_bytes=$(curl -s "http://127.0.0.1:$NE_PORT/metrics" | wc -c)
nt_bytes=$(curl -s "http://127.0.0.1:$NT_PORT/metrics" | wc -c)
NE_VERSION=$(prometheus-node-exporter --version 2>&1 | head -1 | awk '{print $3}')
echo "- scrape time, $SCRAPES curl scrapes 0.15 s apart (time_total):"
echo "  - node_exporter $NE_VERSION (collects on every scrape): $(scrape_ms $NE_PORT 0.15) ($ne_bytes bytes)"
echo "  - nettune export --interval 0ms (collects, diagnoses and encodes on every scrape): $(scrape_ms $NT_PORT 0.15) ($nt_bytes bytes)"
kill "$NT" 2>/dev/null || true; wait "$NT" 2>/dev/null || true
# The exporter as deployed: a background thread collects and encodes the counters every
# 3/4 of --interval while scrapes arrive and prepares the next answer (findings over the
# window since the previous scrape); with --interval 100ms every scrape 0.15 s apart finds
# a new collection (counters at most 100 ms old).
$BIN -q export --listen 127.0.0.1:$NT_PORT --interval 100ms >/dev/null 2>&1 &
NT=$!; PIDS+=("$NT")
wait_up $NT_PORT
echo "  - nettune export --interval 100ms (background collection, as deployed): $(scrape_ms $NT_PORT 0.15)"
echo
echo "Interleaved, one scrape of each per round, same Rust client (\`bench/versus.rs\`):"
echo
echo '```'
NODE_EXPORTER=127.0.0.1:$NE_PORT NETTUNE_EXPORTER=127.0.0.1:$NT_PORT BENCH_ITERS=$SCRAPES \
  cargo bench --quiet --bench versus 2>/dev/null
kill "$NT" 2>/dev/null || true; wait "$NT" 2>/dev/null || true
$BIN -q export --listen 127.0.0.1:$NT_PORT --interval 0ms >/dev/null 2>&1 &
NT=$!; PIDS+=("$NT")
wait_up $NT_PORT
echo "-- the same with nettune export --interval 0ms (collects, diagnoses, encodes per scrape):"
NODE_EXPORTER=127.0.0.1:$NE_PORT NETTUNE_EXPORTER=127.0.0.1:$NT_PORT BENCH_ITERS=$SCRAPES \
  cargo bench --quiet --bench versus 2>/dev/null
echo '```'
echo
kill "$NT" 2>/dev/null || true; wait "$NT" 2>/dev/null || true
# Resource use at one scrape per second with the default --interval 1s (the refresher
# collects every 0.75 s while scraped).
$BIN -q export --listen 127.0.0.1:$NT_RATE_PORT >/dev/null 2>&1 &
NT2=$!; PIDS+=("$NT2")
wait_up $NT_RATE_PORT
echo "- one scrape per second for $DURATION s:"
echo "  - nettune export: $(load_profile "$NT2" $NT_RATE_PORT)"
echo "  - node_exporter: $(load_profile "$NE" $NE_PORT)"
