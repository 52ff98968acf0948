//! Tampering and untrusted header keys.

use super::*;

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
