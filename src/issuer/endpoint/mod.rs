//! The issuer's HTTP endpoints, one service each, every one answering whatever path it is
//! mounted on: token (RFC 6749 §4.4), check (HENGSHI), introspection (RFC 7662) and
//! revocation (RFC 7009, and HENGSHI's revoke by possession).
//!
//! Pieces they share: RFC 6749 §5.2 errors with their challenges, parameter parsing, client
//! authentication under the hashing bound, and a body read bounded in size and time.

mod check;
mod introspect;
mod revoke;
mod token;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ALLOW, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{HeaderValue, Method, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;

pub use check::CheckEndpoint;
pub use introspect::IntrospectionEndpoint;
pub use revoke::RevocationEndpoint;
pub use token::TokenEndpoint;

use super::TokenIssuer;
use super::clients::{ClientRecord, SecretCheck};
use crate::error::quote;
use crate::extract::read_limited;
use crate::service_util::json_response;
use crate::verify::HashingBusy;

const FORM: &str = "application/x-www-form-urlencoded";

/// How much of a request body an endpoint reads, and for how long.
#[derive(Debug, Clone, Copy)]
struct BodyRules {
    /// Larger bodies are refused with 413 (default 16 KiB).
    limit: usize,
    /// A body not received within this time is refused with 408 (default 10 s).
    timeout: Duration,
}

impl Default for BodyRules {
    fn default() -> Self {
        Self {
            limit: 16 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The challenge a 401 carries (RFC 9110 §11.6.1: every 401 has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Challenge {
    None,
    /// Client authentication (RFC 6749 §2.3.1, §5.2): `Basic realm="…", charset="UTF-8"`.
    Basic,
    /// A bad token presented to the check (RFC 6750 §3): `Bearer realm="…",
    /// error="invalid_token", error_description="…"`.
    BearerInvalidToken,
}

/// An RFC 6749 §5.2 error.
struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    challenge: Challenge,
    allow: Option<&'static str>,
    retry_after: bool,
    close: bool,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
            challenge: Challenge::None,
            allow: None,
            retry_after: false,
            close: false,
        }
    }

    fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_request", description)
    }

    /// RFC 6749 §5.2: 401, with a `Basic` challenge however the client authenticated (RFC
    /// 9110 §11.6.1 asks it of every 401).
    fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        let mut e = Self::new("invalid_client", description);
        e.status = StatusCode::UNAUTHORIZED;
        e.challenge = Challenge::Basic;
        e
    }

    /// 503 with `Retry-After`: the password checks are saturated.
    fn busy(refused: HashingBusy) -> Self {
        let description = match refused {
            HashingBusy::Failed => "the client could not be authenticated; try again",
            _ => "too many client authentications at once; try again shortly",
        };
        let mut e = Self::new("temporarily_unavailable", description);
        e.status = StatusCode::SERVICE_UNAVAILABLE;
        e.retry_after = true;
        e
    }

