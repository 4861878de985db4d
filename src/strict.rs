//! Keys the configuration does not know. serde ignores them silently (`source:` for
//! `sources:` gave a team every source), and `deny_unknown_fields` stops at the first one and
//! cannot be used with the flattened team policies. Instead the merged layers are walked
//! against the tree of known keys, and every unknown key is reported with its path and the
//! nearest known name.
use crate::problem::{problem, Problem};
use serde_json::Value;

/// Every key of `raw` that `known` does not have, under `path`. Lists are compared element
/// by element against `known`'s first element (a template of one entry).
pub fn unknown_keys(raw: &Value, known: &Value, path: &str, problems: &mut Vec<Problem>) {
    match (raw, known) {
        (Value::Object(raw), Value::Object(known)) => {
            for (key, value) in raw {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match known.get(key) {
                    Some(k) => unknown_keys(value, k, &here, problems),
                    None => problems.push(problem(here, unknown(key, known.keys()))),
                }
            }
        }
        (Value::Array(raw), Value::Array(known)) => {
            if let Some(template) = known.first() {
                for (i, value) in raw.iter().enumerate() {
                    unknown_keys(value, template, &format!("{path}[{i}]"), problems);
                }
            }
        }
        _ => {}
    }
}

fn unknown<'a>(key: &str, known: impl Iterator<Item = &'a String> + Clone) -> String {
    match nearest(key, known.clone().map(String::as_str)) {
        Some(name) => format!("is not a known key; did you mean `{name}`?"),
        None => {
            let all: Vec<&str> = known.map(String::as_str).collect();
            format!("is not a known key (known here: {})", all.join(", "))
        }
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .map(|c| (distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance (insertions, deletions, substitutions), one row at a time.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typos_find_their_key_and_strangers_list_the_known_ones() {
        let known = json!({"limits": {"upstream_safety": 1, "max_wait": 1},
                           "teams": [{"sources": [], "run": []}]});
        let raw = json!({"limits": {"upstream_saftey": 1, "max_wait": 1},
                         "teams": [{"run": []}, {"source": ["x"]}],
                         "zzz": {"a": 1}});
        let mut p = Vec::new();
        unknown_keys(&raw, &known, "", &mut p);
        let shown: Vec<String> = p.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "limits.upstream_saftey: is not a known key; did you mean `upstream_safety`?",
                "teams[1].source: is not a known key; did you mean `sources`?",
                "zzz: is not a known key (known here: limits, teams)",
            ]
        );
    }

    #[test]
    fn the_distance_counts_single_edits() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
        assert_eq!(nearest("verbose", ["trace", "debug"].into_iter()), None);
        assert_eq!(nearest("wran", ["warn", "info"].into_iter()), Some("warn"));
    }
}
