use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use super::Shared;
use super::future::ResponseFuture;
use crate::error::AuthError;
use crate::extract::{Credential, Origin, RequestBody, find_in_body, read_limited};
use crate::maybe_ready::MaybeReady;
use crate::principal::{CredentialInfo, Principal};
use crate::verify::VerifyError;

/// The error type of bodies the layer can read.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The service made by [`GatekeeperLayer`](super::GatekeeperLayer).
pub struct Gatekeeper<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: Clone> Clone for Gatekeeper<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Gatekeeper<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gatekeeper")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Gatekeeper<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

/// A request that passed: rebuilt for the inner service.
pub(crate) struct Admitted<B> {
    pub(crate) request: Request<RequestBody<B>>,
    /// The credential came in the query: the response must not be cached by shared caches.
    pub(crate) cache_private: bool,
    /// Headers that stages asked to add to the response.
    pub(crate) extra_headers: Option<http::HeaderMap>,
}

pub(crate) type Decision<B> = MaybeReady<Result<Admitted<B>, AuthError>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Gatekeeper<S>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<super::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match decide(&self.shared, req) {
            // Decided at once: the service `poll_ready` readied is called now, no clone needed.
            MaybeReady::Ready(Ok(admitted)) => ResponseFuture::inner(&mut self.inner, admitted),
            MaybeReady::Ready(Err(error)) => ResponseFuture::refused(&self.shared, &error),
            MaybeReady::Pending(decision) => {
                // Keep the readied service for later; leave a fresh clone in its place.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::deciding(decision, inner, self.shared.clone())
            }
        }
    }
}

fn is_cors_preflight(parts: &Parts) -> bool {
    parts.method == Method::OPTIONS
        && parts
            .headers
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Runs the pipeline for one request; ready at once unless a stage must wait.
pub(crate) fn decide<B>(shared: &Arc<Shared>, req: Request<B>) -> Decision<B>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // Every stage that reads the system clock in this synchronous part gets the same second.
    let _time = crate::clock::RequestTime::enter();
    let (parts, body) = req.into_parts();
    let verification = match shared.sources.find_in_head(&parts.headers, &parts.uri) {
        Err(error) => return MaybeReady::Ready(Err(error)),
        Ok(Some((credential, origin))) => (
            shared.verifier.verify(&credential),
            info(&credential),
            origin,
        ),
        Ok(None) => {
            if shared.cors_preflight && is_cors_preflight(&parts) {
                return MaybeReady::Ready(Ok(admit_anonymous(parts, RequestBody::new(body))));
            }
            return match shared.sources.body_format(&parts.method, &parts.headers) {
                Some(format) => {
                    let shared = shared.clone();
                    MaybeReady::pending(async move {
                        let limit = shared.sources.body_limit_bytes();
                        let length = parts
                            .headers
                            .get(CONTENT_LENGTH)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok());
                        let (bytes, trailers) = read_limited(body, limit, length).await?;
                        let field = shared.sources.body_field(format);
                        let found = find_in_body(format, field, &bytes)?.map(|c| {
                            let info = info(&c);
                            (shared.verifier.verify(&c), info)
                        });
                        let body = RequestBody::buffered(bytes, trailers);
                        match found {
                            Some((verification, info)) => {
                                let result = verification.await;
                                after_verify(&shared, parts, body, info, Origin::Body, result).await
                            }
                            None => anonymous(&shared, parts, body),
                        }
                    })
                }
                None => MaybeReady::Ready(anonymous(shared, parts, RequestBody::new(body))),
            };
        }
    };
    let (verification, info, origin) = verification;
    let body = RequestBody::new(body);
    match verification {
        MaybeReady::Ready(result) => after_verify(shared, parts, body, info, origin, result),
        MaybeReady::Pending(pending) => {
            let shared = shared.clone();
            MaybeReady::pending(async move {
                let result = pending.await;
                after_verify(&shared, parts, body, info, origin, result).await
            })
        }
    }
}

fn info(credential: &Credential<'_>) -> CredentialInfo {
    CredentialInfo {
        scheme: credential.scheme(),
        source: credential.source(),
    }
}

fn anonymous<B>(
    shared: &Arc<Shared>,
    parts: Parts,
    body: RequestBody<B>,
) -> Result<Admitted<B>, AuthError> {
    if shared.optional && !shared.stages.iter().any(|s| s.requires_principal()) {
        let mut admitted = admit_anonymous(parts, body);
        // Lets a handler's `Principal` extractor refuse in this layer's realm and format.
        admitted
            .request
            .extensions_mut()
            .insert(super::LayerContext(shared.clone()));
        Ok(admitted)
    } else {
        Err(AuthError::missing())
    }
}

fn admit_anonymous<B>(parts: Parts, body: RequestBody<B>) -> Admitted<B> {
    Admitted {
        request: Request::from_parts(parts, body),
        cache_private: false,
        extra_headers: None,
    }
}

fn after_verify<B: Send + 'static>(
    shared: &Arc<Shared>,
    parts: Parts,
    body: RequestBody<B>,
    info: CredentialInfo,
    origin: Origin,
    result: Result<Principal, VerifyError>,
) -> Decision<B> {
    let principal = match result {
        Ok(principal) => principal.with_credential(info),
        Err(error) => return MaybeReady::Ready(Err(error.into())),
    };
    run_stages(shared, 0, principal, parts, body, origin)
}

/// Runs the authorization stages from `index` on; goes asynchronous only if a stage does.
fn run_stages<B: Send + 'static>(
    shared: &Arc<Shared>,
    index: usize,
    mut principal: Principal,
    mut parts: Parts,
    body: RequestBody<B>,
    origin: Origin,
) -> Decision<B> {
    for (i, stage) in shared.stages.iter().enumerate().skip(index) {
        match stage.authorize(principal, &mut parts) {
            MaybeReady::Ready(Ok(next)) => principal = next,
            MaybeReady::Ready(Err(error)) => return MaybeReady::Ready(Err(error)),
            MaybeReady::Pending(pending) => {
                let shared = shared.clone();
                return MaybeReady::pending(async move {
                    let next = pending.await?;
                    run_stages(&shared, i + 1, next, parts, body, origin).await
                });
            }
        }
    }
    if shared.sources.strips() {
        shared.sources.strip_from(origin, &mut parts);
    }
    let cache_private = principal
        .credential()
        .is_some_and(|c| c.source == crate::extract::Source::Query);
    parts.extensions.insert(principal);
    let extra_headers = parts
        .extensions
        .remove::<super::AddResponseHeaders>()
        .map(|h| h.0);
    MaybeReady::Ready(Ok(Admitted {
        request: Request::from_parts(parts, body),
        cache_private,
        extra_headers,
    }))
}
