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

const RSA_PRIVATE: &[u8] = include_bytes!("fixtures/test_only_rsa2048_private_pkcs8.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("fixtures/test_only_rsa2048_public.pem");
const ATTACKER_RSA_PRIVATE: &[u8] =
    include_bytes!("fixtures/test_only_rsa2048_attacker_private_pkcs8.pem");
const EC256_PRIVATE: &[u8] = include_bytes!("fixtures/test_only_ec_p256_private_pkcs8.pem");
const EC256_PUBLIC: &[u8] = include_bytes!("fixtures/test_only_ec_p256_public.pem");
const EC384_PRIVATE: &[u8] = include_bytes!("fixtures/test_only_ec_p384_private_pkcs8.pem");
const EC384_PUBLIC: &[u8] = include_bytes!("fixtures/test_only_ec_p384_public.pem");
const ED_PRIVATE: &[u8] = include_bytes!("fixtures/test_only_ed25519_private.pem");
const ED_PUBLIC: &[u8] = include_bytes!("fixtures/test_only_ed25519_public.pem");

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

// ---------------------------------------------------------------------------------------------
// Algorithms
// ---------------------------------------------------------------------------------------------

struct AlgCase {
    alg: Algorithm,
    signing: EncodingKey,
    key: JwtKey,
}

fn all_algorithm_cases() -> Vec<AlgCase> {
    let hmac = |alg, len| AlgCase {
        alg,
        signing: EncodingKey::from_secret(&secret(len)),
        key: JwtKey::hmac(&secret(len), &[alg]).unwrap(),
    };
    let rsa = |alg| AlgCase {
        alg,
        signing: rsa_encoding(),
        key: JwtKey::rsa_pem(RSA_PUBLIC, &[alg]).unwrap(),
    };
    vec![
        hmac(Algorithm::HS256, 32),
        hmac(Algorithm::HS384, 48),
        hmac(Algorithm::HS512, 64),
        rsa(Algorithm::RS256),
        rsa(Algorithm::RS384),
        rsa(Algorithm::RS512),
        rsa(Algorithm::PS256),
        rsa(Algorithm::PS384),
        rsa(Algorithm::PS512),
        AlgCase {
            alg: Algorithm::ES256,
            signing: EncodingKey::from_ec_pem(EC256_PRIVATE).unwrap(),
            key: JwtKey::ec_pem(EC256_PUBLIC, &[Algorithm::ES256]).unwrap(),
        },
        AlgCase {
            alg: Algorithm::ES384,
            signing: EncodingKey::from_ec_pem(EC384_PRIVATE).unwrap(),
            key: JwtKey::ec_pem(EC384_PUBLIC, &[Algorithm::ES384]).unwrap(),
        },
        AlgCase {
            alg: Algorithm::EdDSA,
            signing: EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(),
            key: JwtKey::ed_pem(ED_PUBLIC).unwrap(),
        },
    ]
}

#[test]
fn every_algorithm_verifies_a_token_signed_with_the_matching_key() {
    let cases = all_algorithm_cases();
    assert_eq!(cases.len(), 12);
    for case in cases {
        assert_eq!(case.key.algorithms(), [case.alg]);
        let verifier = JwtVerifier::builder()
            .key(case.key)
            .clock(clock())
            .build()
            .unwrap();
        let token = sign(&Header::new(case.alg), &claims(), &case.signing);
        let principal = verify(&verifier, &token)
            .unwrap_or_else(|e| panic!("{:?} token refused: {e:?}", case.alg));
        assert_eq!(principal.subject(), "user-1", "{:?}", case.alg);

        let tampered = tamper_signature(&token);
        let why = assert_invalid(verify(&verifier, &tampered));
        assert!(
            !why.contains(&token),
            "the description must not echo the token"
        );
    }
}

#[test]
fn every_algorithm_refuses_a_token_signed_by_another_key_of_the_same_kind() {
    // Each case verifies with its own key; sign with a different key of the same algorithm.
    let other_secret = |len: usize| -> Vec<u8> { vec![b'z'; len] };
    let others: Vec<(Algorithm, EncodingKey)> = vec![
        (
            Algorithm::HS256,
            EncodingKey::from_secret(&other_secret(32)),
        ),
        (
            Algorithm::HS384,
            EncodingKey::from_secret(&other_secret(48)),
        ),
        (
            Algorithm::HS512,
            EncodingKey::from_secret(&other_secret(64)),
        ),
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(ATTACKER_RSA_PRIVATE).unwrap(),
        ),
        (
            Algorithm::PS512,
            EncodingKey::from_rsa_pem(ATTACKER_RSA_PRIVATE).unwrap(),
        ),
    ];
    let cases = all_algorithm_cases();
    for (alg, other) in others {
        let case = cases.iter().find(|c| c.alg == alg).unwrap();
        let verifier = JwtVerifier::builder()
            .key(case.key.clone())
            .clock(clock())
            .build()
            .unwrap();
        let token = sign(&Header::new(alg), &claims(), &other);
        assert_invalid(verify(&verifier, &token));
    }
}

