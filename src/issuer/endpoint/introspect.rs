use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;

use super::{BodyRules, OAuthError, TOKEN_ABOUT_PARAMS, allowed, authenticate, read_form};
use crate::issuer::TokenIssuer;
use crate::service_util::json_response;
use crate::verify::VerifyError;

/// RFC 7662 token introspection, as a tower service on whatever path it is mounted
/// (`/oauth/token/introspect`).
///
/// `POST` form `token` (and an ignored `token_type_hint`); the caller authenticates as a
/// registered client, like at the token endpoint (401 `invalid_client` with a `Basic`
/// challenge otherwise). A live token is answered
/// `{"active":true,"scope","client_id","sub","exp","iat","iss","aud","token_type","jti"}`
/// (without `scope` when the token has none), any other exactly `{"active":false}` (RFC 7662
/// §2.2); when a store cannot answer, 503
/// `temporarily_unavailable` rather than a guess. Body limit, deadline, 405 and 503 as at the
/// [`TokenEndpoint`](super::TokenEndpoint).
///
/// ```
/// use axum::Router;
/// use tower_gatekeeper::issuer::{SigningKey, TokenIssuer};
///
/// let issuer = TokenIssuer::builder(SigningKey::hs256(&[7u8; 32]).unwrap()).build();
/// let app: Router =
///     Router::new().route_service("/oauth/token/introspect", issuer.introspection_endpoint());
/// ```
#[derive(Clone)]
pub struct IntrospectionEndpoint {
    issuer: TokenIssuer,
    body: BodyRules,
}

impl fmt::Debug for IntrospectionEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionEndpoint")
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl IntrospectionEndpoint {
    pub(crate) fn new(issuer: TokenIssuer) -> Self {
        Self {
            issuer,
            body: BodyRules::default(),
        }
    }

    /// The largest form body read (default 16 KiB); a larger one is refused with 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body.limit = bytes;
        self
    }

    /// How long the body may take to arrive (default 10 s); past it, 408. The deadline runs on
    /// tokio's timer (every usual runtime has one); outside a tokio runtime there is none.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body.timeout = timeout;
        self
    }

    async fn respond<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.introspect(request)
            .await
            .unwrap_or_else(|e| e.into_response(self.issuer.realm()))
    }

    async fn introspect<B>(&self, request: Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        if !allowed(&parts.method, false, true) {
            return Err(OAuthError::method_not_allowed("POST"));
        }
        let params = read_form(&parts, body, self.body, TOKEN_ABOUT_PARAMS).await?;
        authenticate(&self.issuer, &parts, &params).await?;
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("the token parameter is missing"))?;
        let value = match self.issuer.inspect(token).await {
            Ok(info) => {
                let mut v = serde_json::json!({
                    "active": true,
                    "client_id": info.client_id,
                    "sub": info.subject,
                    "exp": info.expires_at,
                    "iss": self.issuer.issuer_name(),
                    "aud": self.issuer.audience(),
                    "token_type": "Bearer",
                });
                // RFC 7662 §2.2: `scope` is optional, and an empty string is no RFC 6749 §3.3
                // scope value: a token with no scopes has none.
                if !info.scopes.is_empty() {
                    v["scope"] = info.scopes.join(" ").into();
                }
                if let Some(iat) = info.issued_at {
                    v["iat"] = iat.into();
                }
                if let Some(jti) = info.token_id {
                    v["jti"] = jti.into();
                }
                v
            }
            // A store that cannot answer decides nothing: 503, not "inactive" (RFC 7662 §2.3
            // leaves errors to RFC 6749 §5.2's codes).
            Err(VerifyError::Unavailable(d)) => return Err(OAuthError::unavailable(d)),
            // RFC 7662 §2.2: nothing more about a token that is not active.
            Err(_) => serde_json::json!({"active": false}),
        };
        Ok(json_response(StatusCode::OK, &value))
    }
}

crate::service_util::json_service!(IntrospectionEndpoint);
