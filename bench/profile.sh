#!/usr/bin/env bash
# Instructions per request, counted by callgrind (stable on a loaded machine, unlike time):
# the gateway runs under valgrind; after warming, N requests of one scenario are counted,
# including the audit writer thread. Prints Ir per request and the top functions.
#   bench/profile.sh hot [N]     # cached status of a finished report (every check on)
#   bench/profile.sh proxy [N]   # uncached pass-through reads (fresh id per request)
#   BIN=/tmp/old-reportgate bench/profile.sh hot   # another build, for before/after
set -euo pipefail
cd "$(dirname "$0")/.."
SCEN="${1:-hot}"; N="${2:-2000}"
. bench/lib.sh
. bench/setup.sh  # builds, OUT, cleanup on exit
start_sim
WAIT_TRIES=600 GW_WRAP="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$OUT/cg.%p" start_gateway
RUN=$(curl -s -X POST http://127.0.0.1:$GW/v1/reports -H "Authorization: Bearer $HS" -H 'content-type: application/json' -d '{"type":"IDENTITIES"}')
GID=$(echo "$RUN" | sed -E 's/.*"id":"([^"]+)".*/\1/')
echo "$HS" > "$OUT/hs"
case "$SCEN" in
  hot) for _ in $(seq 1 "$N"); do echo "/v1/reports/$GID"; done > "$OUT/paths" ;;
  proxy) python3 -c "import secrets; [print('/v3/reports/' + secrets.token_hex(16) + '/result') for _ in range($N)]" > "$OUT/paths" ;;
esac
VG=$GW_PID  # valgrind runs the gateway in its own process
run() { rm -f "$OUT"/paths.done.*; wrk -t1 -c8 -d600s "http://127.0.0.1:$GW" -s bench/warm.lua -- "$OUT/paths" "$OUT/hs" seq 1 >/dev/null; }
records() { sleep 2; wc -l < "$OUT/audit.jsonl"; }  # one audit record per request, once written
run  # warm: caches, connections, lazy statics
A=$(records)
callgrind_control -i on "$VG" >/dev/null
run
B_=$(records)
callgrind_control -d "$VG" >/dev/null
callgrind_control -i off "$VG" >/dev/null
REQS=$((B_ - A))
DUMP=$(ls -t "$OUT"/cg.* | head -1)
IR=$(awk '/^summary:|^totals:/{print $2; exit}' "$DUMP")
echo "$SCEN: $REQS requests, $IR instructions, $((IR / REQS)) per request"
[ -n "${KEEP:-}" ] && cp "$DUMP" "$KEEP"
callgrind_annotate --threshold=90 "$DUMP" 2>/dev/null | sed -n '/^Ir/,$p' | head -"${TOP:-45}" | cut -c1-200 || true
