//! OAuth token-request parameters the way IdentityNow takes them: from the query string, an
//! `application/x-www-form-urlencoded` body, a `multipart/form-data` body (`curl --form`), or
//! a mix (sailpoint-cli sends `grant_type` in the query and the credentials in the body).
//! Body fields win over query fields of the same name.
use std::collections::HashMap;

pub fn token_params(query: &str, content_type: &str, body: &[u8]) -> HashMap<String, String> {
    let mut params: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let from_body: HashMap<String, String> = if content_type.starts_with("multipart/form-data") {
        multipart_fields(content_type, body)
    } else {
        serde_urlencoded::from_bytes(body).unwrap_or_default()
    };
    params.extend(from_body);
    params
}

/// The text fields of a `multipart/form-data` body: enough for token requests.
fn multipart_fields(content_type: &str, body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return out;
    };
    let boundary = format!(
        "--{}",
        boundary.split(';').next().unwrap_or("").trim_matches('"')
    );
    let text = String::from_utf8_lossy(body);
    for part in text.split(boundary.as_str()) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        if let Some(name) = head
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        {
            out.insert(name.to_owned(), value.trim_end_matches("\r\n").to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_form_and_multipart_fields_are_read_and_the_body_wins() {
        let p = token_params(
            "grant_type=client_credentials&client_id=q",
            "application/x-www-form-urlencoded",
            b"client_id=b&client_secret=s%2Bt",
        );
        assert_eq!(p["grant_type"], "client_credentials");
        assert_eq!(
            (p["client_id"].as_str(), p["client_secret"].as_str()),
            ("b", "s+t")
        );
        let body =
            "--XyZ\r\nContent-Disposition: form-data; name=\"client_id\"\r\n\r\nm\r\n--XyZ--\r\n";
        let p = token_params("", "multipart/form-data; boundary=XyZ", body.as_bytes());
        assert_eq!(p["client_id"], "m");
    }
}
