//! A SEARCH_EXPORT file: a zip of CSV files, as upstream documents it (SPEC-V3
//! `search-export-report-arguments.yaml`: "a zip file containing csv files").
//!
//! Hand-written rather than the `zip` crate: the simulator needs one narrow thing, a
//! *stored* (uncompressed) archive *streamed* with its exact length known up front, so that
//! a file of any size goes out in flat memory with a `Content-Length`, like the CSVs. The
//! crate writes through `Write + Seek` (or buffers), pulls in compression back ends, and
//! would be a new dependency of the gateway binary for a test double; the format needed
//! here is three fixed records (APPNOTE.TXT 4.3.7, 4.3.12, 4.3.16). CRC-32 comes from
//! `crc32fast`, already in the tree. Each entry's CRC is computed in a first pass over the
//! deterministic CSV, so the local headers carry it (no data descriptors, which some
//! streaming readers refuse for stored entries); archives stay below 4 GiB (no Zip64).
use super::files::{csv_len, csv_stream};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream::{self, Stream, StreamExt};
use std::convert::Infallible;

/// One CSV inside the archive.
pub struct Entry {
    pub name: String,
    pub rows: u64,
    pub source: String,
}

/// MS-DOS date and time (2-second resolution) of a UTC time, as zip headers store them.
fn dos_time(t: chrono::DateTime<chrono::Utc>) -> (u16, u16) {
    use chrono::{Datelike, Timelike};
    let year = t.year().clamp(1980, 2107) as u16;
    let date = ((year - 1980) << 9) | ((t.month() as u16) << 5) | t.day() as u16;
    let time = ((t.hour() as u16) << 11) | ((t.minute() as u16) << 5) | (t.second() as u16 / 2);
    (time, date)
}

/// CRCs already computed, by (rows, source): the CSVs are deterministic, so a second
/// download of a large export starts at once instead of after another pass.
type CrcMemo = std::sync::Mutex<std::collections::HashMap<(u64, String), u32>>;
static CRCS: std::sync::OnceLock<CrcMemo> = std::sync::OnceLock::new();

/// The CRC-32 of an entry's CSV, from the same generator that streams it. Yields between
/// chunks so that a large first pass does not hold the worker thread.
async fn crc_of(rows: u64, source: &str) -> u32 {
    let key = (rows, source.to_owned());
    if let Some(crc) = CRCS.get_or_init(Default::default).lock().unwrap().get(&key) {
        return *crc;
    }
    let mut h = crc32fast::Hasher::new();
    let mut s = std::pin::pin!(csv_stream(rows, source.to_owned()));
    while let Some(Ok(chunk)) = s.next().await {
        h.update(&chunk);
        tokio::task::yield_now().await;
    }
    let crc = h.finalize();
    let mut memo = CRCS.get_or_init(Default::default).lock().unwrap();
    // Bounded: a simulator serves few distinct (size, source) pairs.
    if memo.len() >= 1024 {
        memo.clear();
    }
    memo.insert(key, crc);
    crc
}

const LOCAL: usize = 30;
const CENTRAL: usize = 46;
const END: usize = 22;

/// The archive's exact length.
pub fn zip_len(entries: &[Entry]) -> u64 {
    entries
        .iter()
        .map(|e| (LOCAL + CENTRAL + 2 * e.name.len()) as u64 + csv_len(e.rows))
        .sum::<u64>()
        + END as u64
}

/// Fields shared by the local and the central header, from "version needed" to the name length.
fn common(buf: &mut BytesMut, crc: u32, len: u32, name: &str, at: (u16, u16)) {
    buf.put_u16_le(10); // version needed: 1.0, stored
    buf.put_u16_le(0); // flags
    buf.put_u16_le(0); // method: stored
    buf.put_u16_le(at.0);
    buf.put_u16_le(at.1);
    buf.put_u32_le(crc);
    buf.put_u32_le(len); // compressed size
    buf.put_u32_le(len); // uncompressed size
    buf.put_u16_le(name.len() as u16);
    buf.put_u16_le(0); // extra field length
}

/// The archive, streamed: per entry a local header then its CSV, then the central
/// directory and its end record. Exactly [`zip_len`] bytes.
pub fn zip_stream(
    entries: Vec<Entry>,
    modified: chrono::DateTime<chrono::Utc>,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let at = dos_time(modified);
    stream::once(async move {
        let mut crcs = Vec::with_capacity(entries.len());
        for e in &entries {
            crcs.push(crc_of(e.rows, &e.source).await);
        }
        let mut directory = BytesMut::new();
        let mut offset = 0u32;
        let mut parts = Vec::new();
        for (e, crc) in entries.iter().zip(&crcs) {
            let len = csv_len(e.rows) as u32;
            let mut local = BytesMut::with_capacity(LOCAL + e.name.len());
            local.put_u32_le(0x0403_4b50);
            common(&mut local, *crc, len, &e.name, at);
            local.put_slice(e.name.as_bytes());
            directory.put_u32_le(0x0201_4b50);
            directory.put_u16_le(20); // version made by: MS-DOS, 2.0
            common(&mut directory, *crc, len, &e.name, at);
            directory.put_u16_le(0); // comment length
            directory.put_u16_le(0); // disk number start
            directory.put_u16_le(0); // internal attributes
            directory.put_u32_le(0); // external attributes
            directory.put_u32_le(offset);
            directory.put_slice(e.name.as_bytes());
            offset += (LOCAL + e.name.len()) as u32 + len;
            let header = stream::once(futures_util::future::ready(Ok(local.freeze())));
            parts.push(
                header
                    .chain(csv_stream(e.rows, e.source.clone()))
                    .boxed_local(),
            );
        }
        let mut end = BytesMut::with_capacity(END);
        end.put_u32_le(0x0605_4b50);
        end.put_u16_le(0); // this disk
        end.put_u16_le(0); // disk of the central directory
        end.put_u16_le(entries.len() as u16);
        end.put_u16_le(entries.len() as u16);
        end.put_u32_le(directory.len() as u32);
        end.put_u32_le(offset);
        end.put_u16_le(0); // comment length
        directory.put_slice(&end);
        let tail = stream::once(futures_util::future::ready(Ok(directory.freeze())));
        stream::iter(parts).flatten().chain(tail)
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        ["identities.csv", "roles.csv"]
            .iter()
            .map(|n| Entry {
                name: n.to_string(),
                rows: 700,
                source: "Search".into(),
            })
            .collect()
    }

    #[actix_rt::test]
    async fn the_archive_is_exactly_as_long_as_announced_and_ends_with_its_directory() {
        let body: Vec<u8> = zip_stream(entries(), chrono::Utc::now())
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        assert_eq!(body.len() as u64, zip_len(&entries()));
        assert_eq!(&body[..4], b"PK\x03\x04");
        let end = &body[body.len() - END..];
        assert_eq!(&end[..4], b"PK\x05\x06");
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 2, "two entries");
        let dir_at = u32::from_le_bytes(end[16..20].try_into().unwrap()) as usize;
        assert_eq!(&body[dir_at..dir_at + 4], b"PK\x01\x02");
    }

    #[test]
    fn dos_times_pack_date_and_time() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-06T08:15:30Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            dos_time(t),
            ((8 << 11) | (15 << 5) | 15, (46 << 9) | (12 << 5) | 6)
        );
    }
}
