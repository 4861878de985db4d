//! What the per-worker report clients share, built once at start-up: the tenant token
//! cache, the upstream budget, TLS and the egress (direct or through the proxy).
use super::client::IdentityNow;
use super::token::TokenProvider;
use super::TenantSettings;
use crate::limits::{LimitSettings, UpstreamBudget};
use crate::metrics::Metrics;
use actix_web::http::header;
use std::sync::Arc;

/// Everything the per-worker clients share, built once at start-up.
#[derive(Clone)]
pub struct Upstream {
    pub tokens: Arc<TokenProvider>,
    metrics: Arc<Metrics>,
    pub budget: Arc<UpstreamBudget>,
    tls: Arc<rustls::ClientConfig>,
    /// Direct or through which proxy: the tenant, its token endpoint and JWKS URLs.
    pub egress: super::Egress,
    settings: TenantSettings,
    limits: LimitSettings,
}

impl Upstream {
    pub fn new(
        settings: TenantSettings,
        limits: LimitSettings,
        clock: crate::clock::Clock,
        metrics: Arc<Metrics>,
        shared: Option<Arc<crate::shared::SharedStore>>,
    ) -> Result<Self, String> {
        let tls = super::tls::client_config(settings.ca_bundle.as_deref())?;
        let egress = settings.proxy.egress().map_err(|p| {
            let all: Vec<String> = p.iter().map(ToString::to_string).collect();
            all.join("; ")
        })?;
        tracing::info!(egress = %egress.describe(), "upstream connections");
        for entry in &egress.skipped {
            tracing::warn!(%entry, "NO_PROXY entry not understood; ignored");
        }
        let tokens = Arc::new(TokenProvider::new(
            &settings.base_url,
            settings.client_id.clone(),
            settings
                .client_secret
                .clone()
                .ok_or("tenant.client_secret is not set")?,
            settings.token_timeout,
            settings.token_refresh_margin,
            clock,
            metrics.clone(),
        ));
        Ok(Self {
            tokens,
            budget: UpstreamBudget::start_with(limits.budget_config(), shared),
            tls,
            egress,
            settings,
            limits,
            metrics,
        })
    }

    /// A client for the current worker thread.
    pub fn client(&self) -> IdentityNow {
        let connector = super::dial::connector(&self.egress, self.tls.clone())
            .timeout(self.settings.connect_timeout);
        let http = awc::Client::builder()
            .connector(connector)
            .timeout(self.settings.request_timeout)
            .disable_redirects()
            .add_default_header((
                header::USER_AGENT,
                concat!("reportgate/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        IdentityNow {
            http,
            base: self.settings.base_url.clone(),
            tokens: self.tokens.clone(),
            metrics: self.metrics.clone(),
            budget: self.budget.clone(),
            limits: self.limits.clone(),
            request_timeout: self.settings.request_timeout,
            download_timeout: self.settings.download_timeout,
            download_idle_timeout: self.settings.download_idle_timeout,
        }
    }
}
