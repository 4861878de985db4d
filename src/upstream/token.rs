//! Tenant access tokens: OAuth2 client credentials, cached until `expires_in` minus a
//! margin, refreshed one at a time.
//!
//! Not a moka cache on purpose: invalidation after an upstream 401 must be
//! compare-and-drop (only the token that failed), or fifty requests failing with the old
//! token would each throw away the fresh one and cause a refresh storm.
use super::client::map_send_error;
use crate::clock::Clock;
use crate::error::UpstreamError;
use crate::secret::Secret;
use crate::upstream::CredentialKind;
use crate::wire::models::TokenResponse;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct AccessToken {
    value: Secret,
    /// `Bearer <token>` as a header value, made once: every upstream call sends it, and
    /// formatting and validating the token's bytes per call showed in profiles. `None`
    /// when the token cannot be a header value (then each call fails as it did).
    header: Option<actix_web::http::header::HeaderValue>,
    /// When the upstream will stop accepting it.
    pub expires_at: Instant,
    /// When we start refreshing it.
    pub refresh_at: Instant,
}

impl AccessToken {
    pub fn new(value: String, expires_at: Instant, refresh_at: Instant) -> Self {
        let header = actix_web::http::header::HeaderValue::try_from(format!("Bearer {value}"))
            .ok()
            .map(|mut v| {
                v.set_sensitive(true);
                v
            });
        Self {
            value: Secret::new(value),
            header,
            expires_at,
            refresh_at,
        }
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.value.expose())
    }

    /// The `Authorization` value, if the token is a valid header value.
    pub fn header(&self) -> Option<actix_web::http::header::HeaderValue> {
        self.header.clone()
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What `/readyz` says about the tenant token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenHealth {
    /// An unexpired token, and the last fetch worked.
    Ok,
    /// An unexpired token, but refreshing it fails: it will run out.
    RefreshFailing,
    /// No usable token and fetching one fails: callers get 503 upstream_auth_failed.
    Unavailable,
    /// None fetched yet.
    Pending,
}

impl TokenHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::RefreshFailing => "refresh_failing",
            Self::Unavailable => "unavailable",
            Self::Pending => "pending",
        }
    }
}

pub struct TokenProvider {
    token_url: String,
    client_id: String,
    client_secret: Secret,
    timeout: Duration,
    margin: Duration,
    clock: Clock,
    metrics: Arc<crate::metrics::Metrics>,
    current: Mutex<Option<Arc<AccessToken>>>,
    /// Consecutive failed fetches, and when the next fetch may be tried.
    backoff: Mutex<(u32, Option<Instant>)>,
    /// The last fetch's failure when the egress proxy caused it: callers are told so (502
    /// upstream_proxy_failed) while the endpoint is left alone, rather than a credential 503.
    proxy_failure: Mutex<Option<UpstreamError>>,
    /// Held by whoever is fetching a token: the single flight.
    refreshing: tokio::sync::Mutex<()>,
    /// The kind of credential, learned from the last token (none before the first).
    kind: Mutex<Option<CredentialKind>>,
}

/// The longest wait a token endpoint's `Retry-After` may impose (a bogus far-future date
/// must not lock the gateway out for days).
const MAX_TOKEN_RETRY_AFTER: Duration = Duration::from_secs(3600);

