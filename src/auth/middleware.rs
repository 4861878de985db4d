//! The authentication middleware: exactly one `Authorization: Bearer <jwt>` header, verified,
//! or a uniform 401. The reason goes to the debug log only.
use super::{Authenticator, Caller};
use crate::http::RequestContext;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};
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
    // One fold without an early exit, which the compiler vectorizes: a well-formed
    // credential is "Bearer " and visible ASCII other than space (0x21..=0x7e). Only a
    // credential that fails it is looked at again, to say why as `to_str` and the
    // whitespace test did (a per-character `char::is_whitespace` test after `to_str` cost
    // about 4,700 instructions per request for a 237-byte token).
    let bytes = value.as_bytes();
    let token = bytes.strip_prefix(b"Bearer ").unwrap_or_default();
    let outside = token
        .iter()
        .fold(0u8, |acc, &b| acc | u8::from(b.wrapping_sub(0x21) > 0x5d));
    if token.is_empty() || outside != 0 || !bytes.starts_with(b"Bearer ") {
        let text = bytes
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) || b == b'\t');
        return Err(if !text {
            "Authorization is not text"
        } else if !bytes.starts_with(b"Bearer ") {
            "not a Bearer credential"
        } else {
            "malformed Bearer credential"
        });
    }
    let token = std::str::from_utf8(token).map_err(|_| "Authorization is not text")?;
    Ok(token)
}

fn unauthenticated(sdk: bool, request_id: &str) -> HttpResponse {
    let mut resp = HttpResponse::Unauthorized();
    resp.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
    if sdk {
        // The upstream's 401 shape, which the SDKs parse.
        resp.json(json!({"error": "JWT validation failed"}))
    } else {
        resp.json(json!({
            "error": "invalid_token",
            "message": "a valid bearer token is required",
            "requestId": request_id,
        }))
    }
}

const NO_AUTHORIZATION: &str = "no Authorization header";

/// The authentication middleware, built with the token verifier and this worker's JWKS
/// client (see `http::layer`).
pub struct Authentication {
    authenticator: Arc<Authenticator>,
    idp: IdpClient,
}

impl Authentication {
    pub fn new(authenticator: Arc<Authenticator>, idp: IdpClient) -> Self {
        Self { authenticator, idp }
    }
}

crate::http::layer::layer!(Authentication, middleware);

async fn middleware(
    deps: &Authentication,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ctx = RequestContext::of(&req);
    let route = ctx.route;
    // The token endpoint hands tokens out: it is called without one (and audited).
    if route.is_open() || route.api == crate::http::Api::OAuth {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let sdk = route.api.is_sdk();
    let (auth, idp) = (&deps.authenticator, &deps.idp);
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
            return Ok(req.into_response(unauthenticated(sdk, &ctx.request_id)));
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

#[cfg(test)]
mod tests {
    use super::bearer;
    use actix_web::test::TestRequest;

    fn with(value: &[u8]) -> Result<String, &'static str> {
        let v = actix_web::http::header::HeaderValue::from_bytes(value).unwrap();
        let req = TestRequest::default()
            .insert_header(("authorization", v))
            .to_srv_request();
        bearer(&req).map(str::to_owned)
    }

    #[test]
    fn one_bearer_token_of_visible_characters_is_accepted_and_nothing_else() {
        assert_eq!(with(b"Bearer a.b-c_d~"), Ok("a.b-c_d~".into()));
        for bad in [
            &b"Bearer "[..],
            b"Bearer a b",
            b"Bearer a\tb",
            b"Bearer \ta",
            b"Bearer  a",
            b"bearer a",
            b"Basic a",
            b"Bearer a\xc3\xa9",
        ] {
            assert!(with(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(with(b"Bearer a\xc3\xa9"), Err("Authorization is not text"));
        assert_eq!(with(b"Basic \xc3\xa9"), Err("Authorization is not text"));
        assert_eq!(with(b"Basic a"), Err("not a Bearer credential"));
        assert_eq!(with(b"Bearer a\tb"), Err("malformed Bearer credential"));
        assert_eq!(with(b"Bearer "), Err("malformed Bearer credential"));
        let none = TestRequest::default().to_srv_request();
        assert_eq!(bearer(&none), Err(super::NO_AUTHORIZATION));
        let two = TestRequest::default()
            .append_header(("authorization", "Bearer a"))
            .append_header(("authorization", "Bearer b"))
            .to_srv_request();
        assert!(bearer(&two).is_err());
    }
}
