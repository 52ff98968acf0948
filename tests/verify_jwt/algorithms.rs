//! Algorithms.

use super::*;

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
