use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use super::TokenIssuer;
use crate::extract::read_limited;
use crate::maybe_ready::BoxFuture;

const FORM: &str = "application/x-www-form-urlencoded";
const BODY_LIMIT: usize = 16 * 1024;

/// The client-credentials token endpoint (RFC 6749 §4.4), as a tower service.
///
/// `POST` with a form body, or (for the seed systems that do so, and unless switched off)
/// `GET` with the same parameters in the query. The client authenticates with
/// `client_id`/`client_secret` parameters or an `Authorization: Basic` header (RFC 6749
/// §2.3.1), never both. Answers `{"access_token","token_type","expires_in","scope"}` with
/// `Cache-Control: no-store`, or an RFC 6749 §5.2 error.
#[derive(Clone)]
pub struct TokenEndpoint {
    issuer: TokenIssuer,
    allow_get: bool,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("allow_get", &self.allow_get)
            .finish_non_exhaustive()
    }
}

/// An RFC 6749 §5.2 error.
struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    basic_challenge: bool,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        let status = if code == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        Self {
            status,
            code,
            description: description.into(),
            basic_challenge: false,
        }
    }
    fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_request", description)
    }
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(value).unwrap_or_default(),
    )));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

impl OAuthError {
    fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = json_response(
            self.status,
            &serde_json::json!({"error": self.code, "error_description": self.description}),
        );
        if self.basic_challenge {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"token\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

/// Request parameters, each at most once (RFC 6749 §3.1; empty values count as absent).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(input) {
            if params.iter().any(|(seen, _)| *seen == k) {
                return Err(OAuthError::invalid_request(format!(
                    "the parameter {k} is repeated"
                )));
            }
            params.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(params))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes one half of RFC 6749 §2.3.1 Basic credentials (form-urlencoded).
fn form_decode(value: &str) -> Option<String> {
    let plus = value.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

fn basic_client(header: &HeaderValue) -> Result<Option<(String, String)>, OAuthError> {
    use base64::Engine as _;
    let bad = || {
        let mut e = OAuthError::new("invalid_client", "malformed Basic client credentials");
        e.basic_challenge = true;
        e
    };
    let value = header.to_str().map_err(|_| bad())?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let id = form_decode(id).ok_or_else(bad)?;
    let secret = form_decode(secret).ok_or_else(bad)?;
    Ok(Some((id, secret)))
}

impl TokenEndpoint {
    pub(crate) fn new(issuer: TokenIssuer) -> Self {
        Self {
            issuer,
            allow_get: true,
        }
    }

    /// Accepts (default) or refuses `GET` requests with the parameters in the query.
    pub fn allow_get(mut self, on: bool) -> Self {
        self.allow_get = on;
        self
    }

    async fn handle<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match self.token(request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }

    async fn token<B>(self, request: Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let params = if parts.method == Method::POST {
            let is_form = parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case(FORM));
            if !is_form {
                return Err(OAuthError::invalid_request(
                    "the body must be application/x-www-form-urlencoded",
                ));
            }
            let length = parts
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok());
            let (bytes, _) = read_limited(body, BODY_LIMIT, length)
                .await
                .map_err(|e| OAuthError::invalid_request(e.description().to_owned()))?;
            Params::parse(&bytes)?
        } else if parts.method == Method::GET && self.allow_get {
            Params::parse(parts.uri.query().unwrap_or("").as_bytes())?
        } else {
            let mut response = json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "invalid_request", "error_description": "use POST"}),
            );
            let allow = if self.allow_get { "GET, POST" } else { "POST" };
            response
                .headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static(allow));
            return Ok(response);
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

        let mut headers = parts.headers.get_all(AUTHORIZATION).iter();
        let header = match (headers.next(), headers.next()) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "more than one Authorization header",
                ));
            }
            (h, _) => h,
        };
        let from_header = header.map(basic_client).transpose()?.flatten();
        let body_id = params.get("client_id");
        let body_secret = params.get("client_secret");
        let (id, secret, via_header) = match (from_header, body_id, body_secret) {
            // RFC 6749 2.3: one authentication method per request.
            (Some(_), _, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "the client authenticated with more than one method",
                ));
            }
            (Some((id, _)), Some(body_id), None) if body_id != id => {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the Basic credentials",
                ));
            }
            (Some((id, secret)), _, None) => (id, secret, true),
            (None, Some(id), Some(secret)) => (id.to_owned(), secret.to_owned(), false),
            (None, None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "client_secret without client_id",
                ));
            }
            (None, _, None) => {
                return Err(OAuthError::new(
                    "invalid_client",
                    "client authentication is required",
                ));
            }
        };

        let clients = self.issuer.clients().clone();
        let check = move || clients.authenticate_record(&id, &secret);
        let record = match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.spawn_blocking(check).await.ok().flatten(),
            Err(_) => check(),
        };
        let Some(client) = record else {
            let mut error = OAuthError::new("invalid_client", "client authentication failed");
            error.basic_challenge = via_header;
            return Err(error);
        };

        let scopes: Vec<String> = match params.get("scope") {
            None => client.default_scopes.clone(),
            Some(requested) => {
                let requested: Vec<String> = requested
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if let Some(extra) = requested
                    .iter()
                    .find(|s| !client.allowed_scopes.contains(s))
                {
                    return Err(OAuthError::new(
                        "invalid_scope",
                        format!("the client may not request the scope {extra}"),
                    ));
                }
                requested
            }
        };
        let issued = self
            .issuer
            .issue(&client.id, &scopes)
            .map_err(|_| OAuthError::new("server_error", "the token could not be signed"))?;
        let value = serde_json::to_value(&issued).unwrap_or_default();
        Ok(json_response(StatusCode::OK, &value))
    }
}

impl<B> Service<Request<B>> for TokenEndpoint
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(request).await) })
    }
}
