//! Stage 1: finding the credential in a request.
//!
//! [`CredentialSources`] says where to look: the `Authorization` header (`Bearer`, and `Basic`
//! when enabled), named headers (for gRPC: metadata keys), a query parameter, a cookie, and a
//! field of a form or JSON body. The defaults follow RFC 6750, which prefers the header: only
//! `Authorization: Bearer` is on. Each place is a [`CredentialSource`] value
//! ([`AuthorizationSource`], [`HeaderSource`], [`QuerySource`], [`CookieSource`],
//! [`FormSource`], [`JsonSource`]); an application adds its own with
//! [`CredentialSources::source`], and the rules below apply to it unchanged.
//!
//! ```
//! use tower_gatekeeper::extract::{CredentialSources, Scheme, Source};
//!
//! let sources = CredentialSources::new()
//!     .basic(true)
//!     .api_key_header("x-api-key")
//!     .query("access_token");
//!
//! let req = http::Request::get("/items?access_token=abc.def").body(()).unwrap();
//! let found = sources.extract_head(req.headers(), req.uri()).unwrap().unwrap();
//! assert_eq!(found.scheme(), Scheme::Bearer);
//! assert_eq!(found.source(), Source::Query);
//! assert_eq!(found.token(), Some("abc.def"));
//! ```
//!
//! Finding more than one credential in one request is refused with 400 `invalid_request`
//! (RFC 6750 §2), even when the values are identical. With a body source on, a form or JSON
//! body is read (up to [`body_limit`](CredentialSources::body_limit), within
//! [`body_read_timeout`](CredentialSources::body_read_timeout)) even when the head holds a
//! credential, so that a second one in the body is refused too.

mod body;
mod cookie;
mod query;
pub(crate) mod source;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::{HeaderMap, Method, Uri};
use serde::Serialize;

use crate::error::{AuthError, ChallengeScheme};

pub use body::RequestBody;
#[cfg(feature = "issuer")]
pub(crate) use body::read_limited;
pub(crate) use body::{BodyRead, read_up_to};
pub use cookie::CookieSource;
pub(crate) use query::strip_query_param;
pub(crate) use source::Origin;
pub use source::{
    AuthorizationSource, CredentialSource, FormSource, HeaderSource, JsonSource, OneCredential,
    QuerySource, RequestHead,
};

/// The default limit on a buffered request body: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// The longest credential accepted, in bytes.
pub const MAX_CREDENTIAL_LEN: usize = 16 * 1024;
/// The default deadline for reading a request body the layer must look into: 10 seconds.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The kind of credential.
///
/// `#[non_exhaustive]`: kinds may be added, so a `match` outside this crate needs a `_` arm.
///
/// ```compile_fail,E0004
/// use tower_gatekeeper::extract::Scheme;
/// fn name(s: Scheme) -> &'static str {
///     match s {
///         Scheme::Bearer => "bearer",
///         Scheme::Basic => "basic",
///         Scheme::ApiKey => "api_key",
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Scheme {
    /// An OAuth bearer token (JWT or opaque).
    Bearer,
    /// A user name and password (RFC 7617).
    Basic,
    /// An API key.
    ApiKey,
}

impl Scheme {
    /// The name used in JSON: `bearer`, `basic` or `api_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::Basic => "basic",
            Self::ApiKey => "api_key",
        }
    }
}

/// Where the credential was found.
///
/// `#[non_exhaustive]`: places may be added (a source of your own reports one of these), so a
/// `match` outside this crate needs a `_` arm.
///
/// ```compile_fail,E0004
/// use tower_gatekeeper::extract::Source;
/// fn name(s: Source) -> &'static str {
///     match s {
///         Source::Header => "header",
///         Source::Query => "query",
///         Source::Body => "body",
///         Source::Cookie => "cookie",
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Source {
    /// A request header (`Authorization` or a named header; for gRPC, a metadata key).
    Header,
    /// A query parameter.
    Query,
    /// A field of a form or JSON body.
    Body,
    /// A cookie ([`CookieSource`]).
    Cookie,
}

impl Source {
    /// The name used in JSON: `header`, `query`, `body` or `cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Query => "query",
            Self::Body => "body",
            Self::Cookie => "cookie",
        }
    }
}

