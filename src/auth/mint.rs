//! Minting caller tokens for an HMAC issuer (`reportgate token`, `POST /oauth/token`, the
//! sandbox, tests).
use super::settings::AuthSettings;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn mint(
    settings: &AuthSettings,
    sub: &str,
    team: Option<&str>,
    ttl: Duration,
) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    mint_at(settings, sub, team, ttl, now, &[])
}

/// A token issued at `now` (Unix seconds) with `extra` claims beside the standard ones.
pub fn mint_at(
    settings: &AuthSettings,
    sub: &str,
    team: Option<&str>,
    ttl: Duration,
    now: u64,
    extra: &[(&str, &str)],
) -> Result<String, String> {
    let issuer = settings
        .issuers
        .iter()
        .find(|i| i.hmac_secret.is_some())
        .ok_or("no issuer with an hmac_secret is configured")?;
    let secret = issuer.hmac_secret.as_ref().expect("checked above");
    let alg = Algorithm::from_str(&issuer.hmac_algorithm).map_err(|e| e.to_string())?;
    let mut claims = json!({
        "iss": issuer.issuer,
        "aud": issuer.audiences.first().cloned().unwrap_or_default(),
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + ttl.as_secs(),
    });
    // The caller id goes where verification looks for it, when that is not `sub`.
    claims[settings.caller_claim.as_str()] = json!(sub);
    if let (Some(team), Some(claim)) = (team, settings.team_claim.as_deref()) {
        claims[claim] = json!(team);
    }
    for (k, v) in extra {
        claims[*k] = json!(v);
    }
    encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .map_err(|e| e.to_string())
}
