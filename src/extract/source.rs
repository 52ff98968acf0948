//! Credential sources as values: the [`CredentialSource`] trait and the built-in sources.

use std::borrow::Cow;
use std::fmt;

use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, HeaderName, Uri};

use super::body::{BodyFormat, find_in_body};
use super::{
    Credential, MAX_CREDENTIAL_LEN, Scheme, Source, check_token, is_b64token_bytes, malformed,
    more_than_one, not_b64token, parse_basic, strip_query_param,
};
use crate::error::{AuthError, ChallengeScheme};

/// The head of a request, as credential sources see it.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    headers: &'a HeaderMap,
    uri: &'a Uri,
}

impl<'a> RequestHead<'a> {
    /// The head made of `headers` and `uri`.
    pub fn new(headers: &'a HeaderMap, uri: &'a Uri) -> Self {
        Self { headers, uri }
    }
    /// The request headers (gRPC metadata included: it travels as HTTP/2 headers).
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }
    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }
}

/// Which part of the request held the credential, so it can be stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The `Authorization` header.
    Authorization,
    /// The source at this index of the list.
    Source(usize),
    /// A body field: never stripped (the body is handed on intact).
    Body,
}

/// What the sources found in one request: at most one credential (RFC 6750 §2 — "clients
/// MUST NOT use more than one method to transmit the token in each request"). A second
/// offer is refused with 400 `invalid_request`, even when the two values are identical.
///
/// ```
/// use tower_gatekeeper::extract::{Credential, OneCredential, Source};
///
/// let mut found = OneCredential::new();
/// found.offer(Credential::bearer("a", Source::Header)).unwrap();
/// assert_eq!(found.offer(Credential::bearer("a", Source::Query)).unwrap_err().status(), 400);
/// assert_eq!(found.into_credential().unwrap().token(), Some("a"));
/// ```
pub struct OneCredential<'a> {
    found: Option<(Credential<'a>, Origin)>,
    current: Origin,
}

impl fmt::Debug for OneCredential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneCredential")
            .field("found", &self.found.as_ref().map(|(c, _)| c))
            .finish()
    }
}

impl Default for OneCredential<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> OneCredential<'a> {
    /// Nothing found yet.
    pub fn new() -> Self {
        Self {
            found: None,
            current: Origin::Body,
        }
    }

    pub(crate) fn from(&mut self, origin: Origin) -> &mut Self {
        self.current = origin;
        self
    }

    /// Offers a credential a source found; `Err` (400) if one was found already.
    pub fn offer(&mut self, credential: Credential<'a>) -> Result<(), AuthError> {
        if self.found.is_some() {
            return Err(more_than_one());
        }
        self.found = Some((credential, self.current));
        Ok(())
    }

    /// Whether a credential was found.
    pub fn is_found(&self) -> bool {
        self.found.is_some()
    }

    /// The credential found, if any.
    pub fn into_credential(self) -> Option<Credential<'a>> {
        self.found.map(|(c, _)| c)
    }

    pub(crate) fn into_found(self) -> Option<(Credential<'a>, Origin)> {
        self.found
    }

    /// The error to answer when a later source failed with `error`: the `b64token` error of
    /// a credential found earlier whose check was deferred, if it fails, since it would have
    /// been refused before the later source was read; else `error`.
    pub(crate) fn earlier_error(mut self, error: AuthError) -> AuthError {
        match &mut self.found {
            Some((credential, _)) => credential.check_grammar().err().unwrap_or(error),
            None => error,
        }
    }
}

