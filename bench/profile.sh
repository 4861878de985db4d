#!/usr/bin/env bash
# Instructions per request, counted by callgrind (stable on a loaded machine, unlike time):
# the gateway runs under valgrind; after warming, N requests of one scenario are counted,
# including the audit writer thread. Prints Ir and allocations (malloc calls) per request
# and the top functions. Under valgrind ring hashes with AVX, not the SHA extensions the
# CPU has, and libc's memset/memcpy count each byte of `rep stos/movs`: both weigh more
# here than on the machine itself (check with perf when in doubt).
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
# One audit record per request, once written: wait until the count stops growing (the
# writer runs under valgrind too, slowly on a loaded machine).
records() {
  local n m=-1
  for _ in $(seq 1 60); do
    sleep 1; n=$(wc -l < "$OUT/audit.jsonl")
    [ "$n" = "$m" ] && break
    m=$n
  done
  echo "$n"
}
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
# Allocations: calls into libc's malloc from anywhere (Rust's allocator, libc, all threads).
callgrind_annotate --tree=caller --threshold=100 "$DUMP" 2>/dev/null | python3 -c '
import re, sys
calls = 0
for block in sys.stdin.read().split("\n\n"):
    lines = block.strip("\n").split("\n")
    if any(re.search(r"\*  \S*:malloc \[", l) for l in lines):
        calls += sum(int(m.group(1).replace(",", "")) for l in lines if " < " in l
                     for m in [re.search(r"\(([\d,]+)x\)", l)] if m)
print(f"{sys.argv[1]}: {calls} allocations, {calls / int(sys.argv[2]):.1f} per request")
' "$SCEN" "$REQS"
[ -n "${KEEP:-}" ] && cp "$DUMP" "$KEEP"
callgrind_annotate --threshold=90 "$DUMP" 2>/dev/null | sed -n '/^Ir/,$p' | head -"${TOP:-45}" | cut -c1-200 || true