#[derive(Clone)]
enum Secret<'a> {
    Token(Cow<'a, str>),
    /// A bearer token from the `Authorization` header whose bytes passed the `b64token`
    /// grammar, which admits ASCII only: read as text only when a verifier asks for it. The
    /// verified-credential cache, `JwtVerifier` and the issuer's revalidation work on the
    /// bytes, so a cache hit and a first-seen JWT never pay the UTF-8 check; a verifier that
    /// asks for [`Credential::token`] pays it then.
    B64Token(&'a [u8]),
    Basic {
        user: Cow<'a, str>,
        password: Cow<'a, str>,
    },
}

/// A credential found in a request: its scheme, where it was found and its secret.
///
/// Borrows from the request while it is checked. Its `Debug` output never shows the secret:
///
/// ```
/// use tower_gatekeeper::extract::{Credential, Source};
///
/// let c = Credential::basic("alice", "hunter2", Source::Header);
/// let shown = format!("{c:?}");
/// assert!(shown.contains("alice") && !shown.contains("hunter2"));
/// ```
#[derive(Clone)]
pub struct Credential<'a> {
    scheme: Scheme,
    source: Source,
    secret: Secret<'a>,
    grammar: Grammar,
}

/// Whether a bearer token from the `Authorization` header was held to RFC 6750's `b64token`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Grammar {
    /// Not an `Authorization` bearer token: its source applied its own rules.
    Source,
    /// An `Authorization` bearer token that passed the `b64token` grammar.
    B64Token,
    /// An `Authorization` bearer token not checked yet: the layer checks it before any
    /// verifier sees it, unless the verified-credential cache holds an answer for exactly
    /// these bytes (which passed the check when they were first verified).
    Pending,
}

impl<'a> Credential<'a> {
    /// A bearer token.
    pub fn bearer(token: impl Into<Cow<'a, str>>, source: Source) -> Self {
        Self {
            scheme: Scheme::Bearer,
            source,
            secret: Secret::Token(token.into()),
            grammar: Grammar::Source,
        }
    }

    /// An `Authorization` bearer token whose bytes passed [`is_b64token_bytes`] (hence ASCII).
    pub(crate) fn b64_bearer(token: &'a [u8]) -> Self {
        debug_assert!(is_b64token_bytes(token));
        Self {
            scheme: Scheme::Bearer,
            source: Source::Header,
            secret: Secret::B64Token(token),
            grammar: Grammar::B64Token,
        }
    }

    /// An `Authorization` bearer token whose grammar is checked later, by
    /// [`check_grammar`](Self::check_grammar).
    pub(crate) fn pending_bearer(token: &'a [u8]) -> Self {
        Self {
            scheme: Scheme::Bearer,
            source: Source::Header,
            secret: Secret::B64Token(token),
            grammar: Grammar::Pending,
        }
    }

    pub(crate) fn grammar(&self) -> Grammar {
        self.grammar
    }

    /// This credential, known to hold the bytes of one that passed its grammar check (a
    /// cached answer's, compared byte for byte).
    pub(crate) fn known_checked(&self) -> Self {
        let mut checked = self.clone();
        if checked.grammar == Grammar::Pending {
            checked.grammar = Grammar::B64Token;
        }
        checked
    }

    /// Holds a pending `Authorization` bearer token to the `b64token` grammar (RFC 6750
    /// §2.1): 400 `invalid_request` if it fails, as if it had been checked when found.
    pub(crate) fn check_grammar(&mut self) -> Result<(), AuthError> {
        if self.grammar != Grammar::Pending {
            return Ok(());
        }
        let Secret::B64Token(token) = self.secret else {
            unreachable!("only `pending_bearer` makes a pending credential");
        };
        if !is_b64token_bytes(token) {
            if std::str::from_utf8(token).is_err() {
                return Err(malformed());
            }
            return Err(not_b64token());
        }
        self.grammar = Grammar::B64Token;
        Ok(())
    }

    /// An API key.
    pub fn api_key(key: impl Into<Cow<'a, str>>, source: Source) -> Self {
        Self {
            scheme: Scheme::ApiKey,
            source,
            secret: Secret::Token(key.into()),
            grammar: Grammar::Source,
        }
    }