#[test]
fn alg_none_tokens_are_refused() {
    let payload = b64(serde_json::to_vec(&claims()).unwrap());
    let verifiers = [
        hs256_verifier(&secret(32)),
        JwtVerifier::builder()
            .rs256_pem(RSA_PUBLIC)
            .clock(clock())
            .build()
            .unwrap(),
    ];
    let headers = [
        r#"{"alg":"none"}"#,
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"None"}"#,
        r#"{"alg":"NONE"}"#,
        r#"{"alg":"nOnE"}"#,
        r#"{"typ":"JWT"}"#,
        r#"{"alg":""}"#,
    ];
    let fake_sigs = [
        String::new(),
        "fake".to_owned(),
        b64([0u8; 32]),
        b64(b"signature"),
    ];
    for verifier in &verifiers {
        for header in headers {
            for sig in &fake_sigs {
                let token = format!("{}.{payload}.{sig}", b64(header));
                assert!(
                    verifier.verify_token(&token).is_err(),
                    "{header} with signature {sig:?} was accepted"
                );
                // Through the trait: never a principal (an empty signature is not even a JWT).
                match verify(verifier, &token) {
                    Ok(_) => panic!("{header} accepted"),
                    Err(VerifyError::Invalid(_)) => assert!(!sig.is_empty()),
                    Err(VerifyError::NotApplicable) => assert!(sig.is_empty()),
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        }
    }
}

#[test]
fn an_algorithm_outside_the_key_allow_list_is_refused() {
    // The key allows RS256 only; the token is PS256, signed by the very same private key.
    let rs_only = JwtVerifier::builder()
        .key(JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256]).unwrap())
        .clock(clock())
        .build()
        .unwrap();
    let ps256 = sign(&Header::new(Algorithm::PS256), &claims(), &rsa_encoding());
    assert_invalid(verify(&rs_only, &ps256));
    let rs512 = sign(&Header::new(Algorithm::RS512), &claims(), &rsa_encoding());
    assert_invalid(verify(&rs_only, &rs512));

    // Same with a kid naming the key.
    let named = JwtVerifier::builder()
        .key(
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256])
                .unwrap()
                .with_kid("rsa-1"),
        )
        .clock(clock())
        .build()
        .unwrap();
    let mut header = Header::new(Algorithm::PS256);
    header.kid = Some("rsa-1".into());
    let ps256_kid = sign(&header, &claims(), &rsa_encoding());
    let why = assert_invalid(verify(&named, &ps256_kid));
    assert!(why.contains("algorithm"), "{why}");

    // Control: once PS256 is allowed, the same tokens pass.
    let both = JwtVerifier::builder()
        .key(
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256, Algorithm::PS256])
                .unwrap()
                .with_kid("rsa-1"),
        )
        .clock(clock())
        .build()
        .unwrap();
    assert!(verify(&both, &ps256).is_ok());
    assert!(verify(&both, &ps256_kid).is_ok());
    assert_invalid(verify(&both, &rs512));

    // HS384 token for a key that allows only HS256 (secret long enough for both).
    let hs256_only = hs256_verifier(&secret(64));
    let hs384 = sign(
        &Header::new(Algorithm::HS384),
        &claims(),
        &EncodingKey::from_secret(&secret(64)),
    );
    assert_invalid(verify(&hs256_only, &hs384));
}

#[test]
fn algorithm_confusion_hs256_signed_with_the_rsa_public_key_is_refused() {
    let confused = hs256_token(RSA_PUBLIC, &claims());
    let verifier = JwtVerifier::rs256_pem(RSA_PUBLIC).unwrap();
    assert_invalid(verify(&verifier, &confused));

    let with_clock = JwtVerifier::builder()
        .key(
            JwtKey::rsa_pem(
                RSA_PUBLIC,
                &[Algorithm::RS256, Algorithm::RS384, Algorithm::PS256],
            )
            .unwrap()
            .with_kid("rsa"),
        )
        .clock(clock())
        .build()
        .unwrap();
    assert_invalid(verify(&with_clock, &confused));
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa".into());
    let confused_kid = sign(&header, &claims(), &EncodingKey::from_secret(RSA_PUBLIC));
    assert_invalid(verify(&with_clock, &confused_kid));

    // The public key bytes can never be configured as an HMAC secret for an RSA allow-list.
    assert_eq!(
        JwtKey::hmac(RSA_PUBLIC, &[Algorithm::RS256]).unwrap_err(),
        KeyError::WrongFamily(Algorithm::RS256)
    );
}

// ---------------------------------------------------------------------------------------------
// Construction-time refusals
// ---------------------------------------------------------------------------------------------

#[test]
fn an_empty_allow_list_is_refused() {
    assert_eq!(
        JwtKey::hmac(&secret(64), &[]).unwrap_err(),
        KeyError::NoAlgorithms
    );
    assert_eq!(
        JwtKey::rsa_pem(RSA_PUBLIC, &[]).unwrap_err(),
        KeyError::NoAlgorithms
    );
    assert_eq!(
        JwtKey::ec_pem(EC256_PUBLIC, &[]).unwrap_err(),
        KeyError::NoAlgorithms
    );
}

