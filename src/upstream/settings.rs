//! `tenant:` settings: where IdentityNow is and how the gateway signs in to it.
use crate::problem::{problem, secret_from_file, Problem};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantSettings {
    pub base_url: String,
    /// Allows a plain `http://` base_url to a host other than loopback (warned at start).
    #[serde(default)]
    pub insecure_http: bool,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    pub ca_bundle: Option<PathBuf>,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub download_timeout: Duration,
    /// A download whose upstream sends nothing for this long is cut off (visibly).
    #[serde(with = "humantime_serde")]
    pub download_idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub token_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub token_refresh_margin: Duration,
    /// The egress proxy for the tenant, its token endpoint and JWKS URLs.
    pub proxy: super::ProxySettings,
}

impl TenantSettings {
    pub fn read_secret_files(&mut self) -> Result<(), Problem> {
        if let Some(path) = &self.client_secret_file {
            self.client_secret = Some(secret_from_file("tenant.client_secret_file", path)?);
        }
        self.proxy.read_secret_files()
    }

    pub fn validate(&self, problems: &mut Vec<Problem>) {
        let t = self;
        match url::Url::parse(&t.base_url) {
            Err(_) if t.base_url.is_empty() => problems.push(problem(
                "tenant.base_url",
                "is required (e.g. https://acme.api.identitynow.com)",
            )),
            Err(e) => problems.push(problem("tenant.base_url", format!("is not a URL: {e}"))),
            Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                problems.push(problem("tenant.base_url", "must be http:// or https://"))
            }
            Ok(u) if u.host().is_none() => problems.push(problem("tenant.base_url", "has no host")),
            Ok(u) if u.query().is_some() || u.fragment().is_some() => problems.push(problem(
                "tenant.base_url",
                "must not have a query or fragment",
            )),
            Ok(u) if u.path().ends_with("/v3") => problems.push(problem(
                "tenant.base_url",
                "must be the tenant origin without /v3 (reportgate adds the version)",
            )),
            Ok(u) => problems.extend(crate::urls::require_https(
                "tenant.base_url",
                &u,
                t.insecure_http,
            )),
        }
        if t.client_id.trim().is_empty() {
            problems.push(problem("tenant.client_id", "is required"));
        }
        match &t.client_secret {
            None => problems.push(problem(
                "tenant.client_secret",
                "is required (set REPORTGATE__TENANT__CLIENT_SECRET or tenant.client_secret_file)",
            )),
            Some(s) if s.expose().is_empty() => {
                problems.push(problem("tenant.client_secret", "must not be empty"))
            }
            Some(_) => {}
        }
        if let Some(path) = &t.ca_bundle {
            if let Err(e) = super::tls::read_ca_bundle(path) {
                problems.push(problem("tenant.ca_bundle", e));
            }
        }
        for (key, d) in [
            ("tenant.connect_timeout", t.connect_timeout),
            ("tenant.request_timeout", t.request_timeout),
            ("tenant.download_timeout", t.download_timeout),
            ("tenant.download_idle_timeout", t.download_idle_timeout),
            ("tenant.token_timeout", t.token_timeout),
        ] {
            if d.is_zero() {
                problems.push(problem(key, "must be greater than 0"));
            }
        }
        t.proxy.validate(problems);
    }
}
