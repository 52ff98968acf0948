//! The tower layer: the pipeline from request to [`Principal`](crate::Principal), in one place.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_gatekeeper::{GatekeeperLayer, Principal};
//! use tower_gatekeeper::verify::JwtVerifier;
//!
//! let verifier = JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap();
//! let app: Router = Router::new()
//!     .route("/whoami", get(|p: Principal| async move { p.subject().to_owned() }))
//!     .layer(GatekeeperLayer::builder(verifier).realm("orders").build());
//! ```
//!
//! The layer changes the request body type to [`RequestBody<B>`](crate::extract::RequestBody)
//! (the original body, or the bytes it had to read to find a credential) and the response body
//! type to [`ResponseBody<B>`]; axum routers and tonic servers accept both as they are. Under
//! an axum router, `GatekeeperLayer::for_axum` (feature `axum`) runs the same layer in axum's own
//! `Body` instead, which saves the two boxings axum adds to each of those types (two
//! allocations per request).
//!
//! What kind of credential passed is what its verifier says it verified (an API key is an API
//! key wherever it was carried), recorded in [`Principal::credential`](crate::Principal::credential);
//! [`RequireScheme`] admits only the kinds an API accepts.
//!
//! Refusals are answered by the layer's [`Responder`] (with the `tonic` feature, by its gRPC
//! responder for `application/grpc` requests), in its realm. The layer leaves that context in
//! the extensions of every request it admits, so that refusals made further in answer the same
//! way: an [`AuthorizeLayer`] under it, the `Principal` and `MatchedApi` extractors, and an
//! [`AuthError`] a handler returns (re-rendered on its way out).
//!
//! [`AuthorizeLayer`] runs authorization stages on the principal an outer layer placed,
//! without verifying the credential again (see `docs/composition.md`).

mod authorize;
#[cfg(feature = "axum")]
mod axum_native;
mod body;
mod future;
mod service;
mod stage;
mod trace;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body_util::Full;
use tower_layer::Layer;

pub use authorize::{AddResponseHeaders, Authorize, RequireScheme, RequireScopes};
#[cfg(feature = "axum")]
pub use axum_native::{AxumGatekeeper, AxumGatekeeperLayer, AxumResponseFuture};
pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use service::Gatekeeper;
pub use stage::{AuthorizeFuture, AuthorizeLayer, AuthorizeLayerBuilder, AuthorizeService};
pub use trace::{DECISION_SPAN, DECISION_TARGET};

use crate::error::{AuthError, Challenge, JsonResponder, Responder, render};
use crate::extract::CredentialSources;
use crate::verify::{CacheConfig, CachedVerifier, VerifiedCache, Verifier};

pub(crate) struct Shared {
    pub(crate) sources: CredentialSources,
    pub(crate) verifier: Arc<dyn Verifier>,
    pub(crate) context: LayerContext,
    pub(crate) optional: bool,
    pub(crate) cors_preflight: bool,
    pub(crate) stages: Vec<Arc<dyn Authorize>>,
    pub(crate) cache: Option<VerifiedCache>,
    /// The verifier again, with its cache in reach: `verifier` is this one when it is set.
    pub(crate) cached: Option<Arc<CachedVerifier<Arc<dyn Verifier>>>>,
    pub(crate) trace: trace::TraceLevels,
}

/// How a layer answers refusals, and what it lets through without a principal.
pub(crate) struct Refusals {
    pub(crate) challenge: Challenge,
    pub(crate) responder: Arc<dyn Responder>,
    /// Answers `application/grpc` requests, when set (feature `tonic`).
    pub(crate) grpc_responder: Option<Arc<dyn Responder>>,
    /// The layer passes anonymous requests on (optional mode, no stage needing a principal).
    pub(crate) passes_anonymous: bool,
    /// The layer passes CORS preflights on.
    pub(crate) cors_preflight: bool,
}

