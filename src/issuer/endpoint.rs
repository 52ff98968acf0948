use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;

use std::sync::Arc;

use super::TokenIssuer;
use super::clients::ClientRecord;
use crate::extract::read_limited;
use crate::service_util::json_response;
use crate::verify::VerifyError;

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
    allow: Option<&'static str>,
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
            allow: None,
        }
    }
    fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_request", description)
    }
}

impl OAuthError {
    fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = json_response(
            self.status,
            &serde_json::json!({"error": self.code, "error_description": self.description}),
        );
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static(allow));
        }
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

    async fn respond<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let operation = request
            .uri()
            .path()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("");
        let result = match (operation, request.method()) {
            ("check", &Method::GET) => Ok(self.check(&request)),
            ("check", _) => Ok(method_not_allowed("GET")),
            ("introspect", &Method::POST) => self.introspect(request).await,
            ("introspect", _) => Ok(method_not_allowed("POST")),
            ("revoke", &Method::GET) => Ok(self.revoke_by_possession(&request)),
            ("revoke", &Method::POST) => self.revoke(request).await,
            ("revoke", _) => Ok(method_not_allowed("GET, POST")),
            _ => self.token(request).await,
        };
        result.unwrap_or_else(OAuthError::into_response)
    }

    /// Reads the parameters of a `POST` form (or, where allowed, a `GET` query); another method
    /// is a 405.
    async fn params<B>(
        &self,
        request: Request<B>,
        allow_get: bool,
    ) -> Result<(http::request::Parts, Params), OAuthError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        if parts.method == Method::POST {
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
            let params = Params::parse(&bytes)?;
            Ok((parts, params))
        } else if parts.method == Method::GET && allow_get {
            let params = Params::parse(parts.uri.query().unwrap_or("").as_bytes())?;
            Ok((parts, params))
        } else {
            let mut e = OAuthError::invalid_request("use POST");
            e.status = StatusCode::METHOD_NOT_ALLOWED;
            e.allow = Some(if allow_get { "GET, POST" } else { "POST" });
            Err(e)
        }
    }

    /// Authenticates the client (RFC 6749 §2.3): Basic header or body parameters, never both.
    async fn authenticate(
        &self,
        parts: &http::request::Parts,
        params: &Params,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
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
        record.ok_or_else(|| {
            let mut error = OAuthError::new("invalid_client", "client authentication failed");
            error.basic_challenge = via_header;
            error
        })
    }

    async fn token<B>(self, request: Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, params) = self.params(request, self.allow_get).await?;
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
        let client = self.authenticate(&parts, &params).await?;
        // A client that is also a disabled user gets nothing: its token would be refused anyway.
        if self
            .issuer
            .users()
            .is_some_and(|u| u.is_disabled(&client.id))
        {
            return Err(OAuthError::new(
                "invalid_client",
                "client authentication failed",
            ));
        }
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

    /// HENGSHI's token check: `GET …/check?token=…`.
    fn check<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        let token = query_token(request);
        let Some(token) = token else {
            return OAuthError::invalid_request("the token parameter is missing").into_response();
        };
        match self.issuer.inspect(&token) {
            Ok(info) => {
                let left = info
                    .expires_at
                    .saturating_sub(self.issuer.clock().unix_seconds());
                json_response(
                    StatusCode::OK,
                    &serde_json::json!({
                        "access_token": token,
                        "token_type": "Bearer",
                        "expires_in": left,
                        "scope": info.scopes.join(" "),
                    }),
                )
            }
            Err(e) => {
                let description = match e {
                    VerifyError::Invalid(d) | VerifyError::Unavailable(d) => d,
                    VerifyError::NotApplicable => "the token is not valid here".into(),
                };
                let mut error = OAuthError::new("invalid_token", description);
                error.status = StatusCode::UNAUTHORIZED;
                error.into_response()
            }
        }
    }

    /// RFC 7662 introspection; the caller authenticates as a client.
    async fn introspect<B>(self, request: Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, params) = self.params(request, false).await?;
        self.authenticate(&parts, &params).await?;
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("the token parameter is missing"))?;
        let value = match self.issuer.inspect(token) {
            Ok(info) => {
                let mut v = serde_json::json!({
                    "active": true,
                    "scope": info.scopes.join(" "),
                    "client_id": info.client_id,
                    "sub": info.subject,
                    "exp": info.expires_at,
                    "iss": self.issuer.issuer_name(),
                    "aud": self.issuer.audience(),
                    "token_type": "Bearer",
                });
                if let Some(iat) = info.issued_at {
                    v["iat"] = iat.into();
                }
                if let Some(jti) = info.token_id {
                    v["jti"] = jti.into();
                }
                v
            }
            // RFC 7662 §2.2: nothing more about a token that is not active.
            Err(_) => serde_json::json!({"active": false}),
        };
        Ok(json_response(StatusCode::OK, &value))
    }

    /// RFC 7009 revocation; the caller authenticates and may revoke only its own tokens.
    async fn revoke<B>(self, request: Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, params) = self.params(request, false).await?;
        let client = self.authenticate(&parts, &params).await?;
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
        match self.issuer.revoke(token, Some(&client.id)) {
            // Unknown, expired or already revoked tokens are answered 200 too (§2.2).
            Ok(_) => {
                let mut response = Response::new(Full::new(Bytes::new()));
                response
                    .headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                Ok(response)
            }
            Err(_) => Err(OAuthError::new(
                "unauthorized_client",
                "the token was issued to another client",
            )),
        }
    }

    /// HENGSHI's revoke: `GET …/revoke?token=…`; holding the token is the authority.
    fn revoke_by_possession<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        let Some(token) = query_token(request) else {
            return json_response(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"code": 400, "msg": "the token parameter is missing"}),
            );
        };
        let msg = match self.issuer.revoke(&token, None) {
            Ok(true) => "the token was revoked",
            _ => "the token is not active",
        };
        json_response(StatusCode::OK, &serde_json::json!({"code": 0, "msg": msg}))
    }
}

fn query_token<B>(request: &Request<B>) -> Option<String> {
    let query = request.uri().query()?;
    let params = Params::parse(query.as_bytes()).ok()?;
    params.get("token").map(str::to_owned)
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut e = OAuthError::invalid_request(format!("use {allow}"));
    e.status = StatusCode::METHOD_NOT_ALLOWED;
    e.allow = Some(allow);
    e.into_response()
}

crate::service_util::json_service!(TokenEndpoint);
