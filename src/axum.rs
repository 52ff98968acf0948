//! axum extractors: `Principal` and `Option<Principal>`.

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

use crate::error::{AuthError, Challenge, JsonResponder, render};
use crate::layer::LayerContext;
use crate::principal::Principal;

/// The rejection of the `Principal` extractor: the route is not behind a
/// [`GatekeeperLayer`](crate::GatekeeperLayer), or the layer runs in optional mode and the
/// request was anonymous. Answers 401 with a bare challenge, in the layer's realm and body
/// format when there is a layer.
#[derive(Clone, Default)]
pub struct MissingPrincipal {
    layer: Option<LayerContext>,
}

impl std::fmt::Debug for MissingPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MissingPrincipal")
    }
}

impl IntoResponse for MissingPrincipal {
    fn into_response(self) -> Response {
        let error = AuthError::missing();
        let response = match &self.layer {
            Some(layer) => layer.refuse(&error),
            None => render(&error, &Challenge::new("api", false), &JsonResponder::OAuth),
        };
        response.map(axum_core::body::Body::new)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| MissingPrincipal {
                layer: parts.extensions.get::<LayerContext>().cloned(),
            })
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

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        render(&self, &Challenge::new("api", false), &JsonResponder::OAuth)
            .map(axum_core::body::Body::new)
    }
}
