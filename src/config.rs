//! Settings: `config/default.yaml` (compiled in) → optional file → `REPORTGATE__*` env,
//! then validated as a whole so that every problem is reported at once, with its key.
//! Each section's type and checks live with the component it configures; this module only
//! puts them together (and owns the server's own sections).
use crate::audit::AuditSettings;
use crate::auth::settings::{AuthSettings, PolicySettings};
use crate::cache::CacheSettings;
use crate::limits::LimitSettings;
use crate::problem::{problem, Problem};
use crate::shared::RedisSettings;
use crate::telemetry::LogSettings;
use crate::upstream::TenantSettings;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const DEFAULTS: &str = include_str!("../config/default.yaml");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub tenant: TenantSettings,
    pub log: LogSettings,
    pub admin: AdminSettings,
    pub auth: AuthSettings,
    pub policy: PolicySettings,
    pub limits: LimitSettings,
    pub cache: CacheSettings,
    pub audit: AuditSettings,
    pub redis: RedisSettings,
    pub callbacks: crate::callbacks::settings::CallbackSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerSettings {
    pub listen: String,
    /// After SIGTERM: how long readiness is false while still accepting, before stopping.
    #[serde(with = "humantime_serde")]
    pub drain_delay: Duration,
    pub max_body_bytes: usize,
    /// A request body must arrive within this (else 408).
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    pub workers: usize,
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminSettings {
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`); null turns it off.
    pub listen: Option<String>,
}

impl Settings {
    /// The compiled-in defaults alone (not valid until a tenant is configured).
    pub fn defaults() -> Self {
        Self::layers(None, &HashMap::new())
            .unwrap_or_else(|p| panic!("default.yaml is broken: {p:?}"))
    }

    /// Loads the layers. `env` is passed in (not read here) so that tests never touch the
    /// process environment.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, Vec<Problem>> {
        let raw = Self::raw(file, env)?;
        // Unknown keys are reported with whatever else is wrong, not instead of it.
        let mut problems = Vec::new();
        if let Ok(tree) = raw.clone().try_deserialize::<serde_json::Value>() {
            crate::strict::unknown_keys(&tree, &Self::known_keys(), "", &mut problems);
            vocabulary(&tree, &mut problems);
        }
        let mut settings = match Self::typed(raw) {
            Ok(s) => s,
            Err(p) => {
                // serde's own word on a value already reported (with the choices) is dropped.
                let known: Vec<String> = problems.iter().map(|p| p.key.clone()).collect();
                problems.extend(p.into_iter().filter(|p| !known.contains(&p.key)));
                return Err(problems);
            }
        };
        // The proxy variables come from the same environment as the rest (tests pass their own).
        settings.tenant.proxy.environment = crate::upstream::ProxyEnvironment::read(env);
        if let Err(mut p) = settings.read_secret_files() {
            problems.append(&mut p);
            return Err(problems);
        }
        if let Err(mut p) = settings.validate() {
            problems.append(&mut p);
        }
        match problems.is_empty() {
            true => Ok(settings),
            false => Err(problems),
        }
    }

    /// Every key the configuration knows, as a tree: the defaults, with one entry of each
    /// list and each optional section filled in as a template.
    fn known_keys() -> serde_json::Value {
        use crate::auth::settings::{IssuerSettings, NamedTeamPolicy, PemKeySettings, TeamPolicy};
        let mut s = Self::defaults();
        let mut issuer = IssuerSettings::hmac("", "", crate::secret::Secret::new(String::new()));
        issuer.public_keys = vec![PemKeySettings {
            file: Default::default(),
            algorithm: String::new(),
            kid: None,
        }];
        s.auth.issuers = vec![issuer];
        let webhook = Some(Default::default());
        s.policy.default.webhook = webhook.clone();
        s.policy.teams = vec![NamedTeamPolicy {
            team: String::new(),
            policy: TeamPolicy {
                webhook,
                ..TeamPolicy::allow_all()
            },
        }];
        serde_json::to_value(s).expect("settings serialize")
    }

    /// The merged layers, before secret files are read and before validation.
    fn layers(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, Vec<Problem>> {
        Self::typed(Self::raw(file, env)?)
    }

    /// The layers merged, untyped.
    fn raw(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<config::Config, Vec<Problem>> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Yaml));
        if let Some(path) = file {
            if !path.exists() {
                return Err(vec![problem(
                    "--config",
                    format!("{} does not exist", path.display()),
                )]);
            }
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let env: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("REPORTGATE__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("REPORTGATE")
                .prefix_separator("__")
                .separator("__")
                .source(Some(env)),
        );
        builder
            .build()
            .map_err(|e| vec![problem("config", e.to_string())])
    }

    /// The merged layers as settings (serde's first error only, with its key).
    fn typed(raw: config::Config) -> Result<Self, Vec<Problem>> {
        let mut settings: Settings = raw.try_deserialize().map_err(|e| {
            let msg = e.to_string();
            // config's messages end with `for key "a.b"`: lift the key out.
            let key = msg
                .rsplit_once("for key `")
                .or_else(|| msg.rsplit_once("for key \""))
                .map(|(_, k)| k.trim_end_matches(['`', '"']).to_owned())
                .unwrap_or_else(|| "config".into());
            vec![problem(&key, msg)]
        })?;
        settings.tenant.base_url = settings.tenant.base_url.trim_end_matches('/').to_owned();
        Ok(settings)
    }

    fn read_secret_files(&mut self) -> Result<(), Vec<Problem>> {
        self.tenant.read_secret_files().map_err(|p| vec![p])?;
        self.auth.read_secret_files().map_err(|p| vec![p])?;
        self.audit.read_secret_files().map_err(|p| vec![p])?;
        self.redis.read_secret_files().map_err(|p| vec![p])?;
        self.policy.read_secret_files().map_err(|p| vec![p])?;
        Ok(())
    }

    /// Checks the whole tree, reporting every problem.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        if self.server.listen.parse::<SocketAddr>().is_err() {
            problems.push(problem(
                "server.listen",
                "must be an address like 0.0.0.0:8080",
            ));
        }
        if self.server.max_body_bytes == 0 {
            problems.push(problem("server.max_body_bytes", "must be greater than 0"));
        }
        self.tenant.validate(&mut problems);
        self.auth.validate(&mut problems);
        self.policy.validate(&mut problems);
        // Callback rules are team policy, checked by the callbacks service that uses them.
        let webhooks = self.policy.teams.iter().enumerate().map(|(i, t)| {
            (
                format!("policy.teams[{i}].webhook"),
                t.policy.webhook.as_ref(),
            )
        });
        for (key, w) in webhooks.chain([(
            "policy.default.webhook".into(),
            self.policy.default.webhook.as_ref(),
        )]) {
            if let Some(w) = w {
                crate::callbacks::settings::validate_webhook(w, &key, &mut problems);
            }
        }
        self.callbacks.validate(&mut problems);
        self.limits.validate(&mut problems);
        self.audit.validate(&mut problems);
        self.redis.validate(&mut problems);
        self.log.validate(&mut problems);
        // Filters are ASCII; tracing-subscriber's parser panics on some non-ASCII input
        // (found by the config proptest), so that never reaches it.
        if !self.log.level.is_ascii() {
            problems.push(problem(
                "log.level",
                "must be ASCII, e.g. info or reportgate=debug",
            ));
        } else if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            problems.push(problem("log.level", format!("is not a valid filter: {e}")));
        } else if let Err(m) = check_levels(&self.log.level) {
            problems.push(problem("log.level", m));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Plain-http URLs to hosts other than loopback that `insecure_http: true` let through:
    /// (key, URL as shown), each warned about at start.
    pub fn insecure_urls(&self) -> Vec<(String, String)> {
        let insecure = |raw: &str| {
            url::Url::parse(raw)
                .ok()
                .filter(crate::urls::is_insecure)
                .map(|u| crate::urls::shown(u.as_str()))
        };
        let mut found = Vec::new();
        if let Some(u) = insecure(&self.tenant.base_url) {
            found.push(("tenant.base_url".to_owned(), u));
        }
        for (i, iss) in self.auth.issuers.iter().enumerate() {
            if let Some(u) = iss.jwks_url.as_deref().and_then(insecure) {
                found.push((format!("auth.issuers[{i}].jwks_url"), u));
            }
        }
        found
    }

    /// The effective configuration as YAML-ish JSON, secrets redacted.
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("settings serialize");
        // Secrets serialize as [REDACTED]; credentials inside a URL (userinfo, a token in the
        // query) would not: every URL is shown without them.
        strip_urls(&mut v);
        v
    }
}

