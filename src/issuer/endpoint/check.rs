use std::fmt;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;

use super::{Challenge, OAuthError, Params, TOKEN_ONLY_PARAMS, allowed};
use crate::issuer::TokenIssuer;
use crate::service_util::json_response;
use crate::verify::VerifyError;

/// HENGSHI's token check, as a tower service: `GET …?token=…` on whatever path it is mounted
/// (`/oauth/token/check`, the seed's `/api/oauth2/server/tokens/check`).
///
/// Holding the token is the authority. A live token is answered 200
/// `{"access_token","token_type","expires_in" (seconds left),"scope"}` (without `scope` when the
/// token has none); any other token is 401
/// `invalid_token` with a `Bearer … error="invalid_token"` challenge (RFC 6750 §3); a missing
/// `token` is 400; another method is 405 with `Allow: GET`; a store that cannot answer is 503
/// `temporarily_unavailable` with `Retry-After`.
///
/// The token travels in the URL (the seed's design), so access logs see it: mount the check
/// only where its clients need it.
///
/// ```
/// use axum::Router;
/// use tower_gatekeeper::issuer::{SigningKey, TokenIssuer};
///
/// let issuer = TokenIssuer::builder(SigningKey::hs256(&[7u8; 32]).unwrap()).build();
/// let app: Router = Router::new().route_service("/oauth/token/check", issuer.check_endpoint());
/// ```
#[derive(Clone)]
pub struct CheckEndpoint {
    issuer: TokenIssuer,
}

impl fmt::Debug for CheckEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckEndpoint").finish_non_exhaustive()
    }
}

impl CheckEndpoint {
    pub(crate) fn new(issuer: TokenIssuer) -> Self {
        Self { issuer }
    }

    async fn respond<B>(self, request: Request<B>) -> Response<Full<Bytes>> {
        let token = match self.token_of(&request) {
            Ok(token) => token,
            Err(e) => return e.into_response(self.issuer.realm()),
        };
        self.check(&token)
            .await
            .unwrap_or_else(|e| e.into_response(self.issuer.realm()))
    }

    /// The token to check, from the query of a `GET`.
    fn token_of<B>(&self, request: &Request<B>) -> Result<String, OAuthError> {
        if !allowed(request.method(), true, false) {
            return Err(OAuthError::method_not_allowed("GET"));
        }
        let query = request.uri().query().unwrap_or("");
        let params = Params::parse(query.as_bytes(), TOKEN_ONLY_PARAMS)?;
        params
            .get("token")
            .map(str::to_owned)
            .ok_or_else(|| OAuthError::invalid_request("the token parameter is missing"))
    }

    async fn check(&self, token: &str) -> Result<Response<Full<Bytes>>, OAuthError> {
        match self.issuer.inspect(token).await {
            Ok(info) => {
                let left = info
                    .expires_at
                    .saturating_sub(self.issuer.clock().unix_seconds());
                let mut answer = serde_json::json!({
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": left,
                });
                // As in a token response (RFC 6749 §5.1): no `scope` when there is none.
                if !info.scopes.is_empty() {
                    answer["scope"] = info.scopes.join(" ").into();
                }
                Ok(json_response(StatusCode::OK, &answer))
            }
            Err(VerifyError::Unavailable(d)) => Err(OAuthError::unavailable(d)),
            Err(e) => {
                let description = match e {
                    VerifyError::Invalid(d) => d,
                    _ => "the token is not valid here".into(),
                };
                let mut error = OAuthError::new("invalid_token", description);
                error.status = StatusCode::UNAUTHORIZED;
                error.challenge = Challenge::BearerInvalidToken;
                Err(error)
            }
        }
    }
}

crate::service_util::json_service!(CheckEndpoint);
