//! What the SDK paths accept is what upstream accepts; `/v1` keeps its typo guard.
use crate::helpers::{assert_error, spawn_app};
use serde_json::json;

#[actix_rt::test]
async fn sdk_paths_forward_extra_arguments_the_sdks_send_and_v1_still_refuses_them() {
    let app = spawn_app().await;
    // What the SDKs' `ReportDetails.from_json` serializes for these types.
    for t in ["ORPHAN_IDENTITIES", "UNCORRELATED_ACCOUNTS"] {
        let body = json!({"reportType": t, "arguments": {"correlatedOnly": false}});
        for prefix in ["/v3/reports", "/reports/v1"] {
            let r = app
                .request("POST", &format!("{prefix}/run"), Some(&body.to_string()))
                .await;
            assert_eq!(r.status, 200, "{prefix} {t}: {}", r.text());
            assert_eq!(r.json()["reportType"], t);
        }
        let r = app
            .run(&json!({"type": t, "arguments": {"correlatedOnly": false}}).to_string())
            .await;
        assert_error(&r, 400, "invalid_argument");
        assert!(r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("arguments.correlatedOnly"));
    }
    assert_eq!(
        app.sim.counters().run,
        4,
        "the /v1 refusals never went upstream"
    );
    let forwarded = app
        .audit_records(6)
        .await
        .into_iter()
        .filter(|r| r["action"] == "sdk_run")
        .filter(|r| r["arguments"] == json!({"correlatedOnly": false}))
        .count();
    assert_eq!(forwarded, 4, "the extra argument was forwarded as sent");
}

#[actix_rt::test]
async fn sdk_paths_still_refuse_what_upstream_refuses() {
    let app = spawn_app().await;
    let cases = [
        // Required fields: from_json turns these arguments into `{"correlatedOnly": false}`,
        // which upstream refuses for want of the required field.
        (
            json!({"reportType": "IDENTITY_PROFILE_IDENTITY_ERROR", "arguments": {"correlatedOnly": false}}),
            "arguments.authoritativeSource",
        ),
        (
            json!({"reportType": "SEARCH_EXPORT", "arguments": {"correlatedOnly": false}}),
            "arguments.query",
        ),
        // Types and enums.
        (
            json!({"reportType": "IDENTITIES", "arguments": {"correlatedOnly": "no"}}),
            "arguments.correlatedOnly",
        ),
        (
            json!({"reportType": "ORPHAN_IDENTITIES", "arguments": {"selectedFormats": ["XLS"]}}),
            "arguments.selectedFormats[0]",
        ),
        (json!({"reportType": "PAYROLL"}), "reportType"),
    ];
    for (body, field) in cases {
        let r = app
            .request("POST", "/reports/v1/run", Some(&body.to_string()))
            .await;
        assert_eq!(r.status, 400, "{body}");
        let text = r.json()["messages"][0]["text"].as_str().unwrap().to_owned();
        assert!(text.starts_with(field), "{body}: {text}");
    }
    assert_eq!(app.sim.counters().run, 0);
}

#[actix_rt::test]
async fn search_exports_accept_indices_upstream_adds_without_notice() {
    let app = spawn_app().await;
    let args = json!({"query": "*", "indices": ["workflowsummaries", "identities"]});
    let r = app
        .request(
            "POST",
            "/reports/v1/run",
            Some(&json!({"reportType": "SEARCH_EXPORT", "arguments": args}).to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = app
        .run(&json!({"type": "SEARCH_EXPORT", "arguments": args}).to_string())
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    // Still an index name, not anything at all.
    let r = app
        .run(
            &json!({"type": "SEARCH_EXPORT", "arguments": {"query": "*", "indices": ["a b"]}})
                .to_string(),
        )
        .await;
    assert_error(&r, 400, "invalid_argument");
}

#[actix_rt::test]
async fn the_openapi_document_says_v1_refuses_unknown_argument_names() {
    let app = spawn_app().await;
    let doc = app.request("GET", "/openapi.json", None).await.json();
    let schema = &doc["components"]["schemas"]["RunReportRequest"];
    assert!(schema["description"]
        .as_str()
        .unwrap()
        .contains("refuses argument names"));
    for branch in schema["oneOf"].as_array().unwrap() {
        assert_eq!(
            branch["properties"]["arguments"]["additionalProperties"],
            false
        );
    }
}
