#!/usr/bin/env bash
# Runs every benchmark scenario and writes bench/RESULTS.md (machine, date, raw tables with
# ratios). Takes about 7 minutes; loopback only; leaves no process behind.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
{
  echo "# Benchmark results"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
  echo "- reportgate $(git rev-parse --short HEAD 2>/dev/null || echo unknown); nginx $(nginx -v 2>&1 | sed 's/.*\///'); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "- every figure comes from one run of \`bench/all.sh\`; ratios compare processes measured in the same run"
  echo
  echo '```'
  DUR="${DUR:-10}" bench/run.sh hot
  DUR="${DUR:-10}" bench/run.sh proxy
  bench/run.sh stream
  TOKEN_TTL=6s TOKEN_MARGIN=2s DUR=15 bench/run.sh storm
  SECS="${SECS:-30}" bench/overload.sh | head -3
  echo "== two replicas, one API client (two teams at 20 req/s + a quiet team at 1 req/s, round-robin over both)"
  SECS="${SECS:-30}" bench/replicas.sh | head -3
  echo '```'
} 2>&1 | grep -v "^== simulator counters" | tee "$out"
mv "$out" bench/RESULTS.md
