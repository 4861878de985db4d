//! `redis:` settings.
use crate::problem::{problem, secret_from_file, Problem};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Serialize, Deserialize)]
pub struct RedisSettings {
    /// `redis://host:6379/0`, or `rediss://` for TLS. Unset: everything stays in-process.
    pub url: Option<String>,
    /// The password (or ACL password with `username`); better from `password_file`.
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub username: Option<String>,
    /// PEM CA bundle for `rediss://` (default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// Every key starts with `{key_prefix}`; replicas of one gateway (one API client) share
    /// it, gateways of different API clients must not.
    pub key_prefix: String,
    /// Longest wait for one command: slower counts as an outage (fallback at once).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How often the connection is checked, and retried while Redis is down.
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
    /// While Redis is down, each replica takes this share of the upstream budget and of each
    /// team's limit (1/replicas keeps the sum within the tenant's limit).
    pub fallback_share: f64,
}

impl std::fmt::Debug for RedisSettings {
    /// Like the derived one, but a password inside the URL is never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.url.as_deref().map(super::redact_url))
            .field("password", &self.password)
            .field("password_file", &self.password_file)
            .field("username", &self.username)
            .field("ca_file", &self.ca_file)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("fallback_share", &self.fallback_share)
            .finish_non_exhaustive()
    }
}

impl RedisSettings {
    pub fn enabled(&self) -> bool {
        self.url.is_some()
    }

    pub fn read_secret_files(&mut self) -> Result<(), Problem> {
        if let Some(path) = &self.password_file {
            self.password = Some(secret_from_file("redis.password_file", path)?);
        }
        Ok(())
    }

    pub fn validate(&self, problems: &mut Vec<Problem>) {
        let mut p = |key: &str, msg: String| problems.push(problem(format!("redis.{key}"), msg));
        if let Some(url) = &self.url {
            // The URL is never echoed: it may carry a password.
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host().is_some() => {}
                Ok(_) => p(
                    "url",
                    "must be redis://host[:port][/db] or rediss://…".into(),
                ),
                Err(e) => p("url", format!("is not a URL: {e}")),
            }
        }
        if !(self.fallback_share > 0.0 && self.fallback_share <= 1.0) {
            p("fallback_share", "must be in (0, 1]".into());
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            p("timeout", "timeouts must be greater than 0".into());
        }
        if self.check_interval.is_zero() {
            p("check_interval", "must be greater than 0".into());
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(['{', '}']) {
            p("key_prefix", "must be non-empty, without braces".into());
        }
    }

    /// The client for `url`, with the password and CA applied.
    pub fn client(&self) -> anyhow::Result<redis::Client> {
        use redis::IntoConnectionInfo;
        let url = self
            .url
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("redis.url is not set"))?;
        let mut info = url
            .into_connection_info()
            .map_err(|e| anyhow::anyhow!("redis.url: {:?}", e.kind()))?;
        let mut redis = info.redis_settings().clone();
        if let Some(pw) = &self.password {
            redis = redis.set_password(pw.expose());
        }
        if let Some(user) = &self.username {
            redis = redis.set_username(user);
        }
        info = info.set_redis_settings(redis);
        match &self.ca_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("redis.ca_file {}: {e}", path.display()))?;
                redis::Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    },
                )
                .map_err(|e| anyhow::anyhow!("redis TLS: {:?}", e.kind()))
            }
            None => redis::Client::open(info).map_err(|e| anyhow::anyhow!("redis: {:?}", e.kind())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> RedisSettings {
        let mut s = crate::config::Settings::defaults().redis;
        s.url = Some(url.into());
        s
    }

    #[test]
    fn a_bad_url_is_reported_without_echoing_its_password() {
        for url in [
            "http://user:hunter2-secret@redis:6379",
            "redis://:hunter2-secret@",
        ] {
            let mut problems = Vec::new();
            settings(url).validate(&mut problems);
            assert_eq!(problems.len(), 1, "{url}");
            assert_eq!(problems[0].key, "redis.url");
            assert!(
                !problems[0].message.contains("hunter2"),
                "{}",
                problems[0].message
            );
        }
        let mut problems = Vec::new();
        settings("rediss://cache.internal:6380/2").validate(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_redis_password_never_shows_in_printed_settings() {
        let mut s = crate::config::Settings::defaults();
        s.redis.url = Some("redis://:in-url-secret@cache:6379/0".into());
        s.redis.password = Some(Secret::new("field-secret".into()));
        let shown = format!("{} {:?}", s.redacted(), s);
        assert!(!shown.contains("in-url-secret"), "{shown}");
        assert!(!shown.contains("field-secret"), "{shown}");
        assert!(shown.contains("cache:6379"));
    }

    #[test]
    fn the_fallback_share_must_be_a_fraction() {
        for bad in [0.0, -0.5, 1.5, f64::NAN] {
            let mut s = settings("redis://127.0.0.1:6379");
            s.fallback_share = bad;
            let mut problems = Vec::new();
            s.validate(&mut problems);
            assert!(
                problems.iter().any(|p| p.key == "redis.fallback_share"),
                "{bad}"
            );
        }
    }
}
