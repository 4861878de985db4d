//! Checks the `callback` of a run request against the team's webhook policy, before
//! anything is started upstream.
use super::target::{self, Unusable};
use crate::auth::settings::TeamPolicy;
use crate::error::GatewayError;
use serde_json::Value;
use url::Url;

/// A callback the team may have: where, and the key to sign with.
pub struct Accepted {
    pub url: Url,
    pub key: Vec<u8>,
    pub allow_internal: bool,
}

fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::bad_request("invalid_argument", message)
}

pub async fn accept(raw: &Value, team: &TeamPolicy) -> Result<Accepted, GatewayError> {
    let obj = raw
        .as_object()
        .ok_or_else(|| invalid("callback: must be an object like {\"url\": \"https://…\"}"))?;
    if let Some(k) = obj.keys().find(|k| k.as_str() != "url") {
        return Err(invalid(format!(
            "callback.{k}: unknown field (expected url)"
        )));
    }
    let raw_url = obj
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("callback.url: is required and must be a string"))?;
    let Some(webhook) = &team.webhook else {
        return Err(GatewayError::Forbidden(
            "your team may not ask for callbacks (no webhook policy)".into(),
        ));
    };
    let key = webhook
        .secret
        .as_ref()
        .and_then(|s| super::sign::key(s.expose()).ok())
        .ok_or_else(|| GatewayError::internal("webhook secret missing"))?;
    let url = target::allowed(raw_url, &webhook.allowed_urls).map_err(GatewayError::Forbidden)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let allow = webhook.allow_private_addresses;
    let resolved = actix_web::web::block(move || target::resolve(&host, port, allow))
        .await
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    match resolved {
        Ok(_) => Ok(Accepted {
            url,
            key,
            allow_internal: allow,
        }),
        Err(Unusable::Unresolvable(m)) => Err(invalid(format!("callback.url: {m}"))),
        Err(Unusable::Internal(m)) => Err(GatewayError::Forbidden(m)),
    }
}
