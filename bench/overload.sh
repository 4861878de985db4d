#!/usr/bin/env bash
# Overload and fairness, side by side: reportgate vs NGINX `limit_req` (burst, no nodelay),
# each in front of its own simulator enforcing the documented 100 requests / 10 s.
# Two teams flood at 20 req/s each (4x the whole budget together), one quiet team sends
# 1 req/s, for $SECS seconds. Loopback only; everything stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${SECS:-30}"
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx; }
cargo build --release --quiet --bin reportgate --example overload
B=target/release/reportgate
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true' EXIT
. bench/lib.sh

SIM1=$(free_port); SIM2=$(free_port); GW=$(free_port); NG=$(free_port)
$B simulate --listen 127.0.0.1:$SIM1 >/dev/null 2>&1 &
$B simulate --listen 127.0.0.1:$SIM2 >/dev/null 2>&1 &
wait_http http://127.0.0.1:$SIM1/__sim/counters; wait_http http://127.0.0.1:$SIM2/__sim/counters

HMAC=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$OUT/gateway.yaml" <<YAML
server: {listen: "127.0.0.1:$GW", workers: 2, drain_delay: 0s}
admin: {listen: null}
tenant: {base_url: "http://127.0.0.1:$SIM1", client_id: sim-client, client_secret: sim-secret}
log: {level: warn}
auth:
  issuers: [{issuer: bench, audiences: [reportgate], hmac_secret: "$HMAC"}]
  id_signing_key: "$HMAC"
limits: {max_wait: 10s}
policy:
  default: {run: ["*"], sdk_paths: true, raw_ids: true, rate: 1000, burst: 1000, weight: 1}
YAML
$B serve --config "$OUT/gateway.yaml" >"$OUT/gateway.log" 2>&1 &
wait_http http://127.0.0.1:$GW/healthz
tok() { $B token --config "$OUT/gateway.yaml" --sub "$1" --team "$1" --ttl 1h; }

TENANT=$(curl -s -X POST "http://127.0.0.1:$SIM2/oauth/token" -d grant_type=client_credentials -d client_id=sim-client -d client_secret=sim-secret | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
cat > "$OUT/nginx.conf" <<NGINX
worker_processes 1;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  # One global bucket at the budget's rate; excess is queued (burst, no nodelay).
  limit_req_zone \$server_port zone=budget:1m rate=9r/s;
  upstream sim { server 127.0.0.1:$SIM2; keepalive 32; }
  server {
    listen 127.0.0.1:$NG;
    location / {
      limit_req zone=budget burst=90;
      limit_req_status 429;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer $TENANT";
      proxy_read_timeout 60s;
      proxy_pass http://sim;
    }
  }
}
NGINX
nginx -c "$OUT/nginx.conf" -p "$OUT"
wait_http http://127.0.0.1:$NG/

PATH_ID='/v3/reports/{id}/result'
run() { target/release/examples/overload --target "$1" --path $PATH_ID --secs "$SECS" \
  --team "flood-a=$(tok flood-a)@20" --team "flood-b=$(tok flood-b)@20" --team "quiet=$(tok quiet)@1"; }
echo "== reportgate" >&2
G=$(run http://127.0.0.1:$GW)
echo "== nginx limit_req" >&2
N=$(run http://127.0.0.1:$NG)
C1=$(curl -s http://127.0.0.1:$SIM1/__sim/counters); C2=$(curl -s http://127.0.0.1:$SIM2/__sim/counters)
python3 - "$G" "$N" "$C1" "$C2" <<'PY'
import json, sys
g, n, c1, c2 = (json.loads(a) for a in sys.argv[1:])
def row(name, r, c):
    t = r["teams"]
    return (f"{name:12} upstream429={c['rate_limited']:<4} upstream_calls={c['result']:<5} success={r['success_rate']:.2f} "
            f"jain={r['jain_index']:.3f} quiet_served={t['quiet']['served']}/{t['quiet']['sent']} "
            f"quiet_p99={t['quiet']['wait_p99_ms']:.0f}ms flood_p50={t['flood-a']['wait_p50_ms']:.0f}ms "
            f"flood_p99={t['flood-a']['wait_p99_ms']:.0f}ms served a/b={t['flood-a']['served']}/{t['flood-b']['served']}")
print(row("reportgate", g, c1)); print(row("nginx", n, c2))
qg, qn = g["teams"]["quiet"]["wait_p99_ms"], n["teams"]["quiet"]["wait_p99_ms"]
print(f"ratio quiet-team p99 wait nginx/reportgate = {qn/max(qg,1e-9):.1f}x")
print(json.dumps({"reportgate": g, "nginx": n, "sim_reportgate": c1, "sim_nginx": c2}))
PY
