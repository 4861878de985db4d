//! One audit record, as a typed struct written straight to its JSON line by a small encoder:
//! the field names are literals, strings that need no escaping (nearly all: ids, teams,
//! addresses) are copied as they are, and numbers are written without the formatter. Serde's
//! derive stays as the reference: a test checks the encoder byte for byte against it.
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub time: String,
    pub request_id: String,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub method: String,
    pub api: &'static str,
    pub action: &'static str,
    pub caller: String,
    pub team: String,
    pub report_id: Option<String>,
    pub upstream_id: Option<String>,
    pub report_type: Option<String>,
    pub arguments: Option<Value>,
    pub outcome: &'static str,
    pub status: u16,
    pub upstream_status: Option<u16>,
    pub tracking_id: Option<String>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
    /// A run answered with another run's report (`maxAge`): that report's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
}

/// The record time: UTC, milliseconds, as `2026-12-06T11:40:00.123Z` (chrono's RFC 3339
/// with `SecondsFormat::Millis` and `Z`), written from the civil date without chrono's
/// formatter (1,800 instructions per record).
pub fn now() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_millis(since.as_secs() as i64, since.subsec_millis())
}

fn rfc3339_millis(secs: i64, millis: u32) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        // Outside four-digit years chrono writes a sign; such clocks are not worth a fast path.
        return chrono::DateTime::from_timestamp(secs, millis * 1_000_000)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    }
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u32);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, (rem / 3600) as u32);
    put(14, 2, (rem % 3600 / 60) as u32);
    put(17, 2, (rem % 60) as u32);
    put(20, 3, millis);
    String::from_utf8(b.to_vec()).expect("ASCII digits")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A client address as `Display` writes it; IPv4 without the formatter (1,300 instructions
/// per record through `to_string`).
pub fn address(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut out = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                number(&mut out, octet);
            }
            out
        }
        v6 => v6.to_string(),
    }
}

impl Event {
    pub fn line(&self) -> String {
        let mut out = String::with_capacity(448);
        out.push_str("{\"time\":");
        string(&mut out, &self.time);
        out.push_str(",\"requestId\":");
        string(&mut out, &self.request_id);
        out.push_str(",\"clientAddr\":");
        opt_string(&mut out, self.client_addr.as_deref());
        out.push_str(",\"userAgent\":");
        opt_string(&mut out, self.user_agent.as_deref());
        out.push_str(",\"method\":");
        string(&mut out, &self.method);
        out.push_str(",\"api\":");
        string(&mut out, self.api);
        out.push_str(",\"action\":");
        string(&mut out, self.action);
        out.push_str(",\"caller\":");
        string(&mut out, &self.caller);
        out.push_str(",\"team\":");
        string(&mut out, &self.team);
        out.push_str(",\"reportId\":");
        opt_string(&mut out, self.report_id.as_deref());
        out.push_str(",\"upstreamId\":");
        opt_string(&mut out, self.upstream_id.as_deref());
        out.push_str(",\"reportType\":");
        opt_string(&mut out, self.report_type.as_deref());
        out.push_str(",\"arguments\":");
        match &self.arguments {
            Some(v) => out.push_str(&serde_json::to_string(v).expect("JSON value")),
            None => out.push_str("null"),
        }
        out.push_str(",\"outcome\":");
        string(&mut out, self.outcome);
        out.push_str(",\"status\":");
        number(&mut out, self.status);
        out.push_str(",\"upstreamStatus\":");
        match self.upstream_status {
            Some(s) => number(&mut out, s),
            None => out.push_str("null"),
        }
        out.push_str(",\"trackingId\":");
        opt_string(&mut out, self.tracking_id.as_deref());
        out.push_str(",\"durationMs\":");
        number(&mut out, self.duration_ms);
        if let Some(r) = self.reason {
            out.push_str(",\"reason\":");
            string(&mut out, r);
        }
        if let Some(p) = self.phase {
            out.push_str(",\"phase\":");
            string(&mut out, p);
        }
        if let Some(b) = self.bytes {
            out.push_str(",\"bytes\":");
            number(&mut out, b);
        }
        if let Some(c) = self.completed {
            out.push_str(if c {
                ",\"completed\":true"
            } else {
                ",\"completed\":false"
            });
        }
        if let Some(r) = &self.reused_from {
            out.push_str(",\"reusedFrom\":");
            string(&mut out, r);
        }
        out.push('}');
        out
    }

