//! Report ids bound to their owner, with no shared state: the id a caller sees is the
//! upstream id plus a keyed MAC over (owner, upstream id). Any replica holding the same key
//! can check it; a restart changes nothing; another owner's MAC never matches.
use crate::domain::ReportId;
use ring::hmac;

/// Hex digits of the MAC suffix (128 bits).
const MAC_HEX: usize = 32;

#[derive(Clone)]
pub struct ReportIds {
    key: hmac::Key,
}

/// What an id presented by a caller turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// A gateway id of this owner: the upstream id inside it.
    Owned(ReportId),
    /// Not a gateway id (e.g. a report started in the IdentityNow UI).
    Raw(ReportId),
    /// An id sealed for this owner over another owner's report (`maxAge` reuse): readable
    /// like its own, but the task is not this owner's to cancel.
    Reused(ReportId),
    /// A gateway id of someone else, or a tampered one.
    Foreign,
}

impl ReportIds {
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// The MAC of an owned id: HMAC over `{owner length}:{owner}:{upstream}`, fed to the
    /// HMAC in pieces (no message string; it runs on every read of an id). The length
    /// prefix keeps ("ab", "c…") and ("a", "bc…") apart.
    fn mac(&self, owner: &str, upstream: &str) -> Tag {
        self.tag(b"", owner, upstream)
    }

    /// The MAC of a reused id: another domain (the owned message starts with a digit), so
    /// neither kind of id can pass for the other.
    fn reused_mac(&self, owner: &str, upstream: &str) -> Tag {
        self.tag(b"reused:", owner, upstream)
    }

    fn tag(&self, domain: &[u8], owner: &str, upstream: &str) -> Tag {
        let mut len = [0u8; 20];
        let len = decimal(owner.len(), &mut len);
        let mut ctx = hmac::Context::with_key(&self.key);
        for piece in [
            domain,
            len,
            b":",
            owner.as_bytes(),
            b":",
            upstream.as_bytes(),
        ] {
            ctx.update(piece);
        }
        let mut tag = [0u8; MAC_HEX / 2];
        tag.copy_from_slice(&ctx.sign().as_ref()[..MAC_HEX / 2]);
        tag
    }

    fn suffix(tag: &Tag) -> String {
        crate::hex::encode(tag)
    }

    /// The id handed to `owner` for an upstream report.
    pub fn seal(&self, owner: &str, upstream: &ReportId) -> String {
        format!(
            "{upstream}-{}",
            Self::suffix(&self.mac(owner, upstream.as_str()))
        )
    }

    /// The id handed to `owner` for another owner's report it reuses (same shape as
    /// [`seal`](Self::seal); [`open`](Self::open) tells them apart).
    pub fn seal_reused(&self, owner: &str, upstream: &ReportId) -> String {
        format!(
            "{upstream}-{}",
            Self::suffix(&self.reused_mac(owner, upstream.as_str()))
        )
    }

    /// Checks an id presented by `owner`.
    pub fn open(&self, owner: &str, presented: &ReportId) -> Opened {
        let Some((upstream, mac)) = presented.as_str().rsplit_once('-') else {
            return Opened::Raw(presented.clone());
        };
        let Some(mac) = unhex(mac) else {
            return Opened::Raw(presented.clone());
        };
        let Ok(upstream) = ReportId::parse(upstream) else {
            return Opened::Foreign;
        };
        if constant_time_eq(&self.mac(owner, upstream.as_str()), &mac) {
            return Opened::Owned(upstream);
        }
        if constant_time_eq(&self.reused_mac(owner, upstream.as_str()), &mac) {
            Opened::Reused(upstream)
        } else {
            Opened::Foreign
        }
    }
}

/// The MAC part of an id: 128 bits.
type Tag = [u8; MAC_HEX / 2];

