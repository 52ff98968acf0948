//! The layer for axum routers, in axum's own body type (feature `axum`).
//!
//! [`GatekeeperLayer`] works with any body type: it hands the inner service a
//! [`RequestBody<B>`] and answers in [`ResponseBody<B>`]. Under an axum router each of those is
//! boxed again into `axum::body::Body` (axum's `Route` boxes every request body that is not
//! already a `Body`, and every response body the same way): two allocations and two dynamic
//! polls per request that carry nothing. [`AxumGatekeeperLayer`] runs the same pipeline but
//! takes and gives `Body`: the original body goes through as it came, and only a body the layer
//! had to read (to look for a credential in it) or a refusal it answers is boxed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum_core::body::Body;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{Gatekeeper, GatekeeperLayer, ResponseBody, ResponseFuture};
use crate::extract::RequestBody;

/// [`GatekeeperLayer`] for axum: the same pipeline, with requests and responses in
/// `axum::body::Body` (no re-boxing of either). Made by [`GatekeeperLayer::for_axum`].
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_gatekeeper::{GatekeeperLayer, Principal};
/// use tower_gatekeeper::verify::JwtVerifier;
///
/// let verifier = JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap();
/// let app: Router = Router::new()
///     .route("/whoami", get(|p: Principal| async move { p.subject().to_owned() }))
///     .layer(GatekeeperLayer::builder(verifier).realm("orders").build().for_axum());
/// ```
#[derive(Clone)]
pub struct AxumGatekeeperLayer {
    layer: GatekeeperLayer,
}

impl fmt::Debug for AxumGatekeeperLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxumGatekeeperLayer")
            .field("layer", &self.layer)
            .finish()
    }
}

impl GatekeeperLayer {
    /// This layer for axum routers (feature `axum`): requests and responses stay in
    /// `axum::body::Body`, which saves the two boxings axum otherwise adds to every request
    /// behind the layer. Everything else (the pipeline, refusals, the cache) is this layer's.
    pub fn for_axum(self) -> AxumGatekeeperLayer {
        AxumGatekeeperLayer { layer: self }
    }
}

impl AxumGatekeeperLayer {
    /// The layer it was made from.
    pub fn layer(&self) -> &GatekeeperLayer {
        &self.layer
    }
}

impl<S> Layer<S> for AxumGatekeeperLayer {
    type Service = AxumGatekeeper<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AxumGatekeeper {
            inner: Gatekeeper::new(InAxumBody { inner }, self.layer.shared.clone()),
        }
    }
}

/// The service made by [`AxumGatekeeperLayer`]: [`Gatekeeper`] in `axum::body::Body`.
pub struct AxumGatekeeper<S> {
    inner: Gatekeeper<InAxumBody<S>>,
}

impl<S: Clone> Clone for AxumGatekeeper<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for AxumGatekeeper<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxumGatekeeper")
            .field("inner", &self.inner.inner().inner)
            .finish_non_exhaustive()
    }
}

impl<S, ResBody> Service<Request<Body>> for AxumGatekeeper<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<axum_core::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = AxumResponseFuture<S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        AxumResponseFuture {
            future: self.inner.call(req),
        }
    }
}

/// Gives the inner service the request in `Body`: the original body itself, or (rarely) the
/// bytes the layer read, boxed once.
#[derive(Clone, Debug)]
pub(crate) struct InAxumBody<S> {
    inner: S,
}

impl<S> Service<Request<RequestBody<Body>>> for InAxumBody<S>
where
    S: Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<RequestBody<Body>>) -> Self::Future {
        self.inner.call(req.map(|body| match body {
            RequestBody::Original { body } => body,
            replayed => Body::new(replayed),
        }))
    }
}

pin_project! {
    /// The response future of [`AxumGatekeeper`].
    pub struct AxumResponseFuture<S>
    where
        S: Service<Request<Body>>,
    {
        #[pin]
        future: ResponseFuture<InAxumBody<S>, Body>,
    }
}

impl<S> fmt::Debug for AxumResponseFuture<S>
where
    S: Service<Request<Body>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxumResponseFuture")
            .field("future", &self.future)
            .finish()
    }
}

impl<S, ResBody> Future for AxumResponseFuture<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<axum_core::BoxError>,
{
    type Output = Result<Response<Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().future.poll(cx))?;
        // `Body::new` of a `Body` is that body (no new box): only a refusal is boxed.
        Poll::Ready(Ok(response.map(|body| match body {
            ResponseBody::Inner { body } => Body::new(body),
            ResponseBody::Refusal { body } => Body::new(body),
        })))
    }
}
