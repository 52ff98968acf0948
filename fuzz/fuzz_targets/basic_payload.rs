//! Basic credentials (RFC 7617) with an arbitrary payload, base64-encoded so the decoder sees
//! every byte sequence, through the public `CredentialSources::extract_head`.
//!
//! Invariant, exact: the credential is accepted iff the payload is UTF-8 without control
//! characters, with a `:` after a non-empty user id; then the user is what comes before the
//! first `:` and the password everything after, byte for byte. Otherwise a 400
//! (`invalid_request`), never a panic, never another scheme.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tower_gatekeeper::ErrorKind;
use tower_gatekeeper::extract::{CredentialSources, Scheme, Source};

fuzz_target!(|data: &[u8]| {
    // The first byte picks padding and the spelling of the scheme, the rest is the payload.
    let (mode, payload) = data.split_first().map_or((0, data), |(m, p)| (*m, p));
    let mut encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(payload);
    if mode & 1 == 1 {
        while encoded.len() % 4 != 0 {
            encoded.push('=');
        }
    }
    let scheme = ["Basic", "basic", "BASIC", "bAsIc"][usize::from(mode >> 1) % 4];
    let value = format!("{scheme} {encoded}");
    let request = http::Request::get("/")
        .header("authorization", &value)
        .body(())
        .expect("a valid header");
    let sources = CredentialSources::new().basic(true);
    let found = sources.extract_head(request.headers(), request.uri());

    let expected = std::str::from_utf8(payload)
        .ok()
        .filter(|t| !t.chars().any(char::is_control) && !payload.is_empty())
        .and_then(|t| t.split_once(':'))
        .filter(|(user, _)| !user.is_empty());
    match (expected, found) {
        (Some((user, password)), Ok(Some(c))) => {
            assert_eq!(c.scheme(), Scheme::Basic);
            assert_eq!(c.source(), Source::Header);
            assert_eq!(c.basic_parts(), Some((user, password)));
            // Debug shows the user, never the password: it is the same whatever the password.
            let without = tower_gatekeeper::extract::Credential::basic(user, "", Source::Header);
            assert_eq!(format!("{c:?}"), format!("{without:?}"));
        }
        (None, Err(e)) => assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e:?}"),
        (expected, found) => panic!("payload {payload:?}: expected {expected:?}, got {found:?}"),
    }
});
