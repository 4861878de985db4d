//! Injected faults: what a matching request gets instead of the real answer.
use super::errors::{error_for, rate_limited};
use super::state::{FaultAction, Op, SimState};
use actix_web::HttpResponse;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Applies an injected fault. `Ok(())` means carry on with the real handler.
pub(super) async fn apply_fault(state: &SimState, op: Op) -> Result<(), HttpResponse> {
    let Some(action) = state.take_fault(op) else {
        return Ok(());
    };
    match action {
        FaultAction::Status { status } => {
            if status == 429 {
                state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            }
            Err(error_for(status))
        }
        FaultAction::RateLimited { retry_after } => {
            state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            Err(rate_limited(&retry_after))
        }
        FaultAction::Malformed => Err(HttpResponse::Ok()
            .content_type("application/json")
            .body("{\"id\": \"abc\", \"status\": ")),
        FaultAction::WrongShape => Err(HttpResponse::Ok().json(json!(["not", "an", "object"]))),
        FaultAction::Hang => {
            actix_rt::time::sleep(Duration::from_secs(3600)).await;
            Err(error_for(504))
        }
        FaultAction::Delay { ms } => {
            actix_rt::time::sleep(Duration::from_millis(ms)).await;
            Ok(())
        }
        FaultAction::HangAfterHeaders => {
            let (mime, len) = if op == Op::File {
                ("application/csv", 1024 * 1024)
            } else {
                ("application/json", 1024)
            };
            // One byte so that the headers are flushed, then nothing, ever.
            let body = futures_util::StreamExt::chain(
                futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
                    b"{",
                ))]),
                futures_util::stream::pending(),
            );
            Err(HttpResponse::Ok()
                .content_type(mime)
                .no_chunking(len)
                .streaming(body))
        }
        FaultAction::ResetMidBody => {
            let chunks = futures_util::stream::iter(vec![
                Ok(bytes::Bytes::from(vec![b'x'; 64 * 1024])),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated reset",
                )),
            ]);
            Err(HttpResponse::Ok()
                .content_type("application/csv")
                .no_chunking(1024 * 1024)
                .streaming(chunks))
        }
        FaultAction::WildResult => Err(HttpResponse::Ok().json(json!({
            "reportType": "Certification Signoff Report-286d342a929c41f4820dfbfbfa7d644e",
            "taskDefName": "Certification Signoff Report-286d342a929c41f4820dfbfbfa7d644e",
            "id": "a08e9b708128450a8ce0cc86f05e27a3",
            "created": "2024-07-01T22:35:38.709",
            "status": "SUCCESS", "duration": 2907, "rows": 2, "availableFormats": ["CSV", "PDF"]
        }))),
    }
}
