//! A credential in a cookie: written against [`CredentialSource`] alone, as any source of an
//! application's own would be.

use http::HeaderValue;
use http::header::COOKIE;
use http::request::Parts;

use super::{Credential, CredentialSource, OneCredential, RequestHead, Scheme, Source};
use crate::error::{AuthError, ChallengeScheme};

/// A token or API key in the cookie `name` (`Cookie: name=<token>`, RFC 6265 §4.2).
///
/// Every `Cookie` header is read (HTTP/2 sends one per cookie, RFC 9113 §8.2.3); a value in
/// double quotes is unquoted; an empty value is no credential. The cookie named twice is two
/// credentials (400), as a cookie beside any other credential is. Responses are marked
/// `Cache-Control: private`: no RFC keeps shared caches from storing responses to requests
/// that carry cookies. Challenged as `Cookie realm="…", cookie="<name>"`, which no RFC
/// defines; like the `ApiKey` challenge it tells a client where the credential goes.
///
/// **Cross-site requests**: a browser attaches cookies to requests other sites make it send.
/// A credential in a cookie is only as safe as the cookie's `SameSite` attribute (RFC 6265bis)
/// and the application's CSRF defence; header and query credentials have no such problem.
///
/// ```
/// use tower_gatekeeper::extract::{CookieSource, CredentialSources, Source};
///
/// let sources = CredentialSources::new().source(CookieSource::token("session"));
/// let req = http::Request::get("/")
///     .header("cookie", "theme=dark; session=abc.def")
///     .body(())
///     .unwrap();
/// let found = sources.extract_head(req.headers(), req.uri()).unwrap().unwrap();
/// assert_eq!((found.token(), found.source()), (Some("abc.def"), Source::Cookie));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSource {
    name: String,
    scheme: Scheme,
}

impl CookieSource {
    /// A bearer token in the cookie `name`.
    pub fn token(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            scheme: Scheme::Bearer,
        }
    }

    /// An API key in the cookie `name`.
    pub fn api_key(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            scheme: Scheme::ApiKey,
        }
    }

    /// The pairs of one `Cookie` header value, names trimmed.
    fn pairs(value: &str) -> impl Iterator<Item = (&str, &str)> {
        value
            .split(';')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.trim(), value.trim()))
    }
}

impl CredentialSource for CookieSource {
    fn find_in_head<'a>(
        &self,
        head: RequestHead<'a>,
        found: &mut OneCredential<'a>,
    ) -> Result<(), AuthError> {
        for header in head.headers().get_all(COOKIE) {
            let Ok(text) = header.to_str() else {
                // Not ASCII: no cookie of ours can be read from it.
                if contains(header.as_bytes(), self.name.as_bytes()) {
                    return Err(AuthError::invalid_request("the credential is malformed"));
                }
                continue;
            };
            for (name, value) in Self::pairs(text) {
                if name != self.name {
                    continue;
                }
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                if value.is_empty() {
                    continue;
                }
                let token = super::check_token(value)?;
                found.offer(match self.scheme {
                    Scheme::ApiKey => Credential::api_key(token, Source::Cookie),
                    _ => Credential::bearer(token, Source::Cookie),
                })?;
            }
        }
        Ok(())
    }

    fn strip(&self, parts: &mut Parts) {
        let kept: Vec<HeaderValue> = parts
            .headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|header| {
                let Ok(text) = header.to_str() else {
                    return Some(header.clone());
                };
                let rest: Vec<String> = text
                    .split(';')
                    .map(str::trim)
                    .filter(|pair| {
                        !pair.is_empty()
                            && pair
                                .split_once('=')
                                .is_none_or(|(n, _)| n.trim() != self.name)
                    })
                    .map(str::to_owned)
                    .collect();
                (!rest.is_empty())
                    .then(|| HeaderValue::try_from(rest.join("; ")).ok())
                    .flatten()
            })
            .collect();
        parts.headers.remove(COOKIE);
        for value in kept {
            parts.headers.append(COOKIE, value);
        }
    }

    fn responses_private(&self) -> bool {
        true
    }

    fn challenges(&self) -> Vec<ChallengeScheme> {
        vec![ChallengeScheme::Other {
            scheme: "Cookie".into(),
            params: vec![("cookie".into(), self.name.clone())],
        }]
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
