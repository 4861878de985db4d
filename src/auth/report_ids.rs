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

    fn mac(&self, owner: &str, upstream: &str) -> String {
        // Length-prefix the owner so that ("ab", "c…") and ("a", "bc…") cannot collide.
        let msg = format!("{}:{owner}:{upstream}", owner.len());
        let tag = hmac::sign(&self.key, msg.as_bytes());
        crate::hex::encode(&tag.as_ref()[..MAC_HEX / 2])
    }

    /// The MAC of a reused id: another domain (the owned message starts with a digit), so
    /// neither kind of id can pass for the other.
    fn reused_mac(&self, owner: &str, upstream: &str) -> String {
        let msg = format!("reused:{}:{owner}:{upstream}", owner.len());
        let tag = hmac::sign(&self.key, msg.as_bytes());
        crate::hex::encode(&tag.as_ref()[..MAC_HEX / 2])
    }

    /// The id handed to `owner` for an upstream report.
    pub fn seal(&self, owner: &str, upstream: &ReportId) -> String {
        format!("{upstream}-{}", self.mac(owner, upstream.as_str()))
    }

    /// The id handed to `owner` for another owner's report it reuses (same shape as
    /// [`seal`](Self::seal); [`open`](Self::open) tells them apart).
    pub fn seal_reused(&self, owner: &str, upstream: &ReportId) -> String {
        format!("{upstream}-{}", self.reused_mac(owner, upstream.as_str()))
    }

    /// Checks an id presented by `owner`.
    pub fn open(&self, owner: &str, presented: &ReportId) -> Opened {
        let Some((upstream, mac)) = presented.as_str().rsplit_once('-') else {
            return Opened::Raw(presented.clone());
        };
        if mac.len() != MAC_HEX || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Opened::Raw(presented.clone());
        }
        let Ok(upstream) = ReportId::parse(upstream) else {
            return Opened::Foreign;
        };
        let mac = mac.to_ascii_lowercase();
        let expected = self.mac(owner, upstream.as_str());
        if constant_time_eq(expected.as_bytes(), mac.as_bytes()) {
            return Opened::Owned(upstream);
        }
        let reused = self.reused_mac(owner, upstream.as_str());
        if constant_time_eq(reused.as_bytes(), mac.as_bytes()) {
            Opened::Reused(upstream)
        } else {
            Opened::Foreign
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
    fn another_key_does_not_open_the_id() {
        let a = ReportIds::new(b"a".repeat(32).as_slice());
        let b = ReportIds::new(b"b".repeat(32).as_slice());
        let sealed = a.seal("t", &id("abc"));
        assert_eq!(b.open("t", &id(&sealed)), Opened::Foreign);
    }
}
