//! The egress proxy: `tenant.proxy`, else `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (lower-case
//! forms first, as curl reads them), resolved once into an [`Egress`] that the connector
//! asks for every new connection (tenant API, token endpoint, JWKS URLs).
use super::no_proxy::NoProxy;
use crate::problem::{problem, secret_from_file, Problem};
use crate::secret::Secret;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// `tenant.proxy`. With `url` set it wins over the environment (whose `NO_PROXY` is then
/// ignored too: `no_proxy` here is the list).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxySettings {
    /// `http://host:port` of the proxy; CONNECT tunnels through it.
    pub url: Option<String>,
    pub username: Option<String>,
    /// Set REPORTGATE__TENANT__PROXY__PASSWORD, or point password_file at a mounted secret.
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// Hosts reached directly (NO_PROXY syntax): a list, or one comma-separated string (as an
    /// environment override gives it).
    #[serde(deserialize_with = "list_or_string")]
    pub no_proxy: Vec<String>,
    /// Without `url`: whether HTTPS_PROXY/HTTP_PROXY/NO_PROXY apply (false: always direct).
    pub from_environment: bool,
    /// The proxy variables of the process environment, read at load (never serialized).
    #[serde(skip)]
    pub environment: ProxyEnvironment,
}

fn list_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Entries {
        List(Vec<String>),
        One(String),
    }
    Ok(match Entries::deserialize(d)? {
        Entries::List(l) => l,
        Entries::One(s) => vec![s],
    })
}

