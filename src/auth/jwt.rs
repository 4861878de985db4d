//! Caller token verification: pick the issuer by `iss`, the key by `kid` and the key's own
//! algorithm, then check signature, `exp` (required), `nbf`, `iss` and `aud`.
use super::keys::{static_keys, RemoteJwks, VerifyKey};
use super::settings::AuthSettings;
use super::Caller;
use crate::clock::Clock;
use base64::Engine;
use jsonwebtoken::{decode, decode_header, Validation};
use moka::sync::Cache;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Issuer {
    issuer: String,
    audiences: Vec<String>,
    keys: Vec<VerifyKey>,
    jwks: Option<RemoteJwks>,
}

/// Why a token was refused: logged at debug, never shown to the caller.
#[derive(Debug)]
pub struct Rejection(pub String);

/// A verified token, remembered until `expires`.
#[derive(Clone)]
struct Verified {
    caller: Arc<Caller>,
    expires: Instant,
}

pub struct Authenticator {
    issuers: Vec<Issuer>,
    leeway: Duration,
    caller_claim: String,
    team_claim: Option<String>,
    max_token_bytes: usize,
    cache_ttl: Duration,
    /// Keyed by SHA-256 of the token, so tokens are not kept in memory as keys.
    cache: Cache<[u8; 32], Verified>,
    /// `exp` and `nbf` are checked against this clock (tests move it forward).
    clock: Clock,
}

/// Reasons quote what the token says (its header's alg, kid, iss): escaped here, so that no
/// control character or line break of an anonymous caller's choosing reaches a log as is.
fn reject(msg: impl Into<String>) -> Rejection {
    Rejection(msg.into().escape_debug().to_string())
}

/// The `iss` claim before verification, only to choose which keys to verify with.
fn unverified_issuer(token: &str) -> Result<String, Rejection> {
    let payload = token.split('.').nth(1).ok_or_else(|| reject("not a JWS"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| reject("payload is not base64url"))?;
    let claims: Value =
        serde_json::from_slice(&bytes).map_err(|_| reject("payload is not JSON"))?;
    claims["iss"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| reject("no iss claim"))
}

/// RFC 7515 4.1.11: a `crit` header names extensions the recipient must understand; the
/// gateway understands none, so such a token is refused (jsonwebtoken's `Header` drops it).
fn refuse_crit(token: &str) -> Result<(), Rejection> {
    let header = token.split('.').next().unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .map_err(|_| reject("header is not base64url"))?;
    let header: Value = serde_json::from_slice(&bytes).map_err(|_| reject("header is not JSON"))?;
    match header.get("crit") {
        Some(_) => Err(reject("crit header: no extension is understood")),
        None => Ok(()),
    }
}

/// `nbf` and `iat`, when present, must be NumericDates: jsonwebtoken skips a `nbf` it
/// cannot parse rather than refusing the token.
fn numeric_dates(claims: &Value) -> Result<(), Rejection> {
    for name in ["nbf", "iat"] {
        if claims.get(name).is_some_and(|v| !v.is_number()) {
            return Err(reject(format!("{name} is not a number")));
        }
    }
    Ok(())
}

fn claim_string(claims: &Value, name: &str) -> Option<String> {
    let v = match &claims[name] {
        Value::Array(items) => items.first()?.clone(),
        other => other.clone(),
    };
    let s = v.as_str()?.trim();
    // Caller ids and teams go into logs and audit records: keep them plain.
    (!s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control)).then(|| s.to_owned())
}

