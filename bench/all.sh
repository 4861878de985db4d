#!/usr/bin/env bash
# Runs every benchmark scenario and writes bench/RESULTS.md (machine, load, date, raw tables
# with ratios, and the targets table computed from the same run by bench/targets.py).
# Takes about 20 minutes; loopback only; leaves no process behind.
#   BASELINE_BIN=/path/to/older/reportgate BASELINE_NOTE=commit bench/all.sh   # adds its instruction counts
set -euo pipefail
# The scenarios piped into `head` end on a broken pipe once head has its lines: `|| true`
# keeps that from stopping the run under pipefail (it stopped the 2026-12-06 run after overload).
cd "$(dirname "$0")/.."
out=$(mktemp); BENCH_FACTS=$(mktemp); export BENCH_FACTS
cargo build --release --quiet --bin reportgate --example audit
AUDIT_DIR=$(mktemp -d)
# BENCH_FACTS_KEEP=file keeps the facts, to re-render the targets table after editing
# bench/target-notes.txt: python3 bench/targets.py FILE bench/RESULTS.md
trap '[ -z "${BENCH_FACTS_KEEP:-}" ] || cp "$BENCH_FACTS" "$BENCH_FACTS_KEEP"; rm -rf "$AUDIT_DIR" "$BENCH_FACTS"' EXIT
{
  echo "# Benchmark results"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)${BENCH_LOAD_NOTE:+ ($BENCH_LOAD_NOTE)}"
  echo "- reportgate $(git rev-parse --short HEAD 2>/dev/null || echo unknown); nginx $(nginx -v 2>&1 | sed 's/.*\///'); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "- every figure comes from one run of \`bench/all.sh\`; ratios compare processes measured side by side in the same run"
  echo
  echo '```'
  DUR="${DUR:-10}" bench/run.sh hot
  DUR="${DUR:-10}" bench/run.sh proxy
  bench/run.sh stream
  TOKEN_TTL=6s TOKEN_MARGIN=2s DUR=15 bench/run.sh storm
  DUR="${DUR:-10}" bench/curve.sh
  echo "== 6. audit sink throughput (file on $(df -T "$AUDIT_DIR" | awk 'NR==2{print $2}'), chain verified after each mode)"
  target/release/examples/audit "$AUDIT_DIR"
  { SECS="${SECS:-30}" bench/overload.sh 2>/dev/null || true; } | head -3
  echo "== two replicas, one API client (two teams at 20 req/s + a quiet team at 1 req/s, round-robin over both)"
  { SECS="${SECS:-30}" bench/replicas.sh 2>/dev/null || true; } | head -3
  echo "== goodput: 40 clients that give up after 3 s and retry, starting exports"
  { SECS="${SECS:-30}" bench/goodput.sh 2>/dev/null || true; } | head -3
  echo "== partial Redis outage: two replicas, A then B cut off Redis 14 s each"
  { SECS=40 bench/partition.sh 2>/dev/null || true; } | head -3
  echo "== 7. instructions and allocations per request (callgrind: load-independent, all threads)"
  for scen in hot proxy; do TOP=0 bench/profile.sh "$scen" 2000 2>/dev/null | grep -E "per request"; done
  if [ -n "${BASELINE_BIN:-}" ]; then
    echo "  baseline: $BASELINE_BIN${BASELINE_NOTE:+ ($BASELINE_NOTE)}"
    for scen in hot proxy; do BIN="$BASELINE_BIN" TOP=0 bench/profile.sh "$scen" 2000 2>/dev/null | grep -E "per request" | sed 's/^/  baseline /'; done
  fi
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo '```'
} 2>&1 | grep -v "^== simulator counters" | tee "$out"
{ echo; python3 bench/targets.py "$BENCH_FACTS" "$out"; } | tee -a "$out"
mv "$out" bench/RESULTS.md
