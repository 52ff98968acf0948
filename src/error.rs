//! Refusals and how they are answered.
//!
//! Every refusal is an [`AuthError`] of one [`ErrorKind`], answered by the layer's
//! [`Responder`], which decides the status, the headers and the body. The default is the
//! RFC 6750 answer ([`rfc6750_response`]: the status of the kind, `WWW-Authenticate`
//! challenges per RFC 6750 §3 and RFC 7617, cache headers) with an
//! `{"error","error_description"}` body. Shapes that only change the body are
//! [`BodyShape`]s and keep the RFC headers: [`JsonResponder`] names the ready-made ones
//! (`{"error_code","error_msg"}` as Huawei answers, `{"code","msg"}` as HENGSHI answers,
//! RFC 9457 problem details). With the `tonic` feature, `application/grpc` requests are
//! answered the gRPC way instead (`crate::grpc::GrpcResponder`).
//!
//! ```
//! use http::StatusCode;
//! use tower_gatekeeper::error::{AuthError, ErrorKind, JsonResponder};
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
use http::header::{
    CACHE_CONTROL, CONNECTION, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::extract::{CredentialSources, Scheme};

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
    /// A verifier backend is unreachable, or the password-hashing bound is full: 503 with
    /// `Retry-After`, never a pass.
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
#[derive(Clone)]
pub struct AuthError {
    kind: ErrorKind,
    description: Cow<'static, str>,
    scope: Option<Cow<'static, str>>,
    /// The kind of credential the refused request presented, when the layer knows it: a
    /// refused password or API key is no access token, so the `Bearer` challenge beside it
    /// carries no RFC 6750 §3.1 `error` (that code speaks of "the access token provided").
    presented: Option<Scheme>,
}

/// Two refusals are equal when they say the same thing (kind, description, scope).
impl PartialEq for AuthError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.description == other.description
            && self.scope == other.scope
    }
}

impl Eq for AuthError {}

impl AuthError {
    /// Records the kind of credential the refused request presented (the layer does).
    pub(crate) fn presented(mut self, scheme: Scheme) -> Self {
        self.presented = Some(scheme);
        self
    }

    /// [`presented`](Self::presented) for a refusal of an authorization stage: the kind of
    /// the credential `principal` was verified from, unless the stage said one already.
    pub(crate) fn presented_by(mut self, principal: Option<Scheme>) -> Self {
        if self.presented.is_none() {
            self.presented = principal;
        }
        self
    }

    /// A refusal of `kind` with a description.
    pub fn new(kind: ErrorKind, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            description: description.into(),
            scope: None,
            presented: None,
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
            presented: None,
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
    /// A JSON body (`application/json`).
    pub fn json(value: &serde_json::Value) -> Self {
        Self {
            content_type: HeaderValue::from_static("application/json"),
            bytes: Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        }
    }

    /// An RFC 9457 problem details body (`application/problem+json`).
    pub fn problem_json(value: &serde_json::Value) -> Self {
        Self {
            content_type: HeaderValue::from_static("application/problem+json"),
            ..Self::json(value)
        }
    }

    /// An empty body, with no meaningful content type (gRPC refusals carry none).
    pub fn empty() -> Self {
        Self {
            content_type: HeaderValue::from_static("application/octet-stream"),
            bytes: Bytes::new(),
        }
    }
}

/// One refusal to answer: the error, and the challenges of the layer that refuses.
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    error: &'a AuthError,
    challenge: &'a Challenge,
}

impl<'a> Refusal<'a> {
    /// The refusal of `error` by a layer that challenges with `challenge`.
    pub fn new(error: &'a AuthError, challenge: &'a Challenge) -> Self {
        Self { error, challenge }
    }
    /// The error.
    pub fn error(&self) -> &'a AuthError {
        self.error
    }
    /// The realm and schemes the layer challenges with.
    pub fn challenge(&self) -> &'a Challenge {
        self.challenge
    }
}