/// Values from a fixed set, checked all at once before typing (serde stops at the first, and
/// says "variant constructor").
fn vocabulary(tree: &serde_json::Value, problems: &mut Vec<Problem>) {
    const MODES: &[&str] = &["batch", "blocking"];
    let sets: [(&str, &[&str]); 7] = [
        ("log.format", &["json", "pretty"]),
        ("policy.ownership", &["team", "caller"]),
        ("audit.modes.run", MODES),
        ("audit.modes.status", MODES),
        ("audit.modes.download", MODES),
        ("audit.modes.cancel", MODES),
        ("audit.modes.other", MODES),
    ];
    for (key, allowed) in sets {
        let pointer = format!("/{}", key.replace('.', "/"));
        let Some(value) = tree.pointer(&pointer) else {
            continue;
        };
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        if !allowed.contains(&text.as_str()) {
            let hint = crate::strict::nearest(&text, allowed.iter().copied())
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            problems.push(problem(
                key,
                format!("{text:?} is not one of {}{hint}", allowed.join(", ")),
            ));
        }
    }
}

fn strip_urls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.contains("://") => *s = crate::urls::shown(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_urls),
        serde_json::Value::Object(map) => map.values_mut().for_each(strip_urls),
        _ => {}
    }
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Each directive of a filter is a level or `target=level`. tracing accepts a bare word as a
/// target at every level, so `verbose` passed and then logged nothing the operator meant.
fn check_levels(filter: &str) -> Result<(), String> {
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            let hint = crate::strict::nearest(level, LEVELS.into_iter())
                .map(|l| format!(" (did you mean `{l}`?)"))
                .unwrap_or_default();
            return Err(format!(
                "{directive:?} is not a level{hint}: use one of {} or target=level",
                LEVELS.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
