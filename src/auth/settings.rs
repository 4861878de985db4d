//! Settings of caller authentication and policy (the `auth` and `policy` sections).
use crate::domain::ReportType;
use crate::problem::{problem, secret_from_file, Problem};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

fn default_refresh() -> Duration {
    Duration::from_secs(300)
}
fn default_min_refetch() -> Duration {
    Duration::from_secs(30)
}
fn default_hmac_alg() -> String {
    "HS256".into()
}
fn any() -> Vec<String> {
    vec!["*".into()]
}
fn default_rate() -> f64 {
    2.0
}
fn default_burst() -> u32 {
    10
}
fn default_weight() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthSettings {
    #[serde(default)]
    pub issuers: Vec<IssuerSettings>,
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    pub caller_claim: String,
    pub team_claim: Option<String>,
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    pub max_token_bytes: usize,
    pub ca_bundle: Option<PathBuf>,
    pub id_signing_key: Option<Secret>,
    pub id_signing_key_file: Option<PathBuf>,
    /// Gateway client credentials for `POST /oauth/token`.
    #[serde(default)]
    pub clients: Vec<super::clients::ClientSettings>,
    /// More clients, from a YAML file (a mounted Kubernetes Secret).
    #[serde(default)]
    pub clients_file: Option<PathBuf>,
    /// Lifetime of the tokens `POST /oauth/token` issues.
    #[serde(with = "humantime_serde")]
    pub client_token_ttl: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuerSettings {
    pub issuer: String,
    pub audiences: Vec<String>,
    #[serde(default)]
    pub hmac_secret: Option<Secret>,
    #[serde(default)]
    pub hmac_secret_file: Option<PathBuf>,
    #[serde(default = "default_hmac_alg")]
    pub hmac_algorithm: String,
    #[serde(default)]
    pub public_keys: Vec<PemKeySettings>,
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Allows a plain `http://` jwks_url to a host other than loopback (warned at start).
    #[serde(default)]
    pub insecure_http: bool,
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub jwks_refresh: Duration,
    /// Unknown `kid`s trigger a refetch at most this often.
    #[serde(default = "default_min_refetch", with = "humantime_serde")]
    pub jwks_min_refetch: Duration,
}

impl IssuerSettings {
    /// An issuer verified with one HS256 secret.
    pub fn hmac(issuer: &str, audience: &str, secret: Secret) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            hmac_secret: Some(secret),
            hmac_secret_file: None,
            hmac_algorithm: default_hmac_alg(),
            public_keys: vec![],
            jwks_file: None,
            jwks_url: None,
            insecure_http: false,
            jwks_refresh: default_refresh(),
            jwks_min_refetch: default_min_refetch(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PemKeySettings {
    pub file: PathBuf,
    pub algorithm: String,
    #[serde(default)]
    pub kid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ownership {
    Team,
    Caller,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicySettings {
    pub ownership: Ownership,
    pub default: TeamPolicy,
    #[serde(default)]
    pub teams: Vec<NamedTeamPolicy>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TeamPolicy {
    #[serde(default)]
    pub run: Vec<String>,
    #[serde(default = "any")]
    pub sources: Vec<String>,
    #[serde(default)]
    pub cancel: bool,
    #[serde(default)]
    pub sdk_paths: bool,
    #[serde(default)]
    pub raw_ids: bool,
    /// Cancel by raw upstream id too (needs `raw_ids` and `cancel`; off unless set).
    #[serde(default)]
    pub raw_cancel: bool,
    /// The team's own limit: sustained requests per second...
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// ...and how many may come at once.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Share of the upstream budget relative to other teams when it is contended.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Overrides `limits.max_wait` for this team.
    #[serde(default, with = "humantime_serde")]
    pub max_wait: Option<Duration>,
    /// Completion callbacks: where they may go and how they are signed; none without it.
    #[serde(default)]
    pub webhook: Option<super::webhook::WebhookPolicy>,
    /// Whether `maxAge` may hand this team a report another owner ran (its own are always
    /// reusable; another team's only when that team also shares, see `share_exports`).
    #[serde(default = "yes")]
    pub reuse_others: bool,
    /// Whether this team's reports may be handed to other teams through `maxAge`. Off by
    /// default: that a team ran an export, and when, is its own business.
    #[serde(default)]
    pub share_exports: bool,
}

fn yes() -> bool {
    true
}

impl TeamPolicy {
    /// Everything allowed (the sandbox's demo team, tests).
    pub fn allow_all() -> Self {
        Self {
            run: any(),
            sources: any(),
            cancel: true,
            sdk_paths: true,
            raw_ids: true,
            raw_cancel: true,
            rate: 1000.0,
            burst: 1000,
            weight: 1,
            max_wait: None,
            webhook: None,
            reuse_others: true,
            share_exports: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedTeamPolicy {
    pub team: String,
    #[serde(flatten)]
    pub policy: TeamPolicy,
}

pub const ALGORITHMS: [&str; 10] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA",
];

impl AuthSettings {
    pub fn read_secret_files(&mut self) -> Result<(), Problem> {
        if let Some(path) = &self.clients_file {
            let more = super::clients::read_file("auth.clients_file", path)?;
            self.clients.extend(more);
        }
        if let Some(path) = &self.id_signing_key_file {
            self.id_signing_key = Some(secret_from_file("auth.id_signing_key_file", path)?);
        }
        for (i, iss) in self.issuers.iter_mut().enumerate() {
            if let Some(path) = &iss.hmac_secret_file {
                let key = format!("auth.issuers[{i}].hmac_secret_file");
                iss.hmac_secret = Some(secret_from_file(key, path)?);
            }
        }
        Ok(())
    }

    pub fn validate(&self, problems: &mut Vec<Problem>) {
        if self.issuers.is_empty() {
            problems.push(problem(
                "auth.issuers",
                "at least one trusted issuer is required",
            ));
        }
        for (i, iss) in self.issuers.iter().enumerate() {
            let key = |k: &str| format!("auth.issuers[{i}].{k}");
            if iss.issuer.trim().is_empty() {
                problems.push(problem(key("issuer"), "is required"));
            }
            // Tokens are matched to an issuer by `iss`: a second entry would never be used.
            if let Some(first) = self.issuers[..i]
                .iter()
                .position(|o| o.issuer == iss.issuer)
            {
                problems.push(problem(
                    key("issuer"),
                    format!("duplicates auth.issuers[{first}] ({})", iss.issuer),
                ));
            }
            if iss.audiences.is_empty() {
                problems.push(problem(
                    key("audiences"),
                    "at least one accepted audience is required",
                ));
            }
            let sources = [
                iss.hmac_secret.is_some(),
                !iss.public_keys.is_empty(),
                iss.jwks_file.is_some(),
                iss.jwks_url.is_some(),
            ];
            if !sources.contains(&true) {
                problems.push(problem(
                    key("hmac_secret"),
                    "the issuer has no key (hmac_secret, public_keys, jwks_file or jwks_url)",
                ));
            }
            if let Some(s) = &iss.hmac_secret {
                if s.expose().len() < 32 {
                    problems.push(problem(key("hmac_secret"), "must be at least 32 bytes"));
                }
                if !iss.hmac_algorithm.starts_with("HS")
                    || !ALGORITHMS.contains(&iss.hmac_algorithm.as_str())
                {
                    problems.push(problem(
                        key("hmac_algorithm"),
                        "must be HS256, HS384 or HS512",
                    ));
                }
            }
            for (j, k) in iss.public_keys.iter().enumerate() {
                if !ALGORITHMS.contains(&k.algorithm.as_str()) || k.algorithm.starts_with("HS") {
                    problems.push(problem(
                        key(&format!("public_keys[{j}].algorithm")),
                        "must be an asymmetric algorithm (RS256, PS256, ES256, EdDSA, ...)",
                    ));
                }
                if let Err(e) = super::keys::load_pem(k) {
                    problems.push(problem(key(&format!("public_keys[{j}].file")), e));
                }
            }
            if let Some(path) = &iss.jwks_file {
                if let Err(e) = super::keys::load_jwks_file(path) {
                    problems.push(problem(key("jwks_file"), e));
                }
            }
            if let Some(u) = &iss.jwks_url {
                match url::Url::parse(u) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => problems.extend(
                        crate::urls::require_https(&key("jwks_url"), &u, iss.insecure_http),
                    ),
                    _ => problems.push(problem(key("jwks_url"), "must be an http(s) URL")),
                }
            }
        }
        if self.caller_claim.trim().is_empty() {
            problems.push(problem("auth.caller_claim", "is required"));
        }
        super::clients::validate(&self.clients, problems);
        if !self.clients.is_empty() {
            // Issued tokens are signed like `reportgate token`'s and name the client's team.
            if !self.issuers.iter().any(|i| i.hmac_secret.is_some()) {
                problems.push(problem(
                    "auth.clients",
                    "gateway clients need an issuer with an hmac_secret to sign their tokens",
                ));
            }
            if self.team_claim.is_none() {
                problems.push(problem(
                    "auth.clients",
                    "gateway clients need auth.team_claim (tokens carry the client's team)",
                ));
            }
        }
        if self.client_token_ttl < Duration::from_secs(60)
            || self.client_token_ttl > Duration::from_secs(12 * 3600)
        {
            problems.push(problem(
                "auth.client_token_ttl",
                "must be between 1m and 12h",
            ));
        }
        if self.max_token_bytes < 256 {
            problems.push(problem("auth.max_token_bytes", "must be at least 256"));
        }
        match &self.id_signing_key {
            None => problems.push(problem(
                "auth.id_signing_key",
                "is required (set REPORTGATE__AUTH__ID_SIGNING_KEY or auth.id_signing_key_file)",
            )),
            Some(k) if k.expose().len() < 32 => {
                problems.push(problem("auth.id_signing_key", "must be at least 32 bytes"))
            }
            Some(_) => {}
        }
    }
}

impl PolicySettings {
    pub fn validate(&self, problems: &mut Vec<Problem>) {
        let check = |key: String, p: &TeamPolicy, problems: &mut Vec<Problem>| {
            if !(p.rate > 0.0 && p.rate.is_finite()) {
                problems.push(problem(
                    key.clone() + ".rate",
                    "must be a positive number of requests per second",
                ));
            }
            if p.burst == 0 || p.weight == 0 {
                problems.push(problem(
                    key.clone() + ".burst",
                    "burst and weight must be at least 1",
                ));
            }
            for t in &p.run {
                if t != "*" && ReportType::parse(t).is_none() {
                    problems.push(problem(
                        key.clone() + ".run",
                        format!("{t} is not a report type"),
                    ));
                }
            }
        };
        check("policy.default".into(), &self.default, problems);
        for (i, t) in self.teams.iter().enumerate() {
            if t.team.trim().is_empty() {
                problems.push(problem(format!("policy.teams[{i}].team"), "is required"));
            }
            // The first entry of a name wins: a second would silently not apply.
            if let Some(first) = self.teams[..i].iter().position(|o| o.team == t.team) {
                problems.push(problem(
                    format!("policy.teams[{i}].team"),
                    format!("duplicates policy.teams[{first}] ({})", t.team),
                ));
            }
            check(format!("policy.teams[{i}]"), &t.policy, problems);
        }
    }

    pub fn read_secret_files(&mut self) -> Result<(), Problem> {
        if let Some(w) = self.default.webhook.as_mut() {
            w.read_secret_file("policy.default.webhook")?;
        }
        for (i, t) in self.teams.iter_mut().enumerate() {
            if let Some(w) = t.policy.webhook.as_mut() {
                w.read_secret_file(&format!("policy.teams[{i}].webhook"))?;
            }
        }
        Ok(())
    }
}