/// A place where a credential may be carried: a header, the query, a cookie, a body field.
///
/// A source finds credentials ([`find_in_head`](Self::find_in_head), and
/// [`find_in_body`](Self::find_in_body) for the bodies it [reads](Self::reads_body)), removes
/// its credential from the request ([`strip`](Self::strip)), and names the challenge schemes
/// its credentials answer to ([`challenges`](Self::challenges)). Add one with
/// [`CredentialSources::source`](super::CredentialSources::source); nothing else changes: the
/// one-credential rule, the body limit and deadline, stripping and the challenges all follow.
///
/// A source offers every credential it sees (a header repeated is two credentials, and is
/// refused by [`OneCredential::offer`]); it refuses a malformed one with 400
/// `invalid_request`, and never puts the credential in the error's description.
///
/// ```
/// use http::request::Parts;
/// use tower_gatekeeper::error::{AuthError, ChallengeScheme};
/// use tower_gatekeeper::extract::{
///     Credential, CredentialSource, CredentialSources, OneCredential, RequestHead, Source,
/// };
///
/// /// `X-Token: <token>`, or the legacy `X-Legacy-Auth: token=<token>`.
/// #[derive(Debug)]
/// struct LegacyHeader;
///
/// impl CredentialSource for LegacyHeader {
///     fn find_in_head<'a>(
///         &self,
///         head: RequestHead<'a>,
///         found: &mut OneCredential<'a>,
///     ) -> Result<(), AuthError> {
///         for value in head.headers().get_all("x-legacy-auth") {
///             let text = value.to_str().map_err(|_| AuthError::invalid_request("malformed"))?;
///             let token = text
///                 .strip_prefix("token=")
///                 .ok_or_else(|| AuthError::invalid_request("X-Legacy-Auth must be token=<token>"))?;
///             found.offer(Credential::bearer(token, Source::Header))?;
///         }
///         Ok(())
///     }
///     fn strip(&self, parts: &mut Parts) {
///         parts.headers.remove("x-legacy-auth");
///     }
///     fn challenges(&self) -> Vec<ChallengeScheme> {
///         vec![ChallengeScheme::Bearer]
///     }
/// }
///
/// let sources = CredentialSources::new().source(LegacyHeader);
/// let req = http::Request::get("/").header("x-legacy-auth", "token=abc").body(()).unwrap();
/// let found = sources.extract_head(req.headers(), req.uri()).unwrap().unwrap();
/// assert_eq!(found.token(), Some("abc"));
///
/// // Beside `Authorization: Bearer`: two credentials, 400.
/// let req = http::Request::get("/")
///     .header("x-legacy-auth", "token=abc")
///     .header("authorization", "Bearer abc")
///     .body(())
///     .unwrap();
/// assert_eq!(sources.extract_head(req.headers(), req.uri()).unwrap_err().status(), 400);
/// ```
pub trait CredentialSource: fmt::Debug + Send + Sync + 'static {
    /// Offers every credential this source finds in the request head.
    fn find_in_head<'a>(
        &self,
        head: RequestHead<'a>,
        found: &mut OneCredential<'a>,
    ) -> Result<(), AuthError> {
        let _ = (head, found);
        Ok(())
    }

    /// Whether this source looks into a body sent with `headers` (its content type). The
    /// layer never reads the body of a `GET` or `HEAD`, nor an empty body, and reads a body at
    /// most once, up to the limit and within the deadline of
    /// [`CredentialSources`](super::CredentialSources).
    fn reads_body(&self, headers: &HeaderMap) -> bool {
        let _ = headers;
        false
    }

    /// Offers the credential this source finds in `body` (the whole body, read by the layer
    /// because [`reads_body`](Self::reads_body) said so).
    fn find_in_body<'a>(
        &self,
        body: &'a [u8],
        found: &mut OneCredential<'a>,
    ) -> Result<(), AuthError> {
        let _ = (body, found);
        Ok(())
    }

    /// Removes this source's credential from the request before the inner service sees it
    /// (when [`strip`](super::CredentialSources::strip) is on; called only on the source that
    /// found the credential, and never for body credentials).
    fn strip(&self, parts: &mut Parts) {
        let _ = parts;
    }

    /// Whether a response to a request whose credential came from here must not be stored by
    /// shared caches: the layer then marks it `Cache-Control: private`. RFC 9111 §3.5 keeps
    /// shared caches from storing responses to requests with `Authorization`, not with other
    /// carriers; RFC 6750 §2.3 asks for `private` when the token is in the query. Default
    /// `false`.
    fn responses_private(&self) -> bool {
        false
    }

    /// The schemes this source's credentials answer to, named in `WWW-Authenticate`.
    fn challenges(&self) -> Vec<ChallengeScheme>;
}

/// `Authorization: Bearer <token>` (RFC 6750 §2.1, scheme case-insensitive) and, when on,
/// `Authorization: Basic <base64 user:pass>` (RFC 7617). Other schemes are not credentials
/// this source takes. [`CredentialSources`](super::CredentialSources) has one, switched with
/// its `bearer` and `basic` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorizationSource {
    bearer: bool,
    basic: bool,
}

impl AuthorizationSource {
    /// Takes `Bearer` and, if `basic`, `Basic` credentials.
    pub fn new(bearer: bool, basic: bool) -> Self {
        Self { bearer, basic }
    }

    pub(crate) fn set_bearer(&mut self, on: bool) {
        self.bearer = on;
    }

    pub(crate) fn set_basic(&mut self, on: bool) {
        self.basic = on;
    }

    pub(crate) fn is_on(&self) -> bool {
        self.bearer || self.basic
    }

