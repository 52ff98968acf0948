//! Keys.

use super::*;

async fn rsa_issuer(key: SigningKey) -> TokenIssuer {
    // The wall clock: tokens are also checked by verifiers that use it.
    TokenIssuer::builder(key)
        .issuer(ISS)
        .audience(AUD)
        .clients(clients().await)
        .build()
}

#[tokio::test]
async fn rs256_tokens_verify_with_the_public_key() {
    for private in [RSA_PRIVATE_PKCS8, RSA_PRIVATE_PKCS1] {
        let issuer = rsa_issuer(SigningKey::rs256_pem(private).unwrap()).await;
        let app = router(issuer.token_endpoint());
        let body = send(&app, post_form(&cc_body(APP, APP_SECRET)))
            .await
            .assert_token();
        let token = body["access_token"].as_str().unwrap();
        let header = decode_header(token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));

        let p = verify(&issuer.verifier(), token).unwrap();
        assert_eq!(p.subject(), APP);
        // The public half was derived correctly: the fixture's public key verifies it.
        let by_pem = JwtVerifier::rs256_pem(RSA_PUBLIC).unwrap();
        assert_eq!(verify(&by_pem, token).unwrap().client_id(), Some(APP));
        // And an HS256 verifier keyed with the public PEM does not.
        let confused = JwtVerifier::builder()
            .key(JwtKey::hmac(RSA_PUBLIC, &[Algorithm::HS256]).unwrap())
            .build()
            .unwrap();
        assert!(verify(&confused, token).is_err());
    }
}

#[tokio::test]
async fn a_kid_on_the_signing_key_is_carried_and_honoured() {
    let issuer = rsa_issuer(
        SigningKey::rs256_pem(RSA_PRIVATE_PKCS8)
            .unwrap()
            .with_kid("rsa-2024"),
    )
    .await;
    let issued = issuer.issue(APP, &["read".to_owned()]).await.unwrap();
    assert_eq!(
        decode_header(&issued.access_token).unwrap().kid.as_deref(),
        Some("rsa-2024")
    );
    assert!(verify(&issuer.verifier(), &issued.access_token).is_ok());
    let named = JwtVerifier::builder()
        .key(
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256])
                .unwrap()
                .with_kid("rsa-2024"),
        )
        .build()
        .unwrap();
    assert!(verify(&named, &issued.access_token).is_ok());
    let other_kid = JwtVerifier::builder()
        .key(
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256])
                .unwrap()
                .with_kid("rsa-2025"),
        )
        .build()
        .unwrap();
    assert!(verify(&other_kid, &issued.access_token).is_err());
}

#[test]
fn bad_signing_keys_are_refused() {
    assert_eq!(
        SigningKey::hs256(b"too short").unwrap_err(),
        KeyError::HmacSecretTooShort {
            algorithm: Algorithm::HS256,
            minimum: 32
        }
    );
    assert!(matches!(
        SigningKey::hs256(&[7u8; 31]),
        Err(KeyError::HmacSecretTooShort { minimum: 32, .. })
    ));
    let ok = SigningKey::hs256(&[7u8; 32]).unwrap();
    assert_eq!(ok.algorithm(), Algorithm::HS256);
    assert_eq!(ok.kid(), None);

    for not_rsa_private in [
        RSA_PUBLIC,
        EC256_PRIVATE,
        b"garbage".as_slice(),
        b"".as_slice(),
    ] {
        assert!(matches!(
            SigningKey::rs256_pem(not_rsa_private),
            Err(KeyError::InvalidKey(_))
        ));
    }
    assert_eq!(
        SigningKey::rs256_pem(RSA_PRIVATE_PKCS8)
            .unwrap()
            .algorithm(),
        Algorithm::RS256
    );
}