#[test]
fn an_algorithm_of_another_family_is_refused() {
    let cases: Vec<(Result<JwtKey, KeyError>, Algorithm)> = vec![
        (
            JwtKey::hmac(&secret(64), &[Algorithm::RS256]),
            Algorithm::RS256,
        ),
        (
            JwtKey::hmac(&secret(64), &[Algorithm::HS256, Algorithm::ES256]),
            Algorithm::ES256,
        ),
        (
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::HS256]),
            Algorithm::HS256,
        ),
        (
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256, Algorithm::ES256]),
            Algorithm::ES256,
        ),
        (
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::EdDSA]),
            Algorithm::EdDSA,
        ),
        (
            JwtKey::ec_pem(EC256_PUBLIC, &[Algorithm::RS256]),
            Algorithm::RS256,
        ),
        (
            JwtKey::ec_pem(EC256_PUBLIC, &[Algorithm::HS256]),
            Algorithm::HS256,
        ),
    ];
    for (result, alg) in cases {
        assert_eq!(result.unwrap_err(), KeyError::WrongFamily(alg));
    }
}

#[test]
fn short_hmac_secrets_are_refused() {
    for (alg, minimum) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        assert_eq!(
            JwtKey::hmac(&secret(minimum - 1), &[alg]).unwrap_err(),
            KeyError::HmacSecretTooShort {
                algorithm: alg,
                minimum
            },
            "{alg:?}"
        );
        assert!(JwtKey::hmac(&secret(minimum), &[alg]).is_ok(), "{alg:?}");
        assert_eq!(
            JwtKey::hmac(&[], &[alg]).unwrap_err(),
            KeyError::HmacSecretTooShort {
                algorithm: alg,
                minimum
            }
        );
    }
    // Every algorithm in the list must be satisfied.
    assert_eq!(
        JwtKey::hmac(&secret(48), &[Algorithm::HS256, Algorithm::HS512]).unwrap_err(),
        KeyError::HmacSecretTooShort {
            algorithm: Algorithm::HS512,
            minimum: 64
        }
    );
    // The shortcuts apply the same rule.
    assert_eq!(
        JwtVerifier::hs256(&secret(31)).unwrap_err(),
        KeyError::HmacSecretTooShort {
            algorithm: Algorithm::HS256,
            minimum: 32
        }
    );
    assert!(JwtVerifier::hs256(&secret(32)).is_ok());
    // A bad key anywhere in a builder fails the build even when a good key follows.
    assert!(matches!(
        JwtVerifier::builder()
            .hs256(&secret(8))
            .hs256(&secret(32))
            .build(),
        Err(KeyError::HmacSecretTooShort { .. })
    ));
}

#[test]
fn a_verifier_without_keys_is_refused() {
    assert_eq!(
        JwtVerifier::builder().build().unwrap_err(),
        KeyError::NoKeys
    );
    assert_eq!(
        JwtVerifier::builder()
            .issuer("https://issuer.example")
            .audience("api")
            .build()
            .unwrap_err(),
        KeyError::NoKeys
    );
}

#[test]
fn unreadable_keys_are_refused() {
    assert!(matches!(
        JwtKey::rsa_pem(b"not a pem", &[Algorithm::RS256]),
        Err(KeyError::InvalidKey(_))
    ));
    assert!(matches!(
        JwtKey::ec_pem(
            b"-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
            &[Algorithm::ES256]
        ),
        Err(KeyError::InvalidKey(_))
    ));
    assert!(matches!(
        JwtKey::ed_pem(b"garbage"),
        Err(KeyError::InvalidKey(_))
    ));
    assert!(matches!(
        JwtVerifier::rs256_pem(b"garbage"),
        Err(KeyError::InvalidKey(_))
    ));
    assert!(matches!(
        JwtVerifier::builder().rs256_pem(b"garbage").build(),
        Err(KeyError::InvalidKey(_))
    ));
}

#[test]
fn key_debug_output_hides_the_key() {
    let key = JwtKey::hmac(&secret(32), &[Algorithm::HS256])
        .unwrap()
        .with_kid("k1");
    assert_eq!(key.kid(), Some("k1"));
    let shown = format!("{key:?}");
    assert!(
        shown.contains("k1") && shown.contains("redacted"),
        "{shown}"
    );
    assert!(!shown.contains("test-only-hmac"), "{shown}");
    let verifier = hs256_verifier(&secret(32));
    assert!(!format!("{verifier:?}").contains("test-only-hmac"));
}

// ---------------------------------------------------------------------------------------------
// Keys chosen by kid
// ---------------------------------------------------------------------------------------------

fn two_hmac_keys() -> (Vec<u8>, Vec<u8>, JwtVerifier) {
    let a = secret(32);
    let b = vec![b'b'; 32];
    let verifier = JwtVerifier::builder()
        .key(JwtKey::hmac(&a, &[Algorithm::HS256]).unwrap().with_kid("a"))
        .key(JwtKey::hmac(&b, &[Algorithm::HS256]).unwrap().with_kid("b"))
        .clock(clock())
        .build()
        .unwrap();
    (a, b, verifier)
}

fn with_kid(kid: Option<&str>, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    sign(&header, &claims(), &EncodingKey::from_secret(secret))
}

