//! `POST /oauth/token` and bearer-token checks: the tenant's OAuth client-credentials flow.
use super::errors::unauthorized;
use super::faults::apply_fault;
use super::routes::State;
use super::state::{ClientKind, Op, SimState};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::atomic::Ordering;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    exp: i64,
    iat: i64,
    client_id: String,
    scope: Vec<String>,
    authorities: Vec<String>,
    tenant_id: String,
    org: String,
    pod: String,
    internal: bool,
    jti: String,
    /// Set only for a personal access token: the user the token acts for (AUTH-DOC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
}

/// Who a valid bearer token speaks for.
pub(super) struct Authenticated {
    pub client_id: String,
    /// Whether the token has a user context (a PAT); API-client tokens have none.
    pub user: bool,
    pub scopes: Vec<String>,
}

impl Authenticated {
    /// Whether the token carries one of these scopes (`sp:scopes:all` covers all).
    pub fn has_any(&self, scopes: &[&str]) -> bool {
        self.scopes
            .iter()
            .any(|s| s == "sp:scopes:all" || scopes.contains(&s.as_str()))
    }
}

/// The identity behind the simulated PAT.
const IDENTITY_ID: &str = "ff80818155fe8c080155fe8d925b0316";
const USER_ID: &str = "595826";
const USER_NAME: &str = "report.admin";

/// Checks the bearer token the way the upstream does.
pub(super) fn authenticate(
    state: &SimState,
    req: &HttpRequest,
) -> Result<Authenticated, HttpResponse> {
    let fail = |msg: &str| {
        state.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
        unauthorized(msg)
    };
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| fail("JWT validation failed: missing bearer token"))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false; // checked below against the simulator's clock
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(&state.signing_key),
        &validation,
    )
    .map_err(|_| fail("JWT validation failed: invalid signature"))?;
    if data.claims.exp <= state.utc_now().timestamp() {
        return Err(fail("JWT validation failed: JWT is expired"));
    }
    if !state.live_tokens.lock().unwrap().contains(&data.claims.jti) {
        return Err(fail("JWT validation failed: token has been revoked"));
    }
    Ok(Authenticated {
        client_id: data.claims.client_id,
        user: data.claims.identity_id.is_some(),
        scopes: data.claims.scope,
    })
}

pub(super) async fn token(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    state.counters.bump(Op::Token);
    if let Err(resp) = apply_fault(&state, Op::Token).await {
        return resp;
    }
    // Credentials may come in the query string, the body, or both (the CLI mixes them).
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let params = crate::wire::form::token_params(req.query_string(), ct, &body);
    let grant = params.get("grant_type").map(|g| g.to_ascii_lowercase());
    if grant.as_deref() != Some("client_credentials") {
        return HttpResponse::BadRequest().json(json!({
            "error": "unsupported_grant_type",
            "error_description": "Unsupported grant type"
        }));
    }
    let cfg = &state.config;
    if params.get("client_id") != Some(&cfg.client_id)
        || params.get("client_secret") != Some(&cfg.client_secret)
    {
        return HttpResponse::Unauthorized().json(json!({
            "error": "invalid_client",
            "error_description": "Bad client credentials"
        }));
    }
    let now = state.utc_now().timestamp();
    let jti = format!("{:032x}", rand::random::<u128>());
    let ttl = cfg.token_lifetime().as_secs();
    let pat = cfg.client_kind == ClientKind::Pat;
    let claims = Claims {
        exp: now + ttl as i64,
        iat: now,
        client_id: cfg.client_id.clone(),
        scope: cfg.scopes.clone(),
        authorities: if pat {
            vec!["ORG_ADMIN".into()]
        } else {
            vec![]
        },
        tenant_id: "58eb06a4-dcd7-4e96-8fac-cca2afc03e61".into(),
        org: cfg.org.clone(),
        pod: "sim01-useast1".into(),
        internal: false,
        jti: jti.clone(),
        identity_id: pat.then(|| IDENTITY_ID.into()),
        user_name: pat.then(|| USER_NAME.into()),
    };
    let access_token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&state.signing_key),
    )
    .expect("HS256 signing cannot fail");
    state.live_tokens.lock().unwrap().insert(jti.clone());
    state.counters.token_grants.fetch_add(1, Ordering::Relaxed);
    let mut body = json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": ttl,
        "scope": cfg.scopes.join(" "),
        "accessType": "OFFLINE",
        "tenant_id": claims.tenant_id,
        "internal": false,
        "pod": claims.pod,
        "strong_auth_supported": false,
        "org": cfg.org,
        "enabled": true,
        "jti": jti,
    });
    // User context only for a PAT: client credentials have no user (AUTH-DOC).
    if pat {
        body["user_id"] = json!(USER_ID);
        body["identity_id"] = json!(IDENTITY_ID);
        body["user_name"] = json!(USER_NAME);
        body["strong_auth"] = json!(true);
    }
    HttpResponse::Ok().json(body)
}
