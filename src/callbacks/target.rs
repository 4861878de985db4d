//! Where a callback may go: under one of the team's URL prefixes, and (unless the team
//! allows it) never to a loopback, private, link-local or otherwise internal address, both
//! when the run is accepted and when each attempt connects (a resolver that refuses such
//! addresses, so DNS answers that change later cannot redirect a delivery inward).
use actix_tls::connect::Resolve;
use futures_util::future::LocalBoxFuture;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use url::Url;

/// A configured prefix: an absolute http(s) URL without credentials, query or fragment.
pub fn prefix(raw: &str) -> Result<Url, String> {
    let u = Url::parse(raw).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    if u.host_str().is_none() || !u.username().is_empty() || u.password().is_some() {
        return Err("must name a host and carry no credentials".into());
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(u)
}

/// Whether `url` lies under `prefix`: same scheme, host and port, and a path that is the
/// prefix's or continues it at a `/` (so `https://h/a` does not admit `https://h/ab`, and
/// `https://h` does not admit `https://h.evil.example`).
pub fn under(url: &Url, prefix: &Url) -> bool {
    if url.scheme() != prefix.scheme()
        || url.host_str().map(str::to_ascii_lowercase)
            != prefix.host_str().map(str::to_ascii_lowercase)
        || url.port_or_known_default() != prefix.port_or_known_default()
    {
        return false;
    }
    let (path, base) = (url.path(), prefix.path());
    path == base
        || base.ends_with('/') && path.starts_with(base)
        || path
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Checks a callback URL against the team's rules (no network access).
pub fn allowed(raw: &str, prefixes: &[String]) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("callback.url is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("callback.url must not carry credentials".into());
    }
    if url.fragment().is_some() {
        return Err("callback.url must not have a fragment".into());
    }
    if !prefixes
        .iter()
        .filter_map(|p| prefix(p).ok())
        .any(|p| under(&url, &p))
    {
        return Err("callback.url is not under one of your team's allowed callback URLs".into());
    }
    Ok(url)
}

/// Addresses a callback must not reach unless the team allows it.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64: may lead anywhere inside
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // includes 169.254.169.254, the cloud metadata service
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // carrier-grade NAT
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240
}

/// Why a callback host cannot be used.
#[derive(Debug)]
pub enum Unusable {
    Unresolvable(String),
    Internal(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unresolvable(m) | Self::Internal(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Unusable {}

/// Resolves `host:port` (blocking; run it off the event loop) and keeps the addresses a
/// callback may reach. An error names why nothing is left.
pub fn resolve(host: &str, port: u16, allow_internal: bool) -> Result<Vec<SocketAddr>, Unusable> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (host, port)
            .to_socket_addrs()
            .map_err(|e| {
                Unusable::Unresolvable(format!("callback host {host} does not resolve: {e}"))
            })?
            .collect(),
    };
    let kept: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| allow_internal || !internal(a.ip()))
        .collect();
    if kept.is_empty() {
        return Err(Unusable::Internal(format!(
            "callback host {host} resolves only to loopback, private or other internal addresses"
        )));
    }
    Ok(kept)
}

/// awc's resolver for deliveries: the same rule at connect time.
pub struct Guarded {
    pub allow_internal: bool,
}

impl Resolve for Guarded {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        let (host, allow) = (host.to_owned(), self.allow_internal);
        Box::pin(async move {
            actix_web::web::block(move || resolve(&host, port, allow))
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)?
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_urls_under_a_prefix_are_allowed() {
        let p = vec!["https://hooks.example.com/reports".to_string()];
        for ok in [
            "https://hooks.example.com/reports",
            "https://hooks.example.com/reports/team-a?x=1",
            "https://HOOKS.example.com:443/reports/x",
        ] {
            assert!(allowed(ok, &p).is_ok(), "{ok}");
        }
        for bad in [
            "https://hooks.example.com/reportsX",
            "https://hooks.example.com.evil.example/reports",
            "http://hooks.example.com/reports",
            "https://hooks.example.com:8443/reports",
            "https://user:pw@hooks.example.com/reports",
            "https://hooks.example.com/other",
            "not a url",
        ] {
            assert!(allowed(bad, &p).is_err(), "{bad}");
        }
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            assert!(!internal(ip.parse().unwrap()), "{ip}");
        }
        assert!(resolve("127.0.0.1", 80, false).is_err());
        assert!(resolve("[::1]", 80, false).is_err());
        assert_eq!(resolve("127.0.0.1", 80, true).unwrap().len(), 1);
    }
}
