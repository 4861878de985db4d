//! Minting caller tokens for an HMAC issuer (`reportgate token`, the sandbox, tests).
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
    let issuer = settings
        .issuers
        .iter()
        .find(|i| i.hmac_secret.is_some())
        .ok_or("no issuer with an hmac_secret is configured")?;
    let secret = issuer.hmac_secret.as_ref().expect("checked above");
    let alg = Algorithm::from_str(&issuer.hmac_algorithm).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut claims = json!({
        "iss": issuer.issuer,
        "aud": issuer.audiences.first().cloned().unwrap_or_default(),
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + ttl.as_secs(),
    });
    if let (Some(team), Some(claim)) = (team, settings.team_claim.as_deref()) {
        claims[claim] = json!(team);
    }
    encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .map_err(|e| e.to_string())
}
