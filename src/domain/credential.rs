//! Which kind of IdentityNow credential the gateway holds. Upstream's cancel is `userAuth`
//! only (SPEC-V3 `reports-cancel.yaml`): a personal access token (PAT) of an identity with
//! report rights can cancel, an API-management client (no user context) gets 403.
use base64::Engine;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    PersonalAccessToken,
    ApiClient,
}

impl CredentialKind {
    /// The label in `/readyz` and the `upstream_credential_kind` metric.
    pub fn label(self) -> &'static str {
        match self {
            Self::PersonalAccessToken => "personal_access_token",
            Self::ApiClient => "api_client",
        }
    }

    pub fn can_cancel(self) -> bool {
        self == Self::PersonalAccessToken
    }

    /// From the token response, else the JWT's claims: only a PAT's token names a user
    /// (`identity_id`, `user_id`, `user_name`; AUTH-DOC: "not set for client credentials").
    pub fn detect(identity_id: Option<&str>, user_id: Option<&str>, access_token: &str) -> Self {
        let named = |v: Option<&str>| v.is_some_and(|s| !s.is_empty());
        if named(identity_id) || named(user_id) {
            return Self::PersonalAccessToken;
        }
        let claims = access_token
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .unwrap_or_default();
        if ["identity_id", "user_id", "user_name"]
            .iter()
            .any(|k| named(claims[k].as_str()))
        {
            Self::PersonalAccessToken
        } else {
            Self::ApiClient
        }
    }
}

/// The caller-facing text when upstream refused a cancel because the credential has no user.
pub const CANCEL_NEEDS_PAT: &str = "IdentityNow allows cancel only with a personal access token: \
the gateway's credential is an API client (no user context). Configure tenant.client_id and \
tenant.client_secret from a personal access token of an identity with report rights \
(scope sp:report:manage or sp:scopes:all) to cancel reports";

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        format!("eyJhbGciOiJIUzI1NiJ9.{b}.sig")
    }

    #[test]
    fn the_kind_is_read_from_the_response_then_the_claims() {
        use CredentialKind::*;
        assert_eq!(
            CredentialKind::detect(Some("ff80"), None, "x"),
            PersonalAccessToken
        );
        assert_eq!(CredentialKind::detect(None, Some(""), "x"), ApiClient);
        let pat = jwt(r#"{"client_id":"c","user_name":"report.admin"}"#);
        assert_eq!(
            CredentialKind::detect(None, None, &pat),
            PersonalAccessToken
        );
        let app = jwt(r#"{"client_id":"c","scope":["sp:scopes:all"]}"#);
        assert_eq!(CredentialKind::detect(None, None, &app), ApiClient);
        assert_eq!(CredentialKind::detect(None, None, "not-a-jwt"), ApiClient);
    }
}
