//! The hash chain over audit lines. A line is the record's JSON with two fields appended by
//! text: `…,"prevHash":"P","hash":"H"}` (+ `,"hmac":"M"` with a key), where
//! H = SHA-256(P + "\n" + the line up to and excluding `,"hash"`), and M = HMAC-SHA256(key, H).
//! Working on the exact text avoids any JSON canonicalization question.
use ring::{digest, hmac};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub use crate::hex::encode as hex;

/// A line's hash (or HMAC) as the 64 hex digits written into the line.
pub type Hex64 = [u8; 64];

fn hash_of(prev: &[u8], body: &[u8]) -> Hex64 {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev);
    ctx.update(b"\n");
    ctx.update(body);
    hex64(ctx.finish().as_ref())
}

fn hex64(digest: &[u8]) -> Hex64 {
    let mut out = [0u8; 64];
    crate::hex::encode_into(digest, &mut out);
    out
}

/// Seals a record (a JSON object without the chain fields) into its line, appended to `out`
/// (no newline), and returns the line's hash. The writer seals a whole batch into one
/// buffer this way: no intermediate strings per record, one write per batch.
pub fn seal_into(
    out: &mut Vec<u8>,
    record_json: &str,
    prev: &Hex64,
    key: Option<&hmac::Key>,
) -> Hex64 {
    let open = record_json.strip_suffix('}').expect("a JSON object");
    let start = out.len();
    out.extend_from_slice(open.as_bytes());
    if !open.trim_end().ends_with('{') {
        out.push(b',');
    }
    out.extend_from_slice(b"\"prevHash\":\"");
    out.extend_from_slice(prev);
    out.push(b'"');
    let hash = hash_of(prev, &out[start..]);
    out.extend_from_slice(b",\"hash\":\"");
    out.extend_from_slice(&hash);
    out.push(b'"');
    if let Some(k) = key {
        out.extend_from_slice(b",\"hmac\":\"");
        out.extend_from_slice(&hex64(hmac::sign(k, &hash).as_ref()));
        out.push(b'"');
    }
    out.push(b'}');
    hash
}

/// Seals one record into its line (no newline) and returns (line, hash).
#[cfg(test)]
pub fn seal(record_json: &str, prev: &str, key: Option<&hmac::Key>) -> (String, String) {
    let prev: Hex64 = prev.as_bytes().try_into().expect("a 64-digit hash");
    let mut out = Vec::with_capacity(record_json.len() + 200);
    let hash = seal_into(&mut out, record_json, &prev, key);
    let text = |b: Vec<u8>| String::from_utf8(b).expect("JSON text and hex digits");
    (text(out), text(hash.to_vec()))
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
    if hash_of(prev.as_bytes(), body.as_bytes()) != hash.as_bytes() {
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
