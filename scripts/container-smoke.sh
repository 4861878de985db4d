#!/usr/bin/env bash
# Builds the image with buildah from locally made base images (no registry is reachable)
# and runs it with podman in sandbox mode: /readyz answers and a report is served end to
# end on loopback; in serve mode the example configuration passes `config check`; the package database is there for scanners and the commit is in the
# OCI labels and reportgate_build_info. Prints the runtime image size. Slow (a full release
# build in a container): run it when the Dockerfile changes, not on every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc debootstrap; }; }
need podman; need buildah; need debootstrap
mkdir -p /etc/containers
[ -f /etc/containers/containers.conf ] || printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' > /etc/containers/containers.conf
BUILDER=docker.io/library/rust:1.95-slim-bookworm
if ! podman image exists "$BUILDER"; then
  # The Rust builder image: Debian from apt plus this machine's Rust toolchain (rustup's
  # download host is not reachable from here).
  root=$(mktemp -d)
  debootstrap --variant=minbase --include=ca-certificates,gcc,libc6-dev bookworm "$root" http://deb.debian.org/debian >/dev/null
  # This machine's trust store (it may hold a private CA that crates.io traffic goes through).
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  tc=$(rustc --print sysroot)
  mkdir -p "$root/usr/local/rust"
  cp -a "$tc/." "$root/usr/local/rust/"
  tar -C "$root" -c . | podman import --change 'ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' - "$BUILDER" >/dev/null
  rm -rf "$root"
fi
RUNTIME=docker.io/library/debian:bookworm-slim
if ! podman image exists "$RUNTIME"; then
  # The runtime base: Debian's minimal bootstrap, with its package database (what image
  # scanners read), made here because no registry is reachable.
  root=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
  tar -C "$root" -c . | podman import - "$RUNTIME" >/dev/null
  rm -rf "$root"
fi
commit=$(git rev-parse HEAD)
buildah bud --isolation=chroot --pull=never --network=host --build-arg GIT_COMMIT="$commit" \
  -t localhost/reportgate:smoke . >/dev/null
# Scanners need the package database; the OCI labels name the commit.
podman run --rm --entrypoint /usr/bin/dpkg-query localhost/reportgate:smoke -W libc6 libgcc-s1 ca-certificates
[ "$(podman image inspect localhost/reportgate:smoke --format '{{index .Labels "org.opencontainers.image.revision"}}')" = "$commit" ]
size=$(podman image inspect localhost/reportgate:smoke --format '{{.Size}}')
echo "runtime image: $((size / 1024 / 1024)) MiB"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cid=$(podman run -d --network host --read-only localhost/reportgate:smoke sandbox --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin")
trap 'podman rm -f "$cid" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$admin/readyz"; echo
token=$(podman logs "$cid" 2>/dev/null | grep -a 'export TOKEN=' | sed 's/.*TOKEN=//')
id=$(curl -sf -X POST "http://127.0.0.1:$port/v1/reports" -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"type":"IDENTITIES"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
status=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/reports/$id?wait=10" | sed -E 's/.*"status":"([A-Z]+)".*/\1/')
lines=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/reports/$id/file?format=csv" | wc -l)
echo "report $id: $status, csv lines: $lines"
curl -sf "http://127.0.0.1:$admin/metrics" | grep "reportgate_build_info{commit=\"$commit\""
[ "$status" = SUCCESS ] && [ "$lines" -gt 1 ]
# Serve mode: the complete example configuration, with the secrets its script makes (run
# through the image), passes `config check`; the audit directory of a fresh named volume is
# writable by the image's user.
secrets=$(mktemp -d)
TENANT_CLIENT_SECRET=smoke REPORTGATE="podman run --rm localhost/reportgate:smoke" \
  config/example-secrets.sh "$secrets/s" >/dev/null
chmod -R a+rX "$secrets"   # the image's user (10001) reads them; a real deployment chowns them
podman run --rm -v "$PWD/config/example-serve.yaml:/etc/reportgate/config.yaml:ro" \
  -v "$secrets/s:/var/run/secrets/reportgate:ro" localhost/reportgate:smoke config check >/dev/null
podman run --rm -v rg-smoke-audit:/var/lib/reportgate/audit --entrypoint /usr/bin/touch \
  localhost/reportgate:smoke /var/lib/reportgate/audit/probe
podman volume rm rg-smoke-audit >/dev/null
rm -rf "$secrets"
echo "container smoke test passed"
