#!/usr/bin/env bash
# Snapshot benchmarks (issue 2, DESIGN §7). Needs root for ethtool/sock_diag parity and the
# Debian packages prometheus-node-exporter, hyperfine, curl, ethtool, iproute2, procps.
# Usage: bash bench/run.sh            (prints a Markdown section to append to RESULTS.md)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-19100}
cargo build --release --quiet
BIN=target/release/nettune

echo "### $(date -u +%Y-%m-%d) — $(uname -r), $(nproc) CPUs — \`bash bench/run.sh\`"
echo
echo '```'
BENCH_ITERS=${BENCH_ITERS:-200} cargo bench --quiet --bench snapshot 2>/dev/null
echo '```'

# node_exporter with the collectors equivalent to a nettune snapshot.
prometheus-node-exporter --web.listen-address=127.0.0.1:$PORT --collector.disable-defaults \
  --collector.softnet --collector.netstat --collector.netdev --collector.sockstat \
  --collector.conntrack --collector.interrupts --collector.ethtool --collector.stat \
  >/dev/null 2>&1 &
NE=$!
trap 'kill $NE 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/metrics" && break; sleep 0.1; done
scrape_ms() {
  for _ in $(seq 5); do curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics"; done
  for _ in $(seq 100); do curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/metrics"; done |
    sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int(NR/2)+1]*1000}'
}
echo
echo "node_exporter $(prometheus-node-exporter --version 2>&1 | head -1 | awk '{print $3}') scrape (softnet, netstat, netdev, sockstat, conntrack, interrupts, ethtool, stat), median of 100 curl time_total: $(scrape_ms) ms"
echo
echo "Interleaved round by round with nettune's collectors for the same sources (\`bench/versus.rs\`):"
echo
echo '```'
NODE_EXPORTER=127.0.0.1:$PORT BENCH_ITERS=${BENCH_ITERS:-200} cargo bench --quiet --bench versus 2>/dev/null
echo '```'
echo
echo '```'
hyperfine -N --warmup 5 --runs 50 --style basic --export-markdown /tmp/nettune-hf.md \
  "$BIN snapshot --interval 0ms -o /dev/null" \
  "curl -s -o /dev/null http://127.0.0.1:$PORT/metrics" 2>&1 | grep -E 'Time|±|faster' || true
hyperfine --warmup 3 --runs 20 --style basic \
  "$BIN snapshot --interval 0ms -o /dev/null" \
  "cat /proc/net/softnet_stat; nstat -az; ip -s link; ethtool -S eth0; sysctl -a" 2>&1 | grep -E 'Time|faster|±' || true
echo '```'

# check: wall time beyond its sampling window (target < 50 ms).
hyperfine -N -i --warmup 2 --runs 10 --style none --export-json /tmp/nettune-check.json \
  "$BIN check --interval 1s --json" >/dev/null 2>&1 || true
python3 - <<'PY'
import json
r = json.load(open("/tmp/nettune-check.json"))["results"][0]
print(f"\n`check --interval 1s`: mean {r['mean']*1000:.1f} ms, median {r['median']*1000:.1f} ms "
      f"-> {((r['median'])-1.0)*1000:.1f} ms beyond the 1 s window (target < 50 ms)")
PY
