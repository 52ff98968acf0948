//! Construction-time refusals.

use super::*;

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