    /// A user name and password.
    pub fn basic(
        user: impl Into<Cow<'a, str>>,
        password: impl Into<Cow<'a, str>>,
        source: Source,
    ) -> Self {
        Self {
            scheme: Scheme::Basic,
            source,
            secret: Secret::Basic {
                user: user.into(),
                password: password.into(),
            },
            grammar: Grammar::Source,
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Where it was found.
    pub fn source(&self) -> Source {
        self.source
    }

    /// The token or key, for [`Scheme::Bearer`] and [`Scheme::ApiKey`].
    pub fn token(&self) -> Option<&str> {
        match &self.secret {
            Secret::Token(t) => Some(t),
            // ASCII, checked when found: the conversion cannot fail.
            Secret::B64Token(b) => std::str::from_utf8(b).ok(),
            Secret::Basic { .. } => None,
        }
    }

    /// [`token`](Self::token) as bytes, without reading them as text.
    pub(crate) fn token_bytes(&self) -> Option<&[u8]> {
        match &self.secret {
            Secret::Token(t) => Some(t.as_bytes()),
            Secret::B64Token(b) => Some(b),
            Secret::Basic { .. } => None,
        }
    }

    /// The user name and password, for [`Scheme::Basic`].
    pub fn basic_parts(&self) -> Option<(&str, &str)> {
        match &self.secret {
            Secret::Basic { user, password } => Some((user, password)),
            Secret::Token(_) | Secret::B64Token(_) => None,
        }
    }

    /// A copy that owns its secret, for verifiers that must keep it across an `await`.
    pub fn into_owned(self) -> Credential<'static> {
        debug_assert!(
            self.grammar != Grammar::Pending,
            "checked before it is kept"
        );
        let secret = match self.secret {
            Secret::Token(t) => Secret::Token(Cow::Owned(t.into_owned())),
            Secret::B64Token(b) => Secret::Token(Cow::Owned(String::from_utf8_lossy(b).into())),
            Secret::Basic { user, password } => Secret::Basic {
                user: Cow::Owned(user.into_owned()),
                password: Cow::Owned(password.into_owned()),
            },
        };
        Credential {
            scheme: self.scheme,
            source: self.source,
            secret,
            grammar: self.grammar,
        }
    }
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Credential");
        d.field("scheme", &self.scheme)
            .field("source", &self.source);
        if let Secret::Basic { user, .. } = &self.secret {
            d.field("user", user);
        }
        d.field("secret", &"[redacted]").finish()
    }
}

/// Where to look for credentials, and what to do with them once found: a list of
/// [`CredentialSource`]s (the `Authorization` header first), the body limit and deadline, and
/// whether to strip the credential.
#[derive(Debug, Clone)]
pub struct CredentialSources {
    authorization: AuthorizationSource,
    sources: Vec<Arc<dyn CredentialSource>>,
    body_limit: usize,
    body_read_timeout: Duration,
    strip: bool,
    /// A [`FormSource`] was added (RFC 6750 §2.2), for discovery metadata.
    form_bearer: bool,
    /// A [`QuerySource`] was added (RFC 6750 §2.3), for discovery metadata.
    query_bearer: bool,
}

impl Default for CredentialSources {
    fn default() -> Self {
        Self::new()
    }
}

impl CredentialSources {
    /// `Authorization: Bearer` only (RFC 6750's preferred method).
    pub fn new() -> Self {
        Self {
            authorization: AuthorizationSource::new(true, false),
            sources: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            strip: false,
            form_bearer: false,
            query_bearer: false,
        }
    }

    /// Accepts (or not) `Authorization: Bearer`.
    pub fn bearer(mut self, on: bool) -> Self {
        self.authorization.set_bearer(on);
        self
    }

    /// Accepts (or not) `Authorization: Basic` (RFC 7617).
    pub fn basic(mut self, on: bool) -> Self {
        self.authorization.set_basic(on);
        self
    }

    /// Also looks in `source`, after the sources added before it.
    pub fn source(mut self, source: impl CredentialSource) -> Self {
        let any: &dyn std::any::Any = &source;
        self.form_bearer |= any.is::<FormSource>();
        self.query_bearer |= any.is::<QuerySource>();
        self.sources.push(Arc::new(source));
        self
    }

