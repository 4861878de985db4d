//! The `/v1` status body of a cached result, rendered once and kept as bytes. Building it
//! on every read (a clone of the parsed result, two timestamps parsed and formatted, the
//! links, serialization) was most of a cached read's handler. The body differs between
//! callers only by the id they presented (owner-bound), so it is rendered once with a
//! placeholder id, which is then cut out; a read copies the pieces around the caller's id.
use super::CachedResult;
use crate::wire::v1::Report;
use bytes::{Bytes, BytesMut};

/// Never a report id (ids are `[A-Za-z0-9_-]`); JSON escapes its control characters.
const SLOT: &str = "\u{1}reportgate-id\u{1}";
const SLOT_JSON: &[u8] = b"\\u0001reportgate-id\\u0001";

/// The rendering with the placeholder cut out, and where each cut was: one allocation
/// per cached result (the memory per entry is a published target).
#[derive(Debug)]
pub struct Rendered {
    json: Box<[u8]>,
    cuts: Box<[u32]>,
}

/// The rendering, or `None` when upstream data itself holds the placeholder text (then
/// the body is rendered per read, as before).
pub fn parts(cached: &CachedResult) -> Option<Rendered> {
    let mut results = cached.results.clone();
    results.id = SLOT.to_owned();
    let report = Report::from_results(&results);
    // The id itself, links.self, links.cancel and one link per file format.
    let expected = 3 + report.files();
    let with_slots = serde_json::to_vec(&report).ok()?;
    let mut json = Vec::with_capacity(with_slots.len());
    let mut cuts = Vec::with_capacity(expected);
    let mut i = 0;
    while i < with_slots.len() {
        if with_slots[i..].starts_with(SLOT_JSON) {
            cuts.push(u32::try_from(json.len()).ok()?);
            i += SLOT_JSON.len();
        } else {
            json.push(with_slots[i]);
            i += 1;
        }
    }
    (cuts.len() == expected).then(|| Rendered {
        json: json.into_boxed_slice(),
        cuts: cuts.into_boxed_slice(),
    })
}

/// The `/v1` report resource of a cached result under the id the caller presented: spliced
/// from the parts rendered on first use, or rendered per read when upstream text holds the
/// placeholder. Status reads and completion callbacks both send this.
pub fn report_body(cached: &CachedResult, id: &str) -> Bytes {
    match cached.v1_parts.get_or_init(|| parts(cached)) {
        Some(p) => body(p, id),
        None => per_read(cached, id),
    }
}

/// The rendering from scratch: the parsed result under `id`, serialized.
fn per_read(cached: &CachedResult, id: &str) -> Bytes {
    let mut results = cached.results.clone();
    results.id = id.to_owned();
    serde_json::to_vec(&Report::from_results(&results))
        .expect("a report serializes")
        .into()
}

/// The body for `id` (an id the caller presented, already checked: no JSON escaping needed).
fn body(r: &Rendered, id: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(r.json.len() + r.cuts.len() * id.len());
    let mut from = 0;
    for &cut in r.cuts.iter() {
        out.extend_from_slice(&r.json[from..cut as usize]);
        out.extend_from_slice(id.as_bytes());
        from = cut as usize;
    }
    out.extend_from_slice(&r.json[from..]);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::models::ReportResults;

    fn cached(json: serde_json::Value) -> CachedResult {
        let results: ReportResults = serde_json::from_value(json).unwrap();
        CachedResult::new(Bytes::new(), results)
    }

    #[test]
    fn the_spliced_body_is_byte_for_byte_the_per_read_rendering() {
        let id = "2c9180835d2e5168015d32f890ca1581-0123456789abcdef0123456789abcdef";
        for json in [
            serde_json::json!({"id": "x", "reportType": "IDENTITIES", "status": "SUCCESS",
                "created": "2026-01-02T03:04:05.678Z", "duration": 1234, "rows": 10,
                "availableFormats": ["CSV", "PDF"]}),
            serde_json::json!({"id": "x", "reportType": "ACCOUNTS", "created": "2026-01-02T03:04:05"}),
            serde_json::json!({"id": "x", "status": "FAILURE", "availableFormats": []}),
        ] {
            let c = cached(json);
            let parts = parts(&c).expect("splittable");
            assert_eq!(body(&parts, id), per_read(&c, id));
            assert_eq!(body(&parts, "a"), per_read(&c, "a"));
        }
    }

    #[test]
    fn upstream_text_holding_the_placeholder_falls_back_to_per_read_rendering() {
        let c = cached(serde_json::json!({"id": "x", "status": "SUCCESS",
            "reportType": SLOT, "availableFormats": ["CSV"]}));
        assert!(parts(&c).is_none());
    }
}