#[test]
fn the_kid_chooses_the_key() {
    let (a, b, verifier) = two_hmac_keys();
    assert!(verify(&verifier, &with_kid(Some("a"), &a)).is_ok());
    assert!(verify(&verifier, &with_kid(Some("b"), &b)).is_ok());
    // The kid names a key, but the token was signed by the other one.
    assert_invalid(verify(&verifier, &with_kid(Some("a"), &b)));
    assert_invalid(verify(&verifier, &with_kid(Some("b"), &a)));
}

#[test]
fn an_unknown_kid_is_refused() {
    let (a, _, verifier) = two_hmac_keys();
    assert_invalid(verify(&verifier, &with_kid(Some("c"), &a)));
    assert_invalid(verify(&verifier, &with_kid(Some(""), &a)));
    assert_invalid(verify(&verifier, &with_kid(Some("A"), &a)));
}

#[test]
fn no_kid_with_two_able_keys_is_refused() {
    let (a, b, verifier) = two_hmac_keys();
    let why = assert_invalid(verify(&verifier, &with_kid(None, &a)));
    assert!(why.contains("key id"), "{why}");
    assert_invalid(verify(&verifier, &with_kid(None, &b)));
}

#[test]
fn no_kid_with_one_able_key_uses_it() {
    // Two keys, but only one allows the token's algorithm.
    let verifier = JwtVerifier::builder()
        .key(
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256])
                .unwrap()
                .with_kid("rsa"),
        )
        .key(
            JwtKey::hmac(&secret(32), &[Algorithm::HS256])
                .unwrap()
                .with_kid("hmac"),
        )
        .clock(clock())
        .build()
        .unwrap();
    let rs = sign(&Header::new(Algorithm::RS256), &claims(), &rsa_encoding());
    assert!(verify(&verifier, &rs).is_ok());
    assert!(verify(&verifier, &with_kid(None, &secret(32))).is_ok());
    // The kid of the HMAC key on an RS256 token: that key does not allow RS256.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("hmac".into());
    assert_invalid(verify(
        &verifier,
        &sign(&header, &claims(), &rsa_encoding()),
    ));
    // ES256 has no able key at all.
    let es = sign(
        &Header::new(Algorithm::ES256),
        &claims(),
        &EncodingKey::from_ec_pem(EC256_PRIVATE).unwrap(),
    );
    assert_invalid(verify(&verifier, &es));
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

#[test]
fn exp_is_required_by_default() {
    let verifier = hs256_verifier(&secret(32));
    let token = hs256_token(&secret(32), &json!({"sub": "user-1"}));
    let why = assert_invalid(verify(&verifier, &token));
    assert!(why.contains("exp"), "{why}");

    // Not required once the list is replaced.
    let lenient = JwtVerifier::builder()
        .hs256(&secret(32))
        .required_claims(Vec::<String>::new())
        .clock(clock())
        .build()
        .unwrap();
    assert!(verify(&lenient, &token).is_ok());
}

