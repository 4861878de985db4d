# Shared by run.sh, curve.sh and profile.sh (sourced after lib.sh, from the repository
# root): the tools, the release build (BIN= uses another binary, unbuilt), a temp dir OUT
# removed on exit with every process started here; the simulator, reportgate and NGINX on
# loopback, and wrk measurement helpers.
for t in nginx wrk; do command -v $t >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx wrk; }; done
[ -n "${BIN:-}" ] || cargo build --release --quiet --bin reportgate
B=${BIN:-target/release/reportgate}
OUT=$(mktemp -d)
trap 'cleanup; rm -rf "$OUT"' EXIT
cleanup() { kill $(jobs -p) 2>/dev/null || true; [ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true; }
cpu_ticks() { local t=0; for p in $1 $(pgrep -P $1); do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
hwm_kb() { awk '/VmHWM/{print $2}' /proc/$1/status; }
rss_kb() { awk '/VmRSS/{print $2}' /proc/$1/status; }

start_sim() { # extra simulator flags...  → SIM, SIM_PID
  SIM=$(free_port)
  $B simulate --listen 127.0.0.1:$SIM --rate-limit 0 --report-duration 0s --token-ttl "${TOKEN_TTL:-749s}" "$@" >/dev/null 2>&1 &
  SIM_PID=$!
  wait_http http://127.0.0.1:$SIM/__sim/counters
  TENANT=$(curl -s -X POST "http://127.0.0.1:$SIM/oauth/token" -d grant_type=client_credentials -d client_id=sim-client -d client_secret=sim-secret | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
}

# reportgate with every check on: HS256 callers, owner-bound ids, a policy, a team limit
# (set high), metrics, and an audit record per request written to a file.
start_gateway() { # extra top-level YAML lines (EXTRA_ISSUERS: more list items)  → GW, GW_PID, HMAC, HS
  GW=$(free_port)
  HMAC=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  {
    cat <<YAML
server: {listen: "127.0.0.1:$GW", workers: 2, drain_delay: 0s}
admin: {listen: null}
tenant: {base_url: "http://127.0.0.1:$SIM", client_id: sim-client, client_secret: sim-secret,
         token_refresh_margin: "${TOKEN_MARGIN:-60s}"}
log: {level: warn}
audit: {stdout: false, file: "$OUT/audit.jsonl"}
limits: {upstream_requests: 100000000, upstream_burst: 1000, max_wait: 30s}
policy:
  default: {run: ["*"], sdk_paths: true, raw_ids: true, rate: 100000000, burst: 100000000}
auth:
  issuers:
    - {issuer: bench-hs, audiences: [reportgate], hmac_secret: "$HMAC"}
${EXTRA_ISSUERS:-}
  id_signing_key: "$HMAC"
YAML
    for line in "$@"; do echo "$line"; done
  } > "$OUT/gateway.yaml"
  ${GW_WRAP:-} $B serve --config "$OUT/gateway.yaml" >"$OUT/gateway.log" 2>&1 &
  GW_PID=$!
  wait_http http://127.0.0.1:$GW/healthz
  HS=$($B token --config "$OUT/gateway.yaml" --sub bench --team bench --ttl 2h)
}

start_nginx() { # extra proxy_cache_path options  → NG, NGINX_PID
  NG=$(free_port)
  mkdir -p "$OUT/cache"; chmod 755 "$OUT"; chmod 777 "$OUT/cache"  # nginx workers run unprivileged
  cat > "$OUT/nginx.conf" <<NGINX
worker_processes 2;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  proxy_cache_path $OUT/cache keys_zone=results:${NGINX_ZONE:-10m} max_size=${NGINX_MAX:-100m};
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
  NGINX_PID=$(cat "$OUT/nginx.pid")
}

# wrk → "rps p50_ms p99_ms max_ms"
wrk_run() { # url conns [wrk args...]
  local url=$1 c=$2; shift 2
  # The URL before the options: script arguments after `--` must come last.
  wrk -t2 -c"$c" -d"${DUR}s" --latency "$url" "$@" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ {rps=$2} /^ +50%/ {p50=ms($2)} /^ +99%/ {p99=ms($2)} /Latency/ && !lat {max=ms($4); lat=1}
    END {printf "%.0f %.2f %.2f %.2f\n", rps, p50, p99, max}'
}
measure() { # name pid url conns [wrk args...]  → prints a row; pid gets CPU per 1k requests
  local name=$1 pid=$2 url=$3 c=$4; shift 4
  local t0; t0=$(cpu_ticks "$pid")
  read -r rps p50 p99 max < <(wrk_run "$url" "$c" "$@")
  local t1; t1=$(cpu_ticks "$pid")
  local cpu; cpu=$(python3 -c "print(f'{($t1-$t0)/100/max($rps*$DUR,1)*1000:.3f}')")
  printf "%-34s %10s rps  p50 %7s ms  p99 %7s ms  max %8s ms  cpu %s s/1k req\n" "$name" "$rps" "$p50" "$p99" "$max" "$cpu"
  echo "$name $rps $p50 $p99 $cpu" >> "$OUT/rows"
}
ratio() { # row-a row-b
  python3 - "$OUT/rows" "$1" "$2" <<'PY'
import sys
rows = {l.rsplit(" ", 4)[0]: [float(x) for x in l.rsplit(" ", 4)[1:]] for l in open(sys.argv[1])}
a, b = rows[sys.argv[2]], rows[sys.argv[3]]
print(f"  ratio {sys.argv[2]} / {sys.argv[3]}: throughput {a[0]/b[0]:.2f}x, p50 {a[1]/max(b[1],1e-9):.2f}x, p99 {a[2]/max(b[2],1e-9):.2f}x, cpu/req {a[3]/max(b[3],1e-9):.2f}x")
PY
}
row_ratio() { # row-a row-b column(0 rps, 1 p50, 2 p99, 3 cpu/req) → a/b
  python3 - "$OUT/rows" "$1" "$2" "$3" <<'PY'
import sys
rows = {l.rsplit(" ", 4)[0]: [float(x) for x in l.rsplit(" ", 4)[1:]] for l in open(sys.argv[1])}
k = int(sys.argv[4])
print(f"{rows[sys.argv[2]][k] / max(rows[sys.argv[3]][k], 1e-9):.2f}")
PY
}
row_value() { # row column(0 rps, 1 p50, 2 p99, 3 cpu/req) → the value
  python3 - "$OUT/rows" "$1" "$2" <<'PY'
import sys
rows = {l.rsplit(" ", 4)[0]: [float(x) for x in l.rsplit(" ", 4)[1:]] for l in open(sys.argv[1])}
print(rows[sys.argv[2]][int(sys.argv[3])])
PY
}
# Machine-readable results for bench/targets.py (when run from bench/all.sh).
fact() { if [ -n "${BENCH_FACTS:-}" ]; then echo "$1 $2" >> "$BENCH_FACTS"; fi; }