/// Answers refusals: decides the status, the headers and the body of every one.
///
/// The default is the RFC 6750 answer ([`rfc6750_response`]) with a
/// [`JsonResponder::OAuth`] body. Anything that only changes the body is a [`BodyShape`], and
/// every `BodyShape` is a `Responder` that keeps the RFC 6750 status, challenges and cache
/// headers — so whatever the body looks like, every 401 still carries its challenge. Implement
/// `Responder` itself to change the status or headers too (the gRPC responder, feature
/// `tonic`, answers HTTP 200 with `grpc-status`):
///
/// ```
/// use bytes::Bytes;
/// use http::{Response, StatusCode};
/// use http_body_util::Full;
/// use tower_gatekeeper::error::{AuthError, Challenge, Refusal, Responder};
///
/// /// Answers every refusal 404, so that protected routes do not reveal themselves.
/// struct Hide;
/// impl Responder for Hide {
///     fn respond(&self, _: &Refusal<'_>) -> Response<Full<Bytes>> {
///         let mut r = Response::new(Full::new(Bytes::new()));
///         *r.status_mut() = StatusCode::NOT_FOUND;
///         r
///     }
/// }
/// let challenge = Challenge::new("api", false);
/// let r = Hide.respond(&Refusal::new(&AuthError::missing(), &challenge));
/// assert_eq!(r.status(), StatusCode::NOT_FOUND);
/// ```
pub trait Responder: Send + Sync + 'static {
    /// The whole response for `refusal`.
    fn respond(&self, refusal: &Refusal<'_>) -> Response<Full<Bytes>>;
}

/// The body of refusals, and nothing else: the status, challenges and cache headers stay the
/// RFC 6750 ones ([`rfc6750_response`]). Every `BodyShape` is a [`Responder`].
///
/// Closures work too:
///
/// ```
/// use tower_gatekeeper::error::{AuthError, BodyShape, Challenge, ErrorBody, Refusal, Responder};
///
/// let plain = |err: &AuthError| ErrorBody {
///     content_type: http::HeaderValue::from_static("text/plain"),
///     bytes: err.description().to_owned().into(),
/// };
/// assert_eq!(&plain.body(&AuthError::missing()).bytes[..], b"no credential was presented");
///
/// // As a responder: the RFC 6750 status and challenge, this body.
/// let challenge = Challenge::new("files", false);
/// let r = plain.respond(&Refusal::new(&AuthError::missing(), &challenge));
/// assert_eq!(r.status(), 401);
/// assert_eq!(r.headers()["www-authenticate"], r#"Bearer realm="files""#);
/// assert_eq!(r.headers()["content-type"], "text/plain");
/// ```
pub trait BodyShape: Send + Sync + 'static {
    /// The body for `error`.
    fn body(&self, error: &AuthError) -> ErrorBody;
}

impl<F> BodyShape for F
where
    F: Fn(&AuthError) -> ErrorBody + Send + Sync + 'static,
{
    fn body(&self, error: &AuthError) -> ErrorBody {
        self(error)
    }
}

impl<T: BodyShape> Responder for T {
    fn respond(&self, refusal: &Refusal<'_>) -> Response<Full<Bytes>> {
        rfc6750_response(refusal, self.body(refusal.error()))
    }
}

