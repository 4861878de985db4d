//! A file download in flight, and the guard that cuts off a stalled or short one.
use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;
use std::pin::Pin;
use std::time::Duration;

/// A file download in flight: headers now, bytes as the caller reads them.
pub struct FileDownload {
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    pub content_length: Option<u64>,
    pub body: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>,
}

/// Ends a download with an error when upstream sends nothing for `idle`, or when it ends
/// before the length it announced (a reset connection must not look like a whole file).
pub(super) struct IdleTimeout {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>,
    idle: Duration,
    timer: Pin<Box<actix_rt::time::Sleep>>,
    expected: Option<u64>,
    received: u64,
}

impl Stream for IdleTimeout {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::future::Future;
        use std::task::Poll;
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(None) if self.expected.is_some_and(|n| self.received < n) => {
                self.expected = None;
                Poll::Ready(Some(Err(PayloadError::Incomplete(None))))
            }
            Poll::Ready(item) => {
                if let Some(Ok(chunk)) = &item {
                    self.received += chunk.len() as u64;
                }
                let deadline = actix_rt::time::Instant::now() + self.idle;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(item)
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "upstream stalled mid-download",
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl IdleTimeout {
    pub(super) fn new(
        inner: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>,
        idle: Duration,
        expected: Option<u64>,
    ) -> Self {
        Self {
            inner,
            idle,
            timer: Box::pin(actix_rt::time::sleep(idle)),
            expected,
            received: 0,
        }
    }
}
