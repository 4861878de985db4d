//! Request ids and W3C trace context, the formats (the request's context, which holds them,
//! is made by `http::context`).
use actix_web::http::header::HeaderName;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

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

    /// A new trace, for a request that came without one.
    pub fn start() -> Self {
        Self {
            trace_id: hex128(rand::random::<u128>().max(1)),
            flags: "01".into(),
        }
    }

    /// The `traceparent` for a call made on behalf of this request (a new span id).
    pub fn child_header(&self) -> String {
        let span = crate::hex::encode(&rand::random::<u64>().max(1).to_be_bytes());
        let mut out = String::with_capacity(55);
        for part in ["00-", &self.trace_id, "-", &span, "-", &self.flags] {
            out.push_str(part);
        }
        out
    }
}

tokio::task_local! {
    static CURRENT: String;
}

/// Runs `fut` (the rest of a request) with its id readable by [`current`].
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    CURRENT.scope(id, fut).await
}

/// The id of the request being handled, for error bodies; empty outside a request.
///
/// The one task-local left of the request's context: actix renders an error through
/// `ResponseError::error_response(&self)`, which is given no request, and every error body
/// carries the request id. Everything else reads the context explicitly.
pub fn current() -> String {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}

pub fn generate() -> String {
    hex128(rand::random::<u128>())
}

/// 32 lowercase hex digits, as `format!("{:032x}")` writes them, without the formatter
/// (two of these per request showed in profiles).
fn hex128(v: u128) -> String {
    crate::hex::encode(&v.to_be_bytes())
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
        assert_eq!(super::TraceContext::parse(&child).as_ref(), Some(&t));
        assert_eq!(child.len(), 55);
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
}