/// A layer's way of refusing, left in the extensions of the requests it admits so that later
/// refusals (an [`AuthorizeLayer`], an extractor that needs a principal, an `AuthError` a
/// handler returns) answer like the layer would.
#[derive(Clone)]
pub(crate) struct LayerContext(pub(crate) Arc<Refusals>);

// A layer's context is read-only once built (its realm, challenges and responders): a panic
// elsewhere cannot leave it half-changed, so a `Principal` carrying one stays unwind-safe, as
// it was when the context travelled as an extension of its own.
impl std::panic::UnwindSafe for LayerContext {}
impl std::panic::RefUnwindSafe for LayerContext {}

impl std::fmt::Debug for LayerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LayerContext")
    }
}

/// The context of the innermost layer that admitted the request: the one an anonymous pass
/// left as an extension, else the one the principal carries (a layer admitting a principal
/// removes an outer layer's extension, so the two never disagree about which is innermost).
pub(crate) fn context_of(extensions: &http::Extensions) -> Option<LayerContext> {
    extensions.get::<LayerContext>().cloned().or_else(|| {
        extensions
            .get::<crate::principal::Principal>()
            .and_then(|p| p.layer_context().cloned())
    })
}

impl LayerContext {
    pub(crate) fn new(refusals: Refusals) -> Self {
        Self(Arc::new(refusals))
    }

    /// Whether `headers` are those of a gRPC request this layer answers the gRPC way.
    pub(crate) fn is_grpc(&self, headers: &HeaderMap) -> bool {
        self.0.grpc_responder.is_some() && is_grpc_content_type(headers)
    }

    /// The answer to `error`, for a gRPC request or not.
    pub(crate) fn refuse(&self, error: &AuthError, grpc: bool) -> Response<Full<Bytes>> {
        let responder = match (&self.0.grpc_responder, grpc) {
            (Some(grpc), true) => grpc,
            _ => &self.0.responder,
        };
        render(error, &self.0.challenge, responder.as_ref())
    }
}

/// A refusal made where no layer's context was at hand (an `AuthError` a handler returned),
/// rendered with defaults: the innermost layer it passes through answers it again, its way.
#[derive(Clone)]
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) struct RenderInLayer(pub(crate) AuthError);

/// Whether the content type is gRPC's: `application/grpc`, `application/grpc+<format>` or
/// either with parameters (gRPC over HTTP/2, "Content-Type"). `application/grpc-web` is not:
/// its framing differs.
pub(crate) fn is_grpc_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    const GRPC: &[u8] = b"application/grpc";
    value.len() >= GRPC.len()
        && value[..GRPC.len()].eq_ignore_ascii_case(GRPC)
        && matches!(value.get(GRPC.len()), None | Some(b'+' | b';' | b' '))
}

/// Authenticates (and authorizes) every request before the inner service sees it.
///
/// Cheap to clone: the configuration is shared.
///
/// With a body source on ([`CredentialSources::form_body`] / [`json_body`](CredentialSources::json_body)),
/// body reads run under a `tokio::time` deadline, so the layer must run on a tokio runtime
/// with its timer enabled (`#[tokio::main]`, `#[tokio::test]`, or a builder with
/// `enable_time()` / `enable_all()`), as tower-http's timeouts need too.
#[derive(Clone)]
pub struct GatekeeperLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for GatekeeperLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatekeeperLayer")
            .field("sources", &self.shared.sources)
            .field("realm", &self.shared.context.0.challenge.realm())
            .field("optional", &self.shared.optional)
            .field("cors_preflight", &self.shared.cors_preflight)
            .field("stages", &self.shared.stages.len())
            .finish_non_exhaustive()
    }
}

impl GatekeeperLayer {
    /// Starts a layer that accepts what `verifier` accepts.
    pub fn builder(verifier: impl Verifier) -> GatekeeperBuilder {
        GatekeeperBuilder {
            sources: CredentialSources::new(),
            verifier: Arc::new(verifier),
            responder: Arc::new(JsonResponder::OAuth),
            grpc_responder: default_grpc_responder(),
            realm: "api".to_owned(),
            optional: false,
            cors_preflight: false,
            stages: Vec::new(),
            resource_metadata: None,
            cache: CacheConfig::new(),
            trace: trace::TraceLevels::default(),
        }
    }
}

