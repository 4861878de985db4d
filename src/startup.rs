//! Builds the gateway's HTTP server from settings: binds (port 0 works), wires the
//! upstream client per worker, middleware and routes.
use crate::audit::{self, Audit};
use crate::auth::{self, Authenticator, IdpClient, Policy, ReportIds};
use crate::cache::ReportCache;
use crate::clock::Clock;
use crate::config::Settings;
use crate::limits::{self, TeamLimiter};
use crate::request_id::{self, RequestId};
use crate::routes;
use crate::upstream::Upstream;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpMessage, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder, TracingLogger};

/// Settings every worker reads.
#[derive(Clone)]
pub struct AppState {
    pub max_body_bytes: usize,
    pub ids: ReportIds,
    pub cache: Arc<ReportCache>,
}

pub struct Application {
    port: u16,
    server: Server,
}

/// Root spans carry the request id the caller sees in `X-Request-Id`.
pub struct GatewaySpan;

impl RootSpanBuilder for GatewaySpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        tracing_actix_web::root_span!(
            level = tracing::Level::INFO,
            request,
            request_id = %id,
            caller_id = tracing::field::Empty,
            team = tracing::field::Empty
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

impl Application {
    /// Binds `server.listen` and prepares the server.
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
        let upstream = Upstream::new(settings.tenant.clone(), settings.limits.clone(), clock)
            .map_err(anyhow::Error::msg)?;
        let limiter = web::Data::new(TeamLimiter::new(&settings.limits));
        let audit = web::Data::new(Audit::new(&settings.audit));
        let signing_key = settings
            .auth
            .id_signing_key
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("auth.id_signing_key is not set"))?;
        let state = web::Data::new(AppState {
            max_body_bytes: settings.server.max_body_bytes,
            ids: ReportIds::new(signing_key.expose().as_bytes()),
            cache: Arc::new(ReportCache::new(settings.cache.clone())),
        });
        let authenticator =
            web::Data::new(Authenticator::new(&settings.auth).map_err(anyhow::Error::msg)?);
        let policy = web::Data::new(Policy::new(&settings.policy));
        let idp_tls = crate::upstream::tls::client_config(settings.auth.ca_bundle.as_deref())
            .map_err(anyhow::Error::msg)?;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(authenticator.clone())
                .app_data(policy.clone())
                .app_data(limiter.clone())
                .app_data(audit.clone())
                .app_data(web::Data::new(IdpClient(
                    awc::Client::builder()
                        .connector(awc::Connector::new().rustls_0_23(idp_tls.clone()))
                        .disable_redirects()
                        .finish(),
                )))
                // awc is !Send: each worker builds its own client over the shared token cache.
                .app_data(web::Data::new(upstream.client()))
                .wrap(from_fn(limits::middleware))
                .wrap(from_fn(auth::middleware))
                .wrap(from_fn(audit::middleware))
                .wrap(TracingLogger::<GatewaySpan>::new())
                .wrap(from_fn(request_id::middleware))
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
        .listen(listener)?;
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        Ok(Self {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