    /// Also looks in a shared `source`.
    pub fn shared_source(mut self, source: Arc<dyn CredentialSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Reads a bearer token from the header `name` (e.g. `access_token`, `X-Auth-Token`; for
    /// gRPC, a metadata key): a [`HeaderSource::token`].
    ///
    /// # Panics
    /// When `name` is not a valid header name: a configuration error, caught at startup.
    pub fn token_header(self, name: &str) -> Self {
        self.source(HeaderSource::token(name))
    }

    /// Reads an API key from the header `name` (e.g. `X-API-Key`): a
    /// [`HeaderSource::api_key`].
    ///
    /// # Panics
    /// When `name` is not a valid header name: a configuration error, caught at startup.
    pub fn api_key_header(self, name: &str) -> Self {
        self.source(HeaderSource::api_key(name))
    }

    /// Reads a bearer token from the query parameter `name` (RFC 6750 §2.3): a
    /// [`QuerySource`].
    pub fn query(self, name: impl Into<String>) -> Self {
        self.source(QuerySource::new(name))
    }

    /// Reads a bearer token from the cookie `name`: a [`CookieSource::token`] (read its note
    /// on cross-site requests).
    pub fn cookie(self, name: impl Into<String>) -> Self {
        self.source(CookieSource::token(name))
    }

    /// Reads a bearer token from the field `name` of an `application/x-www-form-urlencoded`
    /// body (RFC 6750 §2.2): a [`FormSource`].
    pub fn form_body(self, name: impl Into<String>) -> Self {
        self.source(FormSource::new(name))
    }

    /// Reads a bearer token from the top-level string field `name` of an `application/json`
    /// body: a [`JsonSource`].
    pub fn json_body(self, name: impl Into<String>) -> Self {
        self.source(JsonSource::new(name))
    }

    /// The largest body read when looking for a credential in it (default 64 KiB).
    ///
    /// With a body source on, a form or JSON body (whichever the source reads) is read up to
    /// this limit even when the credential is in a header, to refuse a second credential in the
    /// body (RFC 6750 §2); past it the answer is 413, except for anonymous requests in optional
    /// mode, which are passed on with their body intact.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long the layer waits for a body it reads (default
    /// [`DEFAULT_BODY_READ_TIMEOUT`], 10 s); past it the answer is 408 and the connection is
    /// closed. Bodies the layer does not read are not timed here.
    ///
    /// The deadline uses `tokio::time`: the runtime must have its timer enabled (as
    /// `#[tokio::main]` and `#[tokio::test]` do).
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Removes the credential from the request (its header, cookie or query parameter) before
    /// the inner service, and its logs, see it. Body credentials are left: the body is handed
    /// on intact.
    pub fn strip(mut self, on: bool) -> Self {
        self.strip = on;
        self
    }

    /// The schemes the sources answer to, in source order (duplicates included).
    pub fn challenges(&self) -> Vec<ChallengeScheme> {
        let mut schemes = self.authorization.challenges();
        for source in &self.sources {
            schemes.extend(source.challenges());
        }
        schemes
    }

    /// Whether bearer tokens are accepted from any source.
    pub fn accepts_bearer(&self) -> bool {
        self.challenges().contains(&ChallengeScheme::Bearer)
    }

    /// Whether `Authorization: Basic` is accepted.
    pub fn accepts_basic(&self) -> bool {
        self.challenges().contains(&ChallengeScheme::Basic)
    }

    /// Whether API keys are accepted (from a header named with
    /// [`api_key_header`](Self::api_key_header), or another source that says so).
    pub fn accepts_api_key(&self) -> bool {
        self.challenges()
            .iter()
            .any(|s| matches!(s, ChallengeScheme::ApiKey { .. }))
    }

    /// Which of RFC 6750's bearer methods are read: `Authorization` header (§2.1), form body
    /// (§2.2), query (§2.3), for RFC 9728's `bearer_methods_supported`. Form and query
    /// sources are recognised when added by value ([`source`](Self::source) and the methods
    /// built on it); a [`shared_source`](Self::shared_source) is not named.
    pub(crate) fn rfc6750_methods(&self) -> (bool, bool, bool) {
        let header = self
            .authorization
            .challenges()
            .contains(&ChallengeScheme::Bearer);
        (header, self.form_bearer, self.query_bearer)
    }

    pub(crate) fn strips(&self) -> bool {
        self.strip
    }

    pub(crate) fn body_limit_bytes(&self) -> usize {
        self.body_limit
    }

    pub(crate) fn body_read_deadline(&self) -> Duration {
        self.body_read_timeout
    }

    /// Looks for a credential in the headers and the query string.
    ///
    /// `Ok(None)` when there is none; `Err` (400) when one is malformed or there are several.
    pub fn extract_head<'a>(
        &self,
        headers: &'a HeaderMap,
        uri: &'a Uri,
    ) -> Result<Option<Credential<'a>>, AuthError> {
        Ok(self.find_in_head(headers, uri, false)?.map(|(c, _)| c))
    }

