//! `CredentialSources::extract_head` with every head source on: `Authorization` (Bearer and
//! Basic), two token headers, an API key header and a query parameter.
//!
//! Invariants, checked against an independent count of the places that could hold a
//! credential:
//! - none of them present: `Ok(None)`; two or more: `Err` (RFC 6750 §2: one credential);
//! - exactly one and well-formed: `Ok(Some)`, with the right scheme and source, and the secret
//!   the request carried, byte for byte;
//! - whatever is returned: a bearer token from `Authorization` is a `b64token` (RFC 6750 §2.1),
//!   every token is visible ASCII, at most `MAX_CREDENTIAL_LEN`; Basic users have no `:` and
//!   no control character (RFC 7617).
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tower_gatekeeper::extract::{
    CredentialSources, MAX_CREDENTIAL_LEN, Scheme, Source, is_b64token,
};
use tower_gatekeeper_fuzz::parse;

const NAMED: [(&str, Scheme); 3] = [
    ("access_token", Scheme::Bearer),
    ("x-auth-token", Scheme::Bearer),
    ("x-api-key", Scheme::ApiKey),
];

fn sources() -> CredentialSources {
    CredentialSources::new()
        .basic(true)
        .token_header("access_token")
        .token_header("x-auth-token")
        .api_key_header("x-api-key")
        .query("access_token")
}

/// What one place in the request would give, by this file's own reading of the rules.
#[derive(Debug)]
enum Expected {
    Bearer(String),
    Basic(Option<(String, String)>),
    Named(Scheme, Option<String>),
    Query(Option<String>),
    /// Present but unreadable (not UTF-8, or a scheme we take followed by neither a space
    /// nor another `tchar`, RFC 9110 §11.4): an error.
    Unreadable,
}

fn visible(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_CREDENTIAL_LEN
        && token.bytes().all(|b| b.is_ascii_graphic())
}

fn oracle_basic(encoded: &str) -> Option<(String, String)> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    if encoded.is_empty() || encoded.len() > MAX_CREDENTIAL_LEN {
        return None;
    }
    let text = String::from_utf8(engine.decode(encoded).ok()?).ok()?;
    if text.chars().any(char::is_control) {
        return None;
    }
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_owned(), password.to_owned()))
}

fuzz_target!(|data: &[u8]| {
    let raw = parse(data);
    let request = raw.to_request();
    let (headers, uri) = (request.headers(), request.uri());

    let mut places = Vec::new();
    for value in headers.get_all(http::header::AUTHORIZATION) {
        let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
            places.push(Expected::Unreadable);
            continue;
        };
        let text = text.trim_matches([' ', '\t']);
        let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
        let rest = rest.trim_start_matches(' ');
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let junk_after = |name: &str| {
            let s = scheme.as_bytes();
            s.len() > name.len()
                && s[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && !tchar(s[name.len()])
        };
        if junk_after("bearer") || junk_after("basic") {
            places.push(Expected::Unreadable);
        } else if scheme.eq_ignore_ascii_case("bearer") {
            places.push(Expected::Bearer(rest.to_owned()));
        } else if scheme.eq_ignore_ascii_case("basic") {
            places.push(Expected::Basic(oracle_basic(rest)));
        }
    }
    for (name, scheme) in NAMED {
        for value in headers.get_all(name) {
            let token = std::str::from_utf8(value.as_bytes())
                .ok()
                .map(|t| t.trim_matches([' ', '\t']).to_owned())
                .filter(|t| visible(t));
            places.push(Expected::Named(scheme, token));
        }
    }
    if let Some(query) = uri.query() {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if key == "access_token" {
                places.push(Expected::Query(
                    Some(value.into_owned()).filter(|v| visible(v)),
                ));
            }
        }
    }

    let sources = sources();
    let found = sources.extract_head(headers, uri);
    // Deterministic.
    assert_eq!(
        format!("{found:?}"),
        format!("{:?}", sources.extract_head(headers, uri))
    );

    if let Ok(Some(c)) = &found {
        if let Some(token) = c.token() {
            assert!(visible(token), "{token:?}");
        }
        if let Some((user, password)) = c.basic_parts() {
            assert!(!user.is_empty() && !user.contains(':'), "{user:?}");
            assert!(!user.chars().chain(password.chars()).any(char::is_control));
        }
    }

    match places.as_slice() {
        [] => assert!(
            matches!(found, Ok(None)),
            "no credential, got {found:?} for {raw:?}"
        ),
        [one] => {
            let expected = match one {
                Expected::Bearer(t) if is_b64token(t) && t.len() <= MAX_CREDENTIAL_LEN => {
                    Some((Scheme::Bearer, Source::Header, Some(t.clone()), None))
                }
                Expected::Basic(Some((u, p))) => Some((
                    Scheme::Basic,
                    Source::Header,
                    None,
                    Some((u.clone(), p.clone())),
                )),
                Expected::Named(scheme, Some(t)) => {
                    Some((*scheme, Source::Header, Some(t.clone()), None))
                }
                Expected::Query(Some(t)) => {
                    Some((Scheme::Bearer, Source::Query, Some(t.clone()), None))
                }
                _ => None,
            };
            match (expected, &found) {
                (None, Err(_)) => {}
                (Some((scheme, source, token, basic)), Ok(Some(c))) => {
                    assert_eq!(c.scheme(), scheme, "{raw:?}");
                    assert_eq!(c.source(), source, "{raw:?}");
                    assert_eq!(c.token().map(str::to_owned), token, "{raw:?}");
                    assert_eq!(
                        c.basic_parts().map(|(u, p)| (u.to_owned(), p.to_owned())),
                        basic,
                        "{raw:?}"
                    );
                }
                (expected, found) => {
                    panic!("expected {expected:?}, got {found:?} for {one:?} in {raw:?}")
                }
            }
            if let Ok(Some(c)) = &found
                && c.scheme() == Scheme::Bearer
                && c.source() == Source::Header
                && matches!(one, Expected::Bearer(_))
            {
                assert!(is_b64token(c.token().unwrap_or_default()));
            }
        }
        _ => assert!(
            found.is_err(),
            "{} places, got {found:?} for {raw:?}",
            places.len()
        ),
    }
});
