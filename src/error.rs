//! Refusals and how they are answered.
//!
//! Every refusal is an [`AuthError`] of one [`ErrorKind`]. The status code, the
//! `WWW-Authenticate` challenge (RFC 6750 §3, RFC 7617) and the cache headers are decided in
//! one place, [`render`]; the body format is pluggable through a [`Responder`], so an app can
//! answer `{"error","error_description"}` (the default), `{"error_code","error_msg"}` or
//! `{"code","msg"}`.
//!
//! ```
//! use http::StatusCode;
//! use tower_gatekeeper::error::{AuthError, ErrorKind, JsonResponder, Responder};
//!
//! let err = AuthError::invalid_token("token expired");
//! assert_eq!(err.kind(), ErrorKind::InvalidToken);
//! assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
//!
//! let body = JsonResponder::Huawei.body(&err);
//! assert_eq!(&body.bytes[..], br#"{"error_code":"invalid_token","error_msg":"token expired"}"#);
//! ```

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::extract::CredentialSources;

/// What kind of refusal this is; decides the status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No credential was presented: 401 with a bare challenge (RFC 6750 §3.1).
    MissingCredential,
    /// The request is malformed (two credentials, bad syntax): 400 `invalid_request`.
    InvalidRequest,
    /// The credential is invalid, expired or revoked: 401 `invalid_token`.
    InvalidToken,
    /// Authenticated, but a required scope is missing: 403 `insufficient_scope`.
    InsufficientScope,
    /// Authenticated, but not allowed (grant, tenant, privilege): 403 `access_denied`.
    Forbidden,
    /// The request body is larger than the configured limit: 413.
    PayloadTooLarge,
    /// The request body the layer had to read did not arrive in time: 408, and the
    /// connection is closed (RFC 9110 §15.5.9).
    RequestTimeout,
    /// A verifier backend is unreachable: 503, never a pass.
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status code for this kind.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingCredential | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::InsufficientScope | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The error code: RFC 6750 §3.1's where one applies.
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingCredential => "unauthorized",
            Self::InvalidRequest | Self::PayloadTooLarge | Self::RequestTimeout => {
                "invalid_request"
            }
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::Forbidden => "access_denied",
            Self::Unavailable => "temporarily_unavailable",
        }
    }
}

/// A refusal: a kind, a description for the client, and the missing scope where one is.
///
/// Descriptions are written by this crate or by verifiers and never contain the credential.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthError {
    kind: ErrorKind,
    description: Cow<'static, str>,
    scope: Option<Cow<'static, str>>,
}

impl AuthError {
    /// A refusal of `kind` with a description.
    pub fn new(kind: ErrorKind, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            description: description.into(),
            scope: None,
        }
    }
    /// No credential was presented.
    pub fn missing() -> Self {
        Self::new(ErrorKind::MissingCredential, "no credential was presented")
    }
    /// A malformed request (400).
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidRequest, description)
    }
    /// An invalid credential (401).
    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidToken, description)
    }
    /// A missing scope (403 with `scope="…"`).
    pub fn insufficient_scope(scope: impl Into<Cow<'static, str>>) -> Self {
        let scope = scope.into();
        Self {
            kind: ErrorKind::InsufficientScope,
            description: Cow::Owned(format!("the request requires the {scope} scope")),
            scope: Some(scope),
        }
    }
    /// Not allowed (403).
    pub fn forbidden(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Forbidden, description)
    }
    /// A backend is unreachable (503).
    pub fn unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unavailable, description)
    }
    /// The body exceeds the limit (413).
    pub fn payload_too_large() -> Self {
        Self::new(
            ErrorKind::PayloadTooLarge,
            "the request body exceeds the size limit",
        )
    }
    /// The body did not arrive in time (408).
    pub fn request_timeout() -> Self {
        Self::new(
            ErrorKind::RequestTimeout,
            "the request body did not arrive in time",
        )
    }

    /// The kind of refusal.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }
    /// The error code (`invalid_token`, …).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
    /// The human-readable description.
    pub fn description(&self) -> &str {
        &self.description
    }
    /// The scope whose absence caused an `insufficient_scope` refusal.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthError")
            .field("kind", &self.kind)
            .field("description", &self.description)
            .field("scope", &self.scope)
            .finish()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.description)
    }
}

impl std::error::Error for AuthError {}

/// The body of an error response.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    /// The `Content-Type` of `bytes`.
    pub content_type: HeaderValue,
    /// The body.
    pub bytes: Bytes,
}

impl ErrorBody {
    /// A JSON body.
    pub fn json(value: &serde_json::Value) -> Self {
        Self {
            content_type: HeaderValue::from_static("application/json"),
            bytes: Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        }
    }
}