    /// As [`extract_head`](Self::extract_head), with where the credential was found; with
    /// `defer_grammar`, an `Authorization` bearer token may come back with its `b64token`
    /// check pending ([`Credential::check_grammar`]).
    pub(crate) fn find_in_head<'a>(
        &self,
        headers: &'a HeaderMap,
        uri: &'a Uri,
        defer_grammar: bool,
    ) -> Result<Option<(Credential<'a>, Origin)>, AuthError> {
        let head = RequestHead::new(headers, uri);
        let mut found = OneCredential::new();
        // The common case, `Authorization` only, is one direct call and no loop.
        let authorization = self.authorization.find_deferring(
            head,
            found.from(Origin::Authorization),
            defer_grammar,
        );
        if let Err(error) = authorization {
            return Err(found.earlier_error(error));
        }
        for (i, source) in self.sources.iter().enumerate() {
            if let Err(error) = source.find_in_head(head, found.from(Origin::Source(i))) {
                return Err(found.earlier_error(error));
            }
        }
        Ok(found.into_found())
    }

    /// Whether some source reads the body of this request: never for GET and HEAD, and only
    /// for a content type a body source reads.
    pub(crate) fn reads_body(&self, method: &Method, headers: &HeaderMap) -> bool {
        if method == Method::GET || method == Method::HEAD {
            return false;
        }
        self.sources.iter().any(|s| s.reads_body(headers))
    }

    /// Looks for a credential in a body read because [`reads_body`](Self::reads_body) said so.
    pub(crate) fn find_in_body<'a>(
        &self,
        headers: &HeaderMap,
        body: &'a [u8],
    ) -> Result<Option<Credential<'a>>, AuthError> {
        let mut found = OneCredential::new();
        for source in self.sources.iter().filter(|s| s.reads_body(headers)) {
            source.find_in_body(body, found.from(Origin::Body))?;
        }
        Ok(found.into_credential())
    }

    fn source_at(&self, origin: Origin) -> Option<&dyn CredentialSource> {
        match origin {
            Origin::Authorization => Some(&self.authorization),
            Origin::Source(i) => self.sources.get(i).map(|s| &**s),
            Origin::Body => None,
        }
    }

    /// Removes the credential found at `origin` from the request head.
    pub(crate) fn strip_from(&self, origin: Origin, parts: &mut http::request::Parts) {
        if let Some(source) = self.source_at(origin) {
            source.strip(parts);
        }
    }

    /// Whether a response to a request whose credential was found at `origin` must be marked
    /// `Cache-Control: private`.
    pub(crate) fn responses_private(&self, origin: Origin) -> bool {
        self.source_at(origin)
            .is_some_and(|s| s.responses_private())
    }
}

pub(crate) fn more_than_one() -> AuthError {
    AuthError::invalid_request("more than one credential was presented (RFC 6750 section 2)")
}

pub(crate) fn not_b64token() -> AuthError {
    AuthError::invalid_request("the bearer token is not a valid b64token (RFC 6750 section 2.1)")
}

pub(crate) fn malformed() -> AuthError {
    AuthError::invalid_request("the credential is malformed")
}

/// Whether `b` may appear in the body of an RFC 6750 §2.1 `b64token` (before its trailing
/// `=`): `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`. Comparisons only (no table), so
/// that a loop over a fixed-size chunk of bytes compiles to vector instructions.
#[inline(always)]
const fn is_b64token_byte(b: u8) -> bool {
    // `b | 0x20` folds upper case onto lower case and maps nothing else into `a..=z`;
    // `-./0123456789` are the contiguous 0x2d..=0x39.
    in_range(b | 0x20, b'a', 26) | in_range(b, b'-', 13) | (b == b'+') | (b == b'_') | (b == b'~')
}

