//! Builds the gateway's HTTP server from settings: binds (port 0 works), wires the
//! upstream client per worker, middleware and routes.
use crate::audit::{Audit, AuditLayer};
use crate::auth::{self, Authentication, Authenticator, IdpClient, Policy, ReportIds};
use crate::cache::ReportCache;
use crate::clock::Clock;
use crate::config::Settings;
use crate::http::layer;
use crate::http::RequestContext;
use crate::limits::anonymous::AnonymousLimit;
use crate::limits::{self, TeamLimit, TeamLimiter};
use crate::metrics::{HttpMetrics, Metrics};
use crate::routes;
use crate::shared::SharedStore;
use crate::state::{AppState, Lifecycle, Observed};
use crate::upstream::Upstream;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder, TracingLogger};

pub struct Application {
    port: u16,
    admin_port: Option<u16>,
    server: Server,
    admin: Option<Server>,
    lifecycle: Arc<Lifecycle>,
    drain_delay: std::time::Duration,
    audit: web::Data<Audit>,
}

/// Root spans carry the request id the caller sees in `X-Request-Id`.
pub struct GatewaySpan;

impl RootSpanBuilder for GatewaySpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let ctx = RequestContext::of(request);
        let id = &ctx.request_id;
        let trace_id = ctx.trace.as_ref().map_or("", |t| t.trace_id.as_str());
        // Built here rather than with tracing-actix-web's `root_span!`: that macro calls
        // `match_pattern()`, which runs actix-router's regexes a second time on every request
        // (about 10 % of the CPU of a cached read). The route middleware, inside this span,
        // records the route decided into the request's context.
        let method = request.method();
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %method,
            http.route = tracing::field::Empty,
            http.target = %request.uri().path(),
            http.status_code = tracing::field::Empty,
            otel.name = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
            trace_id = %trace_id,
            request_id = %id,
            caller_id = tracing::field::Empty,
            team = tracing::field::Empty
        );
        let traceparent = request.headers().get("traceparent");
        crate::otlp::join_trace(&span, trace_id, traceparent.and_then(|v| v.to_str().ok()));
        span
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        // One line per server error, with the error's Display only. Client errors (a bad
        // token, a missing report) are the caller's business and already in the audit
        // trail; tracing-actix-web's per-error event (its default feature, off here) logged
        // each with its Debug form, which cost ~15 % CPU under 404 floods and flooded logs.
        if let Ok(res) = outcome {
            if res.status().is_server_error() {
                if let Some(e) = res.response().error() {
                    let request_id = RequestContext::of(res.request()).request_id.clone();
                    tracing::error!(parent: &span, %request_id, status = res.status().as_u16(), error = %e, "request failed");
                }
            }
        }
        // Only a span someone records (a subscriber or exporter that enables it) gets its
        // fields: the default builder formats an error answer's Display and Debug forms
        // before recording them, whether or not the span is enabled, which was about 30,000
        // instructions of every 404 passed through from upstream (a quarter of a
        // pass-through read's instructions).
        if !span.is_disabled() {
            DefaultRootSpanBuilder::on_request_end(span, outcome);
        }
    }
}

