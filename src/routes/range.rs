//! `Range` on file downloads (RFC 9110 §14): one byte range per request, so a client can
//! resume a broken download. It applies to a finished `200` whose length is known; anything
//! else (several ranges, bad syntax, an `If-Range` we cannot validate) gets the whole file.
use crate::error::GatewayError;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Wanted {
    /// No usable range: send everything.
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// A well-formed range that lies past the end.
    Unsatisfiable,
}

pub fn parse(value: &str, len: u64) -> Wanted {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        // Several ranges would need multipart/byteranges; a full answer is allowed.
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (num(first), num(last), last.trim().is_empty()) {
        // bytes=a- and bytes=a-b
        (Some(start), end, open) if open || end.is_some() => {
            let end = end.map_or(len.saturating_sub(1), |e| e.min(len.saturating_sub(1)));
            if start >= len {
                Wanted::Unsatisfiable
            } else if end < start {
                Wanted::Whole
            } else {
                Wanted::Part { start, end }
            }
        }
        // bytes=-n: the last n bytes
        (None, Some(n), _) if first.trim().is_empty() => {
            if n == 0 || len == 0 {
                Wanted::Unsatisfiable
            } else {
                Wanted::Part {
                    start: len.saturating_sub(n),
                    end: len - 1,
                }
            }
        }
        _ => Wanted::Whole,
    }
}

/// Answers the request's `Range` from a full `200` file response: `206` with the part,
/// `416` past the end, or the response unchanged. Always says `Accept-Ranges: bytes` when
/// the length is known, so clients know they may resume.
pub fn serve(req: &HttpRequest, resp: HttpResponse) -> HttpResponse {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let len = match resp.body().size() {
        BodySize::Sized(n) => n,
        _ => return resp,
    };
    let mut resp = resp;
    resp.headers_mut().insert(
        header::ACCEPT_RANGES,
        header::HeaderValue::from_static("bytes"),
    );
    let headers = req.headers();
    // No validator of ours to compare with: a conditional range gets the whole file.
    if headers.contains_key(header::IF_RANGE) {
        return resp;
    }
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return resp;
    };
    let (start, end) = match parse(value, len) {
        Wanted::Whole => return resp,
        Wanted::Unsatisfiable => {
            return GatewayError::RangeNotSatisfiable { length: len }.error_response()
        }
        Wanted::Part { start, end } => (start, end),
    };
    let (head, body) = resp.into_parts();
    let part = match body.try_into_bytes() {
        Ok(bytes) => bytes.slice(start as usize..=end as usize).boxed(),
        Err(stream) => Slice {
            inner: stream,
            skip: start,
            left: end - start + 1,
        }
        .boxed(),
    };
    let mut out = head.set_body(part);
    *out.status_mut() = StatusCode::PARTIAL_CONTENT;
    out.headers_mut().insert(
        header::CONTENT_RANGE,
        header::HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")).expect("ascii"),
    );
    out
}

/// A streamed body cut to a byte range. The whole file still comes from upstream (which
/// is not asked for ranges); the bytes before the range are read and dropped.
struct Slice {
    inner: BoxBody,
    skip: u64,
    left: u64,
}

impl MessageBody for Slice {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.left)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        loop {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            let mut chunk = match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(c))) => c,
                other => return other,
            };
            if self.skip >= chunk.len() as u64 {
                self.skip -= chunk.len() as u64;
                continue;
            }
            let _ = chunk.split_to(self.skip as usize);
            self.skip = 0;
            chunk.truncate(chunk.len().min(self.left as usize));
            self.left -= chunk.len() as u64;
            return Poll::Ready(Some(Ok(chunk)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_read_as_rfc_9110_says() {
        let part = |start, end| Wanted::Part { start, end };
        assert_eq!(parse("bytes=0-9", 100), part(0, 9));
        assert_eq!(parse("bytes=90-", 100), part(90, 99));
        assert_eq!(parse("bytes=90-500", 100), part(90, 99));
        assert_eq!(parse("bytes=-10", 100), part(90, 99));
        assert_eq!(parse("bytes=-500", 100), part(0, 99));
        assert_eq!(parse("bytes=100-", 100), Wanted::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 100), Wanted::Unsatisfiable);
        assert_eq!(parse("bytes=5-1", 100), Wanted::Whole);
        assert_eq!(parse("bytes=0-1,5-6", 100), Wanted::Whole);
        assert_eq!(parse("items=0-1", 100), Wanted::Whole);
        assert_eq!(parse("bytes=a-b", 100), Wanted::Whole);
        assert_eq!(parse("bytes=+1-2", 100), Wanted::Whole);
        assert_eq!(parse("bytes=-", 100), Wanted::Whole);
    }
}
