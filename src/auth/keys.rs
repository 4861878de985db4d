//! Verification keys, each pinned to one algorithm: HMAC secrets, PEM public keys, JWKS
//! files and JWKS URLs (cached, refreshed, refetched on an unknown `kid` at most so often).
use super::settings::{IssuerSettings, PemKeySettings};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use std::path::Path;
use std::str::FromStr;
use std::sync::RwLock;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct VerifyKey {
    pub kid: Option<String>,
    /// The only algorithm this key verifies: never taken from the token header.
    pub alg: Algorithm,
    pub key: DecodingKey,
}

pub fn load_pem(k: &PemKeySettings) -> Result<VerifyKey, String> {
    let alg = Algorithm::from_str(&k.algorithm)
        .map_err(|_| format!("unknown algorithm {}", k.algorithm))?;
    let pem =
        std::fs::read(&k.file).map_err(|e| format!("cannot read {}: {e}", k.file.display()))?;
    let key = match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => DecodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
        _ => return Err("an HMAC algorithm needs hmac_secret, not a PEM key".into()),
    }
    .map_err(|e| {
        format!(
            "{} is not a {} public key: {e}",
            k.file.display(),
            k.algorithm
        )
    })?;
    Ok(VerifyKey {
        kid: k.kid.clone(),
        alg,
        key,
    })
}

/// The algorithm a JWK verifies: its `alg`, or the one its key type implies.
fn jwk_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if let Some(a) = jwk.common.key_algorithm {
        // Encryption algorithms (RSA1_5, RSA-OAEP) do not parse: such keys are skipped.
        return Algorithm::from_str(&format!("{a:?}")).ok();
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Some(Algorithm::ES256),
            EllipticCurve::P384 => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
        // Symmetric keys in a published JWKS would let anyone sign: never trusted.
        AlgorithmParameters::OctetKey(_) => None,
    }
}

/// A JWKS converted key by key: one key the gateway cannot use (an ES512 or an unknown
/// `kty`) must not take the issuer's other keys down with it.
pub struct Converted {
    pub keys: Vec<VerifyKey>,
    /// Why each unusable key was skipped (its `kid` and the reason; never key material).
    pub skipped: Vec<String>,
}

fn convert(raw: &Value) -> Result<VerifyKey, String> {
    let jwk: Jwk = serde_json::from_value(raw.clone()).map_err(|e| {
        let what = ["kty", "alg", "crv"]
            .iter()
            .filter_map(|k| raw[k].as_str().map(|v| format!("{k} {v:?}")))
            .collect::<Vec<_>>()
            .join(", ");
        format!("unsupported key ({what}): {e}")
    })?;
    let alg = jwk_algorithm(&jwk).ok_or("no signature algorithm the gateway supports")?;
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err("symmetric keys are never trusted from a JWKS".into());
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("unusable key: {e}"))?;
    Ok(VerifyKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

/// Converts a JWKS document (`{"keys": [...]}`) one key at a time.
pub fn keys_from_jwks(doc: &[u8]) -> Result<Converted, String> {
    let doc: Value = serde_json::from_slice(doc).map_err(|e| format!("not JSON: {e}"))?;
    let raw = doc["keys"]
        .as_array()
        .ok_or("no \"keys\" array (not a JWKS)")?;
    let mut out = Converted {
        keys: vec![],
        skipped: vec![],
    };
    for (i, k) in raw.iter().enumerate() {
        match convert(k) {
            Ok(key) => out.keys.push(key),
            Err(why) => {
                let kid = k["kid"].as_str();
                out.skipped.push(format!("key {i} (kid {kid:?}): {why}"))
            }
        }
    }
    Ok(out)
}

pub fn load_jwks_file(path: &Path) -> Result<Vec<VerifyKey>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let set = keys_from_jwks(&raw).map_err(|e| format!("{} is not a JWKS: {e}", path.display()))?;
    for why in &set.skipped {
        tracing::warn!(file = %path.display(), skipped = %why, "JWKS key skipped");
    }
    if set.keys.is_empty() {
        return Err(format!("{} has no usable public key", path.display()));
    }
    Ok(set.keys)
}

