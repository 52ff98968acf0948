use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::CACHE_CONTROL;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;

use super::{
    BodyRules, OAuthError, Params, TOKEN_ABOUT_PARAMS, TOKEN_ONLY_PARAMS, allowed, authenticate,
    read_form,
};
use crate::issuer::{RevokeError, TokenIssuer};
use crate::service_util::json_response;

/// Token revocation, as a tower service on whatever path it is mounted
/// (`/oauth/token/revoke`).
///
/// RFC 7009: `POST` form `token` (and `token_type_hint`); the caller authenticates as a
/// registered client (401 `invalid_client` with a `Basic` challenge otherwise) and may revoke
/// only its own tokens (400 `unauthorized_client` for another client's). Unknown, expired
/// and already revoked tokens are answered 200 too (RFC 7009 §2.2); a store that cannot
/// answer is 503 `temporarily_unavailable` (RFC 7009 §2.2.1), so a revocation is never
/// reported done when it was not. Body limit, deadline, 405 and 503 as at the
/// [`TokenEndpoint`](super::TokenEndpoint).
///
/// **Compatibility mode:** [`allow_get_by_possession`](Self::allow_get_by_possession) also
/// accepts HENGSHI's `GET …?token=…`, answered `{"code":0,"msg":…}`, where holding the token is
/// the authority. Off by default: the token travels in the URL, which access logs record, and
/// anyone who sees a token can end it.
///
/// ```
/// use axum::Router;
/// use tower_gatekeeper::issuer::{SigningKey, TokenIssuer};
///
/// let issuer = TokenIssuer::builder(SigningKey::hs256(&[7u8; 32]).unwrap()).build();
/// let app: Router = Router::new()
///     .route_service("/oauth/token/revoke", issuer.revocation_endpoint())
///     .route_service(
///         "/api/oauth2/server/tokens/revoke",
///         issuer.revocation_endpoint().allow_get_by_possession(true),
///     );
/// ```
#[derive(Clone)]
pub struct RevocationEndpoint {
    issuer: TokenIssuer,
    body: BodyRules,
    allow_get: bool,
}

impl fmt::Debug for RevocationEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationEndpoint")
            .field("allow_get_by_possession", &self.allow_get)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl RevocationEndpoint {
    pub(crate) fn new(issuer: TokenIssuer) -> Self {
        Self {
            issuer,
            body: BodyRules::default(),
            allow_get: false,
        }
    }

    /// Also accepts HENGSHI's `GET …?token=…` revocation by possession (default: no). The
    /// seeds' compatibility mode: the token travels in the URL.
    pub fn allow_get_by_possession(mut self, on: bool) -> Self {
        self.allow_get = on;
        self
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
        if !allowed(request.method(), self.allow_get, true) {
            let allow = if self.allow_get { "GET, POST" } else { "POST" };
            return OAuthError::method_not_allowed(allow).into_response(self.issuer.realm());
        }
        if request.method() == Method::GET {
            let query = request.uri().query().unwrap_or("").to_owned();
            return self.revoke_by_possession(&query).await;
        }
        self.revoke(request)
            .await
            .unwrap_or_else(|e| e.into_response(self.issuer.realm()))
    }

    /// RFC 7009: the caller authenticates and may revoke only its own tokens.
    async fn revoke<B>(&self, request: Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let params = read_form(&parts, body, self.body, TOKEN_ABOUT_PARAMS).await?;
        let client = authenticate(&self.issuer, &parts, &params).await?;
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("the token parameter is missing"))?;
        match params.get("token_type_hint") {
            None | Some("access_token") | Some("refresh_token") => {}
            Some(_) => {
                return Err(OAuthError::new(
                    "unsupported_token_type",
                    "only access tokens are issued here",
                ));
            }
        }
        match self.issuer.revoke(token, Some(&client.id)).await {
            // Unknown, expired or already revoked tokens are answered 200 too (§2.2).
            Ok(_) => {
                let mut response = Response::new(Full::new(Bytes::new()));
                response
                    .headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                Ok(response)
            }
            Err(RevokeError::Unavailable(d)) => Err(OAuthError::unavailable(d)),
            Err(_) => Err(OAuthError::new(
                "unauthorized_client",
                "the token was issued to another client",
            )),
        }
    }

    /// HENGSHI's revoke: `GET …?token=…`; holding the token is the authority.
    async fn revoke_by_possession(&self, query: &str) -> Response<Full<Bytes>> {
        let token = match Params::parse(query.as_bytes(), TOKEN_ONLY_PARAMS) {
            Ok(params) => params.get("token").map(str::to_owned),
            Err(error) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({"code": 400, "msg": error.description}),
                );
            }
        };
        let Some(token) = token else {
            return json_response(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"code": 400, "msg": "the token parameter is missing"}),
            );
        };
        let msg = match self.issuer.revoke(&token, None).await {
            Ok(true) => "the token was revoked",
            Err(RevokeError::Unavailable(_)) => {
                let mut response = json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({"code": 503, "msg": "the token store is unavailable; try again"}),
                );
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
            _ => "the token is not active",
        };
        json_response(StatusCode::OK, &serde_json::json!({"code": 0, "msg": msg}))
    }
}

crate::service_util::json_service!(RevocationEndpoint);
