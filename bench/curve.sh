#!/usr/bin/env bash
# How cost grows with work: hot-read throughput and p99 over 1, 1,000 and 100,000 distinct
# finished reports (random ids) and over 1, 100 and 10,000 distinct callers (tokens), next
# to NGINX proxy_cache over the same reports; RSS idle, per cached result, per cached file
# byte and after 100,000 reports. Loopback only; every wrk run is bounded in time (and the
# create/warm runs also in count); everything stops by itself.
#   DUR=10 REPORTS=100000 CALLERS=10000 bench/curve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${DUR:-10}"; CONNS="${CONNS:-32}"; REPORTS="${REPORTS:-100000}"; CALLERS="${CALLERS:-10000}"
FILES="${FILES:-100}"; FILE_BYTES="${CURVE_FILE_BYTES:-262144}"
. bench/lib.sh
. bench/setup.sh  # builds, OUT, cleanup on exit

start_sim --csv-bytes "$FILE_BYTES"
# The result cache is sized above the report count, so the curve measures lookups, not
# evictions (the default, 100,000 entries, would start evicting at exactly this count).
start_gateway "cache: {status_entries: $((REPORTS + REPORTS / 2))}"
NGINX_ZONE=64m NGINX_MAX=4g start_nginx
curl -s -o /dev/null -H "Authorization: Bearer $HS" "http://127.0.0.1:$GW/v1/reports/none"
IDLE=$(rss_kb $GW_PID)
echo "== 5. cost curve (c=$CONNS, ${DUR}s per row, random ids / tokens per request via bench/spread.lua)"
echo "  idle RSS after start and one request: $((IDLE / 1024)) MiB"
fact idle_rss_kb "$IDLE"

# Reports, started through the gateway (owner-bound ids; every run audited blocking).
t0=$(date +%s.%N)
wrk -t2 -c32 -d300s "http://127.0.0.1:$GW/v1/reports" -H "Authorization: Bearer $HS" -s bench/create.lua -- "$OUT" $(((REPORTS + 1) / 2)) 2 >/dev/null
t1=$(date +%s.%N)
cat "$OUT"/ids.* | head -n "$REPORTS" > "$OUT/ids"
MADE=$(wc -l < "$OUT/ids")
python3 -c "print(f'  started {$MADE} reports through the gateway in {$t1-$t0:.1f} s ({$MADE/($t1-$t0):.0f} runs/s, each audited blocking)')"
sed 's|^|/v1/reports/|' "$OUT/ids" > "$OUT/gw-paths"
sed -E 's|^(.*)-[0-9a-f]{32}$|/cached/v3/reports/\1/result|' "$OUT/ids" > "$OUT/ng-paths"
echo "$HS" > "$OUT/hs"

warm() { # paths tokens url → every entry read once
  rm -f "$1".done.*
  wrk -t2 -c16 -d300s "$3" -s bench/warm.lua -- "$1" "$2" seq 2 >/dev/null
}
for n in 1 1000 "$MADE"; do
  head -n "$n" "$OUT/gw-paths" > "$OUT/gw-$n"; head -n "$n" "$OUT/ng-paths" > "$OUT/ng-$n"