#[test]
fn exp_is_exclusive_with_zero_leeway() {
    let clock = clock();
    let verifier = JwtVerifier::builder()
        .hs256(&secret(32))
        .leeway(0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let exp = NOW + 10;
    let token = hs256_token(&secret(32), &json!({"sub": "user-1", "exp": exp}));

    clock.set_unix(exp - 1);
    let principal = verify(&verifier, &token).expect("one second before exp");
    assert_eq!(principal.identity().expires_at(), Some(exp));

    clock.set_unix(exp);
    let why = assert_invalid(verify(&verifier, &token));
    assert!(why.contains("expired"), "{why}");

    clock.set_unix(exp + 1);
    assert_invalid(verify(&verifier, &token));
}

#[test]
fn leeway_is_respected_on_exp() {
    let clock = clock();
    // Default leeway: 30 seconds.
    let default = JwtVerifier::builder()
        .hs256(&secret(32))
        .clock(clock.clone())
        .build()
        .unwrap();
    let custom = JwtVerifier::builder()
        .hs256(&secret(32))
        .leeway(120)
        .clock(clock.clone())
        .build()
        .unwrap();
    let exp = NOW;
    let token = hs256_token(&secret(32), &json!({"sub": "user-1", "exp": exp}));

    clock.set_unix(exp + 29);
    assert!(verify(&default, &token).is_ok());
    clock.set_unix(exp + 30);
    assert_invalid(verify(&default, &token));

    clock.set_unix(exp + 119);
    assert!(verify(&custom, &token).is_ok());
    clock.set_unix(exp + 120);
    assert_invalid(verify(&custom, &token));
}

#[test]
fn nbf_in_the_future_is_refused() {
    let clock = clock();
    let strict = JwtVerifier::builder()
        .hs256(&secret(32))
        .leeway(0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let lenient = JwtVerifier::builder()
        .hs256(&secret(32))
        .leeway(60)
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = hs256_token(
        &secret(32),
        &json!({"sub": "user-1", "exp": NOW + 600, "nbf": NOW + 60}),
    );
    let why = assert_invalid(verify(&strict, &token));
    assert!(why.contains("not valid yet"), "{why}");
    // Within leeway.
    assert!(verify(&lenient, &token).is_ok());
    // Once the time comes, accepted.
    clock.advance(std::time::Duration::from_secs(59));
    assert_invalid(verify(&strict, &token));
    clock.advance(std::time::Duration::from_secs(1));
    assert!(verify(&strict, &token).is_ok());
}

#[test]
fn non_numeric_time_claims_are_refused() {
    let verifier = hs256_verifier(&secret(32));
    for bad in [
        json!({"sub": "u", "exp": "1800000000"}),
        json!({"sub": "u", "exp": null}),
        json!({"sub": "u", "exp": -5}),
        json!({"sub": "u", "exp": NOW + 600, "nbf": "soon"}),
        json!({"sub": "u", "exp": NOW + 600, "nbf": [1]}),
    ] {
        assert_invalid(verify(&verifier, &hs256_token(&secret(32), &bad)));
    }
    // A fractional NumericDate is a number (RFC 7519 §2).
    let fractional = json!({"sub": "u", "exp": (NOW + 600) as f64 + 0.5});
    assert!(verify(&verifier, &hs256_token(&secret(32), &fractional)).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Issuer, audience, required claims, typ
// ---------------------------------------------------------------------------------------------

#[test]
fn iss_is_checked() {
    let verifier = JwtVerifier::builder()
        .hs256(&secret(32))
        .issuer("https://a.example")
        .issuer("https://b.example")
        .clock(clock())
        .build()
        .unwrap();
    let with = |iss: Value| {
        let mut c = claims();
        c["iss"] = iss;
        hs256_token(&secret(32), &c)
    };
    assert!(verify(&verifier, &with(json!("https://a.example"))).is_ok());
    assert!(verify(&verifier, &with(json!("https://b.example"))).is_ok());
    for bad in [
        json!("https://c.example"),
        json!("https://a.example/"),
        json!("HTTPS://A.EXAMPLE"),
        json!(["https://a.example"]),
        json!(1),
        json!(null),
    ] {
        let why = assert_invalid(verify(&verifier, &with(bad.clone())));
        assert!(why.contains("issuer"), "{bad}: {why}");
    }
    // Missing iss.
    assert_invalid(verify(&verifier, &hs256_token(&secret(32), &claims())));
    // Without a configured issuer, any iss passes.
    assert!(
        verify(
            &hs256_verifier(&secret(32)),
            &with(json!("https://c.example"))
        )
        .is_ok()
    );
}

#[test]
fn aud_is_checked_as_string_and_array() {
    let verifier = JwtVerifier::builder()
        .hs256(&secret(32))
        .audience("orders-api")
        .audience("billing-api")
        .clock(clock())
        .build()
        .unwrap();
    let with = |aud: Value| {
        let mut c = claims();
        c["aud"] = aud;
        hs256_token(&secret(32), &c)
    };
    for good in [
        json!("orders-api"),
        json!("billing-api"),
        json!(["orders-api"]),
        json!(["other", "billing-api"]),
        json!([1, "orders-api"]),
    ] {
        assert!(verify(&verifier, &with(good.clone())).is_ok(), "{good}");
    }
    for bad in [
        json!("other"),
        json!("orders-api "),
        json!("ORDERS-API"),
        json!(["other"]),
        json!([]),
        json!(""),
        json!(1),
        json!({"aud": "orders-api"}),
        json!(null),
    ] {
        let why = assert_invalid(verify(&verifier, &with(bad.clone())));
        assert!(why.contains("audience"), "{bad}: {why}");
    }
    assert_invalid(verify(&verifier, &hs256_token(&secret(32), &claims())));
}

#[test]
fn required_claims_are_enforced() {
    let verifier = JwtVerifier::builder()
        .hs256(&secret(32))
        .required_claims(["exp", "jti", "tenant"])
        .clock(clock())
        .build()
        .unwrap();
    let full = json!({"sub": "u", "exp": NOW + 60, "jti": "id-1", "tenant": "t"});
    assert!(verify(&verifier, &hs256_token(&secret(32), &full)).is_ok());
    for missing in ["exp", "jti", "tenant"] {
        let mut c = full.clone();
        c.as_object_mut().unwrap().remove(missing);
        let why = assert_invalid(verify(&verifier, &hs256_token(&secret(32), &c)));
        assert!(why.contains(missing), "{why}");
    }
}

fn typed(typ: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = typ.map(str::to_owned);
    sign(&header, &claims(), &EncodingKey::from_secret(&secret(32)))
}

fn at_jwt_verifier(expected: &str) -> JwtVerifier {
    JwtVerifier::builder()
        .hs256(&secret(32))
        .typ(expected)
        .clock(clock())
        .build()
        .unwrap()
}

#[test]
fn typ_at_jwt_is_required_when_configured() {
    let verifier = at_jwt_verifier("at+jwt");
    for good in [
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "APPLICATION/AT+JWT",
    ] {
        assert!(verify(&verifier, &typed(Some(good))).is_ok(), "{good}");
    }
    for bad in [
        Some("JWT"),
        Some("jwt"),
        Some("application/jwt"),
        Some("at+jwt2"),
        Some("text/at+jwt"),
        Some(""),
        None,
    ] {
        let why = assert_invalid(verify(&verifier, &typed(bad)));
        assert!(why.contains("typ"), "{bad:?}: {why}");
    }
    // Without a configured typ, anything goes.
    let any = hs256_verifier(&secret(32));
    assert!(verify(&any, &typed(None)).is_ok());
    assert!(verify(&any, &typed(Some("JWT"))).is_ok());
}

#[test]
fn typ_prefix_is_case_insensitive() {
    let verifier = at_jwt_verifier("at+jwt");
    assert!(verify(&verifier, &typed(Some("Application/at+jwt"))).is_ok());
    assert!(verify(&verifier, &typed(Some("Application/AT+JWT"))).is_ok());
}

#[test]
fn typ_configured_with_the_application_prefix() {
    let verifier = at_jwt_verifier("application/at+jwt");
    assert!(verify(&verifier, &typed(Some("application/at+jwt"))).is_ok());
    assert!(verify(&verifier, &typed(Some("at+jwt"))).is_ok());
    assert_invalid(verify(&verifier, &typed(Some("JWT"))));
}

// ---------------------------------------------------------------------------------------------
// Tampering and untrusted header keys
// ---------------------------------------------------------------------------------------------

#[test]
fn tampered_tokens_are_refused() {
    let verifier = JwtVerifier::builder()
        .key(JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256]).unwrap())
        .clock(clock())
        .build()
        .unwrap();
    let token = sign(&Header::new(Algorithm::RS256), &claims(), &rsa_encoding());
    assert!(verify(&verifier, &token).is_ok());
    let (h, p, s) = parts(&token);

    // Payload swapped for one that names another subject.
    let forged_payload =
        b64(serde_json::to_vec(&json!({"sub": "admin", "exp": NOW + 600})).unwrap());
    assert_invalid(verify(&verifier, &format!("{h}.{forged_payload}.{s}")));

    // Payload with one more claim but otherwise identical.
    let mut more = claims();
    more["scope"] = json!("admin");
    let more = b64(serde_json::to_vec(&more).unwrap());
    assert_invalid(verify(&verifier, &format!("{h}.{more}.{s}")));

    // Signature bit flipped, truncated, emptied of its last byte, or from another token.
    assert_invalid(verify(&verifier, &tamper_signature(&token)));
    assert_invalid(verify(&verifier, &format!("{h}.{p}.{}", &s[..s.len() - 4])));
    let other = sign(
        &Header::new(Algorithm::RS256),
        &json!({"sub": "user-2", "exp": NOW + 600}),
        &rsa_encoding(),
    );
    assert_invalid(verify(&verifier, &format!("{h}.{p}.{}", parts(&other).2)));

    // Header changed (a typ added) under the same signature.
    let forged_header = b64(r#"{"alg":"RS256","typ":"JWT"}"#);
    assert_invalid(verify(&verifier, &format!("{forged_header}.{p}.{s}")));

    // Extra segments, padding, whitespace.
    assert!(verify(&verifier, &format!("{token}.")).is_err());
    assert!(verifier.verify_token(&format!("{token}.{s}")).is_err());
    assert!(verifier.verify_token(&format!(" {token}")).is_err());
    assert!(verifier.verify_token(&format!("{token}=")).is_err());
}

#[test]
fn jku_x5u_and_embedded_jwk_headers_are_ignored() {
    let verifier = JwtVerifier::builder()
        .key(
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256])
                .unwrap()
                .with_kid("legit"),
        )
        .clock(clock())
        .build()
        .unwrap();
    let attacker = EncodingKey::from_rsa_pem(ATTACKER_RSA_PRIVATE).unwrap();
    let attacker_jwk = Jwk::from_encoding_key(&attacker, Algorithm::RS256).unwrap();

    // The attacker signs with its own key and embeds / points to that key.
    let mut header = Header::new(Algorithm::RS256);
    header.jwk = Some(attacker_jwk.clone());
    assert_invalid(verify(&verifier, &sign(&header, &claims(), &attacker)));
    header.kid = Some("legit".into());
    assert_invalid(verify(&verifier, &sign(&header, &claims(), &attacker)));
    header.jku = Some("https://attacker.example/jwks.json".into());
    header.x5u = Some("https://attacker.example/cert.pem".into());
    assert_invalid(verify(&verifier, &sign(&header, &claims(), &attacker)));
    header.kid = None;
    assert_invalid(verify(&verifier, &sign(&header, &claims(), &attacker)));

    // An embedded symmetric key does not help an HMAC token either.
    let mut hs_header = Header::new(Algorithm::HS256);
    let attacker_secret = vec![b'x'; 32];
    hs_header.jwk = Some(
        Jwk::from_encoding_key(
            &EncodingKey::from_secret(&attacker_secret),
            Algorithm::HS256,
        )
        .unwrap(),
    );
    let hs = sign(
        &hs_header,
        &claims(),
        &EncodingKey::from_secret(&attacker_secret),
    );
    assert_invalid(verify(&hs256_verifier(&secret(32)), &hs));

    // Control: the same headers on a token signed by the configured key are merely ignored.
    let mut legit = Header::new(Algorithm::RS256);
    legit.kid = Some("legit".into());
    legit.jwk = Some(attacker_jwk);
    legit.jku = Some("https://attacker.example/jwks.json".into());
    legit.x5u = Some("https://attacker.example/cert.pem".into());
    assert!(verify(&verifier, &sign(&legit, &claims(), &rsa_encoding())).is_ok());
}

#[test]
fn unknown_critical_header_extensions_are_refused() {
    let verifier = hs256_verifier(&secret(32));
    let mut header = Header::new(Algorithm::HS256);
    header.crit = Some(vec!["urn:example:must-understand".into()]);
    header
        .extras
        .insert("urn:example:must-understand", json!(true));
    let token = sign(&header, &claims(), &EncodingKey::from_secret(&secret(32)));
    assert_invalid(verify(&verifier, &token));
}

#[test]
fn non_jwt_credentials_are_not_applicable() {
    let verifier = hs256_verifier(&secret(32));
    let token = hs256_token(&secret(32), &claims());
    let answer = |c: Credential<'_>| match verifier.verify(&c) {
        MaybeReady::Ready(r) => r,
        MaybeReady::Pending(_) => panic!("should be ready"),
    };
    assert_eq!(
        answer(Credential::bearer("opaque-token", Source::Header)).unwrap_err(),
        VerifyError::NotApplicable
    );
    assert_eq!(
        answer(Credential::api_key(token.as_str(), Source::Header)).unwrap_err(),
        VerifyError::NotApplicable
    );
    assert_eq!(
        answer(Credential::basic("user", token.as_str(), Source::Header)).unwrap_err(),
        VerifyError::NotApplicable
    );
    assert!(answer(Credential::bearer(token.as_str(), Source::Query)).is_ok());
    // A refusal maps to an RFC 6750 invalid_token.
    let err: AuthError = assert_invalid_err(answer(Credential::bearer(
        tamper_signature(&token),
        Source::Header,
    )))
    .into();
    assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
    assert_eq!(err.code(), "invalid_token");
}

