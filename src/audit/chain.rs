//! The hash chain over audit lines. A line is the record's JSON with two fields appended by
//! text: `…,"prevHash":"P","hash":"H"}` (+ `,"hmac":"M"` with a key), where
//! H = SHA-256(P + "\n" + the line up to and excluding `,"hash"`), and M = HMAC-SHA256(key, H).
//! Working on the exact text avoids any JSON canonicalization question.
use ring::{digest, hmac};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub use crate::hex::encode as hex;

fn hash_of(prev: &str, body: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev.as_bytes());
    ctx.update(b"\n");
    ctx.update(body.as_bytes());
    hex(ctx.finish().as_ref())
}

/// Seals a record (a JSON object without the chain fields) into its line (no newline).
pub fn seal(record_json: &str, prev: &str, key: Option<&hmac::Key>) -> (String, String) {
    let open = record_json.strip_suffix('}').expect("a JSON object");
    let sep = if open.trim_end().ends_with('{') {
        ""
    } else {
        ","
    };
    let body = format!("{open}{sep}\"prevHash\":\"{prev}\"");
    let hash = hash_of(prev, &body);
    let line = match key {
        Some(k) => format!(
            "{body},\"hash\":\"{hash}\",\"hmac\":\"{}\"}}",
            hex(hmac::sign(k, hash.as_bytes()).as_ref())
        ),
        None => format!("{body},\"hash\":\"{hash}\"}}"),
    };
    (line, hash)
}

/// What is wrong with one line, if anything. Returns the line's hash when it is intact.
pub fn check(line: &str, prev: &str, key: Option<&hmac::Key>) -> Result<String, String> {
    let idx = line.rfind(",\"hash\":\"").ok_or("no hash field")?;
    let body = &line[..idx];
    let rest = &line[idx + 9..];
    let hash = rest.get(..64).ok_or("truncated hash")?;
    let tail = &rest[64..];
    let claimed_prev = body
        .rfind("\"prevHash\":\"")
        .and_then(|i| body.get(i + 12..i + 12 + 64))
        .ok_or("no prevHash field")?;
    if claimed_prev != prev {
        return Err(
            "prevHash does not match the previous record (deleted, inserted or reordered)".into(),
        );
    }
    if hash_of(prev, body) != hash {
        return Err("hash does not match the content (edited)".into());
    }
    if !tail.starts_with('"') {
        return Err("malformed chain fields".into());
    }
    if let Some(k) = key {
        let mac = tail
            .strip_prefix("\",\"hmac\":\"")
            .and_then(|m| m.strip_suffix("\"}"))
            .ok_or("no hmac field")?;
        if mac != hex(hmac::sign(k, hash.as_bytes()).as_ref()) {
            return Err("hmac does not match (forged with the wrong key)".into());
        }
    }
    Ok(hash.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_line_checks_and_any_edit_is_caught() {
        let (line, hash) = seal(r#"{"a":1,"b":"x"}"#, GENESIS, None);
        assert_eq!(check(&line, GENESIS, None), Ok(hash.clone()));
        let edited = line.replace("\"a\":1", "\"a\":2");
        assert!(check(&edited, GENESIS, None)
            .unwrap_err()
            .contains("edited"));
        let (next, _) = seal(r#"{"a":2}"#, &hash, None);
        assert!(check(&next, GENESIS, None)
            .unwrap_err()
            .contains("prevHash"));
    }

    #[test]
    fn the_hmac_binds_the_line_to_the_key() {
        let k1 = hmac::Key::new(hmac::HMAC_SHA256, b"one");
        let k2 = hmac::Key::new(hmac::HMAC_SHA256, b"two");
        let (line, _) = seal(r#"{"a":1}"#, GENESIS, Some(&k1));
        assert!(check(&line, GENESIS, Some(&k1)).is_ok());
        assert!(check(&line, GENESIS, Some(&k2)).is_err());
    }
}