/// Writes the body of error responses. Status and headers are not its business: they follow
/// the RFCs whatever the body looks like.
///
/// Closures work too:
///
/// ```
/// use tower_gatekeeper::error::{AuthError, ErrorBody, Responder};
///
/// let plain = |err: &AuthError| ErrorBody {
///     content_type: http::HeaderValue::from_static("text/plain"),
///     bytes: err.description().to_owned().into(),
/// };
/// assert_eq!(&plain.body(&AuthError::missing()).bytes[..], b"no credential was presented");
/// ```
pub trait Responder: Send + Sync + 'static {
    /// The body for `error`.
    fn body(&self, error: &AuthError) -> ErrorBody;
}

impl<F> Responder for F
where
    F: Fn(&AuthError) -> ErrorBody + Send + Sync + 'static,
{
    fn body(&self, error: &AuthError) -> ErrorBody {
        self(error)
    }
}

/// Ready-made JSON error bodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonResponder {
    /// `{"error": "...", "error_description": "..."}` (RFC 6749 §5.2 / RFC 6750 style).
    #[default]
    OAuth,
    /// `{"error_code": "...", "error_msg": "..."}` (Huawei DataArts style).
    Huawei,
    /// `{"code": <HTTP status>, "msg": "..."}` (HENGSHI style).
    Hengshi,
}

impl Responder for JsonResponder {
    fn body(&self, error: &AuthError) -> ErrorBody {
        let value = match self {
            Self::OAuth => serde_json::json!({
                "error": error.code(),
                "error_description": error.description(),
            }),
            Self::Huawei => serde_json::json!({
                "error_code": error.code(),
                "error_msg": error.description(),
            }),
            Self::Hengshi => serde_json::json!({
                "code": error.status().as_u16(),
                "msg": error.description(),
            }),
        };
        ErrorBody::json(&value)
    }
}

/// The realm and schemes advertised in `WWW-Authenticate` challenges.
///
/// Only the schemes a layer accepts are challenged (RFC 9110 §11.6.1), and every 401 carries
/// at least one challenge. API keys are challenged as `ApiKey realm="…", header="x-api-key"`
/// (one challenge per header): no RFC names a scheme for them, and naming the header tells a
/// client where the key goes (Kong's key-auth answers `Key realm="kong"` in the same spirit).
///
/// ```
/// use tower_gatekeeper::error::{AuthError, Challenge, JsonResponder, render};
///
/// let basic_only = Challenge::with_schemes("files", false, true);
/// let r = render(&AuthError::invalid_token("wrong password"), &basic_only, &JsonResponder::OAuth);
/// assert_eq!(r.headers()["www-authenticate"], r#"Basic realm="files", charset="UTF-8""#);
///
/// let keys_only = Challenge::with_schemes("reports", false, false).api_key_header("x-api-key");
/// let r = render(&AuthError::missing(), &keys_only, &JsonResponder::OAuth);
/// assert_eq!(r.headers()["www-authenticate"], r#"ApiKey realm="reports", header="x-api-key""#);
/// ```
#[derive(Debug, Clone)]
pub struct Challenge {
    realm: String,
    bearer: bool,
    basic: bool,
    bare_bearer: HeaderValue,
    bare_basic: HeaderValue,
    api_keys: Vec<HeaderValue>,
    resource_metadata: Option<String>,
}

impl Challenge {
    /// Challenges for `realm`: `Bearer`, and `Basic` too when `basic` is set.
    pub fn new(realm: impl Into<String>, basic: bool) -> Self {
        Self::with_schemes(realm, true, basic)
    }

    /// Challenges for `realm` naming only the schemes that are accepted. With neither, a 401
    /// still carries a bare `Bearer` challenge, unless API keys are added with
    /// [`api_key_header`](Self::api_key_header).
    pub fn with_schemes(realm: impl Into<String>, bearer: bool, basic: bool) -> Self {
        let realm = realm.into();
        let bare_bearer = header_value(format!("Bearer realm={}", quote(&realm)));
        let bare_basic = header_value(format!("Basic realm={}, charset=\"UTF-8\"", quote(&realm)));
        Self {
            realm,
            bearer,
            basic,
            bare_bearer,
            bare_basic,
            api_keys: Vec::new(),
            resource_metadata: None,
        }
    }

    /// The challenges for a layer reading credentials from `sources`: `Bearer` if it accepts
    /// bearer tokens, `Basic` if it accepts Basic, and `ApiKey` for each API key header.
    pub fn for_sources(realm: impl Into<String>, sources: &CredentialSources) -> Self {
        let mut challenge =
            Self::with_schemes(realm, sources.accepts_bearer(), sources.accepts_basic());
        for name in sources.api_key_headers() {
            challenge = challenge.api_key_header(name.as_str());
        }
        challenge
    }

    /// Also challenges for an API key carried in the header `name`.
    pub fn api_key_header(mut self, name: &str) -> Self {
        self.api_keys.push(header_value(format!(
            "ApiKey realm={}, header={}",
            quote(&self.realm),
            quote(name)
        )));
        self
    }

