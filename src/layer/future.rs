use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::CACHE_CONTROL;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_service::Service;
use tracing::{Level, Span};

use super::body::ResponseBody;
use super::service::Admitted;
use super::{LayerContext, RenderInLayer};
use crate::error::AuthError;
use crate::extract::{RequestBody, Scheme};
use crate::maybe_ready::BoxFuture;

pin_project! {
    /// The response future of [`Gatekeeper`](super::Gatekeeper).
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<RequestBody<B>>>,
    {
        // A stage is waiting (body read, password hash, network).
        Deciding {
            decision: BoxFuture<Result<Admitted<B>, AuthError>>,
            inner: Option<S>,
            context: LayerContext,
            grpc: bool,
            // The decision span, entered while the decision is polled.
            span: Span,
            refusal_level: Level,
        },
        // The request was admitted; the inner service is answering.
        Inner {
            #[pin]
            future: S::Future,
            cache_private: bool,
            extra_headers: Option<Box<http::HeaderMap>>,
            context: LayerContext,
            grpc: bool,
            presented: Option<Scheme>,
        },
        // The request was refused.
        Refused {
            response: Option<Response<Full<Bytes>>>,
        },
    }
}

pin_project! {
    /// The response future of [`Gatekeeper`](super::Gatekeeper).
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<RequestBody<B>>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Deciding { .. } => "Deciding",
            State::Inner { .. } => "Inner",
            State::Refused { .. } => "Refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>>,
{
    #[inline]
    pub(crate) fn inner(
        inner: &mut S,
        admitted: Admitted<B>,
        context: LayerContext,
        grpc: bool,
    ) -> Self {
        Self {
            state: State::Inner {
                future: inner.call(admitted.request),
                cache_private: admitted.cache_private,
                extra_headers: admitted.extra_headers,
                context,
                grpc,
                presented: admitted.presented,
            },
        }
    }

    pub(crate) fn refused(context: &LayerContext, error: &AuthError, grpc: bool) -> Self {
        Self {
            state: State::Refused {
                response: Some(context.refuse(error, grpc)),
            },
        }
    }

    pub(crate) fn deciding(
        decision: BoxFuture<Result<Admitted<B>, AuthError>>,
        inner: S,
        context: LayerContext,
        grpc: bool,
        span: Span,
        refusal_level: Level,
    ) -> Self {
        Self {
            state: State::Deciding {
                decision,
                inner: Some(inner),
                context,
                grpc,
                span,
                refusal_level,
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Deciding {
                    decision,
                    inner,
                    context,
                    grpc,
                    span,
                    refusal_level,
                } => {
                    let decided = {
                        let _entered = span.enter();
                        ready!(decision.as_mut().poll(cx))
                    };
                    let next = match decided {
                        Ok(admitted) => {
                            super::trace::admitted(span, &admitted);
                            let mut inner = inner
                                .take()
                                .expect("ResponseFuture polled after completion");
                            State::Inner {
                                future: inner.call(admitted.request),
                                cache_private: admitted.cache_private,
                                extra_headers: admitted.extra_headers,
                                context: context.clone(),
                                grpc: *grpc,
                                presented: admitted.presented,
                            }
                        }
                        Err(error) => {
                            super::trace::refused(span, *refusal_level, &error);
                            State::Refused {
                                response: Some(context.refuse(&error, *grpc)),
                            }
                        }
                    };
                    this.state.set(next);
                }
                StateProj::Inner {
                    future,
                    cache_private,
                    extra_headers,
                    context,
                    grpc,
                    presented,
                } => {
                    let response = ready!(future.poll(cx))?;
                    // A refusal rendered with defaults further in: answered this layer's way.
                    if let Some(again) = rerender(&response, context, *grpc, *presented) {
                        return Poll::Ready(Ok(again.map(|body| ResponseBody::Refusal { body })));
                    }
                    let mut response = response.map(|body| ResponseBody::Inner { body });
                    if let Some(extra) = extra_headers.take() {
                        let headers = response.headers_mut();
                        for (name, value) in extra.iter() {
                            headers.append(name, value.clone());
                        }
                    }
                    if *cache_private && response.status().is_success() {
                        mark_private(&mut response);
                    }
                    return Poll::Ready(Ok(response));
                }
                StateProj::Refused { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(|body| ResponseBody::Refusal { body })));
                }
            }
        }
    }
}

/// The answer, by `context`, to a refusal that was rendered with defaults further in (an
/// `AuthError` a handler returned): `None` for every other response.
pub(crate) fn rerender<B>(
    response: &Response<B>,
    context: &LayerContext,
    grpc: bool,
    presented: Option<Scheme>,
) -> Option<Response<Full<Bytes>>> {
    let RenderInLayer(error) = response.extensions().get::<RenderInLayer>()?;
    Some(context.refuse(&error.clone().presented_by(presented), grpc))
}

/// RFC 6750 §2.3: a response to a request with the token in the query must not be stored by
/// shared caches. `private` is added to the handler's own directives (`public` and `s-maxage`,
/// which say the opposite, are dropped); a response already `private` or `no-store` is kept
/// as it is.
fn mark_private<B>(response: &mut Response<B>) {
    let headers = response.headers_mut();
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
        return;
    }
    let mut directives: Vec<String> = Vec::new();
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else {
            // Unreadable directives: take no chances.
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return;
        };
        directives.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
        );
    }
    let name = |d: &str| {
        d.split('=')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    if directives
        .iter()
        .any(|d| matches!(name(d).as_str(), "private" | "no-store"))
    {
        return;
    }
    directives.retain(|d| !matches!(name(d).as_str(), "public" | "s-maxage"));
    directives.insert(0, "private".to_owned());
    let value = HeaderValue::from_str(&directives.join(", "))
        .unwrap_or(HeaderValue::from_static("private"));
    headers.insert(CACHE_CONTROL, value);
}