/// Ready-made JSON error bodies, named by their shape; each keeps the RFC 6750 status,
/// challenges and cache headers.
///
/// ```
/// use tower_gatekeeper::error::{AuthError, JsonResponder};
///
/// let err = AuthError::invalid_token("token expired");
/// let body = |shape: JsonResponder| String::from_utf8(shape.body(&err).bytes.to_vec()).unwrap();
/// assert_eq!(body(JsonResponder::OAuth), r#"{"error":"invalid_token","error_description":"token expired"}"#);
/// assert_eq!(body(JsonResponder::ErrorCodeMsg), r#"{"error_code":"invalid_token","error_msg":"token expired"}"#);
/// assert_eq!(body(JsonResponder::CodeMsg), r#"{"code":401,"msg":"token expired"}"#);
/// assert_eq!(
///     body(JsonResponder::Problem),
///     r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"token expired"}"#
/// );
/// // The names of the systems that use them still work.
/// assert_eq!(JsonResponder::Huawei, JsonResponder::ErrorCodeMsg);
/// assert_eq!(JsonResponder::Hengshi, JsonResponder::CodeMsg);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonResponder {
    /// `{"error": "...", "error_description": "..."}` (RFC 6749 §5.2 / RFC 6750 §3): the
    /// default.
    #[default]
    OAuth,
    /// `{"error_code": "...", "error_msg": "..."}`, as Huawei DataArts answers.
    ErrorCodeMsg,
    /// `{"code": <HTTP status>, "msg": "..."}`, as HENGSHI answers.
    CodeMsg,
    /// RFC 9457 problem details, `application/problem+json`:
    /// `{"type": "about:blank", "title": <status phrase>, "status": <HTTP status>,
    /// "detail": "..."}` (§4.2.1: with `about:blank`, the title is the status phrase).
    Problem,
}

#[allow(non_upper_case_globals)]
impl JsonResponder {
    /// The shape Huawei DataArts uses: [`ErrorCodeMsg`](Self::ErrorCodeMsg) (the former
    /// variant name, kept as an alias).
    pub const Huawei: Self = Self::ErrorCodeMsg;
    /// The shape HENGSHI uses: [`CodeMsg`](Self::CodeMsg) (the former variant name, kept as an
    /// alias).
    pub const Hengshi: Self = Self::CodeMsg;

    /// The body for `error` in this shape.
    pub fn body(&self, error: &AuthError) -> ErrorBody {
        BodyShape::body(self, error)
    }
}

impl BodyShape for JsonResponder {
    fn body(&self, error: &AuthError) -> ErrorBody {
        match self {
            Self::OAuth => ErrorBody::json(&serde_json::json!({
                "error": error.code(),
                "error_description": error.description(),
            })),
            Self::ErrorCodeMsg => ErrorBody::json(&serde_json::json!({
                "error_code": error.code(),
                "error_msg": error.description(),
            })),
            Self::CodeMsg => ErrorBody::json(&serde_json::json!({
                "code": error.status().as_u16(),
                "msg": error.description(),
            })),
            Self::Problem => {
                // A struct, not `json!`: its members keep RFC 9457's order (`type` first)
                // whatever serde_json features the build unifies.
                #[derive(serde::Serialize)]
                struct Problem<'a> {
                    r#type: &'static str,
                    title: &'static str,
                    status: u16,
                    detail: &'a str,
                }
                let problem = Problem {
                    r#type: "about:blank",
                    title: error.status().canonical_reason().unwrap_or(""),
                    status: error.status().as_u16(),
                    detail: error.description(),
                };
                ErrorBody {
                    content_type: HeaderValue::from_static("application/problem+json"),
                    bytes: Bytes::from(serde_json::to_vec(&problem).unwrap_or_default()),
                }
            }
        }
    }
}

