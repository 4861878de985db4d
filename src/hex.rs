//! Lowercase hex, written straight into one String (hashes, MACs and ids are hexed on
//! every request; a `format!` per byte showed in profiles).
const DIGITS: &[u8; 16] = b"0123456789abcdef";

pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Hex into a caller's buffer of twice the input's length (no allocation).
pub fn encode_into(bytes: &[u8], out: &mut [u8]) {
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_byte_is_two_lowercase_digits() {
        let all: Vec<u8> = (0..=255).collect();
        let slow: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::encode(&all), slow);
        assert_eq!(super::encode(&[]), "");
        let mut buf = vec![0u8; 512];
        super::encode_into(&all, &mut buf);
        assert_eq!(buf, slow.as_bytes());
    }
}
