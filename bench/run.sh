#!/usr/bin/env bash
# reportgate against NGINX and the bare upstream, side by side in one run, as ratios.
# Starts the simulator (limit lifted), reportgate, NGINX (proxy_cache + proxy_cache_lock,
# pass-through, proxy_buffering off) and NGINX `return 200` as the ceiling, all on loopback;
# drives them with wrk at fixed connections and duration. Everything stops by itself.
#   bench/run.sh            # hot, proxy and stream       DUR=10 CONNS=32 bench/run.sh hot
#   TOKEN_TTL=6s TOKEN_MARGIN=2s DUR=12 bench/run.sh storm    # token storm across expiries
#   bench/overload.sh       # overload and fairness vs NGINX limit_req
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${DUR:-10}"; CONNS="${CONNS:-32}"; SCEN="${1:-all}"
. bench/lib.sh
. bench/setup.sh  # builds, OUT, cleanup on exit

start_sim --csv-bytes "${FILE_BYTES:-1073741824}"
openssl ecparam -name prime256v1 -genkey -noout -out "$OUT/es.key" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$OUT/es.key" -out "$OUT/es.pk8"
openssl ec -in "$OUT/es.key" -pubout -out "$OUT/es.pub" 2>/dev/null
EXTRA_ISSUERS="    - {issuer: bench-es, audiences: [reportgate], public_keys: [{file: \"$OUT/es.pub\", algorithm: ES256}]}"
start_gateway
ES=$(python3 - "$OUT/es.pk8" <<'PY'
import base64, json, sys, time, subprocess
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
h = b64(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
p = b64(json.dumps({"iss": "bench-es", "aud": "reportgate", "sub": "bench", "team": "bench", "exp": int(time.time()) + 7200}).encode())
der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", sys.argv[1]], input=f"{h}.{p}".encode(), capture_output=True, check=True).stdout
# DER ECDSA signature -> raw r||s (JWS form)
def ints(d):
    i = 2; out = []
    for _ in range(2):
        l = d[i + 1]; v = d[i + 2:i + 2 + l]; out.append(int.from_bytes(v, "big")); i += 2 + l
    return out
r, s = ints(der)
print(f"{h}.{p}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}")
PY
)
start_nginx

# A finished report, started through the gateway (its id is owner-bound) and raw upstream.
RUN=$(curl -s -X POST http://127.0.0.1:$GW/v1/reports -H "Authorization: Bearer $HS" -H 'content-type: application/json' -d '{"type":"IDENTITIES"}')
GID=$(echo "$RUN" | sed -E 's/.*"id":"([^"]+)".*/\1/'); RAW=${GID%-*}
curl -s -o /dev/null -H "Authorization: Bearer $HS" "http://127.0.0.1:$GW/v1/reports/$GID"

if [ "$SCEN" = all ] || [ "$SCEN" = hot ]; then
  echo "  nginx cache check: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NG/cached/v3/reports/$RAW/result")"
  echo "== 1. hot read: status of a finished report (c=$CONNS, ${DUR}s)"
  measure "reportgate cached, HS256 JWT" $GW_PID "http://127.0.0.1:$GW/v1/reports/$GID" "$CONNS" -H "Authorization: Bearer $HS"
  measure "reportgate cached, ES256 JWT" $GW_PID "http://127.0.0.1:$GW/v1/reports/$GID" "$CONNS" -H "Authorization: Bearer $ES"
  measure "nginx proxy_cache (no auth)" $NGINX_PID "http://127.0.0.1:$NG/cached/v3/reports/$RAW/result" "$CONNS"
  measure "simulator direct" $SIM_PID "http://127.0.0.1:$SIM/v3/reports/$RAW/result" "$CONNS" -H "Authorization: Bearer $TENANT"
  measure "ceiling (nginx return 200)" $NGINX_PID "http://127.0.0.1:$NG/ceiling" "$CONNS"
  ratio "reportgate cached, HS256 JWT" "nginx proxy_cache (no auth)"
  ratio "reportgate cached, HS256 JWT" "simulator direct"
  ratio "reportgate cached, ES256 JWT" "reportgate cached, HS256 JWT"
  fact hot_vs_nginx "$(row_ratio "reportgate cached, HS256 JWT" "nginx proxy_cache (no auth)" 0)"
  fact hot_cpu_vs_nginx "$(row_ratio "reportgate cached, HS256 JWT" "nginx proxy_cache (no auth)" 3)"
  fact hot_rps "$(row_value "reportgate cached, HS256 JWT" 0)"
  fact nginx_hot_rps "$(row_value "nginx proxy_cache (no auth)" 0)"
fi
if [ "$SCEN" = all ] || [ "$SCEN" = proxy ]; then
  echo "== 2. proxy overhead: uncached pass-through reads (c=8, ${DUR}s)"
  LUA=(-s bench/unique-ids.lua)
  measure "direct" $SIM_PID "http://127.0.0.1:$SIM/v3/reports/" 8 "${LUA[@]}" -H "Authorization: Bearer $TENANT"
  measure "reportgate pass-through" $GW_PID "http://127.0.0.1:$GW/v3/reports/" 8 "${LUA[@]}" -H "Authorization: Bearer $HS"
  measure "nginx pass-through" $NGINX_PID "http://127.0.0.1:$NG/v3/reports/" 8 "${LUA[@]}"
  python3 - "$OUT/rows" <<'PY'
import sys
rows = {l.rsplit(" ", 4)[0]: [float(x) for x in l.rsplit(" ", 4)[1:]] for l in open(sys.argv[1])}
d = rows["direct"]
for n in ["reportgate pass-through", "nginx pass-through"]:
    r = rows[n]
    print(f"  {n}: added p50 {r[1]-d[1]:.3f} ms, added p99 {r[2]-d[2]:.3f} ms, throughput {r[0]/d[0]:.2f}x of direct")
PY
  ratio "reportgate pass-through" "nginx pass-through"
  fact proxy_vs_nginx "$(row_ratio "reportgate pass-through" "nginx pass-through" 0)"
  fact proxy_cpu_vs_nginx "$(row_ratio "reportgate pass-through" "nginx pass-through" 3)"
  fact proxy_added_p50_ms "$(python3 -c "print($(row_value "reportgate pass-through" 1) - $(row_value direct 1))")"
  fact proxy_added_p99_ms "$(python3 -c "print($(row_value "reportgate pass-through" 2) - $(row_value direct 2))")"
fi
if [ "$SCEN" = all ] || [ "$SCEN" = stream ]; then
  echo "== 3. streaming a $(( ${FILE_BYTES:-1073741824} / 1048576 )) MiB report file"
  for n in 1 8; do
    for target in "direct|http://127.0.0.1:$SIM/v3/reports/$RAW?fileFormat=csv|Authorization: Bearer $TENANT" \
                  "reportgate|http://127.0.0.1:$GW/v1/reports/$GID/file?format=csv|Authorization: Bearer $HS" \
                  "nginx|http://127.0.0.1:$NG/files/v3/reports/$RAW?fileFormat=csv|X-None: 1"; do
      IFS='|' read -r name url hdr <<<"$target"
      start=$(date +%s.%N)
      for _ in $(seq 1 $n); do curl -s -o /dev/null -H "$hdr" "$url" & done; wait $(jobs -p | grep -v -e $SIM_PID -e $GW_PID) 2>/dev/null || true
      end=$(date +%s.%N)
      python3 -c "b=${FILE_BYTES:-1073741824}*$n; t=$end-$start; print(f'  {\"$name\":10} x$n: {b/t/1048576:8.0f} MiB/s ({t:.2f} s)')"
      echo "$name x$n $(python3 -c "print(${FILE_BYTES:-1073741824}*$n/($end-$start))") 0 0 0" >> "$OUT/rows"
    done
    fact "stream_x${n}_vs_direct" "$(row_ratio "reportgate x$n" "direct x$n" 0)"
    fact "nginx_stream_x${n}_vs_direct" "$(row_ratio "nginx x$n" "direct x$n" 0)"
  done
  echo "  reportgate peak RSS after streaming: $(( $(hwm_kb $GW_PID) / 1024 )) MiB"
  fact stream_peak_rss_kb "$(hwm_kb $GW_PID)"
fi
if [ "$SCEN" = storm ]; then
  echo "== 4. token storm: uncached requests for ${DUR}s across token expiries (ttl ${TOKEN_TTL:-749s}, margin ${TOKEN_MARGIN:-60s})"
  before=$(curl -s http://127.0.0.1:$SIM/__sim/counters)
  wrk -t2 -c32 -d"${DUR}s" -s bench/unique-ids.lua -H "Authorization: Bearer $HS" "http://127.0.0.1:$GW/v3/reports/" | grep -E "requests in"
  after=$(curl -s http://127.0.0.1:$SIM/__sim/counters)
  python3 - "$before" "$after" <<'PY'
import json, sys
b, a = (json.loads(x) for x in sys.argv[1:])
print(f"  token requests at the simulator during the run: {a['token_requests'] - b['token_requests']}, "
      f"upstream calls: {a['result'] - b['result']}, 401s: {a['unauthorized'] - b['unauthorized']}")
PY
  fact storm_token_requests "$(python3 -c "import json,sys; print(json.loads(sys.argv[2])['token_requests'] - json.loads(sys.argv[1])['token_requests'])" "$before" "$after")"
fi
echo "== simulator counters: $(curl -s http://127.0.0.1:$SIM/__sim/counters)"
