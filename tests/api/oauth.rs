//! `POST /oauth/token` on the gateway: team client credentials in, a caller token out.
use crate::helpers::{
    spawn_app, unknown_id, Response, TestApp, TEST_CLIENT_ID, TEST_CLIENT_SECRET,
};
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;

/// A token request with this query string and form body (none when empty), from `local`.
async fn grant_from(app: &TestApp, local: IpAddr, query: &str, form: &[(&str, &str)]) -> Response {
    let http = awc::Client::builder()
        .connector(awc::Connector::new().local_address(local))
        .finish();
    let url = format!("{}/oauth/token{query}", app.address);
    let req = http.post(url);
    let mut resp = if form.is_empty() {
        req.send().await
    } else {
        req.send_form(&form).await
    }
    .expect("gateway answers");
    let body = resp.body().await.expect("body");
    Response {
        status: resp.status(),
        headers: resp.headers().clone(),
        body,
    }
}

async fn grant(app: &TestApp, form: &[(&str, &str)]) -> Response {
    grant_from(app, "127.0.0.1".parse().unwrap(), "", form).await
}

async fn client_credentials(app: &TestApp, id: &str, secret: &str) -> Response {
    grant(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
    )
    .await
}

fn assert_invalid_client(r: &Response) {
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"error": "invalid_client", "error_description": "Bad client credentials"})
    );
}

/// The status of a report read with this caller token.
async fn status_with(app: &TestApp, token: &str) -> u16 {
    let r = app
        .request_as(token, "GET", &format!("/v1/reports/{}", unknown_id()), None)
        .await;
    r.status.as_u16()
}

#[actix_rt::test]
async fn client_credentials_in_every_form_upstream_takes_get_a_caller_token_of_the_clients_team() {
    let app = spawn_app().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", TEST_CLIENT_ID),
        ("client_secret", TEST_CLIENT_SECRET),
    ];
    let query = format!(
        "?grant_type=client_credentials&client_id={TEST_CLIENT_ID}&client_secret={TEST_CLIENT_SECRET}"
    );
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    // Form body (the Python and Go SDKs), query only (TypeScript), and a mix (sailpoint-cli).
    let answers = [
        grant(&app, &form).await,
        grant_from(&app, local, &query, &[]).await,
        grant_from(&app, local, "?grant_type=client_credentials", &form[1..]).await,
        multipart_grant(&app).await,
    ];
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
        let body = r.json();
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 900);
        assert!(body["jti"].is_string() && body["scope"].is_string());
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(status_with(&app, token).await, 404, "the token is accepted");
    }
    let token = answers[0].json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .request_as(
            &token,
            "POST",
            "/v1/reports",
            Some(r#"{"type":"IDENTITIES"}"#),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let run = app
        .audit_records(9)
        .await
        .into_iter()
        .find(|r| r["action"] == "run")
        .expect("run audited");
    assert_eq!(
        (run["caller"].as_str(), run["team"].as_str()),
        (Some(TEST_CLIENT_ID), Some("test-team"))
    );
}

/// `curl --form` style, as IdentityNow's documentation shows it.
async fn multipart_grant(app: &TestApp) -> Response {
    let boundary = "rg-test-boundary";
    let body: String = [
        ("grant_type", "client_credentials"),
        ("client_id", TEST_CLIENT_ID),
        ("client_secret", TEST_CLIENT_SECRET),
    ]
    .iter()
    .map(|(k, v)| {
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
    })
    .collect::<String>()
        + &format!("--{boundary}--\r\n");
    let mut resp = awc::Client::default()
        .post(format!("{}/oauth/token", app.address))
        .insert_header((
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        ))
        .send_body(body)
        .await
        .unwrap();
    let body = resp.body().await.unwrap();
    Response {
        status: resp.status(),
        headers: resp.headers().clone(),
        body,
    }
}

#[actix_rt::test]
async fn a_wrong_secret_and_an_unknown_client_get_the_same_401_and_another_grant_type_400() {
    let app = spawn_app().await;
    assert_invalid_client(&client_credentials(&app, TEST_CLIENT_ID, "rgs_wrong").await);
    assert_invalid_client(&client_credentials(&app, "rgc_nobody", TEST_CLIENT_SECRET).await);
    assert_invalid_client(&grant(&app, &[("grant_type", "client_credentials")]).await);
    let r = grant(
        &app,
        &[
            ("grant_type", "password"),
            ("client_id", TEST_CLIENT_ID),
            ("client_secret", TEST_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    let r = app.request("GET", "/oauth/token", None).await;
    assert_eq!(r.status, 405);
    assert_eq!(
        app.sim.counters().token_requests,
        0,
        "nothing went upstream"
    );
}

#[actix_rt::test]
async fn failed_grants_are_limited_per_client_id_for_seconds_and_other_clients_are_unaffected() {
    let app = spawn_app().await;
    for _ in 0..10 {
        assert_invalid_client(&client_credentials(&app, TEST_CLIENT_ID, "rgs_guess").await);
    }
    // Past the burst even the right secret waits: a guesser cannot tell it found it. (A
    // slow machine may have earned a try back meanwhile: one per 6 s.)
    let mut r = client_credentials(&app, TEST_CLIENT_ID, TEST_CLIENT_SECRET).await;
    for _ in 0..3 {
        if r.status != 200 {
            break;
        }
        assert_invalid_client(&client_credentials(&app, TEST_CLIENT_ID, "rgs_guess").await);
        r = client_credentials(&app, TEST_CLIENT_ID, TEST_CLIENT_SECRET).await;
    }
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"message": " Rate Limit Exceeded "})
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=6).contains(&retry), "{retry}");
    // The whole lock is a few seconds, not a lockout.
    app.clock.advance(Duration::from_secs(retry));
    assert_eq!(
        client_credentials(&app, TEST_CLIENT_ID, TEST_CLIENT_SECRET)
            .await
            .status,
        200
    );
    let refused = app
        .audit_records(12)
        .await
        .into_iter()
        .filter(|r| r["action"] == "token" && r["reason"] == "too_many_failed_grants")
        .count();
    assert_eq!(refused, 1);
}

