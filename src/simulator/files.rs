//! Deterministic report files: a CSV generated as a stream (any size, flat memory) and a
//! small valid PDF.
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;

/// Every data row is exactly this long (newline included), so size = header + rows × ROW_BYTES.
pub const ROW_BYTES: u64 = 128;
const HEADER: &str = "id,displayName,email,source,notes\n";
const ROWS_PER_CHUNK: u64 = 512;

pub fn csv_len(rows: u64) -> u64 {
    HEADER.len() as u64 + rows * ROW_BYTES
}

/// The number of rows that makes a CSV of about `bytes` bytes.
pub fn rows_for_size(bytes: u64) -> u64 {
    bytes.saturating_sub(HEADER.len() as u64) / ROW_BYTES
}

fn write_row(buf: &mut BytesMut, i: u64, source: &str) {
    let start = buf.len();
    let line = format!("{i:010},User {i:010},user{i:010}@example.com,{source},");
    buf.put_slice(line.as_bytes());
    // Pad to a fixed width so sizes are exact and predictable for any row count.
    let pad = (ROW_BYTES as usize - 1).saturating_sub(buf.len() - start);
    buf.put_bytes(b'x', pad);
    buf.truncate(start + ROW_BYTES as usize - 1);
    buf.put_u8(b'\n');
}

/// The CSV body of a report, produced chunk by chunk on demand.
pub fn csv_stream(rows: u64, source: String) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let source: String = source
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .take(40)
        .collect();
    stream::unfold(None::<u64>, move |next| {
        let source = source.clone();
        async move {
            let mut buf = BytesMut::with_capacity((ROWS_PER_CHUNK * ROW_BYTES) as usize + 64);
            let first = match next {
                None => {
                    buf.put_slice(HEADER.as_bytes());
                    0
                }
                Some(n) if n >= rows => return None,
                Some(n) => n,
            };
            let end = (first + ROWS_PER_CHUNK).min(rows);
            for i in first..end {
                write_row(&mut buf, i, &source);
            }
            Some((Ok(buf.freeze()), Some(end)))
        }
    })
}

/// A minimal, valid one-page PDF naming the report (xref offsets computed, not hard-coded).
pub fn pdf(title: &str, rows: u64) -> Vec<u8> {
    let text: String = format!("{title}: {rows} rows")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " :-".contains(*c))
        .collect();
    let content = format!("BT /F1 18 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{obj}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[actix_rt::test]
    async fn csv_has_a_header_and_exactly_the_promised_rows_and_length() {
        let chunks: Vec<_> = csv_stream(1100, "AD".into()).collect().await;
        let body: Vec<u8> = chunks
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        assert_eq!(body.len() as u64, csv_len(1100));
        let text = String::from_utf8(body).unwrap();
        assert_eq!(text.lines().count(), 1101);
        assert!(text
            .lines()
            .skip(1)
            .all(|l| l.len() as u64 == ROW_BYTES - 1));
    }

    #[test]
    fn pdf_starts_and_ends_like_a_pdf() {
        let p = pdf("Orphan Identities Report", 3);
        assert!(p.starts_with(b"%PDF-1.4"));
        assert!(p.ends_with(b"%%EOF\n"));
    }
}
