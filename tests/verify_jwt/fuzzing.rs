//! Fuzzing.

use super::*;

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
