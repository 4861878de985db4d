//! Caller authentication: the attack suite, RS256 and ES256 keys, JWKS rotation.
use crate::helpers::{settings_for, spawn_gateway, TestApp, TEST_HMAC_SECRET, TEST_ISSUER};
use actix_web::{web, App, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reportgate::auth::settings::{IssuerSettings, PemKeySettings};
use reportgate::simulator::Simulator;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RSA_ISSUER: &str = "https://rsa.idp.test";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(crate) fn claims(iss: &str) -> Value {
    json!({"iss": iss, "aud": "reportgate", "sub": "mallory", "team": "test-team", "exp": now() + 600})
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn rs256(claims: &Value, kid: Option<&str>) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_rsa_pem(&std::fs::read(fixture("test-rsa-private.pem")).unwrap())
        .unwrap();
    encode(&h, claims, &key).unwrap()
}

/// A gateway trusting the HMAC test issuer and an RS256 issuer with a PEM key.
async fn spawn_with_rsa_issuer() -> TestApp {
    spawn_with_rsa_issuer_and(|_| {}).await
}

async fn spawn_with_rsa_issuer_and(
    tweak: impl FnOnce(&mut reportgate::config::Settings),
) -> TestApp {
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let mut settings = settings_for(&sim);
    let mut rsa = IssuerSettings::hmac(
        RSA_ISSUER,
        "reportgate",
        reportgate::secret::Secret::new("x".repeat(32)),
    );
    rsa.hmac_secret = None;
    rsa.public_keys = vec![PemKeySettings {
        file: fixture("test-rsa-public.pem"),
        algorithm: "RS256".into(),
        kid: Some("rsa-1".into()),
    }];
    settings.auth.issuers.push(rsa);
    tweak(&mut settings);
    spawn_gateway(sim, settings)
}

#[actix_rt::test]
async fn valid_hs256_and_rs256_tokens_are_accepted() {
    let app = spawn_with_rsa_issuer().await;
    let path = "/v1/reports/0123456789abcdef0123456789abcdef";
    let hmac = hs256(&claims(TEST_ISSUER), TEST_HMAC_SECRET.as_bytes());
    assert_eq!(
        app.request_as(&hmac, "GET", path, None).await.status,
        404,
        "authenticated, report unknown"
    );
    let rsa = rs256(&claims(RSA_ISSUER), Some("rsa-1"));
    assert_eq!(app.request_as(&rsa, "GET", path, None).await.status, 404);
}

#[actix_rt::test]
async fn the_attack_suite_gets_401_and_never_reaches_upstream() {
    let app = spawn_with_rsa_issuer().await;
    let secret = TEST_HMAC_SECRET.as_bytes();
    let b64 = |v: &Value| B64.encode(v.to_string());
    let valid = hs256(&claims(TEST_ISSUER), secret);
    let public_pem = std::fs::read(fixture("test-rsa-public.pem")).unwrap();

    let mut c = claims(TEST_ISSUER);
    let attacks: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims(TEST_ISSUER))
            ),
        ),
        (
            "HS256 signed with the RSA public key",
            hs256(&claims(RSA_ISSUER), &public_pem),
        ),
        ("expired", {
            c["exp"] = json!(now() - 3600);
            hs256(&c, secret)
        }),
        ("nbf in the future", {
            let mut c = claims(TEST_ISSUER);
            c["nbf"] = json!(now() + 3600);
            hs256(&c, secret)
        }),
        ("wrong iss", hs256(&claims("https://evil.example"), secret)),
        ("wrong aud", {
            let mut c = claims(TEST_ISSUER);
            c["aud"] = json!("someone-else");
            hs256(&c, secret)
        }),
        ("missing exp", {
            let mut c = claims(TEST_ISSUER);
            c.as_object_mut().unwrap().remove("exp");
            hs256(&c, secret)
        }),
        (
            "bad signature",
            hs256(
                &claims(TEST_ISSUER),
                b"another-secret-of-at-least-32-bytes!!",
            ),
        ),
        (
            "unknown kid",
            rs256(&claims(RSA_ISSUER), Some("rsa-unknown")),
        ),
        ("truncated", valid[..valid.rfind('.').unwrap()].to_owned()),
        ("non-base64 segments", "!!!.@@@.###".to_owned()),
        ("huge token", format!("{valid}{}", "A".repeat(16 * 1024))),
        ("no caller id", {
            let mut c = claims(TEST_ISSUER);
            c.as_object_mut().unwrap().remove("sub");
            hs256(&c, secret)
        }),
    ];
    let path = "/v1/reports/0123456789abcdef0123456789abcdef";
    for (name, token) in &attacks {
        let r = app.request_as(token, "GET", path, None).await;
        assert_eq!(r.status, 401, "{name}: {}", r.text());
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Bearer error=\"invalid_token\""),
            "{name}"
        );
        assert_eq!(
            r.json()["error"],
            "invalid_token",
            "{name}: one uniform body"
        );
    }

    let header_attacks: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no Authorization", vec![]),
        ("Bearer missing", vec![("authorization", valid.clone())]),
        (
            "Basic instead of Bearer",
            vec![("authorization", format!("Basic {valid}"))],
        ),
        (
            "Bearer doubled",
            vec![("authorization", format!("Bearer Bearer {valid}"))],
        ),
        (
            "two Authorization headers",
            vec![
                ("authorization", format!("Bearer {valid}")),
                ("authorization", format!("Bearer {valid}")),
            ],
        ),
    ];
    for (name, headers) in &header_attacks {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = app.raw_request("GET", path, None, &headers).await;
        assert_eq!(r.status, 401, "{name}");
    }
    let r = app
        .raw_request("GET", &format!("{path}?access_token={valid}"), None, &[])
        .await;
    assert_eq!(r.status, 401, "a token in the query string is not accepted");

    // The SDK paths refuse the same way, in the upstream's 401 shape.
    let r = app
        .raw_request("GET", "/v3/reports/abc/result", None, &[])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"error": "JWT validation failed"}));

    let c = app.sim.counters();
    assert_eq!(
        (c.api_calls(), c.token_requests),
        (0, 0),
        "nothing reached upstream"
    );
}

