//! The per-address guard in front of authentication. Each client address may have
//! `limits.anonymous_burst` requests refused authentication at once and
//! `limits.anonymous_rate` per second after that; past it, the address gets 429 with
//! `Retry-After` before its token is looked at, nothing audited one by one. A request whose
//! token was verified recently (in the verified-token cache) still passes, so callers with
//! good tokens behind the same address (a NAT, a proxy) are not locked out by a bad one.
use super::gcra::Gcra;
use crate::audit::refusals::Reason;
use crate::audit::Audit;
use crate::auth::{Authenticator, Caller, Refusal};
use crate::error::GatewayError;
use crate::metrics::Metrics;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use moka::sync::Cache;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct AddressGuard {
    rate: f64,
    burst: u32,
    buckets: Cache<IpAddr, Arc<Mutex<Gcra>>>,
}

impl AddressGuard {
    pub fn new(rate: f64, burst: u32) -> Self {
        let full_again = Gcra::per_second(rate, burst).interval * burst.max(1);
        Self {
            rate,
            burst,
            // An address quiet for this long has its whole burst again: forget it.
            buckets: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(full_again.max(Duration::from_secs(1)))
                .build(),
        }
    }

    /// How long `addr` must wait before another refused request is allowed (zero: now).
    fn wait(&self, addr: IpAddr) -> Duration {
        self.buckets
            .get(&addr)
            .map_or(Duration::ZERO, |g| g.lock().unwrap().wait(Instant::now()))
    }

    /// Counts one refused request against `addr`.
    fn charge(&self, addr: IpAddr) {
        let bucket = self.buckets.get_with(addr, || {
            Arc::new(Mutex::new(Gcra::per_second(self.rate, self.burst)))
        });
        bucket.lock().unwrap().reserve(Instant::now());
    }
}

fn too_many(req: &ServiceRequest, wait: Duration) -> actix_web::HttpResponse {
    let err = GatewayError::RateLimited {
        code: "too_many_refused_requests",
        message: "too many requests from this address were refused authentication".into(),
        retry_after: wait,
    };
    if crate::http::Route::of(req).api.is_sdk() {
        crate::error::SdkError::from(err).error_response()
    } else {
        err.error_response()
    }
}

/// The per-address guard as middleware, built with the guard, the audit trail (which
/// counts refusals per address), the verified-token cache and the metrics (see
/// `http::layer`).
pub struct AnonymousLimit {
    guard: Arc<AddressGuard>,
    audit: Arc<Audit>,
    auth: Arc<Authenticator>,
    metrics: Arc<Metrics>,
}

impl AnonymousLimit {
    pub fn new(
        guard: Arc<AddressGuard>,
        audit: Arc<Audit>,
        auth: Arc<Authenticator>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            guard,
            audit,
            auth,
            metrics,
        }
    }
}

crate::http::layer::layer!(AnonymousLimit, middleware);

async fn middleware(
    deps: &AnonymousLimit,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let addr = req.peer_addr().map(|a| a.ip());
    let (Some(addr), false) = (addr, crate::http::Route::of(&req).is_open()) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let (guard, audit) = (&deps.guard, &deps.audit);
    let wait = guard.wait(addr);
    if !wait.is_zero() {
        let known =
            crate::auth::bearer(&req).is_ok_and(|token| deps.auth.cached_caller(token).is_some());
        if !known {
            audit.refusals.count(Some(addr), Reason::RateLimited);
            deps.metrics
                .anonymous_refusals
                .with_label_values(&[Reason::RateLimited.code()])
                .inc();
            let resp = too_many(&req, wait);
            return Ok(req.into_response(resp));
        }
    }
    let res = next.call(req).await?.map_into_boxed_body();
    let refused = res.request().extensions().get::<Refusal>().copied();
    if let Some(reason) = refused {
        if res.request().extensions().get::<Arc<Caller>>().is_none() {
            guard.charge(addr);
            audit.refusals.count(Some(addr), reason);
            deps.metrics
                .anonymous_refusals
                .with_label_values(&[reason.code()])
                .inc();
        }
    }
    Ok(res)
}