/// Keys that never change while running.
pub fn static_keys(iss: &IssuerSettings) -> Result<Vec<VerifyKey>, String> {
    let mut keys = Vec::new();
    if let Some(secret) = &iss.hmac_secret {
        let alg = Algorithm::from_str(&iss.hmac_algorithm)
            .map_err(|_| "bad hmac_algorithm".to_string())?;
        keys.push(VerifyKey {
            kid: None,
            alg,
            key: DecodingKey::from_secret(secret.expose().as_bytes()),
        });
    }
    for k in &iss.public_keys {
        keys.push(load_pem(k)?);
    }
    if let Some(path) = &iss.jwks_file {
        keys.extend(load_jwks_file(path)?);
    }
    Ok(keys)
}

struct JwksState {
    keys: Vec<VerifyKey>,
    /// Keys of the last document that could not be used (reported once each).
    skipped: Vec<String>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// A JWKS URL: fetched on first use, refreshed every `refresh`, refetched when a token
/// names an unknown `kid`, but never more often than `min_refetch` (forged `kid`s cannot
/// make the gateway hammer the IdP).
pub struct RemoteJwks {
    url: String,
    refresh: Duration,
    min_refetch: Duration,
    state: RwLock<JwksState>,
    fetching: tokio::sync::Mutex<()>,
}

impl RemoteJwks {
    pub fn new(url: String, refresh: Duration, min_refetch: Duration) -> Self {
        Self {
            url,
            refresh,
            min_refetch,
            state: RwLock::new(JwksState {
                keys: vec![],
                skipped: vec![],
                fetched_at: None,
                last_attempt: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn has_kid(&self, kid: Option<&str>) -> bool {
        let s = self.state.read().unwrap();
        s.keys
            .iter()
            .any(|k| kid.is_none() || k.kid.as_deref() == kid)
    }

    pub fn keys(&self) -> Vec<VerifyKey> {
        self.state.read().unwrap().keys.clone()
    }

    /// How many keys of the last fetched document could not be used.
    pub fn unusable(&self) -> usize {
        self.state.read().unwrap().skipped.len()
    }

    /// Makes sure the keys are fresh enough for a token naming `kid`.
    pub async fn ensure(&self, kid: Option<&str>, http: &awc::Client) {
        let now = Instant::now();
        let (stale, may_refetch) = {
            let s = self.state.read().unwrap();
            let stale = s
                .fetched_at
                .is_none_or(|t| now.duration_since(t) >= self.refresh);
            let may = s
                .last_attempt
                .is_none_or(|t| now.duration_since(t) >= self.min_refetch);
            (stale, may)
        };
        let unknown_kid = !self.has_kid(kid);
        if !(may_refetch && (stale || unknown_kid)) {
            return;
        }
        let _guard = self.fetching.lock().await;
        // Another request may have fetched while we waited.
        let again = self
            .state
            .read()
            .unwrap()
            .last_attempt
            .is_none_or(|t| t < now);
        if !again {
            return;
        }
        self.state.write().unwrap().last_attempt = Some(Instant::now());
        match self.fetch(http).await {
            Ok(set) => {
                let mut s = self.state.write().unwrap();
                // Logged once per key, not on every refresh of an unchanged document.
                for why in set.skipped.iter().filter(|w| !s.skipped.contains(w)) {
                    tracing::warn!(url = %crate::urls::shown(&self.url), skipped = %why, "JWKS key skipped");
                }
                tracing::info!(url = %crate::urls::shown(&self.url), keys = set.keys.len(), skipped = set.skipped.len(), "fetched JWKS");
                s.keys = set.keys;
                s.skipped = set.skipped;
                s.fetched_at = Some(Instant::now());
            }
            // Keep the keys we had: an IdP blip must not log everyone out.
            Err(e) => {
                tracing::warn!(url = %crate::urls::shown(&self.url), error = %e, "JWKS fetch failed")
            }
        }
    }

    async fn fetch(&self, http: &awc::Client) -> Result<Converted, String> {
        let mut resp = http
            .get(&self.url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("status {}", resp.status()));
        }
        let body = resp
            .body()
            .limit(1 << 20)
            .await
            .map_err(|e| e.to_string())?;
        keys_from_jwks(&body)
    }
}
