//! `JwtVerifier` / `JwtKey`: algorithms, refusals, key choice, time and audience checks, and
//! the mapping of claims to a `Principal`.
//!
//! All keys under `tests/fixtures/` are test-only keys.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower_gatekeeper::MaybeReady;
use tower_gatekeeper::clock::ManualClock;
use tower_gatekeeper::extract::{Credential, Source};
use tower_gatekeeper::principal::{Actor, Tenant};
use tower_gatekeeper::verify::{JwtKey, JwtVerifier, KeyError, Verifier, VerifyError};
use tower_gatekeeper::{AuthError, Principal};

const RSA_PRIVATE: &[u8] = include_bytes!("../fixtures/test_only_rsa2048_private_pkcs8.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../fixtures/test_only_rsa2048_public.pem");
const ATTACKER_RSA_PRIVATE: &[u8] =
    include_bytes!("../fixtures/test_only_rsa2048_attacker_private_pkcs8.pem");
const EC256_PRIVATE: &[u8] = include_bytes!("../fixtures/test_only_ec_p256_private_pkcs8.pem");
const EC256_PUBLIC: &[u8] = include_bytes!("../fixtures/test_only_ec_p256_public.pem");
const EC384_PRIVATE: &[u8] = include_bytes!("../fixtures/test_only_ec_p384_private_pkcs8.pem");
const EC384_PUBLIC: &[u8] = include_bytes!("../fixtures/test_only_ec_p384_public.pem");
const ED_PRIVATE: &[u8] = include_bytes!("../fixtures/test_only_ed25519_private.pem");
const ED_PUBLIC: &[u8] = include_bytes!("../fixtures/test_only_ed25519_public.pem");

/// The fixed "now" of every test, so nothing depends on the wall clock.
const NOW: u64 = 1_700_000_000;

/// A test-only HMAC secret of exactly `len` bytes.
fn secret(len: usize) -> Vec<u8> {
    b"test-only-hmac-secret/"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

fn clock() -> ManualClock {
    ManualClock::at_unix(NOW)
}

fn claims() -> Value {
    json!({"sub": "user-1", "exp": NOW + 600})
}

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    encode(header, claims, key).expect("test token signs")
}

fn hs256_token(secret: &[u8], claims: &Value) -> String {
    sign(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
}

fn hs256_verifier(secret: &[u8]) -> JwtVerifier {
    JwtVerifier::builder()
        .hs256(secret)
        .clock(clock())
        .build()
        .expect("valid key")
}

fn rsa_encoding() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap()
}

/// Runs the verifier through the `Verifier` trait; JWT checks must answer at once.
fn verify(verifier: &JwtVerifier, token: &str) -> Result<Principal, VerifyError> {
    match verifier.verify(&Credential::bearer(token, Source::Header)) {
        MaybeReady::Ready(result) => result,
        MaybeReady::Pending(_) => panic!("JWT verification should answer without waiting"),
    }
}

#[track_caller]
fn assert_invalid(result: Result<Principal, VerifyError>) -> String {
    match result {
        Err(VerifyError::Invalid(why)) => why.into_owned(),
        Err(other) => panic!("expected Invalid, got {other:?}"),
        Ok(p) => panic!("expected a refusal, got a principal for {:?}", p.subject()),
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let (h, p, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    assert!(it.next().is_none());
    (h.to_owned(), p.to_owned(), s.to_owned())
}

/// Flips one bit of the decoded signature and re-encodes it.
fn tamper_signature(token: &str) -> String {
    let (h, p, s) = parts(token);
    let mut sig = URL_SAFE_NO_PAD.decode(s).unwrap();
    let mid = sig.len() / 2;
    sig[mid] ^= 0x01;
    format!("{h}.{p}.{}", b64(sig))
}

mod algorithms;
mod claims_checks;
mod claims_to_principal;
mod construction;
mod fuzzing;
mod kid;
mod tampering;
mod time;
use kid::with_kid;