/// A scheme a credential source answers to, named in `WWW-Authenticate` challenges.
///
/// [`CredentialSource`](crate::extract::CredentialSource)s say which schemes they take, and
/// the layer's [`Challenge`] is built from them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeScheme {
    /// `Bearer realm="…"` (RFC 6750 §3).
    Bearer,
    /// `Basic realm="…", charset="UTF-8"` (RFC 7617 §2).
    Basic,
    /// `ApiKey realm="…", header="<name>"`: an API key carried in the header `name`.
    ApiKey {
        /// The header that carries the key.
        header: HeaderName,
    },
    /// Another scheme, challenged as `<scheme> realm="…", <name>="<value>"…` (the cookie
    /// source answers `Cookie realm="…", cookie="<name>"`).
    Other {
        /// The scheme name (an RFC 9110 token).
        scheme: Cow<'static, str>,
        /// Its auth-params after the realm.
        params: Vec<(Cow<'static, str>, String)>,
    },
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
    others: Vec<HeaderValue>,
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
            others: Vec::new(),
            resource_metadata: None,
        }
    }

    /// The challenges for a layer reading credentials from `sources`: the schemes each
    /// source answers to ([`CredentialSource::challenges`](crate::extract::CredentialSource::challenges)),
    /// `Bearer` first, then `Basic`, then each `ApiKey` header, then other schemes.
    pub fn for_sources(realm: impl Into<String>, sources: &CredentialSources) -> Self {
        sources
            .challenges()
            .into_iter()
            .fold(Self::with_schemes(realm, false, false), Self::accept)
    }

    /// Also challenges for `scheme` (a scheme already named is not named twice).
    pub fn accept(mut self, scheme: ChallengeScheme) -> Self {
        match scheme {
            ChallengeScheme::Bearer => self.bearer = true,
            ChallengeScheme::Basic => self.basic = true,
            ChallengeScheme::ApiKey { header } => {
                let value = header_value(format!(
                    "ApiKey realm={}, header={}",
                    quote(&self.realm),
                    quote(header.as_str())
                ));
                if !self.api_keys.contains(&value) {
                    self.api_keys.push(value);
                }
            }
            ChallengeScheme::Other { scheme, params } => {
                let mut text = format!(
                    "{} realm={}",
                    token_or_placeholder(&scheme),
                    quote(&self.realm)
                );
                for (name, value) in &params {
                    text.push_str(", ");
                    text.push_str(token_or_placeholder(name));
                    text.push('=');
                    text.push_str(&quote(value));
                }
                let value = header_value(text);
                if !self.others.contains(&value) {
                    self.others.push(value);
                }
            }
        }
        self
    }

    /// Also challenges for an API key carried in the header `name`.
    ///
    /// # Panics
    /// When `name` is not a valid header name: a configuration error, caught at startup.
    pub fn api_key_header(self, name: &str) -> Self {
        let header = HeaderName::try_from(name).expect("invalid header name");
        self.accept(ChallengeScheme::ApiKey { header })
    }

    /// Whether `Bearer` is challenged.
    pub fn accepts_bearer(&self) -> bool {
        self.bearer
    }

    /// Whether `Basic` is challenged.
    pub fn accepts_basic(&self) -> bool {
        self.basic
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
        !self.bearer && !self.basic && self.api_keys.is_empty() && self.others.is_empty()
    }

    fn bearer_with_error(&self, error: &AuthError) -> HeaderValue {
        self.bearer_with_code(error.code(), error)
    }

    /// A `Bearer` challenge with the RFC 6750 §3.1 `code`, `error`'s description and scope.
    fn bearer_with_code(&self, code: &str, error: &AuthError) -> HeaderValue {
        let mut value = format!(
            "Bearer realm={}, error={}, error_description={}",
            quote(&self.realm),
            quote(code),
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

/// An RFC 9110 §5.6.2 token, or `x` when `name` is not one (a configuration mistake must not
/// break the header).
fn token_or_placeholder(name: &str) -> &str {
    if !name.is_empty() && name.bytes().all(crate::extract::source::is_tchar) {
        name
    } else {
        "x"
    }
}

fn header_value(value: String) -> HeaderValue {
    // `quote` leaves only visible ASCII and spaces, which a header value always accepts.
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// Builds the response for `error` with `responder` (which decides status, headers and body).
pub fn render(
    error: &AuthError,
    challenge: &Challenge,
    responder: &dyn Responder,
) -> Response<Full<Bytes>> {
    responder.respond(&Refusal::new(error, challenge))
}

/// The RFC 6750 answer to `refusal`, with `body`: the status of the error's kind, the
/// challenges, `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1, RFC 9111).
/// [`BodyShape`]s answer with it; a custom [`Responder`] may start from it.
///
/// Challenges name only the schemes the layer accepts (RFC 9110 §11.6.1):
///
/// - 401 without a credential: a bare challenge per accepted scheme (RFC 6750 §3.1, RFC 7617
///   §2); 401 for a bad credential: the same, with `Bearer` carrying `error="invalid_token"`
///   (RFC 6750 §3.1). A 401 always carries at least one challenge.
/// - 400 `invalid_request`: a `Bearer` challenge with the error, only where bearer tokens are
///   accepted (RFC 6750 §3.1).
/// - 403 `insufficient_scope` (with `scope`) and 403 `access_denied` (a grant, a tenant, a
///   sudo target): a `Bearer` challenge with `error="insufficient_scope"` (RFC 6750 §3, §3.1)
///   where bearer tokens are accepted, unless the refused request presented a password or an
///   API key.
/// - 408: no challenge, and `Connection: close`, since the rest of the body is not read
///   (RFC 9110 §15.5.9).
/// - 503: no challenge, and `Retry-After: 1` (RFC 9110 §10.2.3, §15.6.4): the backend or the
///   password-hashing bound is busy now, not the credential wrong.
///
/// ```
/// use tower_gatekeeper::error::{rfc6750_response, AuthError, Challenge, ErrorBody, Refusal};
///
/// let challenge = Challenge::new("api", true);
/// let r = rfc6750_response(&Refusal::new(&AuthError::missing(), &challenge), ErrorBody::empty());
/// assert_eq!(r.status(), 401);
/// assert_eq!(r.headers().get_all("www-authenticate").iter().count(), 2);
/// assert_eq!(r.headers()["cache-control"], "no-store");
/// ```
pub fn rfc6750_response(refusal: &Refusal<'_>, body: ErrorBody) -> Response<Full<Bytes>> {
    let (error, challenge) = (refusal.error(), refusal.challenge());
    let mut response = Response::new(Full::new(body.bytes));
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, body.content_type);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    match error.kind() {
        ErrorKind::MissingCredential | ErrorKind::InvalidToken => {
            if challenge.bearer || challenge.accepts_nothing() {
                let bearer = match (error.kind(), error.presented) {
                    // RFC 6750 §3.1: `invalid_token` is about an access token; a refused
                    // password or API key gets the bare challenge (with the other schemes').
                    (ErrorKind::InvalidToken, None | Some(Scheme::Bearer)) => {
                        challenge.bearer_with_error(error)
                    }
                    _ => challenge.bare_bearer.clone(),
                };
                headers.append(WWW_AUTHENTICATE, bearer);
            }
            if challenge.basic {
                headers.append(WWW_AUTHENTICATE, challenge.bare_basic.clone());
            }
            for other in challenge.api_keys.iter().chain(&challenge.others) {
                headers.append(WWW_AUTHENTICATE, other.clone());
            }
        }
        ErrorKind::InvalidRequest => {
            if challenge.bearer {
                headers.append(WWW_AUTHENTICATE, challenge.bearer_with_error(error));
            }
        }
        // A refused password or API key is no access token: no challenge then.
        ErrorKind::InsufficientScope => {
            if challenge.bearer && matches!(error.presented, None | Some(Scheme::Bearer)) {
                headers.append(WWW_AUTHENTICATE, challenge.bearer_with_error(error));
            }
        }
        ErrorKind::RequestTimeout => {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        ErrorKind::Unavailable => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        // RFC 6750 §3: a request whose access token does not enable access gets a challenge.
        // Its §3.1 codes have one for a 403, `insufficient_scope` ("the request requires
        // higher privileges than provided by the access token"), whatever privilege is
        // missing (a grant, a tenant, sudo); the body keeps `access_denied`. A refused
        // password or API key is no access token: no challenge then.
        ErrorKind::Forbidden => {
            if challenge.bearer && matches!(error.presented, None | Some(Scheme::Bearer)) {
                headers.append(
                    WWW_AUTHENTICATE,
                    challenge.bearer_with_code("insufficient_scope", error),
                );
            }
        }
        ErrorKind::PayloadTooLarge => {}
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