    /// 503 with `Retry-After`: a store could not answer (RFC 6749 §5.2's
    /// `temporarily_unavailable`); the description names what failed, never a credential.
    fn unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        let mut e = Self::new("temporarily_unavailable", description);
        e.status = StatusCode::SERVICE_UNAVAILABLE;
        e.retry_after = true;
        e
    }

    /// RFC 9110 §15.5.6: a 405 names the methods the resource allows.
    fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = Self::invalid_request(format!("use {allow}"));
        e.status = StatusCode::METHOD_NOT_ALLOWED;
        e.allow = Some(allow);
        e
    }

    fn into_response(self, realm: &str) -> Response<Full<Bytes>> {
        let mut response = json_response(
            self.status,
            &serde_json::json!({"error": self.code, "error_description": self.description}),
        );
        let headers = response.headers_mut();
        if let Some(allow) = self.allow {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        if self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.close {
            // RFC 9110 §15.5.9: the body was not read; the connection cannot be reused.
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let challenge = match self.challenge {
            Challenge::None => None,
            Challenge::Basic => Some(format!("Basic realm={}, charset=\"UTF-8\"", quote(realm))),
            Challenge::BearerInvalidToken => Some(format!(
                "Bearer realm={}, error=\"invalid_token\", error_description={}",
                quote(realm),
                quote(&self.description)
            )),
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::try_from(c).ok()) {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The request parameters an endpoint reads, each at most once (RFC 6749 §3.2, which RFC
/// 7662 §2.1 and RFC 7009 §2.1 build on): a parameter sent without a value is treated as
/// omitted, a name the endpoint does not read is ignored (repeated or not: RFC 8707's several
/// `resource`s, say), and a name it reads given twice with values is refused.
struct Params(Vec<(&'static str, String)>);

/// What the token endpoint reads (RFC 6749 §4.4.2, §2.3.1).
const TOKEN_PARAMS: &[&str] = &["grant_type", "scope", "client_id", "client_secret"];

/// What introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1) read.
const TOKEN_ABOUT_PARAMS: &[&str] = &["token", "token_type_hint", "client_id", "client_secret"];

/// What the check and the revocation by possession read.
const TOKEN_ONLY_PARAMS: &[&str] = &["token"];

impl Params {
    /// Parses `input` as `application/x-www-form-urlencoded`, keeping the parameters named in
    /// `reads`. An error names a repeated parameter only by its entry in `reads`: any other
    /// name is the client's text, which may be a secret sent by mistake (`client_secret&s3cret`),
    /// and is ignored anyway. The work is linear in the input: each pair is compared with the
    /// few names in `reads` and, when it is one of them, with the few kept so far.
    fn parse(input: &[u8], reads: &'static [&'static str]) -> Result<Self, OAuthError> {
        let mut params: Vec<(&'static str, String)> = Vec::with_capacity(reads.len());
        for (k, v) in form_urlencoded::parse(input) {
            // RFC 6749 §3.2: "Parameters sent without a value MUST be treated as if they were
            // omitted from the request" (so `scope=&scope=read` is `scope=read`).
            if v.is_empty() {
                continue;
            }
            // "The authorization server MUST ignore unrecognized request parameters."
            let Some(&name) = reads.iter().find(|name| **name == k) else {
                continue;
            };
            if params.iter().any(|(seen, _)| *seen == name) {
                return Err(OAuthError::invalid_request(format!(
                    "the parameter {name} is repeated"
                )));
            }
            params.push((name, v.into_owned()));
        }
        Ok(Self(params))
    }

    fn query(
        parts: &http::request::Parts,
        reads: &'static [&'static str],
    ) -> Result<Self, OAuthError> {
        Self::parse(parts.uri.query().unwrap_or("").as_bytes(), reads)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a `POST` form body: `application/x-www-form-urlencoded` only, at most `rules.limit`
/// bytes (413 past it), received within `rules.timeout` (408 past it); keeps the parameters
/// named in `reads` (see [`Params::parse`]).
async fn read_form<B>(
    parts: &http::request::Parts,
    body: B,
    rules: BodyRules,
    reads: &'static [&'static str],
) -> Result<Params, OAuthError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
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
    let read = read_limited(body, rules.limit, length);
    match crate::verify::with_deadline(read, rules.timeout).await {
        Some(Ok((bytes, _trailers))) => Params::parse(&bytes, reads),
        Some(Err(e)) => {
            // RFC 9110 §15.5.14: too large is 413; anything else unreadable is a 400.
            let mut error = OAuthError::invalid_request(e.description().to_owned());
            error.status = e.status();
            error.close = e.status() == StatusCode::PAYLOAD_TOO_LARGE;
            Err(error)
        }
        None => {
            // RFC 9110 §15.5.9.
            let mut error =
                OAuthError::invalid_request("the request body was not received in time");
            error.status = StatusCode::REQUEST_TIMEOUT;
            error.close = true;
            Err(error)
        }
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
    let bad = || OAuthError::invalid_client("malformed Basic client credentials");
    let value = header.to_str().map_err(|_| bad())?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        // RFC 9110 §11.4: the scheme is a `token`, followed by spaces. `Basic` followed by
        // anything else (`Basic<TAB>…`, `Basic:…`) is malformed Basic credentials, not another
        // scheme to pass over: passed over, it would let body credentials beside it count as
        // the only method (RFC 6749 §2.3).
        let bytes = scheme.as_bytes();
        if bytes.len() > 5
            && bytes[..5].eq_ignore_ascii_case(b"basic")
            && !crate::extract::source::is_tchar(bytes[5])
        {
            return Err(bad());
        }
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

/// Authenticates the client (RFC 6749 §2.3): Basic header or body parameters, never both.
/// An argon2 secret (and an unknown id, while the registry holds argon2 secrets) is checked
/// under the issuer's hashing pool: 503 when it is saturated, and 503 when the client store
/// cannot answer.
async fn authenticate(
    issuer: &TokenIssuer,
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
    let (id, secret) = match (from_header, body_id, body_secret) {
        // RFC 6749 §2.3: one authentication method per request.
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
        (Some((id, secret)), _, None) => (id, secret),
        (None, Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
        (None, None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "client_secret without client_id",
            ));
        }
        (None, _, None) => {
            return Err(OAuthError::invalid_client(
                "client authentication is required",
            ));
        }
    };
    let check = issuer
        .clients()
        .begin_authenticate(&id, &secret)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "client authentication: the client store is unavailable");
            OAuthError::unavailable("the client store is unavailable; try again shortly")
        })?;
    let record = match check {
        SecretCheck::Done(record) => record,
        SecretCheck::Argon2 { phc, record } => {
            let matched = issuer
                .hashing()
                .verify_password(phc, secret)
                .await
                .map_err(OAuthError::busy)?;
            SecretCheck::finish(record, matched)
        }
    };
    record.ok_or_else(|| OAuthError::invalid_client("client authentication failed"))
}

/// `GET` and `POST` are the only methods the endpoints know; `Allow` lists what this one takes.
fn allowed(method: &Method, get: bool, post: bool) -> bool {
    (get && method == Method::GET) || (post && method == Method::POST)
}
