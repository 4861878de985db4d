#!/usr/bin/env bash
# A partial Redis outage: two reportgate replicas share one Redis, each through its own
# relay (bench/relay.py); after $CUT_AT s replica A's relay is partitioned (bytes vanish)
# for $CUT_FOR s, then healed, later B's the same way. Two teams flood at 20 req/s each
# (4x the budget) round-robin over both replicas for $SECS s, against a simulator enforcing
# the documented 100 requests / 10 s: every upstream 429 is an over-spend. Side by side,
# NGINX x2 with `limit_req` (no shared state to lose: a static zone per replica, the whole
# budget each or half each) under the same load. Loopback only; everything stops by itself.
#   SECS=40 CUT_AT=5 CUT_FOR=14 bench/partition.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${SECS:-40}"; CUT_AT="${CUT_AT:-5}"; CUT_FOR="${CUT_FOR:-14}"
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
GWS=(); ADMS=(); RELAYS=()
for i in 1 2; do
  GW=$(free_port); ADM=$(free_port); RL=$(free_port)
  GWS+=("http://127.0.0.1:$GW"); ADMS+=("http://127.0.0.1:$ADM")
  python3 bench/relay.py "$RL" "$RD" & RELAYS+=($!)
  cat > "$OUT/gateway$i.yaml" <<YAML
server: {listen: "127.0.0.1:$GW", workers: 2, drain_delay: 0s}
admin: {listen: "127.0.0.1:$ADM"}
tenant: {base_url: "http://127.0.0.1:$SIM1", client_id: sim-client, client_secret: sim-secret}
log: {level: warn}
auth:
  issuers: [{issuer: bench, audiences: [reportgate], hmac_secret: "$HMAC"}]
  id_signing_key: "$HMAC"
limits: {max_wait: 10s}
redis: {url: "redis://127.0.0.1:$RL/0", fallback_share: 0.5}
policy:
  default: {run: ["*"], sdk_paths: true, raw_ids: true, rate: 1000, burst: 1000, weight: 1}
YAML
  $B serve --config "$OUT/gateway$i.yaml" >"$OUT/gateway$i.log" 2>&1 &
  wait_http "http://127.0.0.1:$GW/healthz"
done
tok() { $B token --config "$OUT/gateway1.yaml" --sub "$1" --team "$1" --ttl 1h; }
mode() { curl -s "$1/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["checks"]["redis"])' 2>/dev/null || echo "?"; }
for a in "${ADMS[@]}"; do
  for _ in $(seq 1 100); do [ "$(mode "$a")" = shared ] && break; sleep 0.1; done
done

tenant_token() { curl -s -X POST "http://127.0.0.1:$1/oauth/token" -d grant_type=client_credentials -d client_id=sim-client -d client_secret=sim-secret | sed -E 's/.*"access_token":"([^"]+)".*/\1/'; }
T2=$(tenant_token "$SIM2"); T3=$(tenant_token "$SIM3")
NG=(); servers=""
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
TEAMS="--team flood-a=$(tok flood-a)@20 --team flood-b=$(tok flood-b)@20"
run() { # shellcheck disable=SC2086
  target/release/examples/overload $1 --path $PATH_ID --secs "$SECS" $TEAMS; }
# Partitions A, heals it, then B (each $CUT_FOR s, $CUT_AT s apart); logs what each replica reported.
partitions() {
  sleep "$CUT_AT"
  for i in 0 1; do
    kill -USR1 "${RELAYS[$i]}"; echo "t+$SECONDS cut replica $((i + 1))" >&2
    sleep "$CUT_FOR"
    echo "  replica modes at the end of the cut: $(mode "${ADMS[0]}") / $(mode "${ADMS[1]}")" >&2
    kill -USR2 "${RELAYS[$i]}"; echo "t+$SECONDS healed replica $((i + 1))" >&2
    sleep "$CUT_AT"
  done
}
echo "== reportgate x2 + Redis, replica A then B partitioned from Redis ${CUT_FOR}s each" >&2
SECONDS=0
partitions & P=$!
G=$(run "--target ${GWS[0]} --target ${GWS[1]}")
wait "$P" || true
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
    return (f"{name:30} upstream429={c['rate_limited']:<4} upstream_ok={ok:<4} "
            f"limit_used={ok / allowed:.2f} served a/b={t['flood-a']['served']}/{t['flood-b']['served']} "
            f"of {t['flood-a']['sent']}/{t['flood-b']['sent']}")
print(row("reportgate x2 + redis, cuts", g, c1)); print(row("nginx x2 (whole each)", n, c2)); print(row("nginx x2 (half each)", s, c3))
print(json.dumps({"reportgate": g, "nginx_naive": n, "nginx_split": s, "sim": [c1, c2, c3]}))
PY
