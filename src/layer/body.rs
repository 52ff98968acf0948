use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;

pin_project! {
    /// The response body: the inner service's, or the layer's refusal.
    #[project = ResponseBodyProj]
    #[allow(missing_docs)]
    #[derive(Debug)]
    pub enum ResponseBody<B> {
        /// The inner service answered.
        Inner {
            #[pin]
            body: B,
        },
        /// The layer refused the request.
        Refusal {
            #[pin]
            body: Full<Bytes>,
        },
    }
}

/// For layers that need an empty body of the response type (tower-http's `TimeoutLayer`).
impl<B: Default> Default for ResponseBody<B> {
    fn default() -> Self {
        Self::Inner { body: B::default() }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project() {
            ResponseBodyProj::Inner { body } => body.poll_frame(cx),
            ResponseBodyProj::Refusal { body } => match body.poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Inner { body } => body.is_end_stream(),
            Self::Refusal { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Inner { body } => body.size_hint(),
            Self::Refusal { body } => body.size_hint(),
        }
    }
}
