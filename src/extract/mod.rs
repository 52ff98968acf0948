//! Stage 1: finding the credential in a request.
//!
//! [`CredentialSources`] says where to look: the `Authorization` header (`Bearer`, and `Basic`
//! when enabled), named headers, a query parameter, and a field of a form or JSON body. The
//! defaults follow RFC 6750, which prefers the header: only `Authorization: Bearer` is on.
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
mod query;

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, Method, Uri};
use serde::Serialize;

use crate::error::AuthError;

pub use body::RequestBody;
#[cfg(feature = "issuer")]
pub(crate) use body::read_limited;
pub(crate) use body::{BodyFormat, BodyRead, find_in_body, read_up_to};
pub(crate) use query::strip_query_param;

/// The default limit on a buffered request body: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// The longest credential accepted, in bytes.
pub const MAX_CREDENTIAL_LEN: usize = 16 * 1024;
/// The default deadline for reading a request body the layer must look into: 10 seconds.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// An OAuth bearer token (JWT or opaque).
    Bearer,
    /// A user name and password (RFC 7617).
    Basic,
    /// An API key.
    ApiKey,
}

/// Where the credential was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A request header (`Authorization` or a named header).
    Header,
    /// A query parameter.
    Query,
    /// A field of a form or JSON body.
    Body,
}

#[derive(Clone)]
enum Secret<'a> {
    Token(Cow<'a, str>),
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
}

impl<'a> Credential<'a> {
    /// A bearer token.
    pub fn bearer(token: impl Into<Cow<'a, str>>, source: Source) -> Self {
        Self {
            scheme: Scheme::Bearer,
            source,
            secret: Secret::Token(token.into()),
        }
    }

    /// An API key.
    pub fn api_key(key: impl Into<Cow<'a, str>>, source: Source) -> Self {
        Self {
            scheme: Scheme::ApiKey,
            source,
            secret: Secret::Token(key.into()),
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
            Secret::Basic { .. } => None,
        }
    }

    /// The user name and password, for [`Scheme::Basic`].
    pub fn basic_parts(&self) -> Option<(&str, &str)> {
        match &self.secret {
            Secret::Basic { user, password } => Some((user, password)),
            Secret::Token(_) => None,
        }
    }

