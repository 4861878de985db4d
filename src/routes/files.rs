//! Report files: small files of finished reports come from the cache, larger ones stream;
//! either is sent with its type, length and a safe name.
use super::filename;
use crate::cache::{CachedFile, FileMiss};
use crate::domain::ReportId;
use crate::error::UpstreamError;
use crate::http::RequestContext;
use crate::state::AppState;
use crate::upstream::{FileDownload, IdentityNow, PathFamily};
use actix_web::http::header;
use actix_web::HttpResponse;
use futures_util::StreamExt;
use std::cell::RefCell;
use std::sync::Arc;

/// Whether upstream's "file not found" for a report means it purged the report: the result
/// says it finished with files, this format among them. Then everything cached about it is
/// dropped, so that status reads stop saying it finished.
pub(crate) async fn purged_upstream(
    state: &AppState,
    id: &ReportId,
    format: &str,
    results: &crate::wire::models::ReportResults,
) -> bool {
    let status = crate::domain::Status::from_upstream(results.status.as_deref());
    let listed = results.available_formats.is_empty()
        || results
            .available_formats
            .iter()
            .any(|f| f.eq_ignore_ascii_case(format));
    let purged = status.has_files() && listed;
    if purged {
        state.cache.forget(id.as_str()).await;
    }
    purged
}

/// Where a file's bytes come from.
pub(crate) enum FileSource {
    Cached(Arc<CachedFile>),
    Stream(FileDownload),
}

async fn read_whole(mut d: FileDownload, max: u64) -> Result<CachedFile, FileMiss> {
    let mut body = bytes::BytesMut::with_capacity(d.content_length.unwrap_or(0) as usize);
    while let Some(chunk) = d.body.next().await {
        let chunk = chunk.map_err(|e| UpstreamError::BadResponse(format!("file body: {e}")))?;
        body.extend_from_slice(&chunk);
        if body.len() as u64 > max {
            return Err(UpstreamError::BadResponse("file longer than announced".into()).into());
        }
    }
    Ok(CachedFile {
        content_type: d.content_type,
        content_disposition: d.content_disposition,
        body: body.freeze(),
    })
}

/// A report file: small files of finished reports come from the cache (concurrent
/// downloads make one upstream request); larger ones, and `bypass_cache` ones, stream.
#[allow(clippy::too_many_arguments)] // the request's context, the services, then what to fetch
pub(crate) async fn fetch_file(
    ctx: &RequestContext,
    state: &AppState,
    upstream: &IdentityNow,
    family: PathFamily,
    id: &ReportId,
    format: &str,
    query: &[(&str, String)],
    bypass_cache: bool,
) -> Result<FileSource, UpstreamError> {
    if bypass_cache {
        return upstream
            .file(ctx, family, id, format, query)
            .await
            .map(FileSource::Stream);
    }
    let max = state.cache.settings.file_max_bytes;
    // The caller that fetched a too-large file keeps its stream here instead of a second call.
    let spill: RefCell<Option<FileDownload>> = RefCell::new(None);
    let fetched = state
        .cache
        .file(ctx, id.as_str(), format, async {
            let d = upstream.file(ctx, family, id, format, query).await?;
            match d.content_length {
                Some(len) if len <= max => read_whole(d, max).await,
                _ => {
                    *spill.borrow_mut() = Some(d);
                    Err(FileMiss::TooLarge)
                }
            }
        })
        .await;
    match fetched {
        Ok(f) => Ok(FileSource::Cached(f)),
        Err(FileMiss::Upstream(e)) => Err(e),
        Err(FileMiss::TooLarge) => match spill.into_inner() {
            Some(d) => Ok(FileSource::Stream(d)),
            None => upstream
                .file(ctx, family, id, format, query)
                .await
                .map(FileSource::Stream),
        },
    }
}

/// Sends a file to the caller with its type, length and a safe `Content-Disposition` (see
/// [`filename`]). The name is the caller's choice, else upstream's, else `report-{id}`; a
/// name without extension gets upstream's (a SEARCH_EXPORT `.zip`), else the format's.
pub(crate) fn respond_file(
    source: FileSource,
    chosen_name: Option<&str>,
    id: &ReportId,
    format: &str,
) -> HttpResponse {
    let (content_type, disposition) = match &source {
        FileSource::Cached(f) => (f.content_type.clone(), f.content_disposition.clone()),
        FileSource::Stream(d) => (d.content_type.clone(), d.content_disposition.clone()),
    };
    let upstream_name = disposition
        .as_deref()
        .and_then(filename::disposition_filename);
    let ext = upstream_name
        .as_deref()
        .and_then(filename::extension)
        .unwrap_or(format)
        .to_owned();
    let name = chosen_name
        .map(str::to_owned)
        .or(upstream_name)
        .unwrap_or_else(|| format!("report-{id}"));
    let mut resp = HttpResponse::Ok();
    resp.content_type(content_type.unwrap_or_else(|| format!("application/{format}")))
        .insert_header((
            header::CONTENT_DISPOSITION,
            filename::content_disposition(&name, &ext),
        ));
    match source {
        FileSource::Cached(f) => resp.body(f.body.clone()),
        FileSource::Stream(d) => {
            if let Some(len) = d.content_length {
                resp.no_chunking(len);
            }
            resp.streaming(crate::http::coalesce::Coalesce::new(d.body))
        }
    }
}
