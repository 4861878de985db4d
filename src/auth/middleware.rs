//! The authentication middleware: exactly one `Authorization: Bearer <jwt>` header, verified,
//! or a uniform 401. The reason goes to the debug log only.
use super::{Authenticator, Caller};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use serde_json::json;
use std::sync::Arc;

/// The per-worker HTTP client used to fetch JWKS documents.
pub struct IdpClient(pub awc::Client);

/// Why a request was refused before anyone was identified; left in the request's extensions
/// for the per-address guard, which counts and audits these in aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// No `Authorization` header.
    NoToken,
    /// An `Authorization` header that is not one well-formed Bearer credential.
    MalformedCredential,
    /// A Bearer token that did not verify.
    InvalidToken,
    /// Over the per-address limit of refused requests: 429 before the token was looked at.
    RateLimited,
    /// A blocking action refused (503) because the audit file cannot be written, from a
    /// caller not known from a recently verified token.
    AuditUnavailable,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::NoToken => "no_token",
            Self::MalformedCredential => "malformed_credential",
            Self::InvalidToken => "invalid_token",
            Self::RateLimited => "rate_limited",
            Self::AuditUnavailable => "audit_unavailable",
        }
    }

    /// The audit outcome and status of such a refusal.
    pub fn outcome(self) -> (&'static str, u16) {
        match self {
            Self::RateLimited => ("rate_limited", 429),
            Self::AuditUnavailable => ("error", 503),
            _ => ("unauthenticated", 401),
        }
    }
}

/// The one Bearer token of a request, or why there is none.
pub fn bearer(req: &ServiceRequest) -> Result<&str, &'static str> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let value = values.next().ok_or(NO_AUTHORIZATION)?;
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let value = value.to_str().map_err(|_| "Authorization is not text")?;
    let token = value
        .strip_prefix("Bearer ")
        .ok_or("not a Bearer credential")?;
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err("malformed Bearer credential");
    }
    Ok(token)
}

fn unauthenticated(sdk: bool) -> HttpResponse {
    let mut resp = HttpResponse::Unauthorized();
    resp.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
    if sdk {
        // The upstream's 401 shape, which the SDKs parse.
        resp.json(json!({"error": "JWT validation failed"}))
    } else {
        resp.json(json!({
            "error": "invalid_token",
            "message": "a valid bearer token is required",
            "requestId": crate::request_id::current(),
        }))
    }
}

const NO_AUTHORIZATION: &str = "no Authorization header";

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let route = crate::http::Route::of(&req);
    // The token endpoint hands tokens out: it is called without one (and audited).
    if route.is_open() || route.api == crate::http::Api::OAuth {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let sdk = route.api.is_sdk();
    let auth = req
        .app_data::<web::Data<Authenticator>>()
        .cloned()
        .expect("authenticator configured");
    let idp = req
        .app_data::<web::Data<IdpClient>>()
        .cloned()
        .expect("idp client configured");
    let verified = match bearer(&req) {
        Ok(token) => auth
            .verify(token, &idp.0)
            .await
            .map_err(|r| (Refusal::InvalidToken, r.0)),
        Err(NO_AUTHORIZATION) => Err((Refusal::NoToken, NO_AUTHORIZATION.to_owned())),
        Err(why) => Err((Refusal::MalformedCredential, why.to_owned())),
    };
    let caller: Arc<Caller> = match verified {
        Ok(c) => c,
        Err((refusal, reason)) => {
            tracing::debug!(%reason, "caller token refused");
            req.extensions_mut().insert(refusal);
            return Ok(req.into_response(unauthenticated(sdk)));
        }
    };
    let span = tracing::Span::current();
    span.record("caller_id", caller.id.as_str());
    span.record("team", caller.team.as_str());
    req.extensions_mut().insert(caller);
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}