impl TokenProvider {
    pub fn new(
        base_url: &str,
        client_id: String,
        client_secret: Secret,
        timeout: Duration,
        margin: Duration,
        clock: Clock,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            token_url: format!("{base_url}/oauth/token"),
            client_id,
            client_secret,
            timeout,
            margin,
            clock,
            metrics,
            current: Mutex::new(None),
            backoff: Mutex::new((0, None)),
            proxy_failure: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            kind: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<Arc<AccessToken>> {
        self.current.lock().unwrap().clone()
    }

    /// A token good to use now. Fetches one only when needed, and only one caller at a
    /// time does; while a due refresh is under way, others keep using the still-valid token.
    pub async fn get(&self, http: &awc::Client) -> Result<Arc<AccessToken>, UpstreamError> {
        let now = self.clock.now();
        let guard = match self.cached() {
            Some(t) if now < t.refresh_at => return Ok(t),
            Some(t) if now < t.expires_at => match self.refreshing.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(t),
            },
            _ => self.refreshing.lock().await,
        };
        // Someone else may have refreshed while we waited for the lock.
        if let Some(t) = self.cached() {
            if self.clock.now() < t.refresh_at {
                return Ok(t);
            }
        }
        // After failures the token endpoint is left alone for a while (a 429 or an outage
        // must not turn into a refresh storm); callers get a fast 503 meanwhile.
        if let (_, Some(next)) = *self.backoff.lock().unwrap() {
            let now = self.clock.now();
            if now < next {
                drop(guard);
                if let Some(e) = self.proxy_failure.lock().unwrap().clone() {
                    return Err(e);
                }
                return Err(UpstreamError::AuthBackoff {
                    retry_after: next - now,
                });
            }
        }
        let (result, asked) = match self.fetch(http).await {
            Ok(t) => (Ok(t), None),
            Err((e, asked)) => (Err(e), asked),
        };
        let mut backoff = None;
        {
            let mut b = self.backoff.lock().unwrap();
            *b = match &result {
                Ok(_) => (0, None),
                Err(_) => {
                    let n = b.0 + 1;
                    let doubling = (Duration::from_millis(250) * 2u32.pow(n.min(7) - 1))
                        .min(Duration::from_secs(30))
                        .mul_f64(0.8 + rand::random::<f64>() * 0.4);
                    // The endpoint's own Retry-After (429/503) is honoured when longer.
                    let wait = doubling.max(asked.unwrap_or_default().min(MAX_TOKEN_RETRY_AFTER));
                    backoff = Some(wait);
                    (n, Some(self.clock.now() + wait))
                }
            };
        }
        *self.proxy_failure.lock().unwrap() = match &result {
            Err(e @ UpstreamError::Proxy(_)) => Some(e.clone()),
            _ => None,
        };
        let outcome = if result.is_ok() { "success" } else { "failure" };
        self.metrics
            .token_refreshes
            .with_label_values(&[outcome])
            .inc();
        // Store before releasing the lock, or a waiter could find no token and fetch again.
        if let Ok(t) = &result {
            *self.current.lock().unwrap() = Some(t.clone());
        }
        drop(guard);
        match result {
            Ok(t) => Ok(t),
            // The last good token stays usable until it really expires.
            Err(e) => match self.cached() {
                Some(t) if self.clock.now() < t.expires_at => {
                    tracing::warn!(error = %e, "token refresh failed; using the current token until it expires");
                    Ok(t)
                }
                _ if matches!(e, UpstreamError::Proxy(_)) => {
                    tracing::warn!(error = %e, "tenant token fetch failed at the egress proxy");
                    Err(e)
                }
                // The 503 says when to come back: when the next fetch may be tried.
                _ => {
                    tracing::warn!(error = %e, "tenant token fetch failed");
                    Err(UpstreamError::AuthBackoff {
                        retry_after: backoff.unwrap_or(Duration::from_secs(1)),
                    })
                }
            },
        }
    }