    /// Adds RFC 9728 §5.1's `resource_metadata="<url>"` to every `Bearer` challenge: where a
    /// client finds the resource's metadata (which names the authorization servers to get a
    /// token from).
    ///
    /// ```
    /// use tower_gatekeeper::error::{AuthError, Challenge, JsonResponder, render};
    ///
    /// let c = Challenge::new("api", false)
    ///     .resource_metadata("https://api.example/.well-known/oauth-protected-resource");
    /// let r = render(&AuthError::missing(), &c, &JsonResponder::OAuth);
    /// assert_eq!(
    ///     r.headers()["www-authenticate"],
    ///     r#"Bearer realm="api", resource_metadata="https://api.example/.well-known/oauth-protected-resource""#
    /// );
    /// ```
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.bare_bearer = header_value(format!(
            "Bearer realm={}, resource_metadata={}",
            quote(&self.realm),
            quote(&url)
        ));
        self.resource_metadata = Some(url);
        self
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Whether no scheme at all is accepted: a 401 then falls back to a bare `Bearer`
    /// challenge, since it must carry one (RFC 9110 §11.6.1).
    fn accepts_nothing(&self) -> bool {
        !self.bearer && !self.basic && self.api_keys.is_empty()
    }

    fn bearer_with_error(&self, error: &AuthError) -> HeaderValue {
        let mut value = format!(
            "Bearer realm={}, error={}, error_description={}",
            quote(&self.realm),
            quote(error.code()),
            quote(error.description())
        );
        if let Some(scope) = error.scope() {
            value.push_str(", scope=");
            value.push_str(&quote(scope));
        }
        if let Some(url) = &self.resource_metadata {
            value.push_str(", resource_metadata=");
            value.push_str(&quote(url));
        }
        header_value(value)
    }
}

/// Quotes an auth-param value (RFC 9110 §5.6.4 quoted-string): `"` and `\` are escaped, and
/// characters a header cannot carry are replaced by `?`.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

fn header_value(value: String) -> HeaderValue {
    // `quote` leaves only visible ASCII and spaces, which a header value always accepts.
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// Builds the response for `error`: status, challenges, cache headers and the responder's body.
///
/// Challenges name only the schemes `challenge` accepts (RFC 9110 §11.6.1):
///
/// - 401 without a credential: a bare challenge per accepted scheme (RFC 6750 §3.1, RFC 7617
///   §2); 401 for a bad credential: the same, with `Bearer` carrying `error="invalid_token"`
///   (RFC 6750 §3.1). A 401 always carries at least one challenge.
/// - 400 `invalid_request` and 403 `insufficient_scope` (with `scope`): a `Bearer` challenge
///   with the error, only where bearer tokens are accepted (RFC 6750 §3.1).
/// - 408: no challenge, and `Connection: close`, since the rest of the body is not read
///   (RFC 9110 §15.5.9).
pub fn render(
    error: &AuthError,
    challenge: &Challenge,
    responder: &dyn Responder,
) -> Response<Full<Bytes>> {
    let body = responder.body(error);
    let mut response = Response::new(Full::new(body.bytes));
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, body.content_type);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    match error.kind() {
        ErrorKind::MissingCredential | ErrorKind::InvalidToken => {
            if challenge.bearer || challenge.accepts_nothing() {
                let bearer = match error.kind() {
                    ErrorKind::InvalidToken => challenge.bearer_with_error(error),
                    _ => challenge.bare_bearer.clone(),
                };
                headers.append(WWW_AUTHENTICATE, bearer);
            }
            if challenge.basic {
                headers.append(WWW_AUTHENTICATE, challenge.bare_basic.clone());
            }
            for api_key in &challenge.api_keys {
                headers.append(WWW_AUTHENTICATE, api_key.clone());
            }
        }
        ErrorKind::InvalidRequest | ErrorKind::InsufficientScope => {
            if challenge.bearer {
                headers.append(WWW_AUTHENTICATE, challenge.bearer_with_error(error));
            }
        }
        ErrorKind::RequestTimeout => {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        ErrorKind::Forbidden | ErrorKind::PayloadTooLarge | ErrorKind::Unavailable => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_and_replaces() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("é\n"), "\"??\"");
    }

    #[test]
    fn missing_has_no_error_attribute() {
        let c = Challenge::new("api", true);
        let r = render(&AuthError::missing(), &c, &JsonResponder::OAuth);
        let values: Vec<_> = r.headers().get_all(WWW_AUTHENTICATE).iter().collect();
        assert_eq!(values.len(), 2);
        assert_eq!(values[0], "Bearer realm=\"api\"");
        assert_eq!(values[1], "Basic realm=\"api\", charset=\"UTF-8\"");
    }

    #[test]
    fn insufficient_scope_names_scope() {
        let c = Challenge::new("api", false);
        let r = render(
            &AuthError::insufficient_scope("sudo"),
            &c,
            &JsonResponder::OAuth,
        );
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let v = r.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(v.contains("error=\"insufficient_scope\""), "{v}");
        assert!(v.ends_with("scope=\"sudo\""), "{v}");
    }
}