/// `lo <= b < lo + n`, written as one signed comparison after a bias (`b - lo < n` unsigned),
/// which SSE2 has as a single instruction and an unsigned byte comparison is not.
#[inline(always)]
const fn in_range(b: u8, lo: u8, n: u8) -> bool {
    (b.wrapping_sub(lo).wrapping_add(0x80) as i8) < (n.wrapping_add(0x80) as i8)
}

/// Bytes allowed in a token from a header other than `Authorization`, a query or a body:
/// visible ASCII (`%x21-7E`, RFC 5234 `VCHAR`).
const VISIBLE_CHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = (i as u8).is_ascii_graphic();
        i += 1;
    }
    table
};

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
///
/// ```
/// use tower_gatekeeper::extract::is_b64token;
///
/// assert!(is_b64token("abc.DEF-_~+/=="));
/// assert!(!is_b64token("a=b") && !is_b64token("==") && !is_b64token("a b"));
/// ```
pub fn is_b64token(token: &str) -> bool {
    is_b64token_bytes(token.as_bytes())
}

/// [`is_b64token`] on bytes: a `true` also says they are ASCII.
pub(crate) fn is_b64token_bytes(token: &[u8]) -> bool {
    let mut body = token;
    while let [rest @ .., b'='] = body {
        body = rest;
    }
    if body.is_empty() {
        return false;
    }
    // 16 bytes at a time, each lane and-ed into an accumulator, with no branch inside the loop
    // and none per chunk: the loop compiles to a few vector instructions per 16 bytes. The
    // remainder is padded with a valid byte and checked the same way. (A 300-byte token:
    // about 500 instructions, a third of a per-byte table lookup's.)
    const LANES: usize = 16;
    let mut all = [1u8; LANES];
    let mut chunks = body.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &b) in all.iter_mut().zip(chunk) {
            *lane &= u8::from(is_b64token_byte(b));
        }
    }
    let mut last = [b'a'; LANES];
    let remainder = chunks.remainder();
    last[..remainder.len()].copy_from_slice(remainder);
    for (lane, &b) in all.iter_mut().zip(&last) {
        *lane &= u8::from(is_b64token_byte(b));
    }
    all == [1u8; LANES]
}

/// A token from a header other than `Authorization`, a query or a body: non-empty, no longer
/// than [`MAX_CREDENTIAL_LEN`], visible ASCII only.
pub(crate) fn check_token(token: &str) -> Result<&str, AuthError> {
    if token.is_empty()
        || token.len() > MAX_CREDENTIAL_LEN
        || !token.bytes().all(|b| VISIBLE_CHAR[usize::from(b)])
    {
        return Err(malformed());
    }
    Ok(token)
}