    /// The request was refused because the audit trail could not keep its record.
    pub fn refused(mut self) -> Self {
        self.outcome = "error";
        self.status = 503;
        self.reason = Some("audit_unavailable");
        self
    }
}

/// A JSON string as serde_json writes it: copied as is unless it holds a quote, a backslash
/// or a control character, which serde_json escapes (then serde_json writes it).
fn string(out: &mut String, s: &str) {
    let plain = s
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("a string serializes"));
    }
}

fn opt_string(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.push_str("null"),
    }
}

fn number(out: &mut String, n: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        Event {
            time: now(),
            request_id: "0123456789abcdef0123456789abcdef".into(),
            client_addr: Some("127.0.0.1".into()),
            user_agent: Some("wrk".into()),
            method: "GET".into(),
            api: "v1",
            action: "status",
            caller: "bench".into(),
            team: "bench".into(),
            report_id: Some("ef38f94347e94562b5bb8424a56397d8-0123".into()),
            upstream_id: Some("ef38f94347e94562b5bb8424a56397d8".into()),
            report_type: None,
            arguments: None,
            outcome: "allowed",
            status: 200,
            upstream_status: None,
            tracking_id: None,
            duration_ms: 0,
            reason: None,
            phase: None,
            bytes: None,
            completed: None,
            reused_from: None,
        }
    }

    #[test]
    fn the_encoder_writes_what_serde_writes() {
        let odd = [
            "plain",
            "",
            "quo\"te",
            "back\\slash",
            "line\nbreak\ttab\r\u{0}\u{1f}",
            "del\u{7f}",
            "ünïcödé ✓ \u{2028}",
            "</script>",
        ];
        for (i, s) in odd.iter().enumerate() {
            let mut e = sample();
            e.caller = s.to_string();
            e.team = s.to_string();
            e.user_agent = (i % 2 == 0).then(|| s.to_string());
            e.client_addr = (i % 3 == 0).then(|| "::1".into());
            e.report_type = Some(s.to_string());
            e.arguments = (i % 2 == 1).then(|| serde_json::json!({"k": s, "n": [1, 2.5, null]}));
            e.upstream_status = (i % 2 == 0).then_some(502);
            e.tracking_id = Some(s.to_string());
            e.duration_ms = u64::MAX >> i;
            e.reason = (i % 2 == 0).then_some("audit_unavailable");
            e.phase = (i % 3 == 1).then_some("end");
            e.bytes = (i % 3 == 1).then_some(1 << 40);
            e.completed = (i % 3 == 1).then_some(i % 2 == 0);
            e.reused_from = (i % 4 == 1).then(|| s.to_string());
            assert_eq!(e.line(), serde_json::to_string(&e).unwrap(), "{s:?}");
        }
        let e = sample();
        assert_eq!(e.line(), serde_json::to_string(&e).unwrap());
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "10.20.3.4",
            "::1",
            "fe80::1",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(address(ip), ip.to_string());
        }
    }

    #[test]
    fn the_time_is_written_as_chrono_writes_it() {
        let chrono_at = |secs: i64, ms: u32| {
            chrono::DateTime::from_timestamp(secs, ms * 1_000_000)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let mut secs: i64 = 0;
        // Every day boundary and leap year from 1970 to 2400, and a spread of times of day.
        while secs < 13_569_465_600 {
            for (s, ms) in [(secs, 0), (secs + 86_399, 999), (secs + 45_296, 7)] {
                assert_eq!(rfc3339_millis(s, ms), chrono_at(s, ms));
            }
            secs += 86_400 * 7 + 3_601;
        }
        for s in [951_782_400, 951_868_799, 4_107_542_400, 253_402_300_799] {
            assert_eq!(rfc3339_millis(s, 123), chrono_at(s, 123));
        }
        let t = now();
        assert_eq!(t.len(), 24);
        assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok());
    }
}
