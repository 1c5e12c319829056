#!/usr/bin/env bash
# Benchmark (not a test): wall time of the bootstrap on a warm cache and of
# `sandbox up` from nothing, as the median of N runs with min and max.
# Usage: npm run bench:sandbox -- [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
bash scripts/bootstrap.sh >/dev/null 2>&1   # make sure the cache is warm
stats() { sort -n | awk '{a[NR]=$1} END {printf "median %.2f s, min %.2f s, max %.2f s (%d runs)", a[int((NR+1)/2)], a[1], a[NR], NR}'; }
now() { date +%s.%N; }
boot=(); up=()
for _ in $(seq "$runs"); do
  t0=$(now); bash scripts/bootstrap.sh >/dev/null 2>&1; t1=$(now)
  boot+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
  bash sandbox/sandbox.sh down >/dev/null 2>&1
  t0=$(now); bash sandbox/sandbox.sh up >/dev/null 2>&1; t1=$(now)
  up+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
done
bash sandbox/sandbox.sh down >/dev/null 2>&1
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
echo "bootstrap (warm cache): $(printf '%s\n' "${boot[@]}" | stats)"
echo "sandbox up (from nothing, until a healthy member answers): $(printf '%s\n' "${up[@]}" | stats)"
