use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;

use super::{BodyRules, OAuthError, Params, TOKEN_PARAMS, allowed, authenticate, read_form};
use crate::issuer::clients::ClientRecord;
use crate::issuer::{IssueError, TokenIssuer};
use crate::service_util::json_response;

/// The suffix of the Microsoft identity platform's scope form `<resource>/.default`.
const DEFAULT_SUFFIX: &str = "/.default";

/// The client-credentials token endpoint (RFC 6749 §4.4), as a tower service. It answers on
/// whatever path it is mounted (`Router::route_service("/oauth/token", issuer.token_endpoint())`).
///
/// `POST` with an `application/x-www-form-urlencoded` body. The client authenticates with
/// `client_id`/`client_secret` parameters or an `Authorization: Basic` header (RFC 6749
/// §2.3.1), never both. Answers `{"access_token","token_type","expires_in","scope"}` (without
/// `scope` when no scope is granted) with
/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1), or an RFC 6749 §5.2
/// error: every `invalid_client` is a 401 with a `Basic` challenge; a saturated hashing
/// pool, or a store that cannot answer (redis mode: Redis unreachable, or an opaque token
/// that cannot be recorded), is a 503 `temporarily_unavailable` with `Retry-After`; a body
/// over the limit is a
/// 413, one that stalls past the deadline a 408; another method a 405 with `Allow`.
///
/// `scope` may be the Microsoft identity platform's `<resource>/.default` (alone), where the
/// resource is the issuer's audience or one of its
/// [`resource_id`](crate::issuer::TokenIssuerBuilder::resource_id)s: it grants all the scopes
/// the client is allowed, and the answer adds Azure's `ext_expires_in`.
///
/// **Compatibility mode:** [`allow_get`](Self::allow_get) also accepts `GET` with the
/// parameters in the query, as HENGSHI BI and Tencent's connector send them. Off by default:
/// it puts the client secret in the URL, where proxies, access logs and browser history keep
/// it.
///
/// ```
/// use axum::Router;
/// use tower_gatekeeper::issuer::{SigningKey, TokenIssuer};
///
/// let issuer = TokenIssuer::builder(SigningKey::hs256(&[7u8; 32]).unwrap()).build();
/// let app: Router = Router::new()
///     .route_service("/oauth/token", issuer.token_endpoint())
///     // the seed's literal path, with its GET form
///     .route_service("/api/oauth2/server/tokens", issuer.token_endpoint().allow_get(true));
/// ```
#[derive(Clone)]
pub struct TokenEndpoint {
    issuer: TokenIssuer,
    body: BodyRules,
    allow_get: bool,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("allow_get", &self.allow_get)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl TokenEndpoint {
    pub(crate) fn new(issuer: TokenIssuer) -> Self {
        Self {
            issuer,
            body: BodyRules::default(),
            allow_get: false,
        }
    }

    /// Also accepts `GET` with the parameters in the query (default: no). The seeds'
    /// compatibility mode: the client secret travels in the URL, which proxies and access logs
    /// record; prefer `POST` wherever the client allows it.
    pub fn allow_get(mut self, on: bool) -> Self {
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
        self.token(request)
            .await
            .unwrap_or_else(|e| e.into_response(self.issuer.realm()))
    }

    async fn token<B>(&self, request: Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        if !allowed(&parts.method, self.allow_get, true) {
            let allow = if self.allow_get { "GET, POST" } else { "POST" };
            return Err(OAuthError::method_not_allowed(allow));
        }
        let params = if parts.method == Method::GET {
            Params::query(&parts, TOKEN_PARAMS)?
        } else {
            read_form(&parts, body, self.body, TOKEN_PARAMS).await?
        };
        match params.get("grant_type") {
            None => return Err(OAuthError::invalid_request("grant_type is missing")),
            Some("client_credentials") => {}
            Some(_) => {
                return Err(OAuthError::new(
                    "unsupported_grant_type",
                    "only the client_credentials grant is offered",
                ));
            }
        }
        // Clients and users are separate namespaces: a user that shares this client's id is
        // another principal, and its being disabled says nothing about the client.
        let client = authenticate(&self.issuer, &parts, &params).await?;
        let (scopes, azure) = self.granted_scopes(&client, params.get("scope"))?;
        let issued = self
            .issuer
            .issue_as(&client.id, client.token_format, &scopes)
            .await
            .map_err(|e| match e {
                IssueError::Store(e) => {
                    tracing::warn!(error = %e, "token issuance: the token store is unavailable");
                    OAuthError::unavailable("the token store is unavailable; try again shortly")
                }
                _ => {
                    let mut e = OAuthError::new("server_error", "the token could not be signed");
                    e.status = StatusCode::INTERNAL_SERVER_ERROR;
                    e
                }
            })?;
        let mut value = serde_json::to_value(&issued).unwrap_or_default();
        if azure {
            // The Microsoft identity platform's answer carries it; its clients may read it.
            value["ext_expires_in"] = issued.expires_in.into();
        }
        Ok(json_response(StatusCode::OK, &value))
    }

    /// The scopes to grant (RFC 6749 §3.3), and whether the request used the `.default` form.
    fn granted_scopes(
        &self,
        client: &ClientRecord,
        requested: Option<&str>,
    ) -> Result<(Vec<String>, bool), OAuthError> {
        let Some(requested) = requested else {
            return Ok((client.default_scopes.clone(), false));
        };
        let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
        if let Some(resource) = requested
            .iter()
            .find_map(|s| s.strip_suffix(DEFAULT_SUFFIX))
        {
            // `<resource>/.default` stands for every scope of the resource: nothing beside it.
            if requested.len() > 1 {
                return Err(OAuthError::new(
                    "invalid_scope",
                    "a <resource>/.default scope cannot be combined with other scopes",
                ));
            }
            if !self.issuer.is_resource(resource) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    "the resource of the .default scope is not served here",
                ));
            }
            return Ok((client.allowed_scopes.clone(), true));
        }
        // The scope is not named: it is the client's text, and may be a secret pasted into the
        // wrong field.
        if requested
            .iter()
            .any(|s| !client.allowed_scopes.iter().any(|a| a == *s))
        {
            return Err(OAuthError::new(
                "invalid_scope",
                "the client may not request one of the scopes asked for",
            ));
        }
        Ok((requested.into_iter().map(str::to_owned).collect(), false))
    }
}

crate::service_util::json_service!(TokenEndpoint);
