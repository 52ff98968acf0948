//! The stage layer: authorization stages on the principal an outer layer placed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Request, Response};
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::authorize::{AddResponseHeaders, Authorize, RequireScopes};
use super::body::ResponseBody;
use super::future::rerender;
use super::{LayerContext, Refusals, default_grpc_responder};
use crate::error::{AuthError, Challenge, JsonResponder, Responder};
use crate::extract::Scheme;
use crate::maybe_ready::{BoxFuture, MaybeReady};
use crate::principal::Principal;

struct StageShared {
    stages: Vec<Arc<dyn Authorize>>,
    requires_principal: bool,
    /// How to refuse when no outer layer left its context.
    fallback: LayerContext,
}

/// Runs [`Authorize`] stages (scopes, grants, sudo/tenant, [`RequireScheme`](super::RequireScheme),
/// checks of your own) on the [`Principal`] an outer [`GatekeeperLayer`](super::GatekeeperLayer)
/// already placed, without finding or verifying the credential again.
///
/// Put one gate around the router and an `AuthorizeLayer` on the routes that need more:
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_gatekeeper::grant::{GrantCheck, InMemoryGrantStore};
/// use tower_gatekeeper::layer::AuthorizeLayer;
/// use tower_gatekeeper::verify::JwtVerifier;
/// use tower_gatekeeper::GatekeeperLayer;
///
/// let verifier = JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap();
/// let grants = InMemoryGrantStore::new();
/// let app: Router = Router::new()
///     .route("/orders", get(|| async { "orders" }))
///     .route_layer(AuthorizeLayer::new(GrantCheck::for_api(grants, "orders")))
///     .route("/me", get(|| async { "me" }))
///     .layer(GatekeeperLayer::builder(verifier).realm("shop").build());
/// ```
///
/// Refusals answer in the realm and with the responder of the gate that ran (it leaves its
/// context in the request extensions). A request that reaches this layer **without** a
/// principal is refused as that gate would refuse it — 401 with its challenges — unless the
/// gate runs in optional mode and none of these stages
/// [needs a principal](Authorize::requires_principal) (then it passes on, anonymous), or it is
/// a CORS preflight the gate lets through. With no gate at all (a misplaced layer: outside the
/// gate, or on a router without one) every request is refused: fail closed. The realm and
/// responder of that answer are this layer's own ([`AuthorizeLayerBuilder::realm`], default
/// `api`).
///
/// The request and response bodies pass through unchanged (the response body type becomes
/// [`ResponseBody<B>`]).
#[derive(Clone)]
pub struct AuthorizeLayer {
    shared: Arc<StageShared>,
}

impl fmt::Debug for AuthorizeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeLayer")
            .field("stages", &self.shared.stages.len())
            .field("realm", &self.shared.fallback.0.challenge.realm())
            .finish_non_exhaustive()
    }
}

impl AuthorizeLayer {
    /// A layer that runs `stage`.
    pub fn new(stage: impl Authorize) -> Self {
        Self::builder().authorize(stage).build()
    }

    /// A layer that requires every one of `scopes` (403 `insufficient_scope` naming the first
    /// missing).
    pub fn require_scopes<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Self {
        Self::new(RequireScopes::all(scopes))
    }

