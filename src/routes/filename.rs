//! Download file names: what goes into `Content-Disposition`.
//!
//! The SDKs read the name with the regex `filename="(.+?)"`, so a quoted ASCII `filename`
//! is always sent; a name with non-ASCII characters also gets RFC 6266's
//! `filename*=UTF-8''…`, which browsers and curl prefer. Upstream's own name keeps its
//! extension (SEARCH_EXPORT files are `Search Export.zip`); a name without one gets the
//! requested format's.
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 5987 `attr-char`s that need no encoding.
const ATTR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// A name with nothing that could end the header or leave the download directory: letters
/// and digits of any script, and ` ._-()`; at most 120 characters; never starting with a dot.
fn cleaned(raw: &str) -> String {
    let kept: String = raw
        .chars()
        .filter(|c| c.is_alphanumeric() || " ._-()".contains(*c))
        .collect();
    let name: String = kept
        .trim()
        .trim_start_matches('.')
        .chars()
        .take(120)
        .collect();
    match name.trim() {
        "" => "report".into(),
        n => n.to_owned(),
    }
}

/// The name's extension: after the last dot, 1 to 5 ASCII letters or digits with at least
/// one letter (`v1.2` is a version, not an extension).
pub(crate) fn extension(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.trim().is_empty()
        && (1..=5).contains(&ext.len())
        && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        && ext.bytes().any(|b| b.is_ascii_alphabetic()))
    .then_some(ext)
}

/// The file name to send: cleaned, with `default_ext` when it has no extension.
pub(crate) fn download_name(raw: &str, default_ext: &str) -> String {
    let mut name = cleaned(raw);
    if extension(&name).is_none() {
        name.push('.');
        name.push_str(default_ext);
    }
    name
}

/// The `Content-Disposition` value for a download named `raw` (given `default_ext` when
/// it has no extension of its own).
pub(crate) fn content_disposition(raw: &str, default_ext: &str) -> String {
    let name = download_name(raw, default_ext);
    if name.is_ascii() {
        return format!("attachment; filename=\"{name}\"");
    }
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(&name, ATTR)
    )
}

/// The file name inside an upstream `Content-Disposition`, preferring RFC 6266's
/// `filename*=UTF-8''…` over the plain `filename`.
pub(crate) fn disposition_filename(value: &str) -> Option<String> {
    let params = value.split(';').map(str::trim);
    let mut plain = None;
    for p in params {
        let Some((key, v)) = p.split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let (charset, rest) = v.trim().split_once('\'')?;
                let (_lang, encoded) = rest.split_once('\'')?;
                if charset.eq_ignore_ascii_case("utf-8") {
                    if let Ok(s) = percent_decode_str(encoded).decode_utf8() {
                        return Some(s.into_owned());
                    }
                }
            }
            "filename" => plain = Some(v.trim().trim_matches('"').to_owned()),
            _ => {}
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_cannot_inject_headers_or_paths() {
        assert_eq!(
            content_disposition("a\"; evil=1\r\nX: y", "csv"),
            "attachment; filename=\"a evil1X y.csv\""
        );
        assert_eq!(download_name("../../etc/passwd", "csv"), "etcpasswd.csv");
        assert_eq!(download_name("", "pdf"), "report.pdf");
        assert_eq!(download_name("...", "pdf"), "report.pdf");
        assert_eq!(download_name("Accounts.CSV", "csv"), "Accounts.CSV");
    }

    #[test]
    fn upstream_extensions_are_kept_and_missing_ones_added() {
        assert_eq!(
            download_name("Search Export.zip", "csv"),
            "Search Export.zip"
        );
        assert_eq!(download_name("Account Export", "csv"), "Account Export.csv");
        assert_eq!(download_name("export v1.2", "pdf"), "export v1.2.pdf");
        assert_eq!(download_name(".zip", "csv"), "zip.csv");
    }

    #[test]
    fn non_ascii_names_get_an_rfc_6266_form_and_an_ascii_fallback() {
        assert_eq!(
            content_disposition("Identitäten Bericht", "csv"),
            "attachment; filename=\"Identit_ten Bericht.csv\"; \
             filename*=UTF-8''Identit%C3%A4ten%20Bericht.csv"
        );
        assert_eq!(
            content_disposition("報告\u{202e}", "pdf"),
            "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E5%A0%B1%E5%91%8A.pdf"
        );
    }

    #[test]
    fn upstream_disposition_names_are_found() {
        let name = |v| disposition_filename(v);
        assert_eq!(
            name("attachment;filename=\"A B.csv\"").as_deref(),
            Some("A B.csv")
        );
        assert_eq!(name("attachment; filename=x.pdf").as_deref(), Some("x.pdf"));
        assert_eq!(
            name("attachment; filename=\"a.zip\"; filename*=UTF-8''%C3%A4.zip").as_deref(),
            Some("ä.zip")
        );
        assert_eq!(name("inline"), None);
    }
}
