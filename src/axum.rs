//! axum extractors: `Principal` and `Option<Principal>`; `IntoResponse` for `AuthError`.
//!
//! Refusals answer in the realm and with the responder of the layer that admitted the request:
//! the extractors read the context it left in the request extensions, and an `AuthError` a
//! handler returns is answered again, that layer's way, as it passes back through the layer.

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

use crate::error::{AuthError, Challenge, JsonResponder, render};
use crate::layer::{LayerContext, RenderInLayer};
use crate::principal::Principal;

/// The rejection of the `Principal` extractor: the route is not behind a
/// [`GatekeeperLayer`](crate::GatekeeperLayer), or the layer runs in optional mode and the
/// request was anonymous. Answers 401 with a bare challenge, in the layer's realm and with its
/// responder when there is a layer (realm `api` and an RFC 6750 answer when there is none).
#[derive(Clone, Default)]
pub struct MissingPrincipal {
    /// The layer's context, and whether the request is a gRPC one.
    layer: Option<(LayerContext, bool)>,
}

impl std::fmt::Debug for MissingPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MissingPrincipal")
    }
}

impl IntoResponse for MissingPrincipal {
    fn into_response(self) -> Response {
        match self.layer {
            Some((layer, grpc)) => layer
                .refuse(&AuthError::missing(), grpc)
                .map(axum_core::body::Body::new),
            None => AuthError::missing().into_response(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let layer = crate::layer::context_of(&parts.extensions)
            .map(|layer| (layer.clone(), layer.is_grpc(&parts.headers)));
        Err(MissingPrincipal { layer })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}

/// Rendered with defaults (realm `api`, an RFC 6750 answer); the innermost
/// [`GatekeeperLayer`](crate::GatekeeperLayer) or [`AuthorizeLayer`](crate::layer::AuthorizeLayer)
/// the response passes through answers it again in its own realm and with its own responder.
impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let mut response = render(&self, &Challenge::new("api", false), &JsonResponder::OAuth);
        response.extensions_mut().insert(RenderInLayer(self));
        response.map(axum_core::body::Body::new)
    }
}
