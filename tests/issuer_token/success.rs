//! Success.

use super::*;

#[tokio::test]
async fn a_form_post_returns_a_bearer_token() {
    let env = env().await;
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("scope", "read write"));
    let reply = send(&env.app(), post_form(&pairs)).await;
    let body = reply.assert_token();

    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    assert_eq!(reply.header(PRAGMA), Some("no-cache"));
    assert_eq!(reply.header(CONTENT_TYPE), Some("application/json"));
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["access_token", "expires_in", "scope", "token_type"]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], LIFETIME);
    assert_eq!(body["scope"], "read write");
    assert!(!body["access_token"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn the_token_is_an_rfc9068_access_token() {
    let env = env().await;
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("scope", "write read"));
    let body = send(&env.app(), post_form(&pairs)).await.assert_token();
    let token = body["access_token"].as_str().unwrap();

    let header = decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::HS256);
    assert_eq!(header.kid, None);

    let claims = jwt_claims(token);
    assert_eq!(claims["iss"], ISS);
    assert_eq!(claims["sub"], APP);
    assert_eq!(claims["client_id"], APP);
    assert_eq!(claims["aud"], AUD);
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + LIFETIME);
    assert_eq!(claims["scope"], "write read");
    let jti = claims["jti"].as_str().unwrap();
    assert!(jti.len() >= 16, "{jti}");

    // Each token has its own jti.
    let again = send(&env.app(), post_form(&pairs)).await.assert_token();
    let jti2 = jwt_claims(again["access_token"].as_str().unwrap())["jti"].clone();
    assert_ne!(jti2, jti);
}

#[tokio::test]
async fn the_issuer_verifier_accepts_the_token() {
    let env = env().await;
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("scope", "read admin"));
    let body = send(&env.app(), post_form(&pairs)).await.assert_token();
    let token = body["access_token"].as_str().unwrap();

    let principal = verify(&env.issuer.verifier(), token).unwrap();
    assert_eq!(principal.subject(), APP);
    assert_eq!(principal.client_id(), Some(APP));
    assert_eq!(principal.scopes(), ["read", "admin"]);
    assert!(principal.has_scope("admin"));
    assert_eq!(principal.identity().expires_at(), Some(NOW + LIFETIME));
    assert_eq!(
        principal.identity().token_id(),
        jwt_claims(token)["jti"].as_str()
    );

    // An independently configured verifier agrees.
    let independent = JwtVerifier::builder()
        .hs256(HMAC_SECRET)
        .issuer(ISS)
        .audience(AUD)
        .typ("at+jwt")
        .clock(env.clock.clone())
        .build()
        .unwrap();
    assert_eq!(verify(&independent, token).unwrap().subject(), APP);

    // A verifier for another issuer or audience does not.
    for other in [
        JwtVerifier::builder()
            .hs256(HMAC_SECRET)
            .issuer("https://elsewhere.example")
            .clock(env.clock.clone())
            .build()
            .unwrap(),
        JwtVerifier::builder()
            .hs256(HMAC_SECRET)
            .audience("billing-api")
            .clock(env.clock.clone())
            .build()
            .unwrap(),
    ] {
        assert!(verify(&other, token).is_err());
    }
}

#[tokio::test]
async fn the_issuer_verifier_refuses_what_the_issuer_did_not_issue() {
    let env = env().await;
    let verifier = env.issuer.verifier();
    let key = EncodingKey::from_secret(HMAC_SECRET);
    let good = json!({
        "iss": ISS, "sub": APP, "client_id": APP, "aud": AUD,
        "exp": NOW + 60, "iat": NOW, "jti": "x"
    });
    let mut at_jwt = Header::new(Algorithm::HS256);
    at_jwt.typ = Some("at+jwt".into());
    // Control: signed with the same key and shaped like the issuer's tokens, it passes.
    assert!(verify(&verifier, &encode(&at_jwt, &good, &key).unwrap()).is_ok());
    // typ JWT instead of at+jwt.
    assert!(verify(&verifier, &encode(&Header::default(), &good, &key).unwrap()).is_err());
    // Another issuer, another audience, no sub, no exp.
    for (claim, value) in [
        ("iss", Some(json!("https://other.example"))),
        ("aud", Some(json!("other-api"))),
        ("sub", None),
        ("exp", None),
    ] {
        let mut claims = good.clone();
        match value {
            Some(v) => claims[claim] = v,
            None => {
                claims.as_object_mut().unwrap().remove(claim);
            }
        }
        assert!(
            verify(&verifier, &encode(&at_jwt, &claims, &key).unwrap()).is_err(),
            "{claim}"
        );
    }
}

/// RFC 6749 §3.3: a scope is one or more scope-tokens, so `""` is no scope value, and §5.1
/// makes `scope` optional: a token with no scopes is answered without it, in the JSON and in
/// the JWT, whichever way it was asked for.
#[tokio::test]
async fn a_token_without_scopes_has_no_scope_member() {
    let env = env().await;
    let bare_opaque = "bare-opaque-app";
    env.issuer
        .clients()
        .register(
            Client::new(bare_opaque, BARE_SECRET)
                .token_format(tower_gatekeeper::issuer::TokenFormat::Opaque),
        )
        .await
        .unwrap();
    let mut requests = vec![
        (env.app(), post_form(&cc_body(BARE, BARE_SECRET))),
        (env.app(), post_form(&cc_body(bare_opaque, BARE_SECRET))),
        (
            env.app(),
            post_form_basic(
                &basic(BARE, BARE_SECRET),
                &[("grant_type", "client_credentials"), ("scope", "")],
            ),
        ),
        (env.app_with_get(), get_query(&cc_body(BARE, BARE_SECRET))),
    ];
    // The .default form of a client allowed nothing grants nothing.
    let default = format!("{AUD}/.default");
    let mut pairs = cc_body(BARE, BARE_SECRET);
    pairs.push(("scope", &default));
    requests.push((env.app(), post_form(&pairs)));
    for (app, request) in requests {
        let body = send(&app, request).await.assert_token();
        assert!(body.get("scope").is_none(), "{body}");
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.retain(|k| *k != "ext_expires_in");
        keys.sort_unstable();
        assert_eq!(keys, ["access_token", "expires_in", "token_type"], "{body}");
        let token = body["access_token"].as_str().unwrap();
        if token.contains('.') {
            assert!(jwt_claims(token).get("scope").is_none(), "{token}");
        }
    }
    // A client with scopes still gets them named, defaults included.
    let body = send(&env.app(), post_form(&cc_body(ALL, ALL_SECRET)))
        .await
        .assert_token();
    assert_eq!(body["scope"], "read write");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(token)["scope"], "read write");
}