/// The proxy variables as the process had them (empty values count as unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyEnvironment {
    pub https_proxy: Option<(&'static str, String)>,
    pub http_proxy: Option<(&'static str, String)>,
    pub no_proxy: Option<String>,
}

impl ProxyEnvironment {
    pub fn read(env: &HashMap<String, String>) -> Self {
        let first = |names: [&'static str; 2]| {
            names.into_iter().find_map(|n| {
                env.get(n)
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                    .map(|v| (n, v.to_owned()))
            })
        };
        Self {
            https_proxy: first(["https_proxy", "HTTPS_PROXY"]),
            http_proxy: first(["http_proxy", "HTTP_PROXY"]),
            no_proxy: first(["no_proxy", "NO_PROXY"]).map(|(_, v)| v),
        }
    }
}

/// One proxy: where to dial, and the `Proxy-Authorization` to send, if any.
#[derive(Debug)]
pub struct ProxyEndpoint {
    pub host: String,
    pub port: u16,
    pub authorization: Option<Secret>,
    /// How it is named in logs: `http://host:port` and where it came from, never credentials.
    pub shown: String,
}

/// Which proxy, if any, a connection goes through. Cheap to clone (one per worker client).
#[derive(Debug, Clone, Default)]
pub struct Egress {
    https: Option<Arc<ProxyEndpoint>>,
    http: Option<Arc<ProxyEndpoint>>,
    no_proxy: Arc<NoProxy>,
    /// NO_PROXY entries of the environment that could not be read (warned at start).
    pub skipped: Vec<String>,
}

impl Egress {
    /// The proxy for a connection to `host:port` over `scheme`, or `None` to dial directly.
    pub fn route(&self, scheme: &str, host: &str, port: u16) -> Option<&Arc<ProxyEndpoint>> {
        let proxy = match scheme {
            "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        }?;
        (!self.no_proxy.bypasses(host, port)).then_some(proxy)
    }

    /// One line for the start-up log: which proxy, from where, or none.
    pub fn describe(&self) -> String {
        match (&self.https, &self.http) {
            (None, None) => "direct (no proxy)".into(),
            (Some(s), Some(p)) if Arc::ptr_eq(s, p) => s.shown.clone(),
            (s, p) => format!(
                "https via {}, http via {}",
                s.as_ref().map_or("direct", |e| e.shown.as_str()),
                p.as_ref().map_or("direct", |e| e.shown.as_str())
            ),
        }
    }
}

impl ProxySettings {
    pub fn read_secret_files(&mut self) -> Result<(), Problem> {
        if let Some(path) = &self.password_file {
            self.password = Some(secret_from_file("tenant.proxy.password_file", path)?);
        }
        Ok(())
    }

    pub fn validate(&self, problems: &mut Vec<Problem>) {
        if let Err(p) = self.egress() {
            problems.extend(p);
        }
    }

    /// The egress this configuration and environment give, or every problem with them.
    pub fn egress(&self) -> Result<Egress, Vec<Problem>> {
        let mut problems = Vec::new();
        let credentials = match (&self.username, &self.password) {
            (None, None) => None,
            (Some(u), Some(p)) if !u.is_empty() && !u.contains(':') => Some((u.clone(), p.clone())),
            (Some(_), Some(_)) => {
                problems.push(problem(
                    "tenant.proxy.username",
                    "must be non-empty and hold no `:`",
                ));
                None
            }
            (Some(_), None) => {
                problems.push(problem(
                    "tenant.proxy.password",
                    "is required with username (set password_file or REPORTGATE__TENANT__PROXY__PASSWORD)",
                ));
                None
            }
            (None, Some(_)) => {
                problems.push(problem(
                    "tenant.proxy.username",
                    "is required with a password",
                ));
                None
            }
        };
        let no_proxy = NoProxy::parse(self.no_proxy.iter().map(String::as_str))
            .map_err(|e| problem("tenant.proxy.no_proxy", e));
        let egress = match &self.url {
            Some(url) => {
                let endpoint = endpoint("tenant.proxy.url", url, false, credentials)
                    .map_err(|e| problems.push(e))
                    .ok();
                let no_proxy = no_proxy.map_err(|e| problems.push(e)).ok();
                endpoint.zip(no_proxy).map(|(e, n)| {
                    let e = Some(Arc::new(e));
                    Egress {
                        https: e.clone(),
                        http: e,
                        no_proxy: Arc::new(n),
                        skipped: vec![],
                    }
                })
            }
            None => {
                if !self.no_proxy.is_empty() {
                    problems.push(problem(
                        "tenant.proxy.no_proxy",
                        "applies to tenant.proxy.url, which is not set (NO_PROXY is the environment's)",
                    ));
                }
                let egress = if self.from_environment {
                    from_environment(&self.environment, credentials.as_ref())
                        .map_err(|e| problems.push(e))
                        .ok()
                } else {
                    Some(Egress::default())
                };
                // Credentials for no proxy at all are a mistake worth stopping for.
                let unused = egress
                    .as_ref()
                    .is_some_and(|e| e.https.is_none() && e.http.is_none());
                if credentials.is_some() && unused {
                    problems.push(problem(
                        "tenant.proxy.username",
                        "is set but no proxy is (tenant.proxy.url, or HTTPS_PROXY/HTTP_PROXY \
                         with from_environment)",
                    ));
                }
                egress
            }
        };
        match (egress, problems.is_empty()) {
            (Some(e), true) => Ok(e),
            _ => Err(problems),
        }
    }
}

/// The environment's proxies; `credentials` (tenant.proxy.username and password) apply to
/// them unless a proxy URL carries its own.
fn from_environment(
    env: &ProxyEnvironment,
    credentials: Option<&(String, Secret)>,
) -> Result<Egress, Problem> {
    let one = |var: &Option<(&'static str, String)>| -> Result<_, Problem> {
        var.as_ref()
            .map(|(name, value)| endpoint(name, value, true, credentials.cloned()).map(Arc::new))
            .transpose()
    };
    let (no_proxy, skipped) = env
        .no_proxy
        .as_deref()
        .map(NoProxy::parse_lenient)
        .unwrap_or_default();
    Ok(Egress {
        https: one(&env.https_proxy)?,
        http: one(&env.http_proxy)?,
        no_proxy: Arc::new(no_proxy),
        skipped,
    })
}

/// Parses a proxy URL. Only `http://` proxies: the tunnel to the tenant is TLS end to end,
/// and a proxy spoken to over TLS is not supported. A URL without a scheme means http (as
/// curl reads `proxy.corp:3128`). Credentials in the URL are accepted from the environment
/// (the common form there) but not in the configuration, which `config check` prints.
fn endpoint(
    key: &str,
    raw: &str,
    from_env: bool,
    credentials: Option<(String, Secret)>,
) -> Result<ProxyEndpoint, Problem> {
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    // The message never repeats the value: it may hold a password.
    let url = url::Url::parse(&with_scheme).map_err(|e| {
        problem(
            key,
            format!("is not a proxy URL like http://proxy.corp:3128 ({e})"),
        )
    })?;
    if url.scheme() != "http" {
        return Err(problem(
            key,
            "must be an http:// proxy (HTTPS is tunnelled through it with CONNECT)",
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| problem(key, "has no host"))?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(problem(key, "must be only scheme, host and port"));
    }
    let in_url = !url.username().is_empty() || url.password().is_some();
    if in_url && !from_env {
        return Err(problem(
            key,
            "must not hold credentials: set tenant.proxy.username and password_file",
        ));
    }
    let credentials = if in_url {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Some((
            decode(url.username()),
            Secret::new(decode(url.password().unwrap_or(""))),
        ))
    } else {
        credentials
    };
    let authorization = credentials.map(|(user, password)| {
        let raw = format!("{user}:{}", password.expose());
        Secret::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    });
    let port = url.port().unwrap_or(80);
    let source = if from_env { key } else { "tenant.proxy.url" };
    Ok(ProxyEndpoint {
        shown: format!("http://{host}:{port} (from {source})"),
        host: host.to_owned(),
        port,
        authorization,
    })
}

#[cfg(test)]
mod tests;
