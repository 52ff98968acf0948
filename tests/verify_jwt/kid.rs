//! Keys chosen by kid.

use super::*;

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

pub(crate) fn with_kid(kid: Option<&str>, secret: &[u8]) -> String {
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