    /// Drops `stale` after the upstream refused it, unless it was already replaced.
    pub fn invalidate(&self, stale: &Arc<AccessToken>) {
        let mut current = self.current.lock().unwrap();
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, stale)) {
            *current = None;
        }
    }

    /// The kind of credential held, once a token has been obtained.
    pub fn kind(&self) -> Option<CredentialKind> {
        *self.kind.lock().unwrap()
    }

    /// Records the kind; says so in the log when it is learned or changes, with a warning
    /// when cancel cannot work with it.
    fn learn_kind(&self, kind: CredentialKind) {
        let before = self.kind.lock().unwrap().replace(kind);
        if before == Some(kind) {
            return;
        }
        if kind.can_cancel() {
            tracing::info!(
                credential = kind.label(),
                "the tenant credential is a personal access token: cancel is available"
            );
        } else {
            tracing::warn!(
                credential = kind.label(),
                "the tenant credential is an API client (no user context): IdentityNow \
                 refuses cancel for it; use a personal access token to cancel reports"
            );
        }
    }

    /// The token's health for `/readyz` and the metrics; never a reason to be unready.
    pub fn health(&self) -> TokenHealth {
        let valid = self.expires_in().is_some_and(|d| !d.is_zero());
        match (valid, self.failures()) {
            (true, 0) => TokenHealth::Ok,
            (true, _) => TokenHealth::RefreshFailing,
            (false, 0) => TokenHealth::Pending,
            (false, _) => TokenHealth::Unavailable,
        }
    }

    /// Consecutive failed fetches (0 after a success).
    pub fn failures(&self) -> u32 {
        self.backoff.lock().unwrap().0
    }

    /// True when a fetch is due (no token, or inside the refresh margin), the endpoint is not
    /// being left alone after failures, and nobody is fetching: worth starting one in the
    /// background.
    pub fn fetch_due(&self) -> bool {
        let now = self.clock.now();
        let due = self.cached().is_none_or(|t| now >= t.refresh_at);
        let backing_off = self
            .backoff
            .lock()
            .unwrap()
            .1
            .is_some_and(|next| now < next);
        due && !backing_off && self.refreshing.try_lock().is_ok()
    }

    /// Seconds until the current token expires (for readiness and metrics).
    pub fn expires_in(&self) -> Option<Duration> {
        self.cached()
            .map(|t| t.expires_at.saturating_duration_since(self.clock.now()))
    }

    /// The token, or why not and the endpoint's `Retry-After` if it sent one.
    #[tracing::instrument(name = "Fetching a tenant access token", skip_all)]
    async fn fetch(
        &self,
        http: &awc::Client,
    ) -> Result<Arc<AccessToken>, (UpstreamError, Option<Duration>)> {
        let no_hint = |e| (e, None);
        let started = self.clock.now();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        let fut = http
            .post(&self.token_url)
            .timeout(self.timeout)
            .send_form(&form);
        let mut resp = fut
            .await
            .map_err(|e| match map_send_error(e) {
                UpstreamError::Timeout(m) => {
                    UpstreamError::Auth(format!("token endpoint timed out: {m}"))
                }
                proxy @ UpstreamError::Proxy(_) => proxy,
                other => UpstreamError::Auth(other.to_string()),
            })
            .map_err(no_hint)?;
        let status = resp.status();
        let asked = resp
            .headers()
            .get(actix_web::http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::domain::retry_after::parse(v, std::time::SystemTime::now()));
        let body = actix_rt::time::timeout(self.timeout, resp.body().limit(64 * 1024))
            .await
            .map_err(|_| UpstreamError::Auth("token endpoint body timed out".into()))
            .map_err(no_hint)?
            .map_err(|e| UpstreamError::Auth(format!("token endpoint body: {e}")))
            .map_err(no_hint)?;
        if !status.is_success() {
            // The body is logged only by status: it could echo credentials.
            return Err((
                UpstreamError::Auth(format!("token endpoint answered {status}")),
                asked,
            ));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Auth(format!("token response is not usable: {e}")))
            .map_err(no_hint)?;
        self.learn_kind(CredentialKind::detect(
            parsed.identity_id.as_deref(),
            parsed.user_id.as_deref(),
            &parsed.access_token,
        ));
        let lifetime = Duration::from_secs(parsed.expires_in);
        let expires_at = started + lifetime;
        // A margin longer than the lifetime would refresh on every call; cap it at half.
        let margin = self.margin.min(lifetime / 2);
        tracing::info!(
            expires_in = parsed.expires_in,
            "obtained a tenant access token"
        );
        Ok(Arc::new(AccessToken::new(
            parsed.access_token,
            expires_at,
            expires_at - margin,
        )))
    }
}