/// The MAC suffix as bytes, if it is 32 hex digits (either case, as before).
fn unhex(mac: &str) -> Option<Tag> {
    let digits = mac.as_bytes();
    if digits.len() != MAC_HEX {
        return None;
    }
    let nibble = |d: u8| char::from(d).to_digit(16).map(|v| v as u8);
    let mut tag = [0u8; MAC_HEX / 2];
    for (t, pair) in tag.iter_mut().zip(digits.chunks_exact(2)) {
        *t = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(tag)
}

/// `n` in decimal, written into `buf`.
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of a MAC was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ReportId {
        ReportId::parse(s).unwrap()
    }

    #[test]
    fn an_owner_opens_its_own_ids_and_nobody_else_does() {
        let ids = ReportIds::new(b"k".repeat(32).as_slice());
        let up = id("ef38f94347e94562b5bb8424a56397d8");
        let sealed = ids.seal("team-a", &up);
        assert_eq!(ids.open("team-a", &id(&sealed)), Opened::Owned(up.clone()));
        assert_eq!(ids.open("team-b", &id(&sealed)), Opened::Foreign);
        assert_eq!(ids.open("team-a", &up), Opened::Raw(up));
    }

    #[test]
    fn a_reused_id_opens_as_reused_for_its_owner_only() {
        let ids = ReportIds::new(b"k".repeat(32).as_slice());
        let up = id("ef38f94347e94562b5bb8424a56397d8");
        let reused = ids.seal_reused("team-b", &up);
        assert_ne!(reused, ids.seal("team-b", &up));
        assert_eq!(ids.open("team-b", &id(&reused)), Opened::Reused(up.clone()));
        assert_eq!(ids.open("team-a", &id(&reused)), Opened::Foreign);
        assert_eq!(
            ids.open("team-b", &id(&ids.seal("team-b", &up))),
            Opened::Owned(up)
        );
    }

    #[test]
    fn tampering_with_either_half_is_detected() {
        let ids = ReportIds::new(b"k".repeat(32).as_slice());
        let sealed = ids.seal("team-a", &id("ef38f94347e94562b5bb8424a56397d8"));
        let other_report = format!("ef38f94347e94562b5bb8424a56397d9{}", &sealed[32..]);
        assert_eq!(ids.open("team-a", &id(&other_report)), Opened::Foreign);
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            ids.open("team-a", &id(&String::from_utf8(flipped).unwrap())),
            Opened::Foreign
        );
    }

    #[test]
    fn the_mac_is_the_one_ids_were_sealed_with_before_it_was_fed_in_pieces() {
        // The MAC used to be computed over one formatted message; ids handed out then must
        // still open, and new ones must be the same bytes.
        let key = b"k".repeat(32);
        let ids = ReportIds::new(&key);
        let k = hmac::Key::new(hmac::HMAC_SHA256, &key);
        let old = |msg: String| crate::hex::encode(&hmac::sign(&k, msg.as_bytes()).as_ref()[..16]);
        let up = id("ef38f94347e94562b5bb8424a56397d8");
        for owner in ["team-a", "", "5:bench-hs6:caller"] {
            let n = owner.len();
            assert_eq!(
                ids.seal(owner, &up),
                format!("{up}-{}", old(format!("{n}:{owner}:{up}")))
            );
            assert_eq!(
                ids.seal_reused(owner, &up),
                format!("{up}-{}", old(format!("reused:{n}:{owner}:{up}")))
            );
        }
        let upper = ids.seal("t", &up).to_ascii_uppercase();
        let upper = format!("{}{}", &up.as_str(), &upper[32..]);
        assert_eq!(ids.open("t", &id(&upper)), Opened::Owned(up));
    }

    #[test]
    fn another_key_does_not_open_the_id() {
        let a = ReportIds::new(b"a".repeat(32).as_slice());
        let b = ReportIds::new(b"b".repeat(32).as_slice());
        let sealed = a.seal("t", &id("abc"));
        assert_eq!(b.open("t", &id(&sealed)), Opened::Foreign);
    }
}
