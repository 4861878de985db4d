//! `--arg key=value` pairs into the report's `arguments` object.
use serde_json::{Map, Value};

/// Arguments that are arrays upstream: `--arg indices=identities,roles` or repeated.
const ARRAYS: [&str; 3] = ["indices", "selectedFormats", "sort"];
/// Arguments that are booleans upstream.
const BOOLS: [&str; 1] = ["correlatedOnly"];

/// `key=value` (a string, or an array/boolean where the report type wants one) or
/// `key:=JSON` (any JSON value, taken as written).
pub fn arguments(pairs: &[String]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for pair in pairs {
        if let Some((key, json)) = pair.split_once(":=") {
            let v = serde_json::from_str(json)
                .map_err(|e| format!("--arg {pair}: the value after := is not JSON ({e})"))?;
            out.insert(key.to_owned(), v);
            continue;
        }
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--arg {pair}: expected key=value or key:=JSON"))?;
        if key.is_empty() {
            return Err(format!("--arg {pair}: the key is empty"));
        }
        if ARRAYS.contains(&key) {
            let list = out
                .entry(key)
                .or_insert_with(|| Value::Array(vec![]))
                .as_array_mut()
                .ok_or_else(|| format!("--arg {pair}: {key} given twice"))?;
            list.extend(
                value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned())),
            );
        } else if BOOLS.contains(&key) && matches!(value, "true" | "false") {
            out.insert(key.to_owned(), Value::Bool(value == "true"));
        } else if out
            .insert(key.to_owned(), Value::String(value.to_owned()))
            .is_some()
        {
            return Err(format!("--arg {pair}: {key} given twice"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(p: &[&str]) -> Result<Value, String> {
        arguments(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map(Value::Object)
    }

    #[test]
    fn pairs_become_the_types_the_report_wants() {
        assert_eq!(
            args(&[
                "sourceName=Active Directory",
                "application=2c91",
                "indices=identities,roles",
                "indices=events",
                "correlatedOnly=true",
                "query=a=b",
                "sort:=[\"-name\"]",
            ])
            .unwrap(),
            json!({
                "sourceName": "Active Directory", "application": "2c91",
                "indices": ["identities", "roles", "events"], "correlatedOnly": true,
                "query": "a=b", "sort": ["-name"],
            })
        );
    }

    #[test]
    fn malformed_pairs_are_refused_with_the_pair_named() {
        for bad in ["novalue", "=x", "a:=not json"] {
            assert!(args(&[bad]).unwrap_err().contains(bad), "{bad}");
        }
        assert!(args(&["query=a", "query=b"]).unwrap_err().contains("twice"));
    }
}
