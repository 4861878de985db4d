//! `NO_PROXY` rules: which hosts are reached directly although a proxy is set. The common
//! semantics (curl's, Go's): entries separated by commas or spaces, case-insensitive;
//! `*` bypasses everything; a name matches itself and its subdomains (a leading `.` or `*.`
//! changes nothing); an IP or a CIDR range matches hosts written as IP literals (names are
//! not resolved to compare); `host:port` and `[v6]:port` match that port only. Loopback is not
//! bypassed implicitly.
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Domain(String),
    Ip(IpAddr),
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    pattern: Pattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    everything: bool,
    rules: Vec<Rule>,
}

impl NoProxy {
    /// Parses entries (one per item, or comma/space separated in one string). An entry that
    /// cannot be understood is an error naming it, so a typo does not silently route a host
    /// through (or around) the proxy.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut out = Self::default();
        for raw in entries.into_iter().flat_map(|e| e.split([',', ' ', '\t'])) {
            let entry = raw.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                out.everything = true;
                continue;
            }
            out.rules
                .push(rule(&entry).ok_or_else(|| format!("{raw:?} is not a host, IP or CIDR"))?);
        }
        Ok(out)
    }

    /// Parses an environment's `NO_PROXY`, shared with every other program of the process:
    /// entries this parser does not understand (`<local>`, a typo) are skipped and returned,
    /// to be warned about, instead of stopping the gateway.
    pub fn parse_lenient(value: &str) -> (Self, Vec<String>) {
        let mut skipped = Vec::new();
        let understood: Vec<&str> = value
            .split([',', ' ', '\t'])
            .filter(|e| match Self::parse([*e]) {
                Ok(_) => true,
                Err(_) => {
                    skipped.push(e.trim().to_owned());
                    false
                }
            })
            .collect();
        let parsed = Self::parse(understood).unwrap_or_default();
        (parsed, skipped)
    }

    /// Whether `host` (as in a URL: IPv6 in brackets) on `port` is reached directly.
    pub fn bypasses(&self, host: &str, port: u16) -> bool {
        if self.everything {
            return true;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ip: Option<IpAddr> = bare.parse().ok();
        self.rules.iter().any(|r| {
            r.port.is_none_or(|p| p == port)
                && match (&r.pattern, ip) {
                    (Pattern::Domain(d), None) => {
                        host == *d
                            || host
                                .strip_suffix(d.as_str())
                                .is_some_and(|h| h.ends_with('.'))
                    }
                    (Pattern::Ip(want), Some(ip)) => *want == ip,
                    (Pattern::Cidr(net, bits), Some(ip)) => in_range(ip, *net, *bits),
                    _ => false,
                }
        })
    }
}

fn rule(entry: &str) -> Option<Rule> {
    // A bare IPv6 address has colons of its own: try the whole entry as an IP first.
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(Rule {
            pattern: Pattern::Ip(ip),
            port: None,
        });
    }
    // A CIDR range (v6 ones have colons too), without a port.
    if let Some((net, bits)) = entry.split_once('/') {
        let net: IpAddr = net.parse().ok()?;
        let bits: u8 = bits.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        return (bits <= max).then_some(Rule {
            pattern: Pattern::Cidr(net, bits),
            port: None,
        });
    }
    let (host, port) = match entry.strip_prefix('[') {
        Some(rest) => {
            let (ip, after) = rest.split_once(']')?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?.parse().ok()?),
            };
            return Some(Rule {
                pattern: Pattern::Ip(ip.parse().ok()?),
                port,
            });
        }
        None => match entry.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p.parse::<u16>().ok()?)),
            Some(_) => return None,
            None => (entry, None),
        },
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(Rule {
            pattern: Pattern::Ip(ip),
            port,
        });
    }
    let domain = host.trim_start_matches('*').trim_start_matches('.');
    let valid = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    valid.then(|| Rule {
        pattern: Pattern::Domain(domain.trim_end_matches('.').to_owned()),
        port,
    })
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (a, b, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= width || (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn np(s: &str) -> NoProxy {
        NoProxy::parse([s]).unwrap()
    }

    #[test]
    fn a_name_matches_itself_and_its_subdomains_whatever_its_leading_dot() {
        for entry in [
            "corp.example",
            ".corp.example",
            "*.corp.example",
            "CORP.example",
        ] {
            let n = np(entry);
            assert!(n.bypasses("corp.example", 443), "{entry}");
            assert!(n.bypasses("api.corp.example", 443), "{entry}");
            assert!(n.bypasses("API.Corp.Example.", 443), "{entry}");
            assert!(!n.bypasses("notcorp.example", 443), "{entry}");
            assert!(!n.bypasses("corp.example.evil", 443), "{entry}");
        }
    }

    #[test]
    fn a_star_bypasses_everything_and_an_empty_list_nothing() {
        assert!(np("*").bypasses("acme.api.identitynow.com", 443));
        assert!(np("a.example, *").bypasses("10.1.2.3", 80));
        assert!(!np("").bypasses("localhost", 443));
        assert!(!NoProxy::default().bypasses("127.0.0.1", 443));
    }

    #[test]
    fn ips_and_cidr_ranges_match_ip_literals_only() {
        let n = np("10.0.0.0/8 192.168.1.5,::1, fd00::/8");
        assert!(n.bypasses("10.20.30.40", 443));
        assert!(!n.bypasses("11.0.0.1", 443));
        assert!(n.bypasses("192.168.1.5", 8080));
        assert!(!n.bypasses("192.168.1.6", 8080));
        assert!(n.bypasses("[::1]", 443));
        assert!(n.bypasses("[fd12:3456::1]", 443));
        assert!(!n.bypasses("[fe80::1]", 443));
        // Names are not resolved to be compared with IPs.
        assert!(!n.bypasses("localhost", 443));
        assert!(np("0.0.0.0/0").bypasses("8.8.8.8", 443));
    }

    #[test]
    fn a_port_narrows_an_entry_to_that_port() {
        let n = np("localhost:8443, [::1]:9000, 127.0.0.1:80");
        assert!(n.bypasses("localhost", 8443));
        assert!(!n.bypasses("localhost", 443));
        assert!(n.bypasses("[::1]", 9000));
        assert!(!n.bypasses("[::1]", 9001));
        assert!(n.bypasses("127.0.0.1", 80));
        assert!(!n.bypasses("127.0.0.1", 443));
    }

    #[test]
    fn an_environment_value_skips_what_it_cannot_read_and_keeps_the_rest() {
        let (n, skipped) = NoProxy::parse_lenient("<local>, .svc,10.0.0.0/8 a:b:c");
        assert_eq!(skipped, vec!["<local>", "a:b:c"]);
        assert!(n.bypasses("api.ns.svc", 443));
        assert!(n.bypasses("10.9.9.9", 443));
        assert!(!n.bypasses("acme.api.identitynow.com", 443));
    }

    #[test]
    fn entries_that_are_no_host_are_refused_with_their_text() {
        for bad in [
            "host:port",
            "10.0.0.0/33",
            "[::1",
            "a b/c",
            "http://x",
            "::1]:80",
        ] {
            assert!(NoProxy::parse([bad]).is_err(), "{bad}");
        }
    }
}
