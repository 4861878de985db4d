//! Downloads a report file into a temporary file next to the destination, resuming with
//! `Range` after a broken connection, and renames it only once it is whole: the final
//! name never holds a partial file.
use super::gateway::{refusal, FileResponse, Gateway, Problem};
use super::progress::Progress;
use super::Failure;
use crate::domain::ReportId;
use crate::routes::filename;
use awc::http::{header, StatusCode};
use futures_util::StreamExt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Connection breaks in a row (without a byte of progress between them) before giving up.
const MAX_ATTEMPTS: u32 = 5;
/// A transfer that sends nothing for this long is treated as broken.
const IDLE: Duration = Duration::from_secs(60);

/// A temporary file that is removed unless it was renamed into place.
struct Partial {
    path: PathBuf,
    file: std::fs::File,
    kept: bool,
}

impl Partial {
    fn create(dest: &Path) -> Result<Self, Failure> {
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
        let path = dir.join(format!(".{name}.{:08x}.part", rand::random::<u32>()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| local(&path, e))?;
        Ok(Self {
            path,
            file,
            kept: false,
        })
    }

    fn truncate(&mut self) -> Result<(), Failure> {
        use std::io::Seek;
        self.file.set_len(0).map_err(|e| local(&self.path, e))?;
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .map_err(|e| local(&self.path, e))?;
        Ok(())
    }

    fn keep_as(mut self, dest: &Path) -> Result<(), Failure> {
        self.file.sync_all().map_err(|e| local(&self.path, e))?;
        std::fs::rename(&self.path, dest).map_err(|e| local(dest, e))?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn local(path: &Path, e: std::io::Error) -> Failure {
    Failure::Local(format!("{}: {e}", path.display()))
}

fn header_u64(resp: &FileResponse, name: header::HeaderName) -> Option<u64> {
    resp.headers().get(name)?.to_str().ok()?.parse().ok()
}

/// `Content-Range: bytes first-last/length` → (first, length).
fn content_range(resp: &FileResponse) -> Option<(u64, u64)> {
    let v = resp.headers().get(header::CONTENT_RANGE)?.to_str().ok()?;
    let (range, len) = v.strip_prefix("bytes ")?.split_once('/')?;
    let (first, _) = range.split_once('-')?;
    Some((first.parse().ok()?, len.parse().ok()?))
}

/// Where the file goes: `--out`, else the gateway's file name in the current directory.
fn destination(out: Option<&Path>, resp: &FileResponse, id: &ReportId, format: &str) -> PathBuf {
    if let Some(out) = out {
        return out.to_owned();
    }
    let offered = resp
        .headers()
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(filename::disposition_filename)
        .unwrap_or_else(|| format!("report-{id}"));
    // The gateway already sanitizes it; a client does not trust that with its file system.
    PathBuf::from(filename::download_name(&offered, format))
}

/// Downloads `id`'s file in `format`; answers where it was written and its size.
pub async fn download(
    gw: &Gateway,
    id: &ReportId,
    format: &str,
    out: Option<&Path>,
    progress: &Progress,
) -> Result<(PathBuf, u64), Failure> {
    let mut partial: Option<(Partial, PathBuf)> = None;
    let mut written: u64 = 0;
    let mut total: Option<u64> = None;
    let mut failures = 0;
    loop {
        let before = written;
        let attempt = async {
            let mut resp = gw.file(id, format, written).await?;
            match resp.status() {
                StatusCode::OK => {
                    if written > 0 {
                        // The range was not honoured: start over.
                        if let Some((p, _)) = partial.as_mut() {
                            p.truncate()?;
                        }
                        written = 0;
                        progress.restart_at(0);
                    }
                    total = header_u64(&resp, header::CONTENT_LENGTH);
                }
                StatusCode::PARTIAL_CONTENT => match content_range(&resp) {
                    Some((first, len)) if first == written && total.is_none_or(|t| t == len) => {
                        total = Some(len);
                    }
                    _ => {
                        return Err(Failure::Trouble(Problem::local(
                            "the gateway resumed at another offset or with another length",
                        )))
                    }
                },
                _ => return Err(refusal(&mut resp).await),
            }
            if partial.is_none() {
                let dest = destination(out, &resp, id, format);
                partial = Some((Partial::create(&dest)?, dest));
                let name = partial.as_ref().map(|(_, d)| d.display().to_string());
                progress.downloading(&name.unwrap_or_default(), total, 0);
            }
            let (file, _) = partial.as_mut().expect("created above");
            let mut resp = resp.timeout(Duration::from_secs(365 * 24 * 3600));
            loop {
                let chunk = match actix_rt::time::timeout(IDLE, resp.next()).await {
                    Err(_) => {
                        return Err(Failure::Trouble(Problem::local(format!(
                            "the download sent nothing for {}s",
                            IDLE.as_secs()
                        ))))
                    }
                    Ok(None) => break,
                    Ok(Some(Err(e))) => {
                        return Err(Failure::Trouble(Problem::local(format!(
                            "the download broke off: {e}"
                        ))))
                    }
                    Ok(Some(Ok(c))) => c,
                };
                file.file
                    .write_all(&chunk)
                    .map_err(|e| local(&file.path, e))?;
                written += chunk.len() as u64;
                progress.advance(chunk.len() as u64);
            }
            match total {
                Some(t) if written != t => Err(Failure::Trouble(Problem::local(format!(
                    "the download ended after {written} of {t} bytes"
                )))),
                _ => Ok(()),
            }
        };
        match attempt.await {
            Ok(()) => break,
            // Only broken transfers are worth another try; refusals and local errors are final.
            Err(Failure::Trouble(p)) if p.status.is_none_or(|s| s >= 500) => {
                failures = if written > before { 1 } else { failures + 1 };
                if failures >= MAX_ATTEMPTS {
                    return Err(Failure::Trouble(p));
                }
                progress.note(&format!("{p}; resuming at byte {written}"));
                actix_rt::time::sleep(Duration::from_millis(100 << failures.min(4))).await;
            }
            Err(e) => return Err(e),
        }
    }
    let (file, dest) = partial.expect("a successful attempt created the file");
    file.keep_as(&dest)?;
    Ok((dest, written))
}