    /// Finds the `Authorization` credentials, leaving a bearer token's `b64token` check to
    /// [`Credential::check_grammar`] when `defer_grammar` (the layer's verified-credential
    /// cache answers a token it has seen without the check; any other token is checked before
    /// a verifier sees it).
    pub(crate) fn find_deferring<'a>(
        &self,
        head: RequestHead<'a>,
        found: &mut OneCredential<'a>,
        defer_grammar: bool,
    ) -> Result<(), AuthError> {
        if !self.is_on() {
            return Ok(());
        }
        for value in head.headers().get_all(AUTHORIZATION) {
            if let Some(mut c) = self.parse(value.as_bytes(), defer_grammar)? {
                if found.is_found() {
                    // Refused for its grammar before it is refused for being a second one,
                    // as when it was checked where it was found.
                    c.check_grammar()?;
                }
                found.offer(c)?;
            }
        }
        Ok(())
    }

    fn parse<'a>(
        &self,
        value: &'a [u8],
        defer_grammar: bool,
    ) -> Result<Option<Credential<'a>>, AuthError> {
        // On bytes: the scheme and the token are ASCII when they are what we accept. A bearer
        // token that passes the `b64token` grammar is ASCII, so it is not checked as UTF-8 at
        // all (it is read as text only if a verifier asks); any other value that is not UTF-8
        // is malformed whatever its scheme, as before.
        let value = trim_blanks(value);
        let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
            Some(at) => (&value[..at], &value[at + 1..]),
            None => (value, &[][..]),
        };
        // RFC 9110 §11.4: `auth-scheme [ 1*SP ( token68 / #auth-param ) ]`, the scheme a
        // `token`. A scheme we take followed by anything but a space or another `tchar`
        // (`Bearer<TAB>…`, `Bearer:…`, `Basic,…`) is a malformed credential of that scheme,
        // not a scheme of another name to pass over (`BearerX …` is one).
        let taken_then_junk = |name: &[u8]| {
            scheme.len() > name.len()
                && scheme[..name.len()].eq_ignore_ascii_case(name)
                && !is_tchar(scheme[name.len()])
        };
        if (self.bearer && taken_then_junk(b"bearer")) || (self.basic && taken_then_junk(b"basic"))
        {
            return Err(malformed());
        }
        let rest = trim_leading_spaces(rest);
        let utf8 = || std::str::from_utf8(value).map_err(|_| malformed());
        if self.bearer && scheme.eq_ignore_ascii_case(b"bearer") {
            // Deferred, a token is still refused as it would be here: `check_grammar` gives
            // the same answers, and a token too long for the cache is checked now.
            if defer_grammar && rest.len() <= MAX_CREDENTIAL_LEN {
                return Ok(Some(Credential::pending_bearer(rest)));
            }
            if !is_b64token_bytes(rest) {
                utf8()?;
                return Err(not_b64token());
            }
            if rest.len() > MAX_CREDENTIAL_LEN {
                return Err(malformed());
            }
            return Ok(Some(Credential::b64_bearer(rest)));
        }
        utf8()?;
        if self.basic && scheme.eq_ignore_ascii_case(b"basic") {
            let rest = std::str::from_utf8(rest).map_err(|_| malformed())?;
            let (user, password) = parse_basic(rest)?;
            return Ok(Some(Credential::basic(user, password, Source::Header)));
        }
        // Another scheme (or one that is switched off) is not a credential we accept.
        Ok(None)
    }
}

/// RFC 9110 §5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `value` without leading and trailing spaces and tabs.
fn trim_blanks(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// `value` without leading spaces.
fn trim_leading_spaces(mut value: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = value {
        value = rest;
    }
    value
}

impl CredentialSource for AuthorizationSource {
    fn find_in_head<'a>(
        &self,
        head: RequestHead<'a>,
        found: &mut OneCredential<'a>,
    ) -> Result<(), AuthError> {
        if !self.is_on() {
            return Ok(());
        }
        self.find_deferring(head, found, false)
    }

    fn strip(&self, parts: &mut Parts) {
        parts.headers.remove(AUTHORIZATION);
    }

    fn challenges(&self) -> Vec<ChallengeScheme> {
        let mut schemes = Vec::new();
        if self.bearer {
            schemes.push(ChallengeScheme::Bearer);
        }
        if self.basic {
            schemes.push(ChallengeScheme::Basic);
        }
        schemes
    }
}

/// A token or an API key in a header of its own (`X-API-Key: <key>`, `access_token: <token>`;
/// for gRPC, a metadata key), whole, visible ASCII, with surrounding blanks trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSource {
    name: HeaderName,
    scheme: Scheme,
}

impl HeaderSource {
    /// A bearer token in the header `name`.
    ///
    /// # Panics
    /// When `name` is not a valid header name: a configuration error, caught at startup.
    pub fn token(name: &str) -> Self {
        Self::new(name, Scheme::Bearer)
    }

    /// An API key in the header `name`.
    ///
    /// # Panics
    /// When `name` is not a valid header name.
    pub fn api_key(name: &str) -> Self {
        Self::new(name, Scheme::ApiKey)
    }