impl Application {
    /// Binds `server.listen` (and `admin.listen`) and prepares the servers.
    pub fn build(settings: &Settings, clock: Clock) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.server.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.server.listen))?;
        Self::with_listener(settings, clock, listener)
    }

    pub fn with_listener(
        settings: &Settings,
        clock: Clock,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        for (key, url) in settings.insecure_urls() {
            tracing::warn!(
                key = %key,
                url = %url,
                "plain http to a host other than loopback (insecure_http: true): \
                 a network attacker can read or forge this traffic"
            );
        }
        let metrics = web::Data::new(Metrics::new(
            settings.policy.teams.iter().map(|t| t.team.clone()),
        ));
        let shared = match settings.redis.enabled() {
            true => Some(SharedStore::start(settings.redis.clone())?),
            false => None,
        };
        let upstream = Upstream::new(
            settings.tenant.clone(),
            settings.limits.clone(),
            clock.clone(),
            metrics.clone().into_inner(),
            shared.clone(),
        )
        .map_err(anyhow::Error::msg)?;
        let limiter = web::Data::new(TeamLimiter::with_store(&settings.limits, shared.clone()));
        let audit = web::Data::new(Audit::new(
            &settings.audit,
            Some(metrics.audit_write_seconds.clone()),
        ));
        audit.clone().into_inner().start_refusal_records();
        let guard = Arc::new(limits::anonymous::AddressGuard::new(
            settings.limits.anonymous_rate,
            settings.limits.anonymous_burst,
        ));
        let signing_key = settings
            .auth
            .id_signing_key
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("auth.id_signing_key is not set"))?;
        let lifecycle = Arc::new(Lifecycle::default());
        let state = web::Data::new(AppState {
            max_body_bytes: settings.server.max_body_bytes,
            body_timeout: settings.server.body_timeout,
            long_polls: crate::limits::long_polls::LongPolls::new(
                settings.cache.long_polls_per_team,
            ),
            ids: ReportIds::new(signing_key.expose().as_bytes()),
            holders: Arc::new(auth::Holders::new(
                settings.cache.sealed_ids_retention,
                settings.cache.sealed_ids_entries,
                shared.clone(),
            )),
            cache: Arc::new(ReportCache::with_store(
                settings.cache.clone(),
                shared.clone(),
            )),
            lifecycle: lifecycle.clone(),
            shared: shared.clone(),
            clock: clock.clone(),
        });
        let callbacks = web::Data::new(crate::callbacks::Callbacks::new(
            &settings.callbacks,
            &metrics.registry,
            audit.clone(),
            shared.clone(),
        )?);
        let authenticator = web::Data::new(
            Authenticator::new(&settings.auth, clock.clone()).map_err(anyhow::Error::msg)?,
        );
        let observed_audit = audit.clone();
        let observed = web::Data::new(Observed {
            auth: authenticator.clone(),
            budget: upstream.budget.clone(),
            limiter: limiter.clone(),
            tokens: upstream.tokens.clone(),
            cache: state.cache.clone(),
            audit: audit.clone(),
            shared: shared.clone(),
        });
        let policy = web::Data::new(Policy::new(&settings.policy));
        let token_issuer = web::Data::new(routes::oauth::TokenIssuer::new(
            &settings.auth,
            clock.clone(),
        ));
        let idp_tls = crate::upstream::tls::client_config(settings.auth.ca_bundle.as_deref())
            .map_err(anyhow::Error::msg)?;
        let api = {
            let (state, audit, metrics, upstream) = (
                state.clone(),
                audit.clone(),
                metrics.clone(),
                upstream.clone(),
            );
            HttpServer::new(move || {
                // awc is !Send: each worker builds its own clients (the JWKS fetcher here, the
                // upstream client below) over shared caches.
                let idp = IdpClient(
                    awc::Client::builder()
                        // JWKS URLs go through the same egress proxy as the tenant.
                        .connector(crate::upstream::dial::connector(
                            &upstream.egress,
                            idp_tls.clone(),
                        ))
                        .disable_redirects()
                        .finish(),
                );
                let (auth, audit_trail, m) = (
                    authenticator.clone().into_inner(),
                    audit.clone().into_inner(),
                    metrics.clone().into_inner(),
                );
                App::new()
                    .app_data(state.clone())
                    .app_data(policy.clone())
                    .app_data(token_issuer.clone())
                    .app_data(callbacks.clone())
                    .app_data(limiter.clone())
                    .app_data(audit.clone())
                    .app_data(metrics.clone())
                    .app_data(web::Data::new(upstream.client()))
                    // Each middleware is built here with what it needs. The last `wrap` is the
                    // outermost: a request passes the request context (id, trace, route), the
                    // root span, metrics, the route check, the per-address guard, audit, auth,
                    // then the team limit.
                    .wrap(layer::wrap(TeamLimit::new(
                        limiter.clone().into_inner(),
                        policy.clone().into_inner(),
                        m.clone(),
                    )))
                    .wrap(layer::wrap(Authentication::new(auth.clone(), idp)))
                    .wrap(layer::wrap(AuditLayer::new(
                        audit_trail.clone(),
                        auth.clone(),
                        m.clone(),
                    )))
                    .wrap(layer::wrap(AnonymousLimit::new(
                        guard.clone(),
                        audit_trail,
                        auth,
                        m.clone(),
                    )))
                    .wrap(from_fn(crate::http::route::middleware))
                    .wrap(layer::wrap(HttpMetrics(m)))
                    .wrap(TracingLogger::<GatewaySpan>::new())
                    .wrap(from_fn(crate::http::context::middleware))
                    .configure(|cfg| routes::configure(cfg, &policy.clone().into_inner()))
                    .default_service(web::to(routes::not_found))
            })
            // Each connection's socket is watched while its request waits (http::peer).
            .on_connect(crate::http::peer::on_connect)
        };
        // Signals are handled in `run_until_stopped`, for the drain delay.
        let mut api = api
            .disable_signals()
            .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
            .listen(listener)?;
        if settings.server.workers > 0 {
            api = api.workers(settings.server.workers);
        }
        let (admin, admin_port) = match &settings.admin.listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (admin.listen): {e}"))?;
                let admin_port = listener.local_addr()?.port();
                let admin = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .app_data(audit.clone())
                        .app_data(metrics.clone())
                        .app_data(observed.clone())
                        .app_data(web::Data::new(upstream.client()))
                        .configure(routes::admin)
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(1)
                .listen(listener)?
                .run();
                (Some(admin), Some(admin_port))
            }
            None => (None, None),
        };
        Ok(Self {
            port,
            admin_port,
            server: api.run(),
            admin,
            lifecycle,
            drain_delay: settings.server.drain_delay,
            audit: observed_audit,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port (metrics, health), when it is enabled.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin_port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped. With `signals`, SIGTERM/SIGINT start a graceful shutdown:
    /// readiness turns false at once, the listener keeps accepting for the drain delay
    /// (so load balancers can stop sending), then in-flight requests, downloads included,
    /// get up to `server.shutdown_timeout` to finish; audit buffers are flushed; exit.
    pub async fn run_until_stopped(self, signals: bool) -> std::io::Result<()> {
        let Self {
            server,
            admin,
            lifecycle,
            drain_delay,
            audit,
            ..
        } = self;
        let api = server.handle();
        let admin_handle = admin.as_ref().map(|a| a.handle());
        if let Some(admin) = admin {
            actix_rt::spawn(admin);
        }
        if signals {
            actix_rt::spawn(async move {
                wait_for_shutdown_signal().await;
                tracing::info!(
                    drain_ms = drain_delay.as_millis() as u64,
                    "shutdown signal: draining"
                );
                lifecycle.draining.store(true, Ordering::SeqCst);
                actix_rt::time::sleep(drain_delay).await;
                api.stop(true).await;
                if let Some(a) = admin_handle {
                    a.stop(true).await;
                }
            });
        }
        let result = server.await;
        // Everything buffered reaches the audit sinks before the process exits.
        audit.flush_refusals();
        audit.sink.flush().await;
        result
    }
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
