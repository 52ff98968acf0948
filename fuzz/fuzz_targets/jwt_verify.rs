//! `JwtVerifier::verify_token` on arbitrary input, with an HMAC, an RSA and an EC key (each
//! named by a `kid`, each with its own algorithm allow-list).
//!
//! Invariants for every token accepted:
//! - it is three base64url parts, and its header's `alg` is one the chosen key allows (never
//!   `none`, never HS256 with a public key's bytes);
//! - its signature verifies, independently, under one of the configured keys;
//! - its payload is a JSON object with a numeric `exp` still in the future (with the leeway)
//!   and no `nbf` in the future, and the identity's subject is its `sub` when present.
//!
//! And: the answer is the same when asked twice; no panic on any input.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use libfuzzer_sys::fuzz_target;
use tower_gatekeeper::clock::ManualClock;
use tower_gatekeeper::verify::{JwtKey, JwtVerifier};

/// The seeds (see `fuzz/make_seeds.py`) are signed with these.
const HMAC_SECRET: &[u8] = b"fuzz-jwt-secret-0123456789abcdef";
const RSA_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/test_only_rsa2048_public.pem");
const EC_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/test_only_ec_p256_public.pem");
const NOW: u64 = 1_800_000_000;
const LEEWAY: u64 = 30;

static VERIFIER: LazyLock<JwtVerifier> = LazyLock::new(|| {
    JwtVerifier::builder()
        .key(
            JwtKey::hmac(HMAC_SECRET, &[Algorithm::HS256])
                .unwrap()
                .with_kid("hs"),
        )
        .key(
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256, Algorithm::PS256])
                .unwrap()
                .with_kid("rs"),
        )
        .key(
            JwtKey::ec_pem(EC_PUBLIC, &[Algorithm::ES256])
                .unwrap()
                .with_kid("es"),
        )
        .leeway(LEEWAY)
        .clock(ManualClock::at_unix(NOW))
        .build()
        .expect("a verifier")
});

static KEYS: LazyLock<Vec<(DecodingKey, Vec<Algorithm>)>> = LazyLock::new(|| {
    vec![
        (
            DecodingKey::from_secret(HMAC_SECRET),
            vec![Algorithm::HS256],
        ),
        (
            DecodingKey::from_rsa_pem(RSA_PUBLIC).unwrap(),
            vec![Algorithm::RS256, Algorithm::PS256],
        ),
        (
            DecodingKey::from_ec_pem(EC_PUBLIC).unwrap(),
            vec![Algorithm::ES256],
        ),
    ]
});

/// A NumericDate (RFC 7519 §2) in whole seconds: integers exactly, fractions floored.
fn numeric(value: &serde_json::Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f.floor() as u64)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let verifier = &*VERIFIER;
    let answer = verifier.verify_token(token);
    assert_eq!(
        format!("{answer:?}"),
        format!("{:?}", verifier.verify_token(token)),
        "not deterministic"
    );
    let Ok(identity) = answer else {
        return;
    };
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token:?}");
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(parts[0])
            .expect("a base64url header"),
    )
    .expect("a JSON header");
    let alg: Algorithm = header["alg"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("a known alg");
    let message = format!("{}.{}", parts[0], parts[1]);
    let verified = KEYS.iter().any(|(key, algs)| {
        algs.contains(&alg)
            && jsonwebtoken::crypto::verify(parts[2], message.as_bytes(), key, alg) == Ok(true)
    });
    assert!(verified, "accepted without a valid signature: {token:?}");

    let payload: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url"))
            .expect("an object");
    let exp = payload
        .get("exp")
        .and_then(numeric)
        .expect("a numeric exp is required");
    assert!(exp.saturating_add(LEEWAY) > NOW, "expired: {payload:?}");
    if let Some(nbf) = payload.get("nbf") {
        let nbf = numeric(nbf).expect("a numeric nbf");
        assert!(nbf <= NOW + LEEWAY, "not yet valid: {payload:?}");
    }
    if let Some(sub) = payload.get("sub") {
        assert_eq!(Some(identity.subject()), sub.as_str(), "{payload:?}");
    }
});
