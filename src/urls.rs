//! URLs in the configuration: which may use plain `http://`, and how they are shown in
//! `config check` output and logs (never with userinfo or a query string, which may carry
//! credentials).
use crate::problem::{problem, Problem};
use url::{Host, Url};

/// A loopback host: 127.0.0.0/8, ::1 or `localhost` (a sidecar, a test simulator).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether `url` is plain http to a host other than loopback: a network attacker on the path
/// could then read what is sent (the client secret) or answer in its place (signing keys).
pub fn is_insecure(url: &Url) -> bool {
    url.scheme() == "http" && !is_loopback(url)
}

/// The problem with a plain-http `url` under `key`, unless it is loopback or the section
/// says `insecure_http: true` (then a warning is logged at start instead).
pub fn require_https(key: &str, url: &Url, insecure_http: bool) -> Option<Problem> {
    (is_insecure(url) && !insecure_http).then(|| {
        problem(
            key,
            format!(
                "must be https:// ({} is plain http to a host other than loopback); \
                 set insecure_http: true next to it to allow it anyway",
                shown(url.as_str())
            ),
        )
    })
}

/// A URL as it may be printed: without userinfo, query or fragment. A URL without them, or
/// a value that is no URL at all, is returned as written.
pub fn shown(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(u)
            if u.username().is_empty()
                && u.password().is_none()
                && u.query().is_none()
                && u.fragment().is_none() =>
        {
            raw.to_owned()
        }
        Ok(mut u) if u.has_host() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        // It may still hold credentials; nothing of it is shown.
        Err(_) if raw.contains("://") => "[unparseable URL]".into(),
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_may_be_plain_http_and_nothing_else_may() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://[::1]:1",
            "http://localhost:3",
            "https://idp.example.com",
        ] {
            assert!(!is_insecure(&Url::parse(ok).unwrap()), "{ok}");
        }
        for bad in [
            "http://idp.example.com",
            "http://10.0.0.1",
            "http://localhost.evil.com",
        ] {
            assert!(is_insecure(&Url::parse(bad).unwrap()), "{bad}");
        }
    }

    #[test]
    fn shown_urls_lose_userinfo_and_query() {
        assert_eq!(
            shown("https://user:pw@idp.example.com/keys?token=abc#x"),
            "https://idp.example.com/keys"
        );
        assert_eq!(shown("not a url"), "not a url");
        assert_eq!(shown("redis://:pw@:x"), "[unparseable URL]");
        assert_eq!(shown("https://idp.example.com"), "https://idp.example.com");
        assert_eq!(
            shown("redis://:pw@cache:6379/0?x=1"),
            "redis://cache:6379/0"
        );
    }
}
