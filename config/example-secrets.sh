#!/usr/bin/env sh
# Makes every key and secret config/example-serve.yaml reads, in DIR (default ./secrets),
# readable by the owner only. Mount DIR at /var/run/secrets/reportgate (read-only), or put its
# files in a Kubernetes Secret. Needs openssl and the reportgate binary (REPORTGATE=path).
#
#   TENANT_CLIENT_SECRET='...' config/example-secrets.sh ./secrets
set -eu
dir=${1:-secrets}
# The reportgate command; may be several words (e.g. 'podman run --rm IMAGE'), hence unquoted
# below.
rg=${REPORTGATE:-reportgate}
umask 077
mkdir -p "$dir"

# The IdentityNow credential's secret, as the tenant's admin UI showed it once.
printf '%s' "${TENANT_CLIENT_SECRET:?set TENANT_CLIENT_SECRET to the tenant client secret}" >"$dir/tenant-client-secret"

# Binds report ids to owners (>= 32 bytes; the same on every replica; changing it orphans ids).
openssl rand -hex 32 >"$dir/id-signing-key"

# The gateway's own token issuer (HS256, >= 32 bytes).
openssl rand -base64 48 >"$dir/caller-hmac-secret"

# The batch job's ES256 key pair: the private half goes to the job (here: beside DIR, not in
# it), the gateway gets the public half.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir.batch-signer.key.pem"
openssl pkey -in "$dir.batch-signer.key.pem" -pubout -out "$dir/batch-signer.pub.pem"

# The audit trail's HMAC key (verify with `reportgate audit verify --hmac-key-file`).
openssl rand -hex 32 >"$dir/audit-hmac-key"

# The reporting team's webhook signing secret (Standard Webhooks: whsec_ + base64); the team
# gets it too, to check signatures.
printf 'whsec_%s' "$(openssl rand -base64 32)" >"$dir/reporting-webhook-secret"

# Redis AUTH password (the same as the Redis server's requirepass / ACL user).
openssl rand -base64 24 >"$dir/redis-password"

# One gateway client per team: the id and secret are printed once (give them to the team);
# only the secret's SHA-256 goes into clients.yaml.
: >"$dir/clients.yaml"
for team in identity-governance reporting; do
  # shellcheck disable=SC2086
  out=$($rg client create --team "$team")
  printf '%s\n' "$out" | grep '^ *SAIL_CLIENT_' | sed "s/^ */$team: /"
  printf '%s\n' "$out" | sed -n 's/^ *- {id:/- {id:/p' | head -n 1 >>"$dir/clients.yaml"
done
