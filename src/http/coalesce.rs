//! Larger writes for streamed downloads. The upstream client hands a file over in the
//! chunks its socket reads return (32 KiB), and the server writes each as it comes: one
//! send, and one wake-up of the caller, per 32 KiB. When several chunks are already there,
//! they are joined, up to `TARGET`, into one; a chunk is never held back waiting for more.
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The most bytes joined into one chunk.
pub const TARGET: usize = 256 * 1024;

pub struct Coalesce<S, E> {
    inner: S,
    /// What the inner stream said after the bytes last handed out: the end, or an error,
    /// delivered on the next poll.
    after: Option<Option<E>>,
    /// A chunk that did not fit in the last joined one.
    held: Option<Bytes>,
}

impl<S, E> Coalesce<S, E> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            after: None,
            held: None,
        }
    }
}

impl<S, E> Stream for Coalesce<S, E>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(after) = this.after.take() {
            return Poll::Ready(after.map(Err));
        }
        let first = match this.held.take() {
            Some(b) => b,
            None => match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(b))) => b,
                other => return other,
            },
        };
        if first.len() >= TARGET {
            return Poll::Ready(Some(Ok(first)));
        }
        let mut joined: Option<BytesMut> = None;
        loop {
            let size = joined.as_ref().map_or(first.len(), BytesMut::len);
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(next))) if size + next.len() <= TARGET => {
                    joined
                        .get_or_insert_with(|| {
                            let mut buf = BytesMut::with_capacity(TARGET);
                            buf.extend_from_slice(&first);
                            buf
                        })
                        .extend_from_slice(&next);
                }
                Poll::Ready(Some(Ok(next))) => {
                    this.held = Some(next);
                    break;
                }
                Poll::Ready(Some(Err(e))) => {
                    this.after = Some(Some(e));
                    break;
                }
                Poll::Ready(None) => {
                    this.after = Some(None);
                    break;
                }
                Poll::Pending => break,
            }
        }
        Poll::Ready(Some(Ok(joined.map_or(first, BytesMut::freeze))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn chunks(sizes: &[usize]) -> Vec<Result<Bytes, &'static str>> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Ok(Bytes::from(vec![i as u8; n])))
            .collect()
    }

    #[actix_rt::test]
    async fn ready_chunks_are_joined_up_to_the_target_in_order_and_nothing_is_lost() {
        let sizes = [10, 32_768, 32_768, TARGET, 1, TARGET - 5, 7, 100];
        let input = chunks(&sizes);
        let all: Vec<u8> = input
            .iter()
            .flat_map(|c| c.clone().unwrap().to_vec())
            .collect();
        let out: Vec<_> = Coalesce::new(futures_util::stream::iter(input))
            .collect::<Vec<_>>()
            .await;
        let joined: Vec<u8> = out
            .iter()
            .flat_map(|c| c.clone().unwrap().to_vec())
            .collect();
        assert_eq!(joined, all);
        assert!(out.iter().all(|c| c.as_ref().unwrap().len() <= TARGET));
        assert!(out.len() < sizes.len());
    }

    #[actix_rt::test]
    async fn an_error_comes_after_the_bytes_before_it() {
        let mut input = chunks(&[5, 6]);
        input.push(Err("cut"));
        input.extend(chunks(&[7]));
        let out: Vec<_> = Coalesce::new(futures_util::stream::iter(input))
            .collect::<Vec<_>>()
            .await;
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].as_ref().unwrap().len(), 11);
        assert_eq!(out[1], Err("cut"));
    }
}