impl Authenticator {
    pub fn new(settings: &AuthSettings, clock: Clock) -> Result<Self, String> {
        let issuers = settings
            .issuers
            .iter()
            .map(|i| {
                Ok(Issuer {
                    issuer: i.issuer.clone(),
                    audiences: i.audiences.clone(),
                    keys: static_keys(i)?,
                    jwks: i
                        .jwks_url
                        .clone()
                        .map(|u| RemoteJwks::new(u, i.jwks_refresh, i.jwks_min_refetch)),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            issuers,
            leeway: settings.leeway,
            caller_claim: settings.caller_claim.clone(),
            team_claim: settings.team_claim.clone(),
            max_token_bytes: settings.max_token_bytes,
            cache_ttl: settings.cache_ttl,
            // Above the 10,000 distinct callers of the cost-curve benchmark: at capacity,
            // moka's admission policy turns away new tokens, which are then re-verified.
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(settings.cache_ttl.max(Duration::from_millis(1)))
                .build(),
            clock,
        })
    }

    /// The caller of `token` if it was verified recently and is still valid: a lookup, no
    /// verification.
    pub fn cached_caller(&self, token: &str) -> Option<Arc<Caller>> {
        if token.len() > self.max_token_bytes {
            return None;
        }
        let digest: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .expect("sha256 is 32 bytes");
        self.cache
            .get(&digest)
            .filter(|v| Instant::now() < v.expires)
            .map(|v| v.caller)
    }

    /// Unusable keys in each issuer's last fetched JWKS, by issuer (for metrics).
    pub fn unusable_jwks_keys(&self) -> Vec<(&str, usize)> {
        self.issuers
            .iter()
            .filter_map(|i| Some((i.issuer.as_str(), i.jwks.as_ref()?.unusable())))
            .collect()
    }

    pub async fn verify(&self, token: &str, http: &awc::Client) -> Result<Arc<Caller>, Rejection> {
        if token.len() > self.max_token_bytes {
            return Err(reject("token too large"));
        }
        let digest: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .expect("sha256 is 32 bytes");
        if let Some(v) = self.cache.get(&digest) {
            if self.clock.now() < v.expires {
                return Ok(v.caller);
            }
            self.cache.invalidate(&digest);
        }
        let header = decode_header(token).map_err(|e| reject(format!("bad header: {e}")))?;
        refuse_crit(token)?;
        let iss = unverified_issuer(token)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or_else(|| reject(format!("untrusted issuer {iss:?}")))?;
        let kid = header.kid.as_deref();
        let mut keys = issuer.keys.clone();
        if let Some(jwks) = &issuer.jwks {
            jwks.ensure(kid, http).await;
            keys.extend(jwks.keys());
        }
        let candidates: Vec<_> = keys
            .iter()
            .filter(|k| k.alg == header.alg)
            .filter(|k| match (kid, &k.kid) {
                (Some(want), Some(have)) => want == have,
                (Some(_), None) => true,
                (None, _) => true,
            })
            .collect();
        if candidates.is_empty() {
            return Err(reject(format!("no {:?} key for kid {kid:?}", header.alg)));
        }
        let mut last = reject("no key verified the token");
        for key in candidates {
            let mut v = Validation::new(key.alg);
            v.set_issuer(&[&issuer.issuer]);
            v.set_audience(&issuer.audiences);
            v.set_required_spec_claims(&["exp", "iss", "aud"]);
            // exp and nbf are checked below, on the gateway's clock.
            v.validate_exp = false;
            v.validate_nbf = false;
            match decode::<Value>(token, &key.key, &v) {
                Ok(data) => {
                    self.check_times(&data.claims)?;
                    numeric_dates(&data.claims)?;
                    return self.remember(digest, &data.claims);
                }
                Err(e) => last = reject(format!("{e}")),
            }
        }
        Err(last)
    }

    /// `exp` (required) has not passed and `nbf` (optional) has, give or take the leeway.
    fn check_times(&self, claims: &Value) -> Result<(), Rejection> {
        let now = self.clock.unix_secs() as f64;
        let leeway = self.leeway.as_secs() as f64;
        let exp = claims["exp"]
            .as_f64()
            .ok_or_else(|| reject("exp is not a number"))?;
        if exp < now - leeway {
            return Err(reject("ExpiredSignature"));
        }
        match &claims["nbf"] {
            Value::Null => Ok(()),
            v => match v.as_f64() {
                Some(nbf) if nbf > now + leeway => Err(reject("ImmatureSignature")),
                Some(_) => Ok(()),
                None => Err(reject("nbf is not a number")),
            },
        }
    }

    fn remember(&self, digest: [u8; 32], claims: &Value) -> Result<Arc<Caller>, Rejection> {
        let id = claim_string(claims, &self.caller_claim)
            .ok_or_else(|| reject(format!("no usable {} claim", self.caller_claim)))?;
        // An absent team claim means "no team" (the caller is its own team); a present
        // but unusable one is an IdP mistake or a forgery, never a reason to fall back.
        let team = match self.team_claim.as_deref() {
            Some(c) if claims.get(c).is_some() => Some(
                claim_string(claims, c).ok_or_else(|| reject(format!("malformed {c} claim")))?,
            ),
            _ => None,
        };
        let issuer = claims["iss"].as_str().unwrap_or_default();
        let caller = Arc::new(Caller::new(issuer, id, team));
        let exp = claims["exp"].as_f64().unwrap_or(0.0) as u64;
        let remaining = Duration::from_secs(exp.saturating_sub(self.clock.unix_secs()));
        self.cache.insert(
            digest,
            Verified {
                caller: caller.clone(),
                expires: self.clock.now() + remaining.min(self.cache_ttl),
            },
        );
        Ok(caller)
    }
}
