//! Pieces shared by the JSON services (token endpoint, grant and account admin).
// Every user of these pieces is behind the `issuer` feature.
#![cfg_attr(
    not(feature = "issuer"),
    allow(dead_code, unused_macros, unused_imports)
)]

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// A JSON answer that no cache may keep (RFC 6749 §5.1 asks this of token responses; admin
/// answers are no different). A 503 (a store down, the password-hashing bound full) says when
/// to try again: `Retry-After: 1` (RFC 9110 §10.2.3, §15.6.4).
pub(crate) fn json_response(
    status: StatusCode,
    value: &serde_json::Value,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(value).unwrap_or_default(),
    )));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// `path` without a mount `prefix` (as given to `route_service`); unchanged when the prefix
/// was already stripped (`nest_service`) or is absent.
pub(crate) fn relative_path<'a>(path: &'a str, prefix: &str) -> &'a str {
    path.strip_prefix(prefix)
        .filter(|p| p.starts_with('/'))
        .unwrap_or(path)
}

/// The answer to `OPTIONS` on an admin resource: 204 with `Allow` (RFC 9110 §9.3.7), given
/// without authentication (a CORS preflight carries no credential) and revealing nothing but
/// the methods, which are documented anyway.
pub(crate) fn options_response(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = no_content();
    response
        .headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Adds `Allow` to a 405 answer (RFC 9110 §15.5.6: a 405 MUST list the allowed methods).
pub(crate) fn with_allow(
    mut response: Response<Full<Bytes>>,
    allow: &'static str,
) -> Response<Full<Bytes>> {
    response
        .headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Adds the `WWW-Authenticate: Bearer realm="…"` challenge every 401 carries (RFC 9110
/// §11.6.1, RFC 6750 §3: no error attribute when no credential was given).
pub(crate) fn with_bearer_challenge(
    mut response: Response<Full<Bytes>>,
    realm: &str,
) -> Response<Full<Bytes>> {
    let escaped = realm.replace('\\', "\\\\").replace('"', "\\\"");
    let value = HeaderValue::from_str(&format!("Bearer realm=\"{escaped}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    response
        .headers_mut()
        .insert(http::header::WWW_AUTHENTICATE, value);
    response
}

/// Adds the RFC 6750 §3 challenge of a 403 to a bearer-token request that lacks the privilege:
/// `Bearer realm="…", error="insufficient_scope", error_description="…"` (and `scope="…"` when
/// one scope would do). A request that presented a password or an API key gets none.
pub(crate) fn with_insufficient_scope_challenge(
    mut response: Response<Full<Bytes>>,
    realm: &str,
    presented: Option<crate::extract::Scheme>,
    description: &str,
    scope: Option<&str>,
) -> Response<Full<Bytes>> {
    if !matches!(presented, None | Some(crate::extract::Scheme::Bearer)) {
        return response;
    }
    let quote = crate::error::quote;
    let mut value = format!(
        "Bearer realm={}, error=\"insufficient_scope\", error_description={}",
        quote(realm),
        quote(description)
    );
    if let Some(scope) = scope {
        value.push_str(", scope=");
        value.push_str(&quote(scope));
    }
    if let Ok(value) = HeaderValue::try_from(value) {
        response
            .headers_mut()
            .append(http::header::WWW_AUTHENTICATE, value);
    }
    response
}

/// An empty 204.
pub(crate) fn no_content() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// Implements `tower::Service` for a cloneable type with
/// `async fn respond(self, Request<B>) -> Response<Full<Bytes>>`: always ready, never an error.
macro_rules! json_service {
    ($ty:ty) => {
        impl<B> tower_service::Service<http::Request<B>> for $ty
        where
            B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
            B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        {
            type Response = http::Response<http_body_util::Full<bytes::Bytes>>;
            type Error = std::convert::Infallible;
            type Future = $crate::maybe_ready::BoxFuture<Result<Self::Response, Self::Error>>;

            fn poll_ready(
                &mut self,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), Self::Error>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn call(&mut self, request: http::Request<B>) -> Self::Future {
                let this = self.clone();
                Box::pin(async move { Ok(this.respond(request).await) })
            }
        }
    };
}
pub(crate) use json_service;