    /// Starts a layer with several stages or its own fallback realm and responder.
    pub fn builder() -> AuthorizeLayerBuilder {
        AuthorizeLayerBuilder {
            stages: Vec::new(),
            challenge: None,
            realm: "api".to_owned(),
            responder: Arc::new(JsonResponder::OAuth),
            grpc_responder: default_grpc_responder(),
        }
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = AuthorizeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthorizeService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Configures an [`AuthorizeLayer`].
#[must_use]
pub struct AuthorizeLayerBuilder {
    stages: Vec<Arc<dyn Authorize>>,
    challenge: Option<Challenge>,
    realm: String,
    responder: Arc<dyn Responder>,
    grpc_responder: Option<Arc<dyn Responder>>,
}

impl fmt::Debug for AuthorizeLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeLayerBuilder")
            .field("stages", &self.stages.len())
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl AuthorizeLayerBuilder {
    /// Adds a stage; stages run in the order added.
    pub fn authorize(mut self, stage: impl Authorize) -> Self {
        self.stages.push(Arc::new(stage));
        self
    }

    /// Requires every scope in `scopes`.
    pub fn require_scopes<I: IntoIterator<Item = S>, S: Into<String>>(self, scopes: I) -> Self {
        self.authorize(RequireScopes::all(scopes))
    }

    /// The realm of refusals made when no gate left its context (default `api`), challenged
    /// as `Bearer`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The challenges of refusals made when no gate left its context (overrides
    /// [`realm`](Self::realm)).
    pub fn challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// The responder of refusals made when no gate left its context.
    pub fn responder(mut self, responder: impl Responder) -> Self {
        self.responder = Arc::new(responder);
        self
    }

    /// Builds the layer.
    pub fn build(self) -> AuthorizeLayer {
        let challenge = self
            .challenge
            .unwrap_or_else(|| Challenge::new(self.realm, false));
        let requires_principal = self.stages.iter().any(|s| s.requires_principal());
        AuthorizeLayer {
            shared: Arc::new(StageShared {
                stages: self.stages,
                requires_principal,
                fallback: LayerContext::new(Refusals {
                    challenge,
                    responder: self.responder,
                    grpc_responder: self.grpc_responder,
                    passes_anonymous: false,
                    cors_preflight: false,
                }),
            }),
        }
    }
}

/// The service made by [`AuthorizeLayer`].
pub struct AuthorizeService<S> {
    inner: S,
    shared: Arc<StageShared>,
}

impl<S: Clone> Clone for AuthorizeService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for AuthorizeService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

type Staged = MaybeReady<Result<(Principal, Parts), AuthError>>;

/// Runs the stages from `index` on; goes asynchronous only if a stage does.
fn run_stages(
    shared: &Arc<StageShared>,
    index: usize,
    mut principal: Principal,
    mut parts: Parts,
) -> Staged {
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
                    run_stages(&shared, i + 1, next, parts).await
                });
            }
        }
    }
    MaybeReady::Ready(Ok((principal, parts)))
}

fn is_cors_preflight(parts: &Parts) -> bool {
    parts.method == Method::OPTIONS
        && parts
            .headers
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The request rebuilt after the stages passed, and the headers they asked for. A stage that
/// replaced the principal with one of its own still leaves the gate's way of refusing on it.
fn admit<B>(
    principal: Principal,
    gate: Option<&LayerContext>,
    mut parts: Parts,
    body: B,
) -> (Request<B>, Option<Box<http::HeaderMap>>) {
    let principal = match gate {
        Some(gate) if principal.layer_context().is_none() => principal.admitted_by(gate.clone()),
        _ => principal,
    };
    parts.extensions.insert(principal);
    let extra = parts
        .extensions
        .remove::<AddResponseHeaders>()
        .map(|h| Box::new(h.0));
    (Request::from_parts(parts, body), extra)
}

impl<S, B, ResBody> Service<Request<B>> for AuthorizeService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    B: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = AuthorizeFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (mut parts, body) = req.into_parts();
        // The gate's way of refusing, else this layer's own.
        let gate = super::context_of(&parts.extensions);
        let context = gate.clone().unwrap_or_else(|| self.shared.fallback.clone());
        let grpc = context.is_grpc(&parts.headers);
        let Some(principal) = parts.extensions.remove::<Principal>() else {
            let passes = gate.is_some_and(|gate| {
                (gate.0.passes_anonymous && !self.shared.requires_principal)
                    || (gate.0.cors_preflight && is_cors_preflight(&parts))
            });
            return if passes {
                AuthorizeFuture::inner(
                    &mut inner,
                    Request::from_parts(parts, body),
                    None,
                    context,
                    grpc,
                )
            } else {
                // Fail closed: no gate ran, or it let an anonymous request through that these
                // stages cannot decide on.
                AuthorizeFuture::refused(context.refuse(&AuthError::missing(), grpc))
            };
        };
        match run_stages(&self.shared, 0, principal, parts) {
            MaybeReady::Ready(Ok((principal, parts))) => {
                let (request, extra) = admit(principal, gate.as_ref(), parts, body);
                AuthorizeFuture::inner(&mut inner, request, extra, context, grpc)
            }
            MaybeReady::Ready(Err(error)) => AuthorizeFuture::refused(context.refuse(&error, grpc)),
            MaybeReady::Pending(decision) => AuthorizeFuture {
                state: StageState::Deciding {
                    decision,
                    body: Some(body),
                    inner: Some(inner),
                    context,
                    gate,
                    grpc,
                },
            },
        }
    }
}

