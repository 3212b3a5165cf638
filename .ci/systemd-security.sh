#!/usr/bin/env bash
# Scores every unit in deploy/systemd/ with `systemd-analyze security --offline=yes` and fails
# when one is above its target (0 = locked down, 10 = exposed), or has no target. Each drop-in
# (deploy/systemd/UNIT.d/*.conf) is scored applied to its unit, with its own target.
# Needs systemd (systemd-analyze >= 250 for --offline).
set -euo pipefail
cd "$(dirname "$0")/../deploy/systemd"

# Target per unit, or per UNIT+DROPIN. Add a line for every new unit or drop-in.
declare -A target=(
  [nettune-exporter.service]=2.5
  [nettune-exporter.service+netns.conf]=2.5
  [nettune-textfile.service]=2.5
  [nettune-apply.service]=5.0
  [nettune-autotune.service]=5.0
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# score NAME FILE...: the files concatenated into one unit named after the first one (later
# assignments override earlier ones, as a drop-in's do), scored alone so no drop-in beside it
# in this directory is picked up.
score() {
  local name=$1 unit
  unit=$(basename "$2")
  shift
  rm -rf "${tmp:?}"/*
  cat "$@" >"$tmp/$unit"
  local out level
  out=$(systemd-analyze security --offline=yes --no-pager "$tmp/$unit" 2>&1) || true
  level=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' <<<"$out")
  if [[ -z $level ]]; then
    echo "FAIL $name: no score from systemd-analyze:"
    echo "$out"
    failed=1
    return
  fi
  local want=${target[$name]:-}
  if [[ -z $want ]]; then
    echo "FAIL $name: $level, but no target in .ci/systemd-security.sh"
    failed=1
  elif awk -v l="$level" -v w="$want" 'BEGIN { exit !(l > w) }'; then
    echo "FAIL $name: $level > target $want"
    grep '✗' <<<"$out" || true
    failed=1
  else
    echo "ok   $name: $level <= $want"
  fi
}

shopt -s nullglob
units=(*.service)
[[ ${#units[@]} -gt 0 ]] || { echo "no units in deploy/systemd"; exit 1; }
for unit in "${units[@]}"; do
  score "$unit" "$unit"
  for dropin in "$unit".d/*.conf; do
    score "$unit+$(basename "$dropin")" "$unit" "$dropin"
  done
done
exit "$failed"