#[actix_rt::test]
async fn health_readiness_and_openapi_stay_open() {
    let app = spawn_with_rsa_issuer().await;
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        assert_eq!(
            app.raw_request("GET", path, None, &[]).await.status,
            200,
            "{path}"
        );
    }
}

/// A tiny IdP serving a JWKS the test can rotate, counting fetches.
pub(crate) struct Idp {
    pub(crate) url: String,
    pub(crate) jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicU64>,
}

pub(crate) fn start_idp() -> Idp {
    let jwks = Arc::new(Mutex::new(json!({"keys": []})));
    let fetches = Arc::new(AtomicU64::new(0));
    let (j, f) = (jwks.clone(), fetches.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let (j, f) = (j.clone(), f.clone());
        App::new().route(
            "/jwks",
            web::get().to(move || {
                let (j, f) = (j.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let body = j.lock().unwrap().clone();
                    HttpResponse::Ok().json(body)
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_rt::spawn(server);
    Idp { url, jwks, fetches }
}

pub(crate) struct EcKey {
    kid: String,
    pair: rcgen::KeyPair,
}

impl EcKey {
    pub(crate) fn new(kid: &str) -> Self {
        Self {
            kid: kid.into(),
            pair: rcgen::KeyPair::generate().unwrap(),
        }
    }

    pub(crate) fn jwk(&self) -> Value {
        let raw = self.pair.public_key_raw(); // 0x04 || x || y
        json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256", "use": "sig",
               "x": B64.encode(&raw[1..33]), "y": B64.encode(&raw[33..65])})
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(self.kid.clone());
        encode(
            &h,
            claims,
            &EncodingKey::from_ec_pem(self.pair.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap()
    }
}

async fn spawn_with_jwks(idp: &Idp, min_refetch: Duration) -> TestApp {
    let sim = Simulator::builder().start().unwrap();
    let mut settings = settings_for(&sim);
    let mut issuer = IssuerSettings::hmac(
        "https://corp.idp.test",
        "reportgate",
        reportgate::secret::Secret::new("x".repeat(32)),
    );
    issuer.hmac_secret = None;
    issuer.jwks_url = Some(idp.url.clone());
    issuer.jwks_min_refetch = min_refetch;
    settings.auth.issuers.push(issuer);
    spawn_gateway(sim, settings)
}

#[actix_rt::test]
async fn a_rotated_jwks_key_is_accepted_after_a_refetch_without_restart() {
    let idp = start_idp();
    let (k1, k2) = (EcKey::new("k1"), EcKey::new("k2"));
    *idp.jwks.lock().unwrap() = json!({"keys": [k1.jwk()]});
    let app = spawn_with_jwks(&idp, Duration::ZERO).await;
    let path = "/v1/reports/0123456789abcdef0123456789abcdef";
    let claims = claims("https://corp.idp.test");

    assert_eq!(
        app.request_as(&k1.sign(&claims), "GET", path, None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.request_as(&k2.sign(&claims), "GET", path, None)
            .await
            .status,
        401,
        "k2 not published yet"
    );

    *idp.jwks.lock().unwrap() = json!({"keys": [k1.jwk(), k2.jwk()]});
    assert_eq!(
        app.request_as(&k2.sign(&claims), "GET", path, None)
            .await
            .status,
        404,
        "accepted after refetch"
    );
    assert!(idp.fetches.load(Ordering::SeqCst) >= 2);
}

#[actix_rt::test]
async fn forged_kids_cannot_make_the_gateway_hammer_the_idp() {
    let idp = start_idp();
    let k1 = EcKey::new("k1");
    *idp.jwks.lock().unwrap() = json!({"keys": [k1.jwk()]});
    let app = spawn_with_jwks(&idp, Duration::from_secs(3600)).await;
    let path = "/v1/reports/abc";
    let claims = claims("https://corp.idp.test");
    assert_eq!(
        app.request_as(&k1.sign(&claims), "GET", path, None)
            .await
            .status,
        404
    );
    for i in 0..30 {
        let forged = EcKey::new(&format!("forged-{i}"));
        assert_eq!(
            app.request_as(&forged.sign(&claims), "GET", path, None)
                .await
                .status,
            401
        );
    }
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        1,
        "one fetch, no matter how many unknown kids"
    );
}

#[actix_rt::test]
async fn a_jwks_with_an_unsupported_key_still_serves_its_other_keys_and_reports_the_skipped_ones() {
    // Arrange: one usable key beside an ES512 key (P-521) and a key of an unknown type.
    let idp = start_idp();
    let k1 = EcKey::new("k1");
    let es512 = json!({"kty": "EC", "crv": "P-521", "kid": "big", "alg": "ES512", "use": "sig",
        "x": "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
        "y": "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"});
    let unknown = json!({"kty": "XYZ", "kid": "odd", "k": "AAAA"});
    *idp.jwks.lock().unwrap() = json!({"keys": [es512, unknown, k1.jwk()]});
    let app = spawn_with_jwks(&idp, Duration::from_secs(3600)).await;

    // Act: a fresh replica sees a token signed with the usable key.
    let r = app
        .request_as(
            &k1.sign(&claims("https://corp.idp.test")),
            "GET",
            "/v1/reports/0123456789abcdef0123456789abcdef",
            None,
        )
        .await;

    // Assert: the caller is accepted (404: no such report), the two others are reported.
    assert_eq!(r.status, 404, "{}", r.text());
    let metrics = crate::helpers::scrape(&app).await;
    assert_eq!(
        crate::helpers::value(
            &metrics,
            "reportgate_jwks_unusable_keys{issuer=\"https://corp.idp.test\"}"
        ),
        Some(2.0),
        "{metrics}"
    );
}

/// An HS256 token with exactly this header (signed as jsonwebtoken would).
fn hs256_with_header(header: &Value, claims: &Value) -> String {
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &EncodingKey::from_secret(TEST_HMAC_SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{signing_input}.{sig}")
}

#[actix_rt::test]
async fn a_crit_header_or_a_non_numeric_nbf_or_iat_gets_401() {
    // Arrange
    let app = spawn_with_rsa_issuer().await;
    let path = "/v1/reports/0123456789abcdef0123456789abcdef";
    let plain = json!({"alg": "HS256", "typ": "JWT"});
    let with = |k: &str, v: Value| {
        let mut c = claims(TEST_ISSUER);
        c[k] = v;
        c
    };
    let control = hs256_with_header(&plain, &claims(TEST_ISSUER));
    let refused = [
        (
            "crit header (RFC 7515 4.1.11: extensions we do not understand)",
            hs256_with_header(
                &json!({"alg": "HS256", "typ": "JWT", "crit": ["exp-ext"], "exp-ext": 1}),
                &claims(TEST_ISSUER),
            ),
        ),
        (
            "nbf as text",
            hs256_with_header(&plain, &with("nbf", json!("soon"))),
        ),
        (
            "nbf as an object",
            hs256_with_header(&plain, &with("nbf", json!({"t": 1}))),
        ),
        (
            "iat as text",
            hs256_with_header(&plain, &with("iat", json!("yesterday"))),
        ),
        (
            "iat as a list",
            hs256_with_header(&plain, &with("iat", json!([1]))),
        ),
    ];

    // Act + Assert: the well-formed token gets through (404: no such report)...
    assert_eq!(
        app.request_as(&control, "GET", path, None).await.status,
        404
    );
    // ...the others get 401, before any upstream call.
    let before = app.sim.counters();
    for (what, token) in refused {
        let r = app.request_as(&token, "GET", path, None).await;
        assert_eq!(r.status, 401, "{what}: {}", r.text());
    }
    assert_eq!(app.sim.counters(), before);
}

#[actix_rt::test]
async fn a_present_but_malformed_team_claim_gets_401_instead_of_falling_back_to_the_caller_id() {
    // Arrange
    let app = spawn_with_rsa_issuer().await;
    let path = "/v1/reports/0123456789abcdef0123456789abcdef";
    let secret = TEST_HMAC_SECRET.as_bytes();
    let with_team = |team: Value| {
        let mut c = claims(TEST_ISSUER);
        c["team"] = team;
        hs256(&c, secret)
    };
    let mut no_team = claims(TEST_ISSUER);
    no_team.as_object_mut().unwrap().remove("team");

    // Act + Assert: absent, a string or a list of strings: accepted (404, no such report).
    for token in [
        hs256(&no_team, secret),
        with_team(json!("test-team")),
        with_team(json!(["test-team", "other"])),
    ] {
        assert_eq!(app.request_as(&token, "GET", path, None).await.status, 404);
    }
    // Present but malformed: 401.
    let before = app.sim.counters();
    for (what, team) in [
        ("empty", json!("")),
        ("blank", json!("   ")),
        ("a number", json!(42)),
        ("an object", json!({"name": "test-team"})),
        ("null", Value::Null),
        ("an empty list", json!([])),
        ("a list of numbers", json!([7])),
        ("control characters", json!("test-team\u{1b}[31m")),
        ("too long", json!("t".repeat(300))),
    ] {
        let r = app.request_as(&with_team(team), "GET", path, None).await;
        assert_eq!(r.status, 401, "{what}: {}", r.text());
    }
    assert_eq!(app.sim.counters(), before);
}

#[actix_rt::test]
async fn two_issuers_callers_with_the_same_sub_are_two_owners() {
    use reportgate::auth::settings::{NamedTeamPolicy, Ownership, TeamPolicy};
    for (ownership, team) in [
        (Ownership::Caller, Some("test-team")),
        // Without a team claim each caller is its own team.
        (Ownership::Team, None),
    ] {
        // Arrange: "alice" of the HMAC issuer and "alice" of the RSA issuer, allowed to run.
        let app = spawn_with_rsa_issuer_and(|s| {
            s.policy.ownership = ownership;
            s.policy.default = TeamPolicy::allow_all();
            s.policy.teams.push(NamedTeamPolicy {
                team: "alice".into(),
                policy: TeamPolicy::allow_all(),
            });
        })
        .await;
        let token = |iss: &str, sub: &str| {
            let mut c = claims(iss);
            c["sub"] = json!(sub);
            match team {
                Some(t) => c["team"] = json!(t),
                None => drop(c.as_object_mut().unwrap().remove("team")),
            }
            if iss == RSA_ISSUER {
                rs256(&c, Some("rsa-1"))
            } else {
                hs256(&c, TEST_HMAC_SECRET.as_bytes())
            }
        };
        let hmac_alice = token(TEST_ISSUER, "alice");
        let r = app
            .request_as(
                &hmac_alice,
                "POST",
                "/v1/reports",
                Some(r#"{"type":"IDENTITIES"}"#),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text());
        let path = format!("/v1/reports/{}", r.json()["id"].as_str().unwrap());

        // Act
        let same = app
            .request_as(&token(TEST_ISSUER, "alice"), "GET", &path, None)
            .await;
        let other = app
            .request_as(&token(RSA_ISSUER, "alice"), "GET", &path, None)
            .await;

        // Assert
        assert_eq!(same.status, 200, "{ownership:?}: the same caller reads it");
        assert_eq!(
            other.status, 404,
            "{ownership:?}: another issuer's alice does not"
        );
    }
}