#[actix_rt::test]
async fn failed_grants_are_limited_per_source_address_for_about_a_second() {
    let app = spawn_app().await;
    let office: IpAddr = "127.0.0.1".parse().unwrap();
    let elsewhere: IpAddr = "127.0.0.2".parse().unwrap();
    let form = |id: &'static str| {
        [
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", "rgs_guess"),
        ]
    };
    let ids: Vec<&'static str> = (0..30)
        .map(|i| &*Box::leak(format!("rgc_guess{i}").into_boxed_str()))
        .collect();
    for id in &ids {
        assert_invalid_client(&grant_from(&app, office, "", &form(id)).await);
    }
    let good = [
        ("grant_type", "client_credentials"),
        ("client_id", TEST_CLIENT_ID),
        ("client_secret", TEST_CLIENT_SECRET),
    ];
    // The 31st attempt from the address is refused, unless a slow machine took more than a
    // second over the 30 (one try back per second): then a few more failures reach it.
    let mut r = grant_from(&app, office, "", &good).await;
    for id in ids.iter().take(10) {
        if r.status != 200 {
            break;
        }
        assert_invalid_client(&grant_from(&app, office, "", &form(id)).await);
        r = grant_from(&app, office, "", &good).await;
    }
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert_eq!(grant_from(&app, elsewhere, "", &good).await.status, 200);
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(grant_from(&app, office, "", &good).await.status, 200);
}

#[actix_rt::test]
async fn issued_tokens_expire_and_are_refused_after() {
    let app = spawn_app().await;
    let body: Value = client_credentials(&app, TEST_CLIENT_ID, TEST_CLIENT_SECRET)
        .await
        .json();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let ttl = body["expires_in"].as_u64().unwrap();
    assert_eq!(status_with(&app, &token).await, 404);
    // Inside the leeway (30 s) the token still works; past it, 401.
    app.clock.advance(Duration::from_secs(ttl + 20));
    assert_eq!(status_with(&app, &token).await, 404);
    app.clock.advance(Duration::from_secs(11));
    assert_eq!(status_with(&app, &token).await, 401);
    let r = app
        .request_as(
            &token,
            "GET",
            "/v3/reports/0123456789abcdef0123456789abcdef/result",
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        serde_json::json!({"error": "JWT validation failed"})
    );
}

#[actix_rt::test]
async fn grants_are_audited_by_client_id_and_never_with_the_secret() {
    let app = spawn_app().await;
    assert_eq!(
        client_credentials(&app, TEST_CLIENT_ID, TEST_CLIENT_SECRET)
            .await
            .status,
        200
    );
    assert_invalid_client(
        &client_credentials(&app, TEST_CLIENT_ID, "rgs_typo-of-the-secret").await,
    );
    assert_invalid_client(&client_credentials(&app, "rgc_stranger", "rgs_stranger-secret").await);
    let records = app.audit_records(3).await;
    let tokens: Vec<_> = records.iter().filter(|r| r["action"] == "token").collect();
    let seen: Vec<_> = tokens
        .iter()
        .map(|r| {
            (
                r["caller"].as_str().unwrap(),
                r["team"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["reason"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (TEST_CLIENT_ID, "test-team", "allowed", None),
            (
                TEST_CLIENT_ID,
                "test-team",
                "unauthenticated",
                Some("invalid_client")
            ),
            (
                "rgc_stranger",
                "anonymous",
                "unauthenticated",
                Some("invalid_client")
            ),
        ]
    );
    assert!(tokens.iter().all(|r| r["clientAddr"] == "127.0.0.1"));
    let file = std::fs::read_to_string(app.settings.audit.file.as_ref().unwrap()).unwrap();
    for secret in [
        TEST_CLIENT_SECRET,
        "rgs_typo-of-the-secret",
        "rgs_stranger-secret",
        "eyJ",
    ] {
        assert!(!file.contains(secret), "{secret} in the audit file");
    }
}

#[actix_rt::test]
async fn a_client_made_by_reportgate_client_create_works_once_its_entry_is_configured() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reportgate"))
        .args(["client", "create", "--team", "test-team"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {text}"))
            .to_owned()
    };
    let (id, secret) = (value("SAIL_CLIENT_ID="), value("SAIL_CLIENT_SECRET="));
    let entry = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("- {id:"))
        .unwrap();
    assert!(!entry.contains(&secret), "only the hash is to be stored");
    // The entry as the Helm chart's Secret holds it: a clients file.
    let file = std::env::temp_dir().join(format!("rg-clients-{}.yaml", unknown_id()));
    std::fs::write(&file, format!("{entry}\n")).unwrap();
    let app = crate::helpers::spawn_with(reportgate::simulator::Simulator::builder(), |s| {
        s.auth.clients.clear();
        s.auth.clients_file = Some(file.clone());
        s.auth.read_secret_files().unwrap();
    })
    .await;
    let r = client_credentials(&app, &id, &secret).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_invalid_client(&client_credentials(&app, TEST_CLIENT_ID, TEST_CLIENT_SECRET).await);
    std::fs::remove_file(file).ok();
}