fn assert_invalid_err(result: Result<Principal, VerifyError>) -> VerifyError {
    let err = result.unwrap_err();
    assert!(matches!(err, VerifyError::Invalid(_)), "{err:?}");
    err
}

// ---------------------------------------------------------------------------------------------
// Claims -> Principal
// ---------------------------------------------------------------------------------------------

/// Raw claims are kept only when asked (`keep_claims`); the mapping is the same either way.
fn principal_for(claims: &Value) -> Result<Principal, VerifyError> {
    let keeping = JwtVerifier::builder()
        .hs256(&secret(32))
        .clock(clock())
        .keep_claims(true)
        .build()
        .expect("valid key");
    let token = hs256_token(&secret(32), claims);
    let plain = verify(&hs256_verifier(&secret(32)), &token);
    if let Ok(p) = &plain {
        assert!(
            p.identity().claims().is_none(),
            "raw claims are off by default"
        );
    }
    let kept = verify(&keeping, &token);
    assert_eq!(
        plain
            .as_ref()
            .map(|p| p.subject().to_owned())
            .map_err(Clone::clone),
        kept.as_ref()
            .map(|p| p.subject().to_owned())
            .map_err(Clone::clone)
    );
    kept
}

#[test]
fn claims_map_to_the_principal() {
    let p = principal_for(&json!({
        "sub": "user-1",
        "client_id": "app-1",
        "scope": "orders:read  orders:write profile",
        "roles": ["admin", "ops"],
        "tenant": "t-1",
        "act": {"sub": "support-agent", "client_id": "console"},
        "exp": NOW + 600,
        "jti": "token-1",
        "department": "finance",
        "nested": {"a": [1, 2]}
    }))
    .unwrap();
    assert_eq!(p.subject(), "user-1");
    assert_eq!(p.client_id(), Some("app-1"));
    assert_eq!(p.scopes(), ["orders:read", "orders:write", "profile"]);
    assert!(p.has_scope("orders:write"));
    assert!(!p.has_scope("orders"));
    let id = p.identity();
    assert_eq!(id.roles(), ["admin", "ops"]);
    assert!(id.has_role("ops"));
    assert_eq!(p.tenant(), Some(&Tenant::new("t-1", None::<String>)));
    assert_eq!(
        p.actor(),
        Some(Actor {
            subject: "support-agent".into(),
            client_id: Some("console".into())
        })
    );
    assert_eq!(id.expires_at(), Some(NOW + 600));
    assert_eq!(id.token_id(), Some("token-1"));
    let raw = id.claims().expect("raw claims are kept");
    assert_eq!(raw["department"], "finance");
    assert_eq!(raw["nested"], json!({"a": [1, 2]}));
    assert_eq!(raw["sub"], "user-1");
}