    /// A copy that owns its secret, for verifiers that must keep it across an `await`.
    pub fn into_owned(self) -> Credential<'static> {
        let secret = match self.secret {
            Secret::Token(t) => Secret::Token(Cow::Owned(t.into_owned())),
            Secret::Basic { user, password } => Secret::Basic {
                user: Cow::Owned(user.into_owned()),
                password: Cow::Owned(password.into_owned()),
            },
        };
        Credential {
            scheme: self.scheme,
            source: self.source,
            secret,
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

/// Which part of the request held the credential, so it can be stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Authorization,
    Header(usize),
    Query,
    Body,
}

#[derive(Debug, Clone)]
struct NamedHeader {
    name: HeaderName,
    scheme: Scheme,
}

/// Where to look for credentials, and what to do with them once found.
#[derive(Debug, Clone)]
pub struct CredentialSources {
    bearer: bool,
    basic: bool,
    headers: Vec<NamedHeader>,
    query: Option<String>,
    form_field: Option<String>,
    json_field: Option<String>,
    body_limit: usize,
    body_read_timeout: Duration,
    strip: bool,
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
            bearer: true,
            basic: false,
            headers: Vec::new(),
            query: None,
            form_field: None,
            json_field: None,
            body_limit: DEFAULT_BODY_LIMIT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            strip: false,
        }
    }

    /// Accepts (or not) `Authorization: Bearer`.
    pub fn bearer(mut self, on: bool) -> Self {
        self.bearer = on;
        self
    }

    /// Accepts (or not) `Authorization: Basic` (RFC 7617).
    pub fn basic(mut self, on: bool) -> Self {
        self.basic = on;
        self
    }

    /// Reads a bearer token from the header `name` (e.g. `access_token`, `X-Auth-Token`).
    ///
    /// # Panics
    /// When `name` is not a valid header name: a configuration error, caught at startup.
    pub fn token_header(mut self, name: &str) -> Self {
        self.headers.push(NamedHeader {
            name: HeaderName::try_from(name).expect("invalid header name"),
            scheme: Scheme::Bearer,
        });
        self
    }

    /// Reads an API key from the header `name` (e.g. `X-API-Key`).
    ///
    /// # Panics
    /// When `name` is not a valid header name: a configuration error, caught at startup.
    pub fn api_key_header(mut self, name: &str) -> Self {
        self.headers.push(NamedHeader {
            name: HeaderName::try_from(name).expect("invalid header name"),
            scheme: Scheme::ApiKey,
        });
        self
    }

    /// Reads a bearer token from the query parameter `name` (RFC 6750 §2.3).
    pub fn query(mut self, name: impl Into<String>) -> Self {
        self.query = Some(name.into());
        self
    }

    /// Reads a bearer token from the field `name` of an `application/x-www-form-urlencoded`
    /// body (RFC 6750 §2.2).
    pub fn form_body(mut self, name: impl Into<String>) -> Self {
        self.form_field = Some(name.into());
        self
    }

    /// Reads a bearer token from the top-level string field `name` of an `application/json`
    /// body.
    pub fn json_body(mut self, name: impl Into<String>) -> Self {
        self.json_field = Some(name.into());
        self
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

    /// Removes the credential from the request (its header or query parameter) before the
    /// inner service, and its logs, see it. Body credentials are left: the body is handed on
    /// intact.
    pub fn strip(mut self, on: bool) -> Self {
        self.strip = on;
        self
    }

    /// Whether bearer tokens are accepted from any source.
    pub fn accepts_bearer(&self) -> bool {
        self.bearer
            || self.query.is_some()
            || self.form_field.is_some()
            || self.json_field.is_some()
            || self.headers.iter().any(|h| h.scheme == Scheme::Bearer)
    }

    /// Whether `Authorization: Basic` is accepted.
    pub fn accepts_basic(&self) -> bool {
        self.basic
    }

    /// Whether API keys are accepted (from a header named with
    /// [`api_key_header`](Self::api_key_header)).
    pub fn accepts_api_key(&self) -> bool {
        self.headers.iter().any(|h| h.scheme == Scheme::ApiKey)
    }

    /// Which of RFC 6750's bearer methods are read: `Authorization` header (§2.1), form body
    /// (§2.2), query (§2.3), for RFC 9728's `bearer_methods_supported`.
    pub(crate) fn rfc6750_methods(&self) -> (bool, bool, bool) {
        (self.bearer, self.form_field.is_some(), self.query.is_some())
    }

    /// The headers API keys are read from, in the order they were added.
    pub(crate) fn api_key_headers(&self) -> impl Iterator<Item = &HeaderName> {
        self.headers
            .iter()
            .filter(|h| h.scheme == Scheme::ApiKey)
            .map(|h| &h.name)
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
        Ok(self.find_in_head(headers, uri)?.map(|(c, _)| c))
    }

    pub(crate) fn find_in_head<'a>(
        &self,
        headers: &'a HeaderMap,
        uri: &'a Uri,
    ) -> Result<Option<(Credential<'a>, Origin)>, AuthError> {
        let mut found: Option<(Credential<'a>, Origin)> = None;
        let mut take = |c: Credential<'a>, o: Origin| {
            if found.is_some() {
                return Err(more_than_one());
            }
            found = Some((c, o));
            Ok(())
        };

        if self.bearer || self.basic {
            for value in headers.get_all(AUTHORIZATION) {
                if let Some(c) = self.parse_authorization(value.as_bytes())? {
                    take(c, Origin::Authorization)?;
                }
            }
        }
        for (i, named) in self.headers.iter().enumerate() {
            for value in headers.get_all(&named.name) {
                let token = std::str::from_utf8(value.as_bytes())
                    .map_err(|_| malformed())
                    .and_then(|t| check_token(t.trim_matches([' ', '\t'])))?;
                let c = match named.scheme {
                    Scheme::ApiKey => Credential::api_key(token, Source::Header),
                    _ => Credential::bearer(token, Source::Header),
                };
                take(c, Origin::Header(i))?;
            }
        }
        if let (Some(name), Some(q)) = (&self.query, uri.query()) {
            for (key, value) in form_urlencoded::parse(q.as_bytes()) {
                if key == name.as_str() {
                    let token = match value {
                        Cow::Borrowed(v) => Cow::Borrowed(check_token(v)?),
                        Cow::Owned(v) => {
                            check_token(&v)?;
                            Cow::Owned(v)
                        }
                    };
                    take(Credential::bearer(token, Source::Query), Origin::Query)?;
                }
            }
        }
        Ok(found)
    }

    fn parse_authorization<'a>(
        &self,
        value: &'a [u8],
    ) -> Result<Option<Credential<'a>>, AuthError> {
        let value = std::str::from_utf8(value).map_err(|_| malformed())?;
        let value = value.trim_matches([' ', '\t']);
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim_start_matches(' ');
        if self.bearer && scheme.eq_ignore_ascii_case("bearer") {
            if !is_b64token(rest) {
                return Err(AuthError::invalid_request(
                    "the bearer token is not a valid b64token (RFC 6750 section 2.1)",
                ));
            }
            if rest.len() > MAX_CREDENTIAL_LEN {
                return Err(malformed());
            }
            return Ok(Some(Credential::bearer(rest, Source::Header)));
        }
        if self.basic && scheme.eq_ignore_ascii_case("basic") {
            let (user, password) = parse_basic(rest)?;
            return Ok(Some(Credential::basic(user, password, Source::Header)));
        }
        // Another scheme (or one that is switched off) is not a credential we accept.
        Ok(None)
    }

    /// Which body format a body source reads for this request, if any: never for GET and
    /// HEAD, and only for the content type of a configured body source.
    pub(crate) fn body_format(&self, method: &Method, headers: &HeaderMap) -> Option<BodyFormat> {
        if self.form_field.is_none() && self.json_field.is_none() {
            return None;
        }
        if method == Method::GET || method == Method::HEAD {
            return None;
        }
        let essence = headers
            .get(CONTENT_TYPE)?
            .to_str()
            .ok()?
            .split(';')
            .next()?
            .trim();
        if self.form_field.is_some()
            && essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        {
            Some(BodyFormat::Form)
        } else if self.json_field.is_some() && essence.eq_ignore_ascii_case("application/json") {
            Some(BodyFormat::Json)
        } else {
            None
        }
    }

    pub(crate) fn body_field(&self, format: BodyFormat) -> &str {
        match format {
            BodyFormat::Form => self.form_field.as_deref().unwrap_or("access_token"),
            BodyFormat::Json => self.json_field.as_deref().unwrap_or("access_token"),
        }
    }

    /// Removes the credential found at `origin` from the request head.
    pub(crate) fn strip_from(&self, origin: Origin, parts: &mut http::request::Parts) {
        match origin {
            Origin::Authorization => {
                parts.headers.remove(AUTHORIZATION);
            }
            Origin::Header(i) => {
                parts.headers.remove(&self.headers[i].name);
            }
            Origin::Query => {
                if let Some(name) = &self.query {
                    parts.uri = strip_query_param(&parts.uri, name);
                }
            }
            Origin::Body => {}
        }
    }
}

pub(crate) fn more_than_one() -> AuthError {
    AuthError::invalid_request("more than one credential was presented (RFC 6750 section 2)")
}

fn malformed() -> AuthError {
    AuthError::invalid_request("the credential is malformed")
}

/// Bytes allowed in the body of an RFC 6750 §2.1 `b64token` (before its trailing `=`):
/// `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`.
const B64TOKEN_CHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] =
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        i += 1;
    }
    table
};

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
    let body = token.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| B64TOKEN_CHAR[usize::from(b)])
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
fn parse_basic(encoded: &str) -> Result<(String, String), AuthError> {
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
    fn tables_match_the_grammar_for_every_byte() {
        for b in 0..=255u8 {
            let b64 = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(B64TOKEN_CHAR[usize::from(b)], b64, "{b:#04x}");
            assert_eq!(
                VISIBLE_CHAR[usize::from(b)],
                (0x21..=0x7e).contains(&b),
                "{b:#04x}"
            );
        }
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
