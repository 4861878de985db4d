//! `POST /oauth/token`: gateway client credentials in, a caller token out, in IdentityNow's
//! token-response shape. The SDKs post to `BASE/oauth/token` whenever they are configured
//! with a client id and secret, so this is what lets them run unchanged against the gateway.
//! Failed attempts are limited per client id and address, and audited (never the secret).
use super::{read_body, resource};
use crate::auth::clients::Clients;
use crate::auth::mint::mint_at;
use crate::auth::settings::AuthSettings;
use crate::auth::Caller;
use crate::clock::Clock;
use crate::error::SdkError;
use crate::http::RequestContext;
use crate::limits::GrantGuard;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/oauth/token", "POST").route(web::post().to(token)));
}

/// What the token endpoint needs: the clients, the failure limits, and how to sign.
pub struct TokenIssuer {
    clients: Clients,
    guard: GrantGuard,
    auth: AuthSettings,
    clock: Clock,
}

impl TokenIssuer {
    pub fn new(auth: &AuthSettings, clock: Clock) -> Self {
        Self {
            clients: Clients::new(&auth.clients),
            guard: GrantGuard::new(clock.clone()),
            auth: auth.clone(),
            clock,
        }
    }
}

/// A client id as it may appear in audit records and logs: printable and bounded.
fn shown_id(id: &str) -> String {
    if id.is_empty() {
        "anonymous".into()
    } else if id.len() > 128 || id.chars().any(char::is_control) {
        "invalid".into()
    } else {
        id.to_owned()
    }
}

/// Token answers are never cached (RFC 6749 5.1).
fn no_store(resp: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    resp.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
}

async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    issuer: web::Data<TokenIssuer>,
) -> HttpResponse {
    let body = match read_body(&req, payload, state.max_body_bytes, state.body_timeout).await {
        Ok(b) => b,
        Err(e) => return SdkError::from(e).error_response(),
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let params = crate::wire::form::token_params(req.query_string(), content_type, &body);
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let (id, secret) = (get("client_id"), get("client_secret"));
    let shown = shown_id(id);
    let team = issuer.clients.team_of(id).unwrap_or("anonymous").to_owned();
    // The audit record names who tried (the client id, never the secret).
    // (No issuer yet: this caller exists for the audit record only.)
    req.extensions_mut()
        .insert(Arc::new(Caller::new("", shown.clone(), Some(team.clone()))));
    if !get("grant_type").eq_ignore_ascii_case("client_credentials") {
        RequestContext::of(&req).note(|n| n.reason = Some("unsupported_grant_type"));
        return no_store(&mut HttpResponse::BadRequest()).json(json!({
            "error": "unsupported_grant_type",
            "error_description": "Unsupported grant type"
        }));
    }
    let addr = req.peer_addr().map(|a| a.ip());
    if let Err(wait) = issuer.guard.check(id, addr) {
        RequestContext::of(&req).note(|n| n.reason = Some("too_many_failed_grants"));
        tracing::info!(client_id = %shown, "client credentials: too many failures, refused");
        return no_store(&mut HttpResponse::TooManyRequests())
            .insert_header((
                header::RETRY_AFTER,
                wait.as_secs_f64().ceil().max(1.0).to_string(),
            ))
            .json(json!({"message": " Rate Limit Exceeded "}));
    }
    let Some(team) = issuer.clients.verify(id, secret) else {
        issuer.guard.failed(id, addr);
        RequestContext::of(&req).note(|n| n.reason = Some("invalid_client"));
        tracing::info!(client_id = %shown, "client credentials refused");
        return no_store(&mut HttpResponse::Unauthorized()).json(json!({
            "error": "invalid_client",
            "error_description": "Bad client credentials"
        }));
    };
    let ttl: Duration = issuer.auth.client_token_ttl;
    let jti = format!("{:032x}", rand::random::<u128>());
    let minted = mint_at(
        &issuer.auth,
        id,
        Some(team),
        ttl,
        issuer.clock.unix_secs(),
        &[("client_id", id), ("jti", &jti)],
    );
    match minted {
        Ok(access_token) => no_store(&mut HttpResponse::Ok()).json(json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": ttl.as_secs(),
            "scope": "sp:scopes:all",
            "accessType": "OFFLINE",
            "internal": false,
            "strong_auth_supported": false,
            "enabled": true,
            "jti": jti,
        })),
        // Settings validation requires an HMAC issuer with clients: this is a bug.
        Err(e) => SdkError::from(crate::error::GatewayError::internal(e)).error_response(),
    }
}
