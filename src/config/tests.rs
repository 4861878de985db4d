use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A file with the one thing env vars cannot express well: an issuer list.
fn issuer_file(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("rg-cfg-{}-{name}.yaml", std::process::id()));
    std::fs::write(
        &path,
        "auth:\n  issuers:\n    - issuer: https://idp\n      audiences: [rg]\n      hmac_secret: 0123456789abcdef0123456789abcdef\n",
    )
    .unwrap();
    path
}

fn valid() -> HashMap<String, String> {
    env(&[
        (
            "REPORTGATE__AUTH__ID_SIGNING_KEY",
            "0123456789abcdef0123456789abcdef",
        ),
        (
            "REPORTGATE__TENANT__BASE_URL",
            "https://acme.api.identitynow.com/",
        ),
        ("REPORTGATE__TENANT__CLIENT_ID", "abc"),
        ("REPORTGATE__TENANT__CLIENT_SECRET", "s3cr3t-value"),
    ])
}

#[test]
fn environment_overrides_the_defaults() {
    let mut e = valid();
    e.insert("REPORTGATE__TENANT__CONNECT_TIMEOUT".into(), "2s".into());
    let s = Settings::load(Some(&issuer_file("env")), &e).unwrap();
    assert_eq!(s.tenant.base_url, "https://acme.api.identitynow.com");
    assert_eq!(s.tenant.connect_timeout, Duration::from_secs(2));
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let e = env(&[
        ("REPORTGATE__TENANT__BASE_URL", "ftp://x"),
        ("REPORTGATE__TENANT__REQUEST_TIMEOUT", "0s"),
    ]);
    let keys: Vec<_> = Settings::load(None, &e)
        .unwrap_err()
        .into_iter()
        .map(|p| p.key)
        .collect();
    for k in [
        "tenant.base_url",
        "tenant.client_id",
        "tenant.client_secret",
        "tenant.request_timeout",
    ] {
        assert!(keys.contains(&k.to_string()), "{k} missing from {keys:?}");
    }
}

#[test]
fn the_secret_can_come_from_a_file_and_is_redacted() {
    let dir = std::env::temp_dir().join(format!("rg-secret-{}", std::process::id()));
    std::fs::write(&dir, "from-a-file\n").unwrap();
    let mut e = valid();
    e.remove("REPORTGATE__TENANT__CLIENT_SECRET");
    e.insert(
        "REPORTGATE__TENANT__CLIENT_SECRET_FILE".into(),
        dir.display().to_string(),
    );
    let s = Settings::load(Some(&issuer_file("secret")), &e).unwrap();
    assert_eq!(
        s.tenant.client_secret.as_ref().unwrap().expose(),
        "from-a-file"
    );
    let shown = format!("{} {:?}", s.redacted(), s);
    assert!(!shown.contains("from-a-file"));
    std::fs::remove_file(dir).ok();
}

#[test]
fn auth_secrets_can_come_from_files() {
    let dir = std::env::temp_dir().join(format!("rg-auth-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hmac"), "an-hmac-secret-from-a-file-0123456789\n").unwrap();
    std::fs::write(dir.join("ids"), "an-id-key-from-a-file-0123456789abcdef\n").unwrap();
    let cfg = dir.join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            "auth:\n  issuers:\n    - issuer: https://idp\n      audiences: [rg]\n      hmac_secret_file: {}\n  id_signing_key_file: {}\n",
            dir.join("hmac").display(),
            dir.join("ids").display()
        ),
    )
    .unwrap();
    let mut e = valid();
    e.remove("REPORTGATE__AUTH__ID_SIGNING_KEY");
    let s = Settings::load(Some(&cfg), &e).unwrap();
    assert_eq!(
        s.auth.issuers[0].hmac_secret.as_ref().unwrap().expose(),
        "an-hmac-secret-from-a-file-0123456789"
    );
    assert_eq!(
        s.auth.id_signing_key.as_ref().unwrap().expose(),
        "an-id-key-from-a-file-0123456789abcdef"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn gateway_clients_need_an_hmac_issuer_and_a_team_claim_to_sign_their_tokens() {
    let (client, _) = crate::auth::clients::create("team-a");
    let mut s = Settings::load(Some(&issuer_file("clients")), &valid()).unwrap();
    s.auth.clients = vec![client.clone()];
    assert!(s.validate().is_ok());
    s.auth.team_claim = None;
    s.auth.issuers[0].hmac_secret = None;
    s.auth.issuers[0].jwks_url = Some("https://idp/jwks".into());
    s.auth.clients.push(client);
    let problems = s.validate().unwrap_err();
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["auth.clients[1].id", "auth.clients", "auth.clients"],
        "{problems:?}"
    );
}

#[test]
fn a_malformed_duration_names_its_key() {
    let mut e = valid();
    e.insert("REPORTGATE__TENANT__TOKEN_TIMEOUT".into(), "soon".into());
    let p = Settings::load(None, &e).unwrap_err();
    assert_eq!(p[0].key, "tenant.token_timeout", "{p:?}");
}
