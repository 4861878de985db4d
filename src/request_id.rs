//! Request ids and W3C trace context: accept a well-formed incoming `X-Request-Id` (else make
//! one) and return it on every response; accept an incoming `traceparent` (else start a
//! trace) so that upstream calls continue the caller's trace.
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The W3C trace this request belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub flags: String,
}

impl TraceContext {
    /// Parses a `traceparent` header (version 00); invalid values are ignored, per the spec.
    pub fn parse(v: &str) -> Option<Self> {
        let parts: Vec<&str> = v.trim().split('-').collect();
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        match parts.as_slice() {
            ["00", trace, parent, flags]
                if hex(trace, 32)
                    && hex(parent, 16)
                    && hex(flags, 2)
                    && trace.bytes().any(|b| b != b'0')
                    && parent.bytes().any(|b| b != b'0') =>
            {
                Some(Self {
                    trace_id: (*trace).to_owned(),
                    flags: (*flags).to_owned(),
                })
            }
            _ => None,
        }
    }

    fn start() -> Self {
        Self {
            trace_id: hex128(rand::random::<u128>().max(1)),
            flags: "01".into(),
        }
    }

    /// The `traceparent` for a call made on behalf of this request (a new span id).
    pub fn child_header(&self) -> String {
        format!(
            "00-{}-{:016x}-{}",
            self.trace_id,
            rand::random::<u64>().max(1),
            self.flags
        )
    }
}

tokio::task_local! {
    static CURRENT: String;
    static TRACE: TraceContext;
}

/// The trace of the request being handled, if any.
pub fn trace() -> Option<TraceContext> {
    TRACE.try_with(Clone::clone).ok()
}

/// The id of the request being handled, for error bodies built deep inside handlers.
pub fn current() -> String {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}

fn well_formed(raw: &str) -> bool {
    (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub fn generate() -> String {
    hex128(rand::random::<u128>())
}

/// 32 lowercase hex digits, as `format!("{:032x}")` writes them, without the formatter
/// (two of these per request showed in profiles).
fn hex128(v: u128) -> String {
    crate::hex::encode(&v.to_be_bytes())
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map(str::to_owned)
        .unwrap_or_else(generate);
    let trace = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse)
        .unwrap_or_else(TraceContext::start);
    req.extensions_mut().insert(RequestId(id.clone()));
    req.extensions_mut().insert(trace.clone());
    let mut res = CURRENT
        .scope(id.clone(), TRACE.scope(trace, next.call(req)))
        .await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    #[test]
    fn traceparent_is_parsed_per_the_w3c_format() {
        let t =
            super::TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                .unwrap();
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        let child = t.child_header();
        assert!(
            child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && child.ends_with("-01")
        );
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f35-00f067aa0ba902b7-01",
        ] {
            assert!(super::TraceContext::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn generated_ids_are_32_hex_digits_like_the_formatter_writes() {
        for v in [0, 1, 0xabc, u128::MAX, 1 << 127] {
            assert_eq!(super::hex128(v), format!("{v:032x}"));
        }
    }

    #[test]
    fn only_sane_incoming_ids_are_kept() {
        assert!(super::well_formed("abc-123_x.y:z"));
        assert!(!super::well_formed(""));
        assert!(!super::well_formed("a b"));
        assert!(!super::well_formed(&"a".repeat(129)));
    }
}