#[test]
fn azp_scp_array_and_tenant_object() {
    let p = principal_for(&json!({
        "sub": "user-2",
        "azp": "spa-client",
        "scp": ["read", "write"],
        "tenant": {"id": "t-2", "code": "acme"},
        "exp": NOW + 600
    }))
    .unwrap();
    assert_eq!(p.subject(), "user-2");
    assert_eq!(p.client_id(), Some("spa-client"));
    assert_eq!(p.scopes(), ["read", "write"]);
    assert_eq!(p.tenant(), Some(&Tenant::new("t-2", Some("acme"))));
    assert_eq!(p.actor(), None);
    assert!(p.identity().roles().is_empty());
}

#[test]
fn client_id_alone_becomes_the_subject() {
    let p = principal_for(&json!({"clientId": "legacy-app", "exp": NOW + 600})).unwrap();
    assert_eq!(p.subject(), "legacy-app");
    assert_eq!(p.client_id(), Some("legacy-app"));
    assert!(p.scopes().is_empty());

    let p = principal_for(&json!({"client_id": "svc", "azp": "other", "exp": NOW + 600})).unwrap();
    assert_eq!(p.client_id(), Some("svc"), "client_id wins over azp");

    let p = principal_for(&json!({"sub": "u", "tenant_id": "t-9", "exp": NOW + 600})).unwrap();
    assert_eq!(p.tenant().map(|t| t.id.as_str()), Some("t-9"));
}

