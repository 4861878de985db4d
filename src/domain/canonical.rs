//! The canonical form of a run request, so that two requests that make upstream produce the
//! same export compare equal (`maxAge` reuse): object keys in one order at every depth, an
//! argument given as `null` the same as one left out (the validator and upstream read both
//! as absent), and the set-valued arguments (`indices`, `selectedFormats`) sorted without
//! duplicates. Nothing else is touched: string values are compared as written (a query's
//! case or spacing may matter upstream), `sort` and `columns` keep their order (it is the
//! export's order), and no argument is assumed to have a default.
use serde_json::Value;

/// Arguments whose value is a set: order and repeats do not change the export.
const SET_ARGUMENTS: [&str; 2] = ["indices", "selectedFormats"];

/// A digest (hex SHA-256) of the canonical form of upstream `ReportDetails`
/// (`{"reportType", "arguments"}`).
pub fn fingerprint(report_type: &str, arguments: Option<&Value>) -> String {
    let mut out = String::new();
    out.push_str(&serde_json::to_string(report_type).expect("a string serializes"));
    out.push('\n');
    let args = arguments.and_then(Value::as_object);
    let mut names: Vec<&String> = args
        .into_iter()
        .flatten()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k)
        .collect();
    names.sort();
    for name in names {
        let v = &args.expect("names come from args")[name];
        write_key(&mut out, name);
        match v.as_array() {
            Some(items) if SET_ARGUMENTS.contains(&name.as_str()) => {
                let mut items: Vec<String> = items.iter().map(canonical).collect();
                items.sort();
                items.dedup();
                out.push('[');
                out.push_str(&items.join(","));
                out.push(']');
            }
            _ => out.push_str(&canonical(v)),
        }
        out.push('\n');
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, out.as_bytes());
    crate::hex::encode(digest.as_ref())
}

fn write_key(out: &mut String, k: &str) {
    out.push_str(&serde_json::to_string(k).expect("a string serializes"));
    out.push(':');
}

/// JSON with object keys sorted at every depth, whatever map order serde_json was built with.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    let mut s = String::new();
                    write_key(&mut s, k);
                    s.push_str(&canonical(&m[k]));
                    s
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fp(t: &str, args: Value) -> String {
        fingerprint(t, Some(&args))
    }

    #[test]
    fn key_order_nulls_and_set_order_do_not_make_another_request() {
        let a = fp(
            "SEARCH_EXPORT",
            json!({"query": "name:a*", "indices": ["roles", "identities"], "columns": null}),
        );
        let b: Value = serde_json::from_str(
            r#"{"indices": ["identities", "roles", "identities"], "query": "name:a*"}"#,
        )
        .unwrap();
        assert_eq!(a, fp("SEARCH_EXPORT", b));
        assert_eq!(fingerprint("IDENTITIES", None), fp("IDENTITIES", json!({})));
        assert_eq!(
            fp(
                "ORPHAN_IDENTITIES",
                json!({"selectedFormats": ["PDF", "CSV"]})
            ),
            fp(
                "ORPHAN_IDENTITIES",
                json!({"selectedFormats": ["CSV", "PDF"]})
            )
        );
    }

    #[test]
    fn what_changes_the_export_makes_another_request() {
        let base = fp(
            "SEARCH_EXPORT",
            json!({"query": "name:a*", "sort": ["a", "b"]}),
        );
        for other in [
            fp(
                "SEARCH_EXPORT",
                json!({"query": "name:A*", "sort": ["a", "b"]}),
            ),
            fp(
                "SEARCH_EXPORT",
                json!({"query": "name:a* ", "sort": ["a", "b"]}),
            ),
            fp(
                "SEARCH_EXPORT",
                json!({"query": "name:a*", "sort": ["b", "a"]}),
            ),
            fp("SEARCH_EXPORT", json!({"query": "name:a*"})),
            fp(
                "IDENTITIES",
                json!({"query": "name:a*", "sort": ["a", "b"]}),
            ),
        ] {
            assert_ne!(base, other);
        }
        // No default is assumed: an absent optional argument is not `false`.
        assert_ne!(
            fp("IDENTITIES", json!({})),
            fp("IDENTITIES", json!({"correlatedOnly": false}))
        );
    }

    #[test]
    fn nested_objects_compare_in_canonical_key_order() {
        assert_eq!(
            fp(
                "IDENTITIES",
                json!({"x": {"b": 1, "a": [{"d": 1, "c": 2}]}})
            ),
            fp(
                "IDENTITIES",
                serde_json::from_str(r#"{"x": {"a": [{"c": 2, "d": 1}], "b": 1}}"#).unwrap()
            )
        );
    }
}