const BASIC_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes RFC 7617 credentials: base64 of `user-id ":" password`, UTF-8, no control
/// characters; the password may contain `:`.
pub(crate) fn parse_basic(encoded: &str) -> Result<(String, String), AuthError> {
    let bad = || AuthError::invalid_request("malformed Basic credentials (RFC 7617)");
    if encoded.is_empty() || encoded.len() > MAX_CREDENTIAL_LEN {
        return Err(bad());
    }
    let decoded = BASIC_ENGINE.decode(encoded).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    if text.chars().any(char::is_control) {
        return Err(bad());
    }
    let (user, password) = text.split_once(':').ok_or_else(bad)?;
    if user.is_empty() {
        return Err(bad());
    }
    Ok((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn head(
        sources: &CredentialSources,
        req: &http::Request<()>,
    ) -> Result<Option<Credential<'static>>, AuthError> {
        sources
            .extract_head(req.headers(), req.uri())
            .map(|c| c.map(Credential::into_owned))
    }

    #[test]
    fn b64token_grammar() {
        assert!(is_b64token("abc.DEF-_~+/=="));
        assert!(!is_b64token(""));
        assert!(!is_b64token("=="));
        assert!(!is_b64token("a b"));
        assert!(!is_b64token("a=b"));
        assert!(!is_b64token("tök"));
    }

    #[test]
    fn b64token_of_every_length_refuses_a_bad_byte_in_every_position() {
        for len in 1..=70 {
            let good: Vec<u8> = (0..len).map(|i| b"aZ09-._~+/"[i % 10]).collect();
            assert!(is_b64token_bytes(&good), "{len}");
            for at in 0..len {
                for bad in [b' ', b'=', 0x80, b'!', b',', b'@', b'`', b'{', b'\0'] {
                    let mut token = good.clone();
                    token[at] = bad;
                    // A trailing `=` is padding.
                    let expected = bad == b'=' && at == len - 1 && len > 1;
                    assert_eq!(is_b64token_bytes(&token), expected, "{len} {at} {bad:#04x}");
                }
            }
            let mut padded = good.clone();
            padded.extend_from_slice(b"==");
            assert!(is_b64token_bytes(&padded), "{len} padded");
        }
    }

    #[test]
    fn tables_match_the_grammar_for_every_byte() {
        for b in 0..=255u8 {
            let b64 = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_b64token_byte(b), b64, "{b:#04x}");
            // In every position of a token longer than one chunk, and as its last byte.
            for at in [0, 5, 15, 16, 31, 33, 39] {
                let mut token = *b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN";
                token[at] = b;
                let text = String::from_utf8_lossy(&token);
                let expected = b64 || (b == b'=' && at == 39);
                assert_eq!(
                    is_b64token(&text),
                    expected && text.len() == 40,
                    "{b:#04x} at {at}"
                );
            }
            assert_eq!(
                VISIBLE_CHAR[usize::from(b)],
                (0x21..=0x7e).contains(&b),
                "{b:#04x}"
            );
        }
    }

    #[test]
    fn a_header_token_reads_the_same_as_text_bytes_and_owned() {
        let s = CredentialSources::new();
        let req = http::Request::get("/")
            .header("authorization", "Bearer ab.C-_~+/9==")
            .body(())
            .unwrap();
        // Borrowed from the request, as the layer holds it.
        let found = s.extract_head(req.headers(), req.uri()).unwrap().unwrap();
        assert_eq!(found.token(), Some("ab.C-_~+/9=="));
        assert_eq!(found.token_bytes(), Some(&b"ab.C-_~+/9=="[..]));
        assert_eq!(found.basic_parts(), None);
        assert!(!format!("{found:?}").contains("ab.C"));
        let owned = found.into_owned();
        assert_eq!(owned.token(), Some("ab.C-_~+/9=="));
        assert_eq!(owned.scheme(), Scheme::Bearer);
    }

    #[test]
    fn basic_password_may_contain_colon() {
        let enc = base64::engine::general_purpose::STANDARD.encode("bob:pa:ss");
        assert_eq!(parse_basic(&enc).unwrap(), ("bob".into(), "pa:ss".into()));
    }

    #[test]
    fn basic_refusals() {
        let std = base64::engine::general_purpose::STANDARD;
        for bad in [
            "!!!".to_owned(),
            std.encode("nocolon"),
            std.encode(":emptyuser"),
            std.encode("bob:pa\u{7}ss"),
            std.encode([0x62, 0x3a, 0xff, 0xfe]),
            String::new(),
        ] {
            assert_eq!(
                parse_basic(&bad).unwrap_err().kind(),
                ErrorKind::InvalidRequest,
                "{bad}"
            );
        }
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let s = CredentialSources::new();
        let req = http::Request::get("/")
            .header("authorization", "bEaReR abc")
            .body(())
            .unwrap();
        assert_eq!(head(&s, &req).unwrap().unwrap().token(), Some("abc"));
    }

    #[test]
    fn unknown_scheme_is_no_credential() {
        let s = CredentialSources::new();
        let req = http::Request::get("/")
            .header("authorization", "Digest abc")
            .body(())
            .unwrap();
        assert!(head(&s, &req).unwrap().is_none());
    }

    #[test]
    fn repeated_query_parameter_refused_even_if_equal() {
        let s = CredentialSources::new().bearer(false).query("access_token");
        let req = http::Request::get("/?access_token=a&access_token=a")
            .body(())
            .unwrap();
        assert_eq!(
            head(&s, &req).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
        let req = http::Request::get("/?access_token=a&access%5Ftoken=a")
            .body(())
            .unwrap();
        assert_eq!(
            head(&s, &req).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
    }
}