#[test]
fn a_token_without_a_subject_is_refused() {
    for claims in [
        json!({"exp": NOW + 600}),
        json!({"sub": "", "exp": NOW + 600}),
        json!({"sub": 42, "exp": NOW + 600}),
        json!({"scope": "read", "exp": NOW + 600}),
    ] {
        assert_invalid(principal_for(&claims));
    }
}

#[test]
fn a_malformed_sub_is_not_replaced_by_the_client_id() {
    for claims in [
        json!({"sub": 12345, "client_id": "admin-console", "exp": NOW + 600}),
        json!({"sub": {"id": "u-1"}, "azp": "admin-console", "exp": NOW + 600}),
    ] {
        assert_invalid(principal_for(&claims));
    }
    // An empty sub with a client id is refused today; a malformed one should be too.
    assert_invalid(principal_for(
        &json!({"sub": "", "client_id": "admin-console", "exp": NOW + 600}),
    ));
}

// ---------------------------------------------------------------------------------------------
// Fuzzing
// ---------------------------------------------------------------------------------------------

fn fuzz_verifiers() -> &'static [JwtVerifier] {
    use std::sync::OnceLock;
    static VERIFIERS: OnceLock<Vec<JwtVerifier>> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        vec![
            JwtVerifier::builder()
                .hs256(&secret(32))
                .required_claims(Vec::<String>::new())
                .clock(clock())
                .build()
                .unwrap(),
            JwtVerifier::builder()
                .key(JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256, Algorithm::PS256]).unwrap())
                .key(
                    JwtKey::ec_pem(EC256_PUBLIC, &[Algorithm::ES256])
                        .unwrap()
                        .with_kid("ec"),
                )
                .key(JwtKey::ed_pem(ED_PUBLIC).unwrap())
                .required_claims(Vec::<String>::new())
                .clock(clock())
                .build()
                .unwrap(),
        ]
    })
}

fn assert_never_ok(token: &str) {
    for verifier in fuzz_verifiers() {
        assert!(verifier.verify_token(token).is_err(), "{token:?} accepted");
        assert!(verify(verifier, token).is_err(), "{token:?} accepted");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_verify(token in any::<String>()) {
        assert_never_ok(&token);
    }

    #[test]
    fn arbitrary_base64url_segments_never_verify(
        segments in prop::collection::vec("[A-Za-z0-9_=+/-]{0,64}", 1..6),
    ) {
        assert_never_ok(&segments.join("."));
    }

    #[test]
    fn valid_headers_with_random_payload_and_signature_never_verify(
        alg in prop::sample::select(vec![
            "HS256", "HS384", "RS256", "PS256", "ES256", "ES384", "EdDSA", "none",
        ]),
        kid in prop::option::of(prop::sample::select(vec!["ec", "x", ""])),
        payload in prop::collection::vec(any::<u8>(), 0..200),
        json_payload in any::<bool>(),
        signature in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let header = match kid {
            Some(kid) => json!({"alg": alg, "kid": kid}),
            None => json!({"alg": alg}),
        };
        let payload = if json_payload {
            let text = String::from_utf8_lossy(&payload).into_owned();
            serde_json::to_vec(&json!({"sub": text, "exp": NOW + 600})).unwrap()
        } else {
            payload
        };
        let token = format!(
            "{}.{}.{}",
            b64(serde_json::to_vec(&header).unwrap()),
            b64(payload),
            b64(signature)
        );
        assert_never_ok(&token);
    }
}

#[test]
fn an_unnamed_key_accepts_any_kid_but_a_named_key_wins() {
    // Identity providers often send a kid even when the verifier was given a single key.
    let a = secret(32);
    let single = JwtVerifier::builder()
        .key(JwtKey::hmac(&a, &[Algorithm::HS256]).unwrap())
        .clock(clock())
        .build()
        .unwrap();
    assert!(verify(&single, &with_kid(Some("kid-from-idp"), &a)).is_ok());

    // With a named key present, a kid naming it must verify with it, not the unnamed one.
    let b = vec![b'b'; 32];
    let mixed = JwtVerifier::builder()
        .key(JwtKey::hmac(&a, &[Algorithm::HS256]).unwrap())
        .key(JwtKey::hmac(&b, &[Algorithm::HS256]).unwrap().with_kid("b"))
        .clock(clock())
        .build()
        .unwrap();
    assert!(verify(&mixed, &with_kid(Some("b"), &b)).is_ok());
    assert_invalid(verify(&mixed, &with_kid(Some("b"), &a)));
    // An unknown kid falls to the unnamed key only.
    assert!(verify(&mixed, &with_kid(Some("zzz"), &a)).is_ok());
    assert_invalid(verify(&mixed, &with_kid(Some("zzz"), &b)));
}
