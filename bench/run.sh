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
for t in nginx wrk; do command -v $t >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx wrk; }; done
cargo build --release --quiet --bin reportgate
B=target/release/reportgate
OUT=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; [ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT
. bench/lib.sh
cpu_ticks() { local t=0; for p in $1 $(pgrep -P $1); do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
hwm_kb() { awk '/VmHWM/{print $2}' /proc/$1/status; }

SIM=$(free_port); GW=$(free_port); NG=$(free_port)
$B simulate --listen 127.0.0.1:$SIM --rate-limit 0 --report-duration 0s --token-ttl "${TOKEN_TTL:-749s}" \
   --csv-bytes "${FILE_BYTES:-1073741824}" >/dev/null 2>&1 &
SIM_PID=$!
wait_http http://127.0.0.1:$SIM/__sim/counters

HMAC=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
openssl ecparam -name prime256v1 -genkey -noout -out "$OUT/es.key" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$OUT/es.key" -out "$OUT/es.pk8"
openssl ec -in "$OUT/es.key" -pubout -out "$OUT/es.pub" 2>/dev/null
cat > "$OUT/gateway.yaml" <<YAML
server: {listen: "127.0.0.1:$GW", workers: 2, drain_delay: 0s}
admin: {listen: null}
tenant: {base_url: "http://127.0.0.1:$SIM", client_id: sim-client, client_secret: sim-secret,
         token_refresh_margin: "${TOKEN_MARGIN:-60s}"}
log: {level: warn}
auth:
  issuers:
    - {issuer: bench-hs, audiences: [reportgate], hmac_secret: "$HMAC"}
    - {issuer: bench-es, audiences: [reportgate], public_keys: [{file: "$OUT/es.pub", algorithm: ES256}]}
  id_signing_key: "$HMAC"
limits: {upstream_requests: 100000000, upstream_burst: 1000, max_wait: 30s}
policy:
  default: {run: ["*"], sdk_paths: true, raw_ids: true, rate: 100000000, burst: 100000000}
YAML
$B serve --config "$OUT/gateway.yaml" >"$OUT/gateway.log" 2>&1 &
GW_PID=$!
wait_http http://127.0.0.1:$GW/healthz
HS=$($B token --config "$OUT/gateway.yaml" --sub bench --team bench --ttl 2h)
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
TENANT=$(curl -s -X POST "http://127.0.0.1:$SIM/oauth/token" -d grant_type=client_credentials -d client_id=sim-client -d client_secret=sim-secret | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
mkdir -p "$OUT/cache"; chmod 755 "$OUT"; chmod 777 "$OUT/cache"  # nginx workers run unprivileged
cat > "$OUT/nginx.conf" <<NGINX
worker_processes 2;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  proxy_cache_path $OUT/cache keys_zone=results:10m max_size=100m;
  upstream sim { server 127.0.0.1:$SIM; keepalive 64; }
  server {
    listen 127.0.0.1:$NG;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Authorization "Bearer $TENANT";
    location = /ceiling { default_type application/json; return 200 '{"status":"SUCCESS"}'; }
    location /cached/ {
      add_header X-Cache-Status \$upstream_cache_status always;
      proxy_cache results; proxy_cache_lock on; proxy_cache_valid 200 1h; proxy_cache_valid 404 2s;
      proxy_pass http://sim/;
    }
    location /files/ { proxy_buffering off; proxy_pass http://sim/; }
    location / { proxy_pass http://sim; }
  }
}
NGINX
nginx -c "$OUT/nginx.conf" -p "$OUT"
wait_http http://127.0.0.1:$NG/ceiling

# A finished report, started through the gateway (its id is owner-bound) and raw upstream.
RUN=$(curl -s -X POST http://127.0.0.1:$GW/v1/reports -H "Authorization: Bearer $HS" -H 'content-type: application/json' -d '{"type":"IDENTITIES"}')
GID=$(echo "$RUN" | sed -E 's/.*"id":"([^"]+)".*/\1/'); RAW=${GID%-*}
curl -s -o /dev/null -H "Authorization: Bearer $HS" "http://127.0.0.1:$GW/v1/reports/$GID"

# wrk → "rps p50_ms p99_ms max_ms"
wrk_run() { # url conns [header]
  local url=$1 c=$2; shift 2
  wrk -t2 -c"$c" -d"${DUR}s" --latency "$@" "$url" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ {rps=$2} /^ +50%/ {p50=ms($2)} /^ +99%/ {p99=ms($2)} /Latency/ && !lat {max=ms($4); lat=1}
    END {printf "%.0f %.2f %.2f %.2f\n", rps, p50, p99, max}'
}
measure() { # name pid url conns [header]  → prints a row; pid gets CPU per 1k requests
  local name=$1 pid=$2 url=$3 c=$4; shift 4
  local t0; t0=$(cpu_ticks "$pid")
  read -r rps p50 p99 max < <(wrk_run "$url" "$c" "$@")
  local t1; t1=$(cpu_ticks "$pid")
  local cpu; cpu=$(python3 -c "print(f'{($t1-$t0)/100/max($rps*$DUR,1)*1000:.3f}')")
  printf "%-34s %10s rps  p50 %7s ms  p99 %7s ms  max %8s ms  cpu %s s/1k req\n" "$name" "$rps" "$p50" "$p99" "$max" "$cpu"
  echo "$name $rps $p50 $p99" >> "$OUT/rows"
}
ratio() { python3 - "$OUT/rows" "$1" "$2" <<'PY'
import sys
rows = {l.rsplit(" ", 3)[0]: [float(x) for x in l.rsplit(" ", 3)[1:]] for l in open(sys.argv[1])}
a, b = rows[sys.argv[2]], rows[sys.argv[3]]
print(f"  ratio {sys.argv[2]} / {sys.argv[3]}: throughput {a[0]/b[0]:.2f}x, p50 {a[1]/max(b[1],1e-9):.2f}x, p99 {a[2]/max(b[2],1e-9):.2f}x")
PY
}
NGINX_PID=$(cat "$OUT/nginx.pid")

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
fi
if [ "$SCEN" = all ] || [ "$SCEN" = proxy ]; then
  echo "== 2. proxy overhead: uncached pass-through reads (c=8, ${DUR}s)"
  LUA=(-s bench/unique-ids.lua)
  measure "direct" $SIM_PID "http://127.0.0.1:$SIM/v3/reports/" 8 "${LUA[@]}" -H "Authorization: Bearer $TENANT"
  measure "reportgate pass-through" $GW_PID "http://127.0.0.1:$GW/v3/reports/" 8 "${LUA[@]}" -H "Authorization: Bearer $HS"
  measure "nginx pass-through" $NGINX_PID "http://127.0.0.1:$NG/v3/reports/" 8 "${LUA[@]}"
  python3 - "$OUT/rows" <<'PY'
import sys
rows = {l.rsplit(" ", 3)[0]: [float(x) for x in l.rsplit(" ", 3)[1:]] for l in open(sys.argv[1])}
d = rows["direct"]
for n in ["reportgate pass-through", "nginx pass-through"]:
    r = rows[n]
    print(f"  {n}: added p50 {r[1]-d[1]:.3f} ms, added p99 {r[2]-d[2]:.3f} ms, throughput {r[0]/d[0]:.2f}x of direct")
PY
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
    done
  done
  echo "  reportgate peak RSS after streaming: $(( $(hwm_kb $GW_PID) / 1024 )) MiB"
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
fi
echo "== simulator counters: $(curl -s http://127.0.0.1:$SIM/__sim/counters)"
