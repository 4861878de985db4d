//! The HTTP middleware: every API request counted by route pattern, method and status
//! class, with its latency by kind. The labelled series are looked up once per worker thread
//! and kept: `with_label_values` hashed four label strings under a lock twice per request.
use super::Metrics;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use prometheus::{Histogram, IntCounter};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// One request's labels: the registry, then the route pattern, method, status class and
/// latency kind, each a `&'static str` known by its address and length.
type Key = [usize; 9];

thread_local! {
    /// The series of each label set this worker has seen (a bounded set: patterns, seven
    /// methods and `other`, five classes, three kinds).
    static SERIES: RefCell<HashMap<Key, (IntCounter, Histogram), BuildHasherDefault<WordHasher>>> =
        RefCell::default();
}

/// A hasher for keys of machine words (addresses): multiply and rotate, no SipHash.
#[derive(Default)]
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

fn word(s: &'static str) -> [usize; 2] {
    [s.as_ptr() as usize, s.len()]
}

impl Metrics {
    /// The request counter and latency histogram of one label set, from this worker's cache.
    fn http_series(
        &self,
        route: &'static str,
        method: &'static str,
        class: &'static str,
        kind: &'static str,
    ) -> (IntCounter, Histogram) {
        let [r0, r1] = word(route);
        let [m0, m1] = word(method);
        let [c0, c1] = word(class);
        let [k0, k1] = word(kind);
        let key = [self.id as usize, r0, r1, m0, m1, c0, c1, k0, k1];
        SERIES.with(|cache| {
            cache
                .borrow_mut()
                .entry(key)
                .or_insert_with(|| {
                    (
                        self.http_requests
                            .with_label_values(&[route, method, class]),
                        self.http_duration.with_label_values(&[route, method, kind]),
                    )
                })
                .clone()
        })
    }
}

/// Counts every API request by route pattern, method and status class, with its latency;
/// built with the registry's handles (see `http::layer`).
pub struct HttpMetrics(pub std::sync::Arc<Metrics>);

crate::http::layer::layer!(HttpMetrics, middleware);

async fn middleware(
    HttpMetrics(m): &HttpMetrics,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let method = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let res = next.call(req).await?.map_into_boxed_body();
    // The outermost middleware decided the route into the request's context.
    let route = crate::http::Route::of(res.request());
    let kind = latency_kind(route.action, res.request().query_string());
    let class = match res.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let (requests, duration) = m.http_series(route.pattern, method, class, kind);
    requests.inc();
    duration.observe(started.elapsed().as_secs_f64());
    Ok(res)
}

/// The latency class of a request: file transfers and long-polls (`wait` > 0 on a `/v1`
/// status read, the only route that holds on it) take as long as the file or the wait, so
/// they get their own `kind` and leave the p99 of ordinary calls alone. Other routes never
/// parse the query.
fn latency_kind(action: &str, query: &str) -> &'static str {
    match action {
        "download" | "sdk_download" => "download",
        "status"
            if url::form_urlencoded::parse(query.as_bytes())
                .any(|(k, v)| k == "wait" && v.parse::<u64>().is_ok_and(|w| w > 0)) =>
        {
            "long_poll"
        }
        _ => "call",
    }
}

#[cfg(test)]
mod tests {
    use super::latency_kind;

    #[test]
    fn downloads_and_long_polls_have_their_own_latency_kind() {
        assert_eq!(latency_kind("download", ""), "download");
        assert_eq!(latency_kind("sdk_download", "wait=3"), "download");
        assert_eq!(latency_kind("status", "wait=30"), "long_poll");
        assert_eq!(latency_kind("status", "a=1&wait=1"), "long_poll");
        assert_eq!(latency_kind("status", "wait=0"), "call");
        assert_eq!(latency_kind("status", "wait=x"), "call");
        assert_eq!(latency_kind("run", ""), "call");
        // `wait` holds only a /v1 status read; elsewhere it is an ignored parameter.
        assert_eq!(latency_kind("run", "wait=5"), "call");
        assert_eq!(latency_kind("sdk_status", "wait=5"), "call");
    }
}
