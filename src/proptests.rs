//! Property tests for every parser that takes outside input: none may panic, and the
//! round-trips hold.
use crate::audit::chain;
use crate::auth::{Opened, ReportIds};
use crate::domain::retry_after;
use crate::domain::{validate_report, ReportId};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::Value;
use std::time::{Duration, SystemTime};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec!["ACCOUNTS", "CSV", "PDF", "identities", "*", "name:a*"])
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "application",
                    "sourceName",
                    "correlatedOnly",
                    "selectedFormats",
                    "query",
                    "indices",
                    "sort",
                    "columns",
                    "x"
                ]),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn report_arguments_never_panic_and_accepted_types_parse_back(t in json_value(), args in json_value(), strict in any::<bool>()) {
        if let Ok(rt) = validate_report(Some(&t), Some(&args), strict) {
            prop_assert_eq!(Some(rt.as_str()), t.as_str());
        }
    }

    #[test]
    fn report_ids_never_panic_and_valid_ones_round_trip(raw in ".{0,140}") {
        if let Ok(id) = ReportId::parse(&raw) {
            prop_assert_eq!(id.as_str(), raw.as_str());
            prop_assert!(ReportId::parse(id.as_str()).is_ok());
        }
    }

    #[test]
    fn signed_ids_open_for_their_owner_only(id in "[a-f0-9]{32}", owner in ".{1,40}", other in ".{1,40}", garbage in ".{0,100}") {
        let ids = ReportIds::new(b"proptest-signing-key-0123456789abcdef");
        let up = ReportId::parse(&id).unwrap();
        let sealed = ReportId::parse(&ids.seal(&owner, &up)).unwrap();
        prop_assert_eq!(ids.open(&owner, &sealed), Opened::Owned(up));
        if other != owner {
            prop_assert_eq!(ids.open(&other, &sealed), Opened::Foreign);
        }
        if let Ok(g) = ReportId::parse(&garbage) {
            let _ = ids.open(&owner, &g);
        }
    }

    #[test]
    fn retry_after_never_panics_and_seconds_round_trip(raw in ".{0,40}", secs in 0u64..1_000_000) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let _ = retry_after::parse(&raw, now);
        prop_assert_eq!(retry_after::parse(&secs.to_string(), now), Some(Duration::from_secs(secs)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(secs));
        prop_assert_eq!(retry_after::parse(&date, now), Some(Duration::from_secs(secs)));
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_of_bounded_length(raw in ".{0,300}") {
        let ok = crate::routes::valid_idempotency_key(&raw);
        prop_assert_eq!(ok, !raw.is_empty() && raw.len() <= 255 && raw.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    }

    #[test]
    fn the_audit_chain_round_trips_and_the_checker_never_panics(records in prop::collection::vec(json_value(), 1..6), junk in ".{0,200}") {
        let mut prev = chain::GENESIS.to_owned();
        for r in &records {
            let obj = serde_json::json!({"r": r});
            let (line, hash) = chain::seal(&obj.to_string(), &prev, None);
            prop_assert_eq!(chain::check(&line, &prev, None), Ok(hash.clone()));
            prev = hash;
        }
        let _ = chain::check(&junk, &prev, None);
    }

    #[test]
    fn configuration_values_never_panic_the_loader(key in prop::sample::select(vec![
        "REPORTGATE__TENANT__BASE_URL", "REPORTGATE__TENANT__CONNECT_TIMEOUT", "REPORTGATE__SERVER__LISTEN",
        "REPORTGATE__SERVER__MAX_BODY_BYTES", "REPORTGATE__LIMITS__UPSTREAM_SAFETY", "REPORTGATE__LOG__LEVEL",
        "REPORTGATE__POLICY__OWNERSHIP", "REPORTGATE__AUDIT__MODES__RUN", "REPORTGATE__CACHE__RUNNING_TTL",
        "REPORTGATE__REDIS__URL", "REPORTGATE__REDIS__FALLBACK_SHARE", "REPORTGATE__REDIS__TIMEOUT",
    ]), value in ".{0,30}") {
        let env = std::collections::HashMap::from([(key.to_owned(), value)]);
        let _ = crate::config::Settings::load(None, &env);
    }
}

/// Found by the property above: tracing-subscriber's filter parser panicked on this.
#[test]
fn a_non_ascii_log_level_is_a_problem_not_a_panic() {
    let env = std::collections::HashMap::from([(
        "REPORTGATE__LOG__LEVEL".to_owned(),
        "\u{b}0[\u{a1}{".to_owned(),
    )]);
    let problems = crate::config::Settings::load(None, &env).unwrap_err();
    assert!(
        problems.iter().any(|p| p.key == "log.level"),
        "{problems:?}"
    );
}

/// Caller tokens: arbitrary bearer strings are refused, never a panic.
#[test]
fn arbitrary_bearer_tokens_never_panic_the_verifier() {
    use crate::auth::settings::IssuerSettings;
    let mut settings = crate::config::Settings::defaults().auth;
    settings.issuers = vec![IssuerSettings::hmac(
        "https://idp",
        "rg",
        crate::secret::Secret::new("s".repeat(32)),
    )];
    let auth = crate::auth::Authenticator::new(&settings, crate::clock::Clock::default()).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    });
    actix_rt::System::new().block_on(async {
        let http = awc::Client::default();
        let strategy = prop_oneof![
            ".{0,300}",
            "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,60}",
            "eyJ[A-Za-z0-9_-]{0,40}\\.eyJ[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,43}",
        ];
        for _ in 0..256 {
            let token = strategy.new_tree(&mut runner).unwrap().current();
            assert!(auth.verify(&token, &http).await.is_err(), "{token}");
        }
    });
}
