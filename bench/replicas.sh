#!/usr/bin/env bash
# Two replicas, one API client: reportgate x2 sharing one Redis vs NGINX x2 with `limit_req`
# (NGINX has no shared state, so each replica gets a static zone: the whole budget each,
# "naive", or half each, "split"). Each setup fronts its own simulator enforcing the
# documented 100 requests / 10 s. Two teams flood at 20 req/s each and a quiet team sends
# 1 req/s, every team's requests spread round-robin over the two replicas, for $SECS s.
# Loopback only; everything stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${SECS:-30}"
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx; }
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
cargo build --release --quiet --bin reportgate --example overload
B=target/release/reportgate
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true' EXIT
. bench/lib.sh

SIM1=$(free_port); SIM2=$(free_port); SIM3=$(free_port); RD=$(free_port)
for p in $SIM1 $SIM2 $SIM3; do $B simulate --listen 127.0.0.1:$p >/dev/null 2>&1 & done
redis-server --port "$RD" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT" >/dev/null 2>&1 &
for p in $SIM1 $SIM2 $SIM3; do wait_http http://127.0.0.1:$p/__sim/counters; done

HMAC=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
GWS=()
for i in 1 2; do
  GW=$(free_port); GWS+=("http://127.0.0.1:$GW")
  cat > "$OUT/gateway$i.yaml" <<YAML
server: {listen: "127.0.0.1:$GW", workers: 2, drain_delay: 0s}
admin: {listen: null}
tenant: {base_url: "http://127.0.0.1:$SIM1", client_id: sim-client, client_secret: sim-secret}
log: {level: warn}
auth:
  issuers: [{issuer: bench, audiences: [reportgate], hmac_secret: "$HMAC"}]
  id_signing_key: "$HMAC"
limits: {max_wait: 10s}
redis: {url: "redis://127.0.0.1:$RD/0", fallback_share: 0.5}
policy:
  default: {run: ["*"], sdk_paths: true, raw_ids: true, rate: 1000, burst: 1000, weight: 1}
YAML
  $B serve --config "$OUT/gateway$i.yaml" >"$OUT/gateway$i.log" 2>&1 &
  wait_http "http://127.0.0.1:$GW/healthz"
done
tok() { $B token --config "$OUT/gateway1.yaml" --sub "$1" --team "$1" --ttl 1h; }

tenant_token() { curl -s -X POST "http://127.0.0.1:$1/oauth/token" -d grant_type=client_credentials -d client_id=sim-client -d client_secret=sim-secret | sed -E 's/.*"access_token":"([^"]+)".*/\1/'; }
T2=$(tenant_token "$SIM2"); T3=$(tenant_token "$SIM3")
NG=(); servers=""
# naive: each replica's zone at the whole budget; split: each at half of it.
for spec in "naive $SIM2 $T2 9r/s 90" "naive $SIM2 $T2 9r/s 90" "split $SIM3 $T3 270r/m 45" "split $SIM3 $T3 270r/m 45"; do
  read -r name sim token rate burst <<<"$spec"
  port=$(free_port); NG+=("$name http://127.0.0.1:$port")
  servers+="
  limit_req_zone \$server_port zone=z$port:1m rate=$rate;
  server {
    listen 127.0.0.1:$port;
    location / {
      limit_req zone=z$port burst=$burst;
      limit_req_status 429;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Authorization \"Bearer $token\";
      proxy_read_timeout 60s;
      proxy_pass http://127.0.0.1:$sim;
    }
  }"
done
cat > "$OUT/nginx.conf" <<NGINX
worker_processes 1;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
$servers
}
NGINX
nginx -c "$OUT/nginx.conf" -p "$OUT"
for t in "${NG[@]}"; do wait_http "${t#* }/"; done
targets() { for t in "${NG[@]}"; do [ "${t%% *}" = "$1" ] && printf -- '--target %s ' "${t#* }"; done; }

PATH_ID='/v3/reports/{id}/result'
TEAMS="--team flood-a=$(tok flood-a)@20 --team flood-b=$(tok flood-b)@20 --team quiet=$(tok quiet)@1"
run() { # shellcheck disable=SC2086
  target/release/examples/overload $1 --path $PATH_ID --secs "$SECS" $TEAMS; }
echo "== reportgate x2 + Redis" >&2
G=$(run "--target ${GWS[0]} --target ${GWS[1]}")
echo "== nginx x2 limit_req, whole budget each" >&2
N=$(run "$(targets naive)")
echo "== nginx x2 limit_req, half the budget each" >&2
S=$(run "$(targets split)")
C1=$(curl -s http://127.0.0.1:$SIM1/__sim/counters); C2=$(curl -s http://127.0.0.1:$SIM2/__sim/counters); C3=$(curl -s http://127.0.0.1:$SIM3/__sim/counters)
python3 - "$G" "$N" "$S" "$C1" "$C2" "$C3" <<'PY'
import json, sys
g, n, s, c1, c2, c3 = (json.loads(a) for a in sys.argv[1:])
def row(name, r, c):
    t = r["teams"]
    allowed = 100 * r["elapsed_s"] / 10  # the tenant's limit over the whole run
    ok = c["result"] - c["rate_limited"]  # the simulator counts the calls it refused too
    return (f"{name:26} upstream429={c['rate_limited']:<4} upstream_ok={ok:<4} "
            f"limit_used={ok / allowed:.2f} jain={r['jain_index']:.3f} "
            f"quiet_served={t['quiet']['served']}/{t['quiet']['sent']} quiet_p99={t['quiet']['wait_p99_ms']:.0f}ms "
            f"served a/b={t['flood-a']['served']}/{t['flood-b']['served']}")
print(row("reportgate x2 + redis", g, c1)); print(row("nginx x2 (whole each)", n, c2)); print(row("nginx x2 (half each)", s, c3))
print(json.dumps({"reportgate": g, "nginx_naive": n, "nginx_split": s, "sim": [c1, c2, c3]}))
PY
