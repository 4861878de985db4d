//! Completion callbacks: when a report that asked for one reaches a terminal status, the
//! gateway POSTs the report resource to the caller's URL, signed as Standard Webhooks says,
//! retried with back-off for a bounded time. The gateway watches the report through the
//! result cache, so callbacks add no upstream polls beyond the cache's own pace.
pub mod accept;
pub mod settings;
pub mod sign;
pub mod target;

use crate::audit::{Audit, Event};
use crate::domain::ReportId;
use crate::http::RequestContext;
use crate::shared::SharedStore;
use crate::state::AppState;
use crate::upstream::{IdentityNow, PathFamily};
use actix_web::web;
use bytes::Bytes;
use prometheus::{IntCounterVec, Opts, Registry};
use settings::CallbackSettings;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// One callback to deliver, as accepted with its run.
pub struct Registration {
    /// The id the caller knows (owner-bound).
    pub report_id: String,
    pub upstream_id: ReportId,
    pub url: Url,
    /// The team's HMAC key.
    pub key: Vec<u8>,
    pub allow_internal: bool,
    pub caller: String,
    pub team: String,
    pub report_type: Option<String>,
    /// The run request's id, so attempts can be found next to it in the audit trail.
    pub request_id: String,
}

pub struct Callbacks {
    settings: CallbackSettings,
    tls: Arc<rustls::ClientConfig>,
    audit: web::Data<Audit>,
    shared: Option<Arc<SharedStore>>,
    /// Attempts by outcome: delivered, failed (retried), refused (not retried), gave_up.
    pub attempts: IntCounterVec,
}

/// How one attempt ended.
enum Attempt {
    Delivered(u16),
    /// Worth another try later: a non-2xx answer, a timeout, a broken connection.
    Failed(Option<u16>, &'static str),
    /// Not worth another try: the address is internal (DNS changed since the run).
    Refused(&'static str),
}

impl Callbacks {
    pub fn new(
        settings: &CallbackSettings,
        registry: &Registry,
        audit: web::Data<Audit>,
        shared: Option<Arc<SharedStore>>,
    ) -> anyhow::Result<Self> {
        let attempts = IntCounterVec::new(
            Opts::new(
                "callback_attempts_total",
                "Callback delivery attempts by outcome (delivered, failed, refused, gave_up)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(attempts.clone()))?;
        Ok(Self {
            settings: settings.clone(),
            tls: crate::upstream::tls::client_config(None).map_err(anyhow::Error::msg)?,
            audit,
            shared,
            attempts,
        })
    }

    /// Starts following the report on this worker; the callback goes out once it ends.
    pub fn watch(
        self: Arc<Self>,
        reg: Registration,
        state: web::Data<AppState>,
        upstream: web::Data<IdentityNow>,
    ) {
        actix_rt::spawn(async move { self.follow(reg, state, upstream).await });
    }

    async fn follow(
        &self,
        reg: Registration,
        state: web::Data<AppState>,
        upstream: web::Data<IdentityNow>,
    ) {
        let until = Instant::now() + self.settings.max_watch;
        // No request waits for this: the upstream client applies its own wait bound.
        let ctx = RequestContext::internal();
        let cached = loop {
            // Transient upstream errors are not the caller's news: keep watching.
            if let Ok(r) = crate::state::cached_result(
                &ctx,
                &state,
                &upstream,
                PathFamily::V3,
                &reg.upstream_id,
                None,
            )
            .await
            {
                if r.status().is_terminal() {
                    break r;
                }
            }
            if Instant::now() >= until {
                self.record(&reg, "gave_up", 0, "report_still_running", Duration::ZERO);
                return;
            }
            actix_rt::time::sleep(self.settings.watch_interval).await;
        };
        if !self.claim(&reg).await {
            return;
        }
        let body = crate::cache::rendered::report_body(&cached, &reg.report_id);
        // One message id for every attempt, so receivers can drop duplicates.
        let msg_id = format!("msg_{:032x}", rand::random::<u128>());
        // One client (and connection pool) for every attempt of this delivery.
        let client = self.client(reg.allow_internal);
        let first = Instant::now();
        let mut wait = self.settings.first_retry;
        loop {
            let started = Instant::now();
            let (outcome, status, reason) = match self.attempt(&client, &msg_id, &reg, &body).await
            {
                Attempt::Delivered(s) => ("delivered", s, None),
                Attempt::Failed(s, why) => ("failed", s.unwrap_or(0), Some(why)),
                Attempt::Refused(why) => ("refused", 0, Some(why)),
            };
            self.record(
                &reg,
                outcome,
                status,
                reason.unwrap_or("ok"),
                started.elapsed(),
            );
            if outcome != "failed" {
                return;
            }
            if first.elapsed() + wait > self.settings.retry_for {
                self.record(&reg, "gave_up", 0, "retry_for_elapsed", Duration::ZERO);
                return;
            }
            actix_rt::time::sleep(wait).await;
            wait = (wait * 2).min(self.settings.max_backoff);
        }
    }

    /// With Redis, exactly one replica delivers a given (report, URL): the first to claim it.
    /// Without Redis (or with Redis down) this replica delivers.
    async fn claim(&self, reg: &Registration) -> bool {
        let Some(store) = &self.shared else {
            return true;
        };
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{}\n{}", reg.report_id, reg.url).as_bytes(),
        );
        let key = store.key(&["callback", &crate::hex::encode(digest.as_ref())]);
        let ttl_ms = (self.settings.retry_for + self.settings.max_watch).as_millis() as u64;
        let set: Option<Option<String>> = store
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg("1")
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms.max(1))
                    .query_async(&mut c)
                    .await
            })
            .await;
        match set {
            Some(None) => {
                self.record(
                    reg,
                    "skipped",
                    0,
                    "claimed_by_another_replica",
                    Duration::ZERO,
                );
                false
            }
            _ => true,
        }
    }