done
warm "$OUT/gw-1000" "$OUT/hs" "http://127.0.0.1:$GW"
warm "$OUT/ng-1000" - "http://127.0.0.1:$NG"
R1000=$(rss_kb $GW_PID)
warm "$OUT/gw-$MADE" "$OUT/hs" "http://127.0.0.1:$GW"
warm "$OUT/ng-$MADE" - "http://127.0.0.1:$NG"
RALL=$(rss_kb $GW_PID)
PER=$(( (RALL - R1000) * 1024 / (MADE - 1000) ))
echo "  RSS with 1,000 results cached: $((R1000 / 1024)) MiB; with $MADE: $((RALL / 1024)) MiB; per cached result: $PER bytes"
fact per_result_bytes "$PER"
before=$(curl -s http://127.0.0.1:$SIM/__sim/counters)
for n in 1 1000 "$MADE"; do
  measure "reportgate, $n reports" $GW_PID "http://127.0.0.1:$GW" "$CONNS" -s bench/spread.lua -- "$OUT/gw-$n" "$OUT/hs" random
  measure "nginx proxy_cache, $n reports" $NGINX_PID "http://127.0.0.1:$NG" "$CONNS" -s bench/spread.lua -- "$OUT/ng-$n" - random
done
after=$(curl -s http://127.0.0.1:$SIM/__sim/counters)
python3 - "$before" "$after" <<'PY'
import json, sys
b, a = (json.loads(x) for x in sys.argv[1:])
print(f"  upstream result calls during the report rows: {a['result'] - b['result']} (0: every read was a cache hit)")
PY
ratio "reportgate, $MADE reports" "reportgate, 1 reports"
ratio "nginx proxy_cache, $MADE reports" "nginx proxy_cache, 1 reports"
ratio "reportgate, $MADE reports" "nginx proxy_cache, $MADE reports"

# Callers: distinct tokens (same team, so all may read the report), each verified once.
python3 - "$HMAC" "$CALLERS" > "$OUT/tokens" <<'PY'
import base64, hashlib, hmac, json, sys, time
key, n = sys.argv[1].encode(), int(sys.argv[2])
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
now = int(time.time())
for i in range(n):
    p = b64(json.dumps({"iss": "bench-hs", "aud": "reportgate", "sub": f"caller-{i}", "team": "bench", "iat": now, "exp": now + 7200}).encode())
    sig = hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest()
    print(f"{h}.{p}.{b64(sig)}")
PY
for c in 1 100 "$CALLERS"; do
  head -n "$c" "$OUT/tokens" > "$OUT/tok-$c"
  warm "$OUT/gw-1" "$OUT/tok-$c" "http://127.0.0.1:$GW"  # verified once, then cached
  measure "reportgate, $c callers" $GW_PID "http://127.0.0.1:$GW" "$CONNS" -s bench/spread.lua -- "$OUT/gw-1" "$OUT/tok-$c" random
done
ratio "reportgate, $CALLERS callers" "reportgate, 1 callers"
fact reports_curve "$(row_ratio "reportgate, $MADE reports" "reportgate, 1 reports" 0)"
fact nginx_reports_curve "$(row_ratio "nginx proxy_cache, $MADE reports" "nginx proxy_cache, 1 reports" 0)"
fact callers_curve "$(row_ratio "reportgate, $CALLERS callers" "reportgate, 1 callers" 0)"
fact reports_curve_p99 "$(row_ratio "reportgate, $MADE reports" "reportgate, 1 reports" 2)"
fact callers_curve_p99 "$(row_ratio "reportgate, $CALLERS callers" "reportgate, 1 callers" 2)"
fact curve_vs_nginx "$(row_ratio "reportgate, $MADE reports" "nginx proxy_cache, $MADE reports" 0)"

# Files: FILES distinct finished reports' CSVs, each cached on first download.
RF0=$(rss_kb $GW_PID); total=0
for id in $(head -n "$FILES" "$OUT/ids"); do
  n=$(curl -s -o /dev/null -w '%{size_download}' -H "Authorization: Bearer $HS" "http://127.0.0.1:$GW/v1/reports/$id/file?format=csv")
  total=$((total + n))
done
RF1=$(rss_kb $GW_PID)
python3 -c "print(f'  {$FILES} files cached ({$total/1048576:.1f} MiB): RSS +{($RF1-$RF0)/1024:.1f} MiB, {($RF1-$RF0)*1024/max($total,1):.2f} bytes of RSS per cached file byte')"
fact per_file_byte "$(python3 -c "print(f'{($RF1-$RF0)*1024/max($total,1):.2f}')")"
END=$(rss_kb $GW_PID)
echo "  RSS after $MADE reports (results and $FILES files cached, all rows run): $((END / 1024)) MiB"
fact rss_after_reports_kb "$END"
