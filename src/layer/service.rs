use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;
use tracing::Span;

use super::Shared;
use super::future::ResponseFuture;
use super::trace;
use crate::error::AuthError;
use crate::extract::{BodyRead, Credential, Origin, RequestBody, more_than_one, read_up_to};
use crate::maybe_ready::MaybeReady;
use crate::observe::{self, CacheUse, VerifyTimer};
use crate::principal::{CredentialInfo, Principal};
use crate::verify::{Lookup, Verification, VerifyError};

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

    #[cfg(feature = "axum")]
    pub(crate) fn inner(&self) -> &S {
        &self.inner
    }
}

/// A request that passed: rebuilt for the inner service.
pub(crate) struct Admitted<B> {
    pub(crate) request: Request<RequestBody<B>>,
    /// The credential came in the query: the response must not be cached by shared caches.
    pub(crate) cache_private: bool,
    /// Headers that stages asked to add to the response.
    pub(crate) extra_headers: Option<Box<http::HeaderMap>>,
    /// The layer placed a principal (not an anonymous pass).
    pub(crate) with_principal: bool,
    /// The kind of credential the principal was verified from: a refusal the inner service
    /// returns is rendered knowing it (a password or an API key gets no access-token
    /// challenge).
    pub(crate) presented: Option<crate::extract::Scheme>,
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
        let context = &self.shared.context;
        // Refusals of gRPC requests are answered the gRPC way (feature `tonic`).
        let grpc = context.is_grpc(req.headers());
        // The decision span: a child of the current one (tower-http's `request` span), closed
        // before the inner service is called; `Span::none()` when no subscriber wants it.
        let span = self.shared.trace.span();
        let decision = {
            let _entered = span.enter();
            decide(&self.shared, req, &span)
        };
        match decision {
            // Decided at once: the service `poll_ready` readied is called now, no clone needed.
            MaybeReady::Ready(Ok(admitted)) => {
                trace::admitted(&span, &admitted);
                drop(span);
                ResponseFuture::inner(&mut self.inner, admitted, context.clone(), grpc)
            }
            MaybeReady::Ready(Err(error)) => {
                trace::refused(&span, self.shared.trace.refusal, &error);
                ResponseFuture::refused(context, &error, grpc)
            }
            MaybeReady::Pending(decision) => {
                // Keep the readied service for later; leave a fresh clone in its place.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::deciding(
                    decision,
                    inner,
                    context.clone(),
                    grpc,
                    span,
                    self.shared.trace.refusal,
                )
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
pub(crate) fn decide<B>(shared: &Arc<Shared>, req: Request<B>, span: &Span) -> Decision<B>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // Every stage that reads the system clock in this synchronous part gets the same second.
    let _time = crate::clock::RequestTime::enter();
    let (parts, body) = req.into_parts();
    // With a cache, a bearer token's grammar is checked only if the cache cannot answer it.
    let defer_grammar = shared.cached.is_some();
    let head = match shared
        .sources
        .find_in_head(&parts.headers, &parts.uri, defer_grammar)
    {
        Err(error) => return MaybeReady::Ready(Err(error)),
        Ok(head) => head,
    };
    // A body that is already over (an empty POST) holds nothing to look for.
    let reads_body =
        !body.is_end_stream() && shared.sources.reads_body(&parts.method, &parts.headers);
    // Only a body some source reads is measured.
    let too_long = reads_body && content_length(&parts).is_some_and(|len| len > limit(shared));
    match (head, reads_body) {
        // The common case: the credential is in the head and no body source reads this body.
        (Some((mut credential, origin)), false) => {
            let timer = VerifyTimer::start();
            let (verification, cache) = match verify(shared, &mut credential) {
                Ok(verified) => verified,
                Err(error) => return MaybeReady::Ready(Err(error)),
            };
            let carried = carried(&credential);
            trace::credential(span, carried, cache);
            let body = RequestBody::new(body);
            match verification {
                MaybeReady::Ready(result) => {
                    timer.done();
                    after_verify(shared, parts, body, carried, origin, result, span)
                }
                MaybeReady::Pending(pending) => {
                    let shared = shared.clone();
                    let span = span.clone();
                    MaybeReady::pending(async move {
                        let result = pending.await;
                        timer.done();
                        after_verify(&shared, parts, body, carried, origin, result, &span).await
                    })
                }
            }
        }
        // RFC 6750 §2: one method per request. A body source reads this body, so it may hold a
        // second credential: read it (same limit, same deadline) before verifying the first.
        (Some((mut credential, origin)), true) => {
            // A malformed credential is refused as such before the body is measured.
            if let Err(error) = credential.check_grammar() {
                return MaybeReady::Ready(Err(error));
            }
            if too_long {
                return MaybeReady::Ready(Err(AuthError::payload_too_large()));
            }
            let credential = credential.into_owned();
            let shared = shared.clone();
            let span = span.clone();
            MaybeReady::pending(async move {
                let (data, trailers) = match read_body(&shared, body).await? {
                    BodyRead::Complete(data, trailers) => (data, trailers),
                    BodyRead::TooLarge { .. } => return Err(AuthError::payload_too_large()),
                };
                if shared
                    .sources
                    .find_in_body(&parts.headers, &data)?
                    .is_some()
                {
                    return Err(more_than_one());
                }
                let body = RequestBody::buffered(data, trailers);
                let timer = VerifyTimer::start();
                let (verification, cache) = verify_checked(&shared, &credential);
                let carried = carried(&credential);
                trace::credential(&span, carried, cache);
                let result = verification.await;
                timer.done();
                after_verify(&shared, parts, body, carried, origin, result, &span).await
            })
        }
        (None, _) if shared.cors_preflight && is_cors_preflight(&parts) => {
            let mut admitted = admit_anonymous(parts, RequestBody::new(body));
            // An `AuthorizeLayer` further in lets the preflight through too.
            admitted
                .request
                .extensions_mut()
                .insert(shared.context.clone());
            MaybeReady::Ready(Ok(admitted))
        }
        (None, false) => MaybeReady::Ready(anonymous(shared, parts, RequestBody::new(body))),
        // Too large to look into. In optional mode an anonymous request is passed on with its
        // body untouched (a public route may take large bodies); otherwise 413.
        (None, true) if too_long => MaybeReady::Ready(if may_pass_anonymous(shared) {
            anonymous(shared, parts, RequestBody::new(body))
        } else {
            Err(AuthError::payload_too_large())
        }),
        (None, true) => {
            let shared = shared.clone();
            let span = span.clone();
            MaybeReady::pending(async move {
                let (data, trailers) = match read_body(&shared, body).await? {
                    BodyRead::Complete(data, trailers) => (data, trailers),
                    // Grew past the limit while being read: as above, with the bytes read
                    // replayed before the rest of the stream.
                    BodyRead::TooLarge { prefix, rest } if may_pass_anonymous(&shared) => {
                        return anonymous(&shared, parts, RequestBody::prefixed(prefix, rest));
                    }
                    BodyRead::TooLarge { .. } => return Err(AuthError::payload_too_large()),
                };
                let found = shared
                    .sources
                    .find_in_body(&parts.headers, &data)?
                    .map(|c| {
                        let timer = VerifyTimer::start();
                        let (verification, cache) = verify_checked(&shared, &c);
                        trace::credential(&span, carried(&c), cache);
                        (verification, carried(&c), timer)
                    });
                let body = RequestBody::buffered(data, trailers);
                match found {
                    Some((verification, carried, timer)) => {
                        let result = verification.await;
                        timer.done();
                        let origin = Origin::Body;
                        after_verify(&shared, parts, body, carried, origin, result, &span).await
                    }
                    None => anonymous(&shared, parts, body),
                }
            })
        }
    }
}

/// Answers from the layer's cache, or checks the credential's grammar if that was left
/// pending and calls the verifier; says what the cache did (decided before any waiting).
#[inline]
fn verify(
    shared: &Shared,
    credential: &mut Credential<'_>,
) -> Result<(Verification, CacheUse), AuthError> {
    let Some(cached) = &shared.cached else {
        credential.check_grammar()?;
        return Ok((shared.verifier.verify(credential), CacheUse::None));
    };
    observe::reset_cache_use();
    let verification = match cached.lookup(credential) {
        Lookup::Answered(answer) => answer,
        Lookup::Missed(miss) => {
            credential.check_grammar()?;
            cached.verify_missed(credential, miss)
        }
    };
    Ok((verification, observe::take_cache_use()))
}

/// [`verify`] for a credential whose grammar is not pending (one found in a body, or kept
/// across the body read).
fn verify_checked(shared: &Shared, credential: &Credential<'_>) -> (Verification, CacheUse) {
    debug_assert!(credential.grammar() != crate::extract::Grammar::Pending);
    if shared.cache.is_none() {
        return (shared.verifier.verify(credential), CacheUse::None);
    }
    observe::reset_cache_use();
    let verification = shared.verifier.verify(credential);
    (verification, observe::take_cache_use())
}

fn limit(shared: &Shared) -> u64 {
    u64::try_from(shared.sources.body_limit_bytes()).unwrap_or(u64::MAX)
}

fn content_length(parts: &Parts) -> Option<u64> {
    parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads a body the layer must look into: up to the limit, within the deadline (408 past it).
async fn read_body<B>(shared: &Shared, body: B) -> Result<BodyRead<B>, AuthError>
where
    B: Body<Data = Bytes>,
{
    let read = read_up_to(body, shared.sources.body_limit_bytes());
    tokio::time::timeout(shared.sources.body_read_deadline(), read)
        .await
        .unwrap_or_else(|_elapsed| Err(AuthError::request_timeout()))
}

/// How the credential was carried; the verifier may say it is of another kind.
fn carried(credential: &Credential<'_>) -> CredentialInfo {
    CredentialInfo {
        scheme: credential.scheme(),
        source: credential.source(),
    }
}

/// Whether a request without a credential may reach the inner service.
fn may_pass_anonymous(shared: &Shared) -> bool {
    shared.context.0.passes_anonymous
}

fn anonymous<B>(
    shared: &Arc<Shared>,
    parts: Parts,
    body: RequestBody<B>,
) -> Result<Admitted<B>, AuthError> {
    if may_pass_anonymous(shared) {
        let mut admitted = admit_anonymous(parts, body);
        // Lets a handler's `Principal` extractor refuse in this layer's realm and format.
        admitted
            .request
            .extensions_mut()
            .insert(shared.context.clone());
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
        with_principal: false,
        presented: None,
    }
}

/// Records the credential on the principal: the kind its verifier stated (an API key is an
/// API key wherever it was carried), else the kind it was carried as; where it was found is
/// the layer's to say.
#[inline]
fn after_verify<B: Send + 'static>(
    shared: &Arc<Shared>,
    parts: Parts,
    body: RequestBody<B>,
    carried: CredentialInfo,
    origin: Origin,
    result: Result<Principal, VerifyError>,
    span: &Span,
) -> Decision<B> {
    let principal = match result {
        Ok(principal) => {
            let scheme = principal.credential().map_or(carried.scheme, |c| c.scheme);
            principal.with_credential(CredentialInfo {
                scheme,
                source: carried.source,
            })
        }
        Err(error) => {
            let error = crate::error::AuthError::from(error).presented(carried.scheme);
            return MaybeReady::Ready(Err(error));
        }
    };
    trace::verified(span, &principal);
    run_stages(shared, 0, principal, parts, body, origin)
}

/// Runs the authorization stages from `index` on; goes asynchronous only if a stage does.
#[inline]
fn run_stages<B: Send + 'static>(
    shared: &Arc<Shared>,
    index: usize,
    mut principal: Principal,
    mut parts: Parts,
    body: RequestBody<B>,
    origin: Origin,
) -> Decision<B> {
    for (i, stage) in shared.stages.iter().enumerate().skip(index) {
        // A refusal says what kind of credential it refuses (a password or an API key gets
        // no access-token challenge).
        let presented = principal.credential().map(|c| c.scheme);
        match stage.authorize(principal, &mut parts) {
            MaybeReady::Ready(Ok(next)) => principal = next,
            MaybeReady::Ready(Err(error)) => {
                return MaybeReady::Ready(Err(error.presented_by(presented)));
            }
            MaybeReady::Pending(pending) => {
                let shared = shared.clone();
                return MaybeReady::pending(async move {
                    let next = pending.await.map_err(|e| e.presented_by(presented))?;
                    run_stages(&shared, i + 1, next, parts, body, origin).await
                });
            }
        }
    }
    if shared.sources.strips() {
        shared.sources.strip_from(origin, &mut parts);
    }
    let cache_private = shared.sources.responses_private(origin);
    // The principal carries this layer's context, which lets later refusals (an
    // `AuthorizeLayer`, extractors) answer in this layer's way; an outer layer's context, left
    // by an anonymous pass, no longer speaks for the request.
    parts.extensions.remove::<super::LayerContext>();
    let presented = principal.credential().map(|c| c.scheme);
    parts
        .extensions
        .insert(principal.admitted_by(shared.context.clone()));
    let extra_headers = parts
        .extensions
        .remove::<super::AddResponseHeaders>()
        .map(|h| Box::new(h.0));
    MaybeReady::Ready(Ok(Admitted {
        request: Request::from_parts(parts, body),
        cache_private,
        extra_headers,
        with_principal: true,
        presented,
    }))
}
