//! The served OpenAPI document says what the gateway really sends and reads: files as bytes,
//! the run's Idempotency-Key, and the limit headers on the answers that carry them.
use crate::helpers::{spawn_app, unknown_id};
use serde_json::{json, Value};

fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is declared");
    op
}

#[actix_rt::test]
async fn the_openapi_document_declares_files_as_binary_strings() {
    // Arrange
    let app = spawn_app().await;
    // Act
    let doc = app.request("GET", "/openapi.json", None).await.json();
    // Assert: every media type of the download (full and ranged) is bytes, not array<int32>.
    let file = operation(&doc, "/v1/reports/{id}/file", "get");
    let mut seen = 0;
    for status in ["200", "206"] {
        for (media, body) in file["responses"][status]["content"].as_object().unwrap() {
            assert_eq!(
                body["schema"],
                json!({"type": "string", "format": "binary"}),
                "{status} {media}"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 6, "csv, pdf and zip for 200 and 206");
}

#[actix_rt::test]
async fn the_openapi_document_declares_the_idempotency_key_that_run_honours() {
    // Arrange
    let app = spawn_app().await;
    let doc = app.request("GET", "/openapi.json", None).await.json();
    let run = operation(&doc, "/v1/reports", "post");
    let key = run["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .expect("Idempotency-Key is declared on run");
    assert_eq!(key["in"], "header");
    assert_eq!(key["required"], false);
    assert_eq!(key["schema"]["maxLength"], 255);
    assert!(run["responses"]["422"].is_object());
    assert!(run["responses"]["202"]["headers"]["Idempotent-Replayed"].is_object());
    // Act: the header does what the document says (a retried run replays the first answer).
    let body = r#"{"type":"ACCOUNTS","arguments":{"application":"2c9180835d2e5168015d32f890ca1581","sourceName":"Active Directory"}}"#;
    let key = [("idempotency-key", "openapi-1")];
    let first = app
        .request_with("POST", "/v1/reports", Some(body), &key)
        .await;
    let again = app
        .request_with("POST", "/v1/reports", Some(body), &key)
        .await;
    // Assert
    assert_eq!(first.status, 202, "{}", first.text());
    assert_eq!(again.status, 202);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.json()["id"], first.json()["id"]);
    assert_eq!(app.sim.counters().run, 1);
}

#[actix_rt::test]
async fn the_openapi_document_declares_retry_after_and_ratelimit_where_they_are_sent() {
    // Arrange
    let app = spawn_app().await;
    let doc = app.request("GET", "/openapi.json", None).await.json();
    // Assert: every /v1 operation's 429 carries Retry-After, its 503 may, and every answer to
    // an authenticated caller (all but 401) carries the team limit's RateLimit fields.
    let mut operations = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for (method, op) in ops.as_object().unwrap() {
            operations += 1;
            for (status, response) in op["responses"].as_object().unwrap() {
                let headers = &response["headers"];
                let has = |h: &str| headers[h]["schema"].is_object();
                if status == "429" {
                    assert!(has("Retry-After"), "{method} {path} {status}");
                    assert_eq!(headers["Retry-After"]["required"], true);
                }
                if status == "503" {
                    assert!(has("Retry-After"), "{method} {path} {status}");
                }
                let limited = status != "401";
                assert_eq!(has("RateLimit"), limited, "{method} {path} {status}");
                assert_eq!(has("RateLimit-Policy"), limited, "{method} {path} {status}");
            }
        }
    }
    assert_eq!(operations, 4, "run, status, file and cancel");
    // Act: a real answer carries what the document declares, and a 401 does not.
    let found = app.status(&unknown_id()).await;
    let anonymous = app
        .request_with(
            "GET",
            &format!("/v1/reports/{}", unknown_id()),
            None,
            &[("authorization", "Bearer nope")],
        )
        .await;
    // Assert
    assert_eq!(found.status, 404);
    assert!(found.header("ratelimit").is_some());
    assert!(found.header("ratelimit-policy").is_some());
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.header("ratelimit").is_none());
}