#[cfg(feature = "tonic")]
fn default_grpc_responder() -> Option<Arc<dyn Responder>> {
    Some(Arc::new(crate::grpc::GrpcResponder))
}

#[cfg(not(feature = "tonic"))]
fn default_grpc_responder() -> Option<Arc<dyn Responder>> {
    None
}

impl GatekeeperLayer {
    /// The layer's verified-credential cache (counters, size, clearing), unless it was
    /// switched off.
    pub fn verified_cache(&self) -> Option<&VerifiedCache> {
        self.shared.cache.as_ref()
    }
}

impl<S> Layer<S> for GatekeeperLayer {
    type Service = Gatekeeper<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Gatekeeper::new(inner, self.shared.clone())
    }
}

/// Configures a [`GatekeeperLayer`].
#[must_use]
pub struct GatekeeperBuilder {
    sources: CredentialSources,
    verifier: Arc<dyn Verifier>,
    responder: Arc<dyn Responder>,
    grpc_responder: Option<Arc<dyn Responder>>,
    realm: String,
    optional: bool,
    cors_preflight: bool,
    stages: Vec<Arc<dyn Authorize>>,
    resource_metadata: Option<String>,
    cache: CacheConfig,
    trace: trace::TraceLevels,
}

impl fmt::Debug for GatekeeperBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatekeeperBuilder")
            .field("sources", &self.sources)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl GatekeeperBuilder {
    /// Where credentials are looked for (default: `Authorization: Bearer` only).
    pub fn sources(mut self, sources: CredentialSources) -> Self {
        self.sources = sources;
        self
    }

    /// The realm named in `WWW-Authenticate` challenges (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// How refusals are answered (default: RFC 6750 with a [`JsonResponder::OAuth`] body). A
    /// [`BodyShape`](crate::error::BodyShape) (a [`JsonResponder`], a closure returning an
    /// [`ErrorBody`](crate::error::ErrorBody)) changes the body only; a [`Responder`] decides
    /// status, headers and body. With the `tonic` feature, gRPC requests are answered by the
    /// [gRPC responder](Self::grpc_responder) instead.
    pub fn responder(mut self, responder: impl Responder) -> Self {
        self.responder = Arc::new(responder);
        self
    }

    /// How refusals of gRPC requests (content type `application/grpc` or
    /// `application/grpc+…`) are answered: by default
    /// [`GrpcResponder`](crate::grpc::GrpcResponder), HTTP 200 with a `grpc-status`.
    #[cfg(feature = "tonic")]
    pub fn grpc_responder(mut self, responder: impl Responder) -> Self {
        self.grpc_responder = Some(Arc::new(responder));
        self
    }

    /// Answers gRPC requests with the [`responder`](Self::responder) like any other, instead of
    /// the gRPC way.
    #[cfg(feature = "tonic")]
    pub fn no_grpc_responder(mut self) -> Self {
        self.grpc_responder = None;
        self
    }

    /// Lets requests without any credential through, without a `Principal`; a credential
    /// that is presented must still be valid.
    pub fn optional(mut self, on: bool) -> Self {
        self.optional = on;
        self
    }

    /// Lets CORS preflight requests (`OPTIONS` with `Access-Control-Request-Method` and no
    /// credential) through to a CORS layer or handler.
    pub fn allow_cors_preflight(mut self, on: bool) -> Self {
        self.cors_preflight = on;
        self
    }

    /// Requires every scope in `scopes` (403 `insufficient_scope` naming the first missing).
    pub fn require_scopes<I: IntoIterator<Item = S>, S: Into<String>>(self, scopes: I) -> Self {
        self.authorize(RequireScopes::all(scopes))
    }

    /// Bounds the verified-credential cache ([`CachedVerifier`]), or switches it off with
    /// [`CacheConfig::disabled`]. On by default: answers the verifier allows to be reused
    /// (see [`Verifier::verify_reusable`]) are served again for the same credential, each
    /// revalidated by the verifier.
    pub fn verified_cache(mut self, config: CacheConfig) -> Self {
        self.cache = config;
        self
    }

    /// Adds a check that runs after verification, in the order added.
    pub fn authorize(mut self, stage: impl Authorize) -> Self {
        self.stages.push(Arc::new(stage));
        self
    }

    /// Names the resource's RFC 9728 metadata in every `Bearer` challenge
    /// (`resource_metadata="<url>"`, RFC 9728 §5.1), so that a client refused for want of a
    /// token can discover where to get one. See
    /// [`ProtectedResourceMetadata`](crate::discovery::ProtectedResourceMetadata).
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// The level of the decision span (default [`Level::DEBUG`](tracing::Level::DEBUG), as
    /// tower-http's `request` span).
    ///
    /// Every request the layer decides opens one span, target [`DECISION_TARGET`], name
    /// [`DECISION_SPAN`], a child of the current span (tower-http's `TraceLayer` `request`
    /// span when that layer wraps this one), closed once the decision is made. Its fields:
    /// `outcome` (`allowed`, `refused`, `anonymous`), `reason` (the refusal's kind, as in
    /// `metrics::REASONS`), `scheme` (`bearer`, `basic`, `api_key`), `source` (`header`,
    /// `query`, `cookie`, `body`), `subject`, `actor` (the caller under sudo), `tenant`, `api`
    /// (the grant check's API) and `cache` (`hit`, `miss`, `none`). Never a credential.
    /// See `docs/observability.md`.
    ///
    /// ```
    /// use tower_gatekeeper::GatekeeperLayer;
    /// use tower_gatekeeper::verify::JwtVerifier;
    ///
    /// let verifier = JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap();
    /// let layer = GatekeeperLayer::builder(verifier)
    ///     .decision_span_level(tracing::Level::INFO)
    ///     .refusal_log_level(tracing::Level::WARN)
    ///     .build();
    /// ```
    pub fn decision_span_level(mut self, level: tracing::Level) -> Self {
        self.trace.span = level;
        self
    }

    /// The level of the event logged for each refusal (default
    /// [`Level::DEBUG`](tracing::Level::DEBUG)): target [`DECISION_TARGET`], message
    /// `request refused`, fields `reason`, `status` and `description` (the refusal's text,
    /// which never holds the credential), inside the decision span.
    ///
    /// DEBUG by default because refusals are driven by the caller: at INFO, anyone who sends
    /// bad tokens writes to your logs at the rate they send. Raise it (`INFO`, `WARN`) where
    /// refusals should be seen, and rate-limit the callers.
    pub fn refusal_log_level(mut self, level: tracing::Level) -> Self {
        self.trace.refusal = level;
        self
    }

    /// Builds the layer.
    pub fn build(self) -> GatekeeperLayer {
        let mut challenge = Challenge::for_sources(self.realm, &self.sources);
        if let Some(url) = self.resource_metadata {
            challenge = challenge.resource_metadata(url);
        }
        let context = LayerContext::new(Refusals {
            challenge,
            responder: self.responder,
            grpc_responder: self.grpc_responder,
            passes_anonymous: self.optional && !self.stages.iter().any(|s| s.requires_principal()),
            cors_preflight: self.cors_preflight,
        });
        let (verifier, cache, cached) = if self.cache.is_enabled() {
            let cached = Arc::new(CachedVerifier::with_config(self.verifier, self.cache));
            let cache = cached.cache();
            (
                cached.clone() as Arc<dyn Verifier>,
                Some(cache),
                Some(cached),
            )
        } else {
            (self.verifier, None, None)
        };
        GatekeeperLayer {
            shared: Arc::new(Shared {
                sources: self.sources,
                verifier,
                context,
                optional: self.optional,
                cors_preflight: self.cors_preflight,
                stages: self.stages,
                cache,
                cached,
                trace: self.trace,
            }),
        }
    }
}
