#!/usr/bin/env bash
# Goodput under overload: clients that give up after $GIVE_UP s and retry at once (as SDKs
# and scripts do) start exports (POST /v3/reports/run, SEARCH_EXPORT: each run is a new
# export upstream) through reportgate and through NGINX `limit_req` (burst queue, no nodelay),
# each in front of its own simulator enforcing the documented 100 requests / 10 s.
# Goodput = runs answered to a caller still waiting / runs upstream started, counted $TAIL s
# after the load stops (a run held for a caller who left may still go out then).
# Loopback only; everything stops by itself.    SECS=30 CLIENTS=40 bench/goodput.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${SECS:-30}"; CLIENTS="${CLIENTS:-40}"; GIVE_UP="${GIVE_UP:-3}"; TAIL="${TAIL:-15}"
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx; }
cargo build --release --quiet --bin reportgate --example goodput
B=target/release/reportgate
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true' EXIT
. bench/lib.sh

SIM1=$(free_port); SIM2=$(free_port); GW=$(free_port); ADM=$(free_port); NG=$(free_port)
$B simulate --listen 127.0.0.1:$SIM1 >/dev/null 2>&1 &
$B simulate --listen 127.0.0.1:$SIM2 >/dev/null 2>&1 &
wait_http http://127.0.0.1:$SIM1/__sim/counters; wait_http http://127.0.0.1:$SIM2/__sim/counters

HMAC=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$OUT/gateway.yaml" <<YAML
server: {listen: "127.0.0.1:$GW", workers: 2, drain_delay: 0s}
admin: {listen: "127.0.0.1:$ADM"}
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
TOKEN=$($B token --config "$OUT/gateway.yaml" --sub scripts --team scripts --ttl 1h)

TENANT=$(curl -s -X POST "http://127.0.0.1:$SIM2/oauth/token" -d grant_type=client_credentials -d client_id=sim-client -d client_secret=sim-secret | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
# The same queue NGINX offers: one bucket at the budget's rate, excess delayed up to 10 s
# (burst 90 at 9 r/s), 429 beyond; a client that closes during the delay is dropped (499).
cat > "$OUT/nginx.conf" <<NGINX
worker_processes 1;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
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

BODY='{"reportType":"SEARCH_EXPORT","arguments":{"query":"*"}}'
runs() { curl -s "http://127.0.0.1:$1/__sim/counters" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"])'; }
drive() { target/release/examples/goodput --target "$1" --path /v3/reports/run --body "$BODY" \
  --token "$2" --clients "$CLIENTS" --secs "$SECS" --give-up "$GIVE_UP"; }
echo "== reportgate" >&2
G=$(drive http://127.0.0.1:$GW "$TOKEN"); GE=$(runs "$SIM1")
echo "== nginx limit_req" >&2
N=$(drive http://127.0.0.1:$NG "$TENANT"); NE=$(runs "$SIM2")
sleep "$TAIL"
GT=$(runs "$SIM1"); NT=$(runs "$SIM2")
ABANDONED=$(curl -s "http://127.0.0.1:$ADM/metrics" | awk '/^reportgate_abandoned_requests_total/{s+=$2} END{print s+0}')
python3 - "$G" "$N" "$GE" "$GT" "$NE" "$NT" "$ABANDONED" "$SECS" "$TAIL" <<'PY'
import json, sys
g, n = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ge, gt, ne, nt, abandoned, secs, tail = (float(x) for x in sys.argv[3:])
def row(name, r, at_end, after):
    allowed = 100 * r["elapsed_s"] / 10  # the tenant's limit while the clients ran
    return (f"{name:12} upstream_runs={after:<5.0f} answered={r['answered']:<5} goodput={r['answered'] / max(after, 1):.2f} "
            f"answers_per_limit={r['answered'] / allowed:.2f} "
            f"runs_after_load={after - at_end:<3.0f} gave_up={r['gave_up']:<5} refused429={r['refused']:<5} "
            f"answer_p50={r['answer_p50_ms']:.0f}ms answer_p99={r['answer_p99_ms']:.0f}ms")
print(row("reportgate", g, ge, gt)); print(row("nginx", n, ne, nt))
print(f"reportgate: {abandoned:.0f} requests audited abandoned by their callers; runs counted {tail:.0f} s after the {secs:.0f} s load")
print(json.dumps({"reportgate": g, "nginx": n, "runs": {"reportgate": [ge, gt], "nginx": [ne, nt]}}))
PY