    fn new(name: &str, scheme: Scheme) -> Self {
        Self {
            name: HeaderName::try_from(name).expect("invalid header name"),
            scheme,
        }
    }

    /// The header name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }
}

impl CredentialSource for HeaderSource {
    fn find_in_head<'a>(
        &self,
        head: RequestHead<'a>,
        found: &mut OneCredential<'a>,
    ) -> Result<(), AuthError> {
        for value in head.headers().get_all(&self.name) {
            let token = std::str::from_utf8(value.as_bytes())
                .map_err(|_| malformed())
                .and_then(|t| check_token(t.trim_matches([' ', '\t'])))?;
            found.offer(match self.scheme {
                Scheme::ApiKey => Credential::api_key(token, Source::Header),
                _ => Credential::bearer(token, Source::Header),
            })?;
        }
        Ok(())
    }

    fn strip(&self, parts: &mut Parts) {
        parts.headers.remove(&self.name);
    }

    fn challenges(&self) -> Vec<ChallengeScheme> {
        vec![match self.scheme {
            Scheme::ApiKey => ChallengeScheme::ApiKey {
                header: self.name.clone(),
            },
            _ => ChallengeScheme::Bearer,
        }]
    }
}

/// A bearer token in a query parameter (RFC 6750 §2.3), read as
/// `application/x-www-form-urlencoded`. A response to such a request is marked
/// `Cache-Control: private`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySource {
    name: String,
}

impl QuerySource {
    /// A bearer token in the query parameter `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl CredentialSource for QuerySource {
    fn find_in_head<'a>(
        &self,
        head: RequestHead<'a>,
        found: &mut OneCredential<'a>,
    ) -> Result<(), AuthError> {
        let Some(query) = head.uri().query() else {
            return Ok(());
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if key == self.name.as_str() {
                let token = match value {
                    Cow::Borrowed(v) => Cow::Borrowed(check_token(v)?),
                    Cow::Owned(v) => {
                        check_token(&v)?;
                        Cow::Owned(v)
                    }
                };
                found.offer(Credential::bearer(token, Source::Query))?;
            }
        }
        Ok(())
    }

    fn strip(&self, parts: &mut Parts) {
        parts.uri = strip_query_param(&parts.uri, &self.name);
    }

    fn responses_private(&self) -> bool {
        // RFC 6750 §2.3: "...SHOULD send a Cache-Control header containing the "private"
        // option".
        true
    }

    fn challenges(&self) -> Vec<ChallengeScheme> {
        vec![ChallengeScheme::Bearer]
    }
}

/// The essence of a request's content type (`type/subtype`, without parameters).
fn essence(headers: &HeaderMap) -> Option<&str> {
    Some(
        headers
            .get(CONTENT_TYPE)?
            .to_str()
            .ok()?
            .split(';')
            .next()?
            .trim(),
    )
}

/// A bearer token in a field of an `application/x-www-form-urlencoded` body (RFC 6750 §2.2).
/// A field that is repeated is refused (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormSource {
    field: String,
}

impl FormSource {
    /// A bearer token in the form field `field`.
    pub fn new(field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
        }
    }
}

impl CredentialSource for FormSource {
    fn reads_body(&self, headers: &HeaderMap) -> bool {
        essence(headers)
            .is_some_and(|e| e.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    }

    fn find_in_body<'a>(
        &self,
        body: &'a [u8],
        found: &mut OneCredential<'a>,
    ) -> Result<(), AuthError> {
        match find_in_body(BodyFormat::Form, &self.field, body)? {
            Some(c) => found.offer(c),
            None => Ok(()),
        }
    }

    fn challenges(&self) -> Vec<ChallengeScheme> {
        vec![ChallengeScheme::Bearer]
    }
}

/// A bearer token in a top-level string field of an `application/json` body. A repeated
/// field, or one that is not a string, is refused (400); a body that is not a JSON object
/// holds no credential (the inner service judges it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonSource {
    field: String,
}

impl JsonSource {
    /// A bearer token in the JSON field `field`.
    pub fn new(field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
        }
    }
}

impl CredentialSource for JsonSource {
    fn reads_body(&self, headers: &HeaderMap) -> bool {
        essence(headers).is_some_and(|e| e.eq_ignore_ascii_case("application/json"))
    }

    fn find_in_body<'a>(
        &self,
        body: &'a [u8],
        found: &mut OneCredential<'a>,
    ) -> Result<(), AuthError> {
        match find_in_body(BodyFormat::Json, &self.field, body)? {
            Some(c) => found.offer(c),
            None => Ok(()),
        }
    }

    fn challenges(&self) -> Vec<ChallengeScheme> {
        vec![ChallengeScheme::Bearer]
    }
}
