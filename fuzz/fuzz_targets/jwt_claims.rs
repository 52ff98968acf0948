//! Validly signed JWTs with arbitrary claims: the target signs the fuzzer's payload bytes
//! (HS256, with a header the first input byte picks) and asks `JwtVerifier::verify_token`,
//! configured with an issuer, an audience, `typ: at+jwt` and a fixed clock.
//!
//! Invariants:
//! - accepted ⇒ the header is an HS256 one with `typ` at+jwt (as a media type) and no `crit`;
//!   the payload is a JSON object with `iss` the issuer, `aud` naming the audience, a numeric
//!   `exp` in the future (with the leeway), no future `nbf`, a string `sub` (when present) that
//!   is the identity's subject, and the identity's `expires_at` is `exp`;
//! - the other way round, a plain well-formed payload (those claims right, `sub` a non-empty
//!   string, with a standard header) is accepted: the checks refuse nothing they should not.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower_gatekeeper::clock::ManualClock;
use tower_gatekeeper::verify::JwtVerifier;

const SECRET: &[u8] = b"fuzz-claims-secret-0123456789abcdef";
const ISSUER: &str = "https://issuer.fuzz";
const AUDIENCE: &str = "fuzz-api";
const NOW: u64 = 1_800_000_000;
const LEEWAY: u64 = 30;

/// Headers the first byte picks from; `true` where the verifier may accept the token.
const HEADERS: [(&str, bool); 8] = [
    (r#"{"alg":"HS256","typ":"at+jwt"}"#, true),
    (
        r#"{"alg":"HS256","typ":"application/AT+JWT","kid":"any"}"#,
        true,
    ),
    (r#"{"alg":"HS256","typ":"JWT"}"#, false),
    (r#"{"alg":"HS256"}"#, false),
    (r#"{"alg":"HS256","typ":"at+jwt","crit":["exp"]}"#, false),
    (r#"{"alg":"HS384","typ":"at+jwt"}"#, false),
    (r#"{"alg":"none","typ":"at+jwt"}"#, false),
    (
        r#"{"typ":"at+jwt","alg":"HS256","jku":"https://evil.example/jwks"}"#,
        true,
    ),
];

static VERIFIER: LazyLock<JwtVerifier> = LazyLock::new(|| {
    JwtVerifier::builder()
        .hs256(SECRET)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .typ("at+jwt")
        .leeway(LEEWAY)
        .clock(ManualClock::at_unix(NOW))
        .build()
        .expect("a verifier")
});

fn sign(header: &str, payload: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let alg = if header.contains("HS384") {
        Algorithm::HS384
    } else {
        Algorithm::HS256
    };
    let signature = if header.contains("\"none\"") {
        String::new()
    } else {
        jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(SECRET), alg)
            .expect("HMAC signs")
    };
    format!("{message}.{signature}")
}

/// A NumericDate (RFC 7519 §2) in whole seconds: integers exactly, fractions floored.
fn numeric(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f.floor() as u64)
    })
}

fn aud_names(aud: Option<&Value>) -> bool {
    match aud {
        Some(Value::String(a)) => a == AUDIENCE,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(AUDIENCE)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let (pick, payload) = data.split_first().map_or((0, data), |(p, rest)| (*p, rest));
    let (header, may_pass) = HEADERS[usize::from(pick) % HEADERS.len()];
    let token = sign(header, payload);
    let answer = VERIFIER.verify_token(&token);
    let parsed = serde_json::from_slice::<serde_json::Map<String, Value>>(payload);
    // RFC 8259 §6 lets a parser limit the range of numbers: this oracle (serde_json into
    // `Value`) refuses one beyond f64, the verifier skips the claims it does not read without
    // converting their numbers. Such a claims set is still a JSON object; the claims the
    // verifier reads are checked by its own typed parse.
    let out_of_range = matches!(&parsed, Err(e) if e.to_string().contains("number out of range"));
    let claims: Option<serde_json::Map<String, Value>> = parsed.ok();

    if let Ok(identity) = &answer {
        assert!(may_pass, "accepted with header {header}");
        if claims.is_none() && out_of_range {
            return;
        }
        let claims = claims
            .as_ref()
            .expect("accepted a payload that is not a JSON object");
        assert_eq!(
            claims.get("iss").and_then(Value::as_str),
            Some(ISSUER),
            "{claims:?}"
        );
        assert!(aud_names(claims.get("aud")), "{claims:?}");
        let exp = claims.get("exp").and_then(numeric).expect("a numeric exp");
        assert!(exp.saturating_add(LEEWAY) > NOW, "expired: {claims:?}");
        assert_eq!(identity.expires_at(), Some(exp));
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric(nbf).expect("a numeric nbf");
            assert!(nbf <= NOW + LEEWAY, "not valid yet: {claims:?}");
        }
        match claims.get("sub") {
            Some(sub) => assert_eq!(sub.as_str(), Some(identity.subject())),
            None => assert!(!identity.subject().is_empty()),
        }
    }

    // Completeness: a well-formed payload with a standard header is accepted.
    if let (true, Some(claims)) = (may_pass, &claims) {
        let exp_ok = claims
            .get("exp")
            .and_then(Value::as_u64)
            .is_some_and(|exp| exp > NOW + LEEWAY);
        let nbf_ok = claims.get("nbf").is_none();
        let iss_ok = claims.get("iss").and_then(Value::as_str) == Some(ISSUER);
        let aud_ok = claims.get("aud").and_then(Value::as_str) == Some(AUDIENCE);
        let sub_ok = claims
            .get("sub")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        // RFC 7519 §4: a claims set with a duplicate member name may be refused (the verifier
        // does); serde_json's map keeps the last, so such payloads are not "well formed" here.
        if exp_ok && nbf_ok && iss_ok && aud_ok && sub_ok && !has_duplicate_member(payload) {
            assert!(
                answer.is_ok(),
                "refused a well-formed token ({answer:?}): {claims:?}"
            );
        }
    }
});

/// Whether the top-level JSON object of `payload` names a member twice.
fn has_duplicate_member(payload: &[u8]) -> bool {
    struct Names(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Names {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Names;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Names, A::Error> {
                    let mut names = Vec::new();
                    while let Some((name, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        names.push(name);
                    }
                    Ok(Names(names))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_slice::<Names>(payload).is_ok_and(|Names(mut names)| {
        let n = names.len();
        names.sort();
        names.dedup();
        names.len() != n
    })
}