pin_project! {
    #[project = StageStateProj]
    enum StageState<S, B>
    where
        S: Service<Request<B>>,
    {
        // A stage is waiting (a directory or store lookup).
        Deciding {
            decision: BoxFuture<Result<(Principal, Parts), AuthError>>,
            body: Option<B>,
            inner: Option<S>,
            context: LayerContext,
            // The gate's context (when a gate ran), for the principal the stages return.
            gate: Option<LayerContext>,
            grpc: bool,
        },
        // The stages passed; the inner service is answering.
        Inner {
            #[pin]
            future: S::Future,
            extra_headers: Option<Box<http::HeaderMap>>,
            context: LayerContext,
            grpc: bool,
            // The kind of credential the principal was verified from (see `rerender`).
            presented: Option<Scheme>,
        },
        // A stage refused.
        Refused {
            response: Option<Response<Full<Bytes>>>,
        },
    }
}

pin_project! {
    /// The response future of [`AuthorizeService`].
    pub struct AuthorizeFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: StageState<S, B>,
    }
}

impl<S, B> fmt::Debug for AuthorizeFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            StageState::Deciding { .. } => "Deciding",
            StageState::Inner { .. } => "Inner",
            StageState::Refused { .. } => "Refused",
        };
        f.debug_struct("AuthorizeFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S, B> AuthorizeFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn inner(
        inner: &mut S,
        request: Request<B>,
        extra_headers: Option<Box<http::HeaderMap>>,
        context: LayerContext,
        grpc: bool,
    ) -> Self {
        let presented = request
            .extensions()
            .get::<Principal>()
            .and_then(|p| p.credential())
            .map(|c| c.scheme);
        Self {
            state: StageState::Inner {
                future: inner.call(request),
                extra_headers,
                context,
                grpc,
                presented,
            },
        }
    }

    fn refused(response: Response<Full<Bytes>>) -> Self {
        Self {
            state: StageState::Refused {
                response: Some(response),
            },
        }
    }
}

impl<S, B, ResBody> Future for AuthorizeFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StageStateProj::Deciding {
                    decision,
                    body,
                    inner,
                    context,
                    gate,
                    grpc,
                } => {
                    let next = match ready!(decision.as_mut().poll(cx)) {
                        Ok((principal, parts)) => {
                            let body = body
                                .take()
                                .expect("AuthorizeFuture polled after completion");
                            let mut inner = inner
                                .take()
                                .expect("AuthorizeFuture polled after completion");
                            let presented = principal.credential().map(|c| c.scheme);
                            let (request, extra_headers) =
                                admit(principal, gate.as_ref(), parts, body);
                            StageState::Inner {
                                future: inner.call(request),
                                extra_headers,
                                context: context.clone(),
                                grpc: *grpc,
                                presented,
                            }
                        }
                        Err(error) => StageState::Refused {
                            response: Some(context.refuse(&error, *grpc)),
                        },
                    };
                    this.state.set(next);
                }
                StageStateProj::Inner {
                    future,
                    extra_headers,
                    context,
                    grpc,
                    presented,
                } => {
                    let response = ready!(future.poll(cx))?;
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
                    return Poll::Ready(Ok(response));
                }
                StageStateProj::Refused { response } => {
                    let response = response
                        .take()
                        .expect("AuthorizeFuture polled after completion");
                    return Poll::Ready(Ok(response.map(|body| ResponseBody::Refusal { body })));
                }
            }
        }
    }
}
