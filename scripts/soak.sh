#!/usr/bin/env bash
# Soak: mixed traffic from several teams against the simulator (real 100/10 s limit) with
# random injected faults, for SOAK_SECONDS (default 600; CI runs 60). Samples the gateway's
# RSS and open descriptors every 10 s; fails if RSS grows > 10 % after warm-up or descriptors
# leak; then checks that the audit trail verifies and holds every answered request.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${SOAK_SECONDS:-600}"
cargo build --release --quiet --bin reportgate
B=target/release/reportgate
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SIM=$(free_port); GW=$(free_port); ADMIN=$(free_port)
$B simulate --listen 127.0.0.1:$SIM --report-duration 3s --csv-bytes 2000000 >/dev/null 2>&1 &
for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:$SIM/__sim/counters && break; sleep 0.1; done
for fault in '{"op":"result","kind":"status","status":503,"probability":0.05}' \
             '{"op":"file","kind":"reset_mid_body","probability":0.05}' \
             '{"kind":"delay","ms":150,"probability":0.1}' \
             '{"op":"run","kind":"status","status":500,"probability":0.03}'; do
  curl -s -o /dev/null -X POST http://127.0.0.1:$SIM/__sim/faults -H 'content-type: application/json' -d "$fault"
done
KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$OUT/g.yaml" <<YAML
server: {listen: "127.0.0.1:$GW", drain_delay: 0s}
admin: {listen: "127.0.0.1:$ADMIN"}
tenant: {base_url: "http://127.0.0.1:$SIM", client_id: sim-client, client_secret: sim-secret}
log: {level: error}
auth:
  issuers: [{issuer: soak, audiences: [reportgate], hmac_secret: "$KEY"}]
  id_signing_key: "$KEY"
# Caches are bounded small here so that they reach their steady state during warm-up.
cache: {file_max_bytes: 1000000, files_capacity_mib: 2, status_entries: 500}
limits: {max_wait: 5s}
policy:
  teams:
    - {team: alpha, run: ["*"], sources: [src-ok], cancel: true, rate: 20, burst: 40, weight: 2}
    - {team: beta, run: ["*"], sources: [src-ok], cancel: true, rate: 20, burst: 40}
    - {team: gamma, run: [IDENTITIES, SEARCH_EXPORT], sources: [src-ok], cancel: false, rate: 10, burst: 20}
audit: {stdout: false, file: "$OUT/audit.jsonl", max_file_bytes: 20000000}
YAML
# SOAK_WRAP runs the gateway under a tool, e.g. SOAK_WRAP="heaptrack -o /tmp/rg" (then the
# RSS samples are the wrapper's, not the gateway's: read the tool's report instead).
${SOAK_WRAP:-} $B serve --config "$OUT/g.yaml" >"$OUT/gw.log" 2>&1 &
GWP=$!
for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:$ADMIN/healthz && break; sleep 0.1; done
TOKENS=$(python3 -c "import json,sys; print(json.dumps({t: sys.argv[i+1] for i, t in enumerate(['alpha','beta','gamma'])}))" \
  "$($B token --config "$OUT/g.yaml" --sub a --team alpha --ttl 2h)" "$($B token --config "$OUT/g.yaml" --sub b --team beta --ttl 2h)" "$($B token --config "$OUT/g.yaml" --sub c --team gamma --ttl 2h)")
python3 scripts/soak_driver.py $GW "$SECS" "$OUT/ids" "$TOKENS" > "$OUT/summary.json" &
DRIVER=$!
samples=()
while kill -0 $DRIVER 2>/dev/null; do
  rss=$(awk '/VmRSS/{print $2}' /proc/$GWP/status); fds=$(ls /proc/$GWP/fd | wc -l)
  samples+=("$rss:$fds"); echo "t=$(( ${#samples[@]} * 10 - 10 ))s rss=${rss}kB fds=$fds"
  for _ in $(seq 1 100); do kill -0 $DRIVER 2>/dev/null || break; sleep 0.1; done
done
wait $DRIVER
cat "$OUT/summary.json"
kill -TERM $GWP; wait $GWP || true
python3 - "$OUT" "${samples[@]}" <<'PY'
import sys
out, samples = sys.argv[1], [tuple(map(int, s.split(":"))) for s in sys.argv[2:]]
warm = samples[max(1, len(samples) // 5)] if len(samples) > 2 else samples[-1]
peak_after = max(r for r, _ in samples[samples.index(warm):])
growth = (peak_after - warm[0]) / warm[0]
# Descriptors are judged after warm-up too: each open client connection holds two (its socket
# and the duplicate that watches for the caller hanging up), so the first seconds of traffic
# raise the count once; a leak is growth after that.
fd_leak = samples[-1][1] - warm[1]
print(f"rss after warm-up {warm[0]} kB, peak {peak_after} kB ({growth:+.1%}); fds first {samples[0][1]} after warm-up {warm[1]} last {samples[-1][1]}")
assert growth <= 0.10, "RSS grew more than 10% after warm-up"
assert fd_leak <= 20, "file descriptors leak"
PY
# Rotated files (oldest first), then the current one.
$B audit verify $(ls "$OUT"/audit.jsonl.* 2>/dev/null | sort) "$OUT/audit.jsonl" | tail -1 || { echo "audit chain broken"; exit 1; }
missing=$(python3 - "$OUT" <<'PY'
import glob, sys
out = sys.argv[1]
seen = set()
for f in glob.glob(out + "/audit.jsonl*"):
    for line in open(f):
        i = line.find('"requestId":"')
        if i >= 0:
            seen.add(line[i + 13:i + 45])
ids = [l.strip() for l in open(out + "/ids") if l.strip()]
print(sum(1 for r in ids if r not in seen))
PY
)
echo "answered requests without an audit record: $missing"
[ "$missing" = 0 ]
# Bad tokens are audited in aggregate: once the last interval is flushed (at shutdown), the
# counts cover every answered bad-token request.
kill -TERM $GWP 2>/dev/null || true; wait $GWP 2>/dev/null || true
python3 - "$OUT" <<'PY'
import glob, json, sys
out = sys.argv[1]
answered = sum(n for k, n in json.load(open(out + "/summary.json"))["outcomes"].items()
               if k.startswith("bad_token:") and not k.endswith(":0"))
counted = 0
for f in glob.glob(out + "/audit.jsonl*"):
    for line in open(f):
        r = json.loads(line)
        if r.get("caller") == "anonymous" and "count" in r:
            counted += r["count"]
print(f"bad-token requests answered {answered}, counted in aggregate records {counted}")
assert counted >= answered, "anonymous refusals missing from the aggregate audit records"
PY
echo "soak passed"
