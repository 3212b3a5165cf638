#!/usr/bin/env bash
# `nettune check --interval 1s --json` beyond its window with N network namespaces on the
# host (issue 12: < 2 ms per namespace), two binaries interleaved run by run so both see the
# same machine noise. Each round runs, in turn for each binary, `check` reading every
# namespace and `check --host-only`; "per namespace" is (every namespace − host only) / N of
# the same round and binary. Wall time beyond the 1 s window and the process's CPU time
# (user + system) are both reported, as medians over the rounds, with the load average.
# Needs root and `ip`. The namespaces are `$PREFIX-0..N-1`, created here and deleted on any
# exit (only those: other sessions' namespaces on the host are read by `check` too and are
# counted in the report, never touched).
# Usage: bash bench/check_namespaces.sh BEFORE_BIN AFTER_BIN   (N=200 ROUNDS=5 PREFIX=ntbench)
set -euo pipefail
BEFORE=${1:?before binary}
AFTER=${2:?after binary}
N=${N:-200}
ROUNDS=${ROUNDS:-5}
PREFIX=${PREFIX:-ntbench-$$}
OUT=$(mktemp -d)
cleanup() {
  for f in /run/netns/"$PREFIX"-*; do [ -e "$f" ] && echo "netns del ${f##*/}"; done |
    ip -force -batch - 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for i in $(seq 0 $((N - 1))); do echo "netns add $PREFIX-$i"; done | ip -force -batch - 2>/dev/null
for i in $(seq 0 $((N - 1))); do ip -n "$PREFIX-$i" link set lo up; done
# One run: "wall_beyond_ms cpu_ms" on stdout.
run() {
  local bin=$1; shift
  local t0 t1 ticks
  t0=$(date +%s%N)
  # CPU of the child from its own rusage, printed by GNU time.
  /usr/bin/time -f '%U %S' -o "$OUT/time" "$bin" "$@" check --interval 1s --json >/dev/null 2>&1 || true
  t1=$(date +%s%N)
  # (GNU time puts "Command exited with non-zero status N" first: check exits 1 or 2 with
  # findings.)
  tail -1 "$OUT/time" |
    awk -v t0="$t0" -v t1="$t1" '{printf "%.1f %.1f\n", (t1-t0)/1e6-1000, ($1+$2)*1000}'
}
echo "namespaces on the host: $(ip netns list | wc -l) (of which $N made here), $(nproc) CPUs, $(uname -r)"
for r in $(seq "$ROUNDS"); do
  for which in before after; do
    bin=$BEFORE; [ "$which" = after ] && bin=$AFTER
    read -r wall cpu < <(run "$bin")
    read -r hwall hcpu < <(run "$bin" --host-only)
    echo "$which $wall $cpu $hwall $hcpu" >>"$OUT/rows"
  done
  echo "round $r: $(tail -2 "$OUT/rows" | tr '\n' ' ') load $(cut -d' ' -f1 /proc/loadavg)" >&2
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
for which in before after; do
  grep "^$which " "$OUT/rows" | awk -v n="$N" -v w="$which" '
    { all[NR]=$2; cpu[NR]=$3; host[NR]=$4; hcpu[NR]=$5; per[NR]=($2-$4)/n; cper[NR]=($3-$5)/n }
    function med(a, k,   i, j, t, b) { for (i=1;i<=k;i++) b[i]=a[i]
      for (i=1;i<=k;i++) for (j=i+1;j<=k;j++) if (b[j]<b[i]) { t=b[i]; b[i]=b[j]; b[j]=t }
      return k%2 ? b[(k+1)/2] : (b[k/2]+b[k/2+1])/2 }
    END { printf "%-6s beyond window: every namespace %.0f ms, host only %.0f ms, per namespace %.2f ms (runs: ", w, med(all,NR), med(host,NR), med(per,NR)
          for (i=1;i<=NR;i++) printf "%s%.2f", (i>1?" ":""), per[i]
          printf "); CPU: %.0f ms, host only %.0f ms, per namespace %.2f ms\n", med(cpu,NR), med(hcpu,NR), med(cper,NR) }'
done