    /// A client whose resolver refuses internal addresses (unless allowed) at every connect.
    fn client(&self, allow_internal: bool) -> awc::Client {
        let resolver = actix_tls::connect::Resolver::custom(target::Guarded { allow_internal });
        let connector = awc::Connector::new()
            .connector(actix_tls::connect::Connector::new(resolver).service())
            .timeout(self.settings.attempt_timeout)
            .rustls_0_23(self.tls.clone());
        awc::Client::builder()
            .connector(connector)
            .timeout(self.settings.attempt_timeout)
            // A redirect could lead anywhere: it is a failed attempt, never followed.
            .disable_redirects()
            .finish()
    }

    async fn attempt(
        &self,
        client: &awc::Client,
        msg_id: &str,
        reg: &Registration,
        body: &Bytes,
    ) -> Attempt {
        let timestamp = chrono::Utc::now().timestamp();
        let sent = client
            .post(reg.url.as_str())
            .insert_header(("content-type", "application/json"))
            .insert_header((
                "user-agent",
                concat!("reportgate/", env!("CARGO_PKG_VERSION")),
            ))
            .insert_header(("webhook-id", msg_id))
            .insert_header(("webhook-timestamp", timestamp.to_string()))
            .insert_header((
                "webhook-signature",
                sign::signature(&reg.key, msg_id, timestamp, body),
            ))
            .send_body(body.clone())
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => Attempt::Delivered(resp.status().as_u16()),
            Ok(resp) => Attempt::Failed(Some(resp.status().as_u16()), "receiver_status"),
            Err(awc::error::SendRequestError::Connect(awc::error::ConnectError::Resolver(_))) => {
                Attempt::Refused("internal_or_unresolvable_address")
            }
            Err(awc::error::SendRequestError::Timeout) => Attempt::Failed(None, "timeout"),
            Err(_) => Attempt::Failed(None, "unreachable"),
        }
    }

    /// Audits and counts one step of a delivery.
    fn record(
        &self,
        reg: &Registration,
        outcome: &'static str,
        status: u16,
        reason: &'static str,
        took: Duration,
    ) {
        self.attempts.with_label_values(&[outcome]).inc();
        let event = Event {
            time: crate::audit::now(),
            request_id: reg.request_id.clone(),
            client_addr: None,
            user_agent: None,
            method: "POST".into(),
            api: "callback",
            action: "callback",
            caller: reg.caller.clone(),
            team: reg.team.clone(),
            report_id: Some(reg.report_id.clone()),
            upstream_id: Some(reg.upstream_id.to_string()),
            report_type: reg.report_type.clone(),
            arguments: None,
            outcome,
            status,
            upstream_status: None,
            tracking_id: None,
            duration_ms: took.as_millis() as u64,
            reason: Some(reason),
            phase: None,
            bytes: None,
            completed: None,
            reused_from: None,
        };
        self.audit.sink.enqueue(event.line());
    }
}
