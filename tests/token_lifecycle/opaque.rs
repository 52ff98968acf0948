//! Opaque tokens.

use super::*;

#[tokio::test]
async fn opaque_tokens_for_everyone() {
    let env = env_with(TokenFormat::Opaque).await;
    let reply = env
        .token_reply(APP, APP_SECRET, Some("read write"))
        .await
        .assert_json(StatusCode::OK);
    let keys = sorted_keys(&reply);
    assert_eq!(keys, ["access_token", "expires_in", "scope", "token_type"]);
    assert_eq!(reply["token_type"], "Bearer");
    assert_eq!(reply["expires_in"], LIFETIME);
    assert_eq!(reply["scope"], "read write");
    let token = reply["access_token"].as_str().unwrap().to_owned();
    assert_opaque_shape(&token);
    // Every client gets them, each a new one.
    let other = env.token(OTHER, OTHER_SECRET, None).await;
    assert_opaque_shape(&other);
    assert_ne!(other, token);

    let who = env.assert_accepted(&token).await;
    assert_eq!(who["subject"], APP);
    assert_eq!(who["client_id"], APP);
    assert_eq!(who["scopes"], json!(["read", "write"]));
    let who = env.assert_accepted(&other).await;
    assert_eq!(who["subject"], OTHER);
    assert_eq!(who["scopes"], json!(["read"]));

    assert_eq!(
        env.check(&token).await.assert_json(StatusCode::OK),
        json!({"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME, "scope": "read write"})
    );
    env.advance(200);
    assert_eq!(
        env.check(&token).await.assert_json(StatusCode::OK)["expires_in"],
        LIFETIME - 200
    );
    let body = env
        .introspect(OTHER, OTHER_SECRET, &token)
        .await
        .assert_json(StatusCode::OK);
    let jti = body["jti"].clone();
    assert!(jti.as_str().is_some_and(|j| !j.is_empty()), "{body}");
    assert_eq!(
        body,
        json!({
            "active": true, "scope": "read write", "client_id": APP, "sub": APP,
            "exp": NOW + LIFETIME, "iat": NOW, "iss": ISS, "aud": AUD,
            "token_type": "Bearer", "jti": jti,
        })
    );

    // Expires with the clock.
    env.advance(LIFETIME - 201);
    env.assert_accepted(&token).await;
    env.advance(1);
    assert_eq!(env.assert_refused(&token).await, "the token has expired");
    env.check(&token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    env.assert_inactive(&token).await;
    env.assert_refused(&other).await;
    // Still refused once a later write forgets it.
    let fresh = env.token(APP, APP_SECRET, None).await;
    env.assert_refused(&token).await;
    env.assert_accepted(&fresh).await;
}

#[tokio::test]
async fn opaque_tokens_for_one_client_jwts_for_the_others() {
    let env = env().await;
    let opaque = env.token(OPAQUE_APP, OPAQUE_SECRET, Some("write")).await;
    assert_opaque_shape(&opaque);
    let jwt = env.token(APP, APP_SECRET, None).await;
    assert_jwt_shape(&jwt);
    assert_eq!(jwt_claims(&jwt)["client_id"], APP);
    assert_jwt_shape(&env.token(OTHER, OTHER_SECRET, None).await);

    let who = env.assert_accepted(&opaque).await;
    assert_eq!(who["subject"], OPAQUE_APP);
    assert_eq!(who["client_id"], OPAQUE_APP);
    assert_eq!(who["scopes"], json!(["write"]));
    assert_eq!(env.assert_accepted(&jwt).await["subject"], APP);

    let body = env
        .introspect(OTHER, OTHER_SECRET, &opaque)
        .await
        .assert_json(StatusCode::OK);
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], OPAQUE_APP);
    assert_eq!(body["sub"], OPAQUE_APP);
    assert_eq!(body["scope"], "write");
    assert_eq!(body["iat"], NOW);
    assert_eq!(body["exp"], NOW + LIFETIME);
}

#[tokio::test]
async fn opaque_tokens_are_revoked_like_jwts() {
    let env = env().await;
    let a = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    let b = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    let c = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;

    // HENGSHI.
    assert_eq!(env.assert_revoke_get(&a).await, "the token was revoked");
    env.assert_refused(&a).await;
    env.check(&a)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    env.assert_inactive(&a).await;
    assert_eq!(env.assert_revoke_get(&a).await, "the token is not active");

    // RFC 7009: another client may not.
    env.revoke_post(Some((APP, APP_SECRET)), &[("token", &b)])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    env.assert_accepted(&b).await;
    // Its own client may.
    env.revoke_post(Some((OPAQUE_APP, OPAQUE_SECRET)), &[("token", &b)])
        .await
        .assert_empty(StatusCode::OK);
    env.assert_refused(&b).await;
    env.assert_inactive(&b).await;

    // The third lives on; opaque revocations need no revocation list.
    env.assert_accepted(&c).await;
    assert_eq!(env.issuer.tokens().revoked_len(), 0);
}

#[tokio::test]
async fn an_opaque_looking_string_nobody_issued_is_refused() {
    let env = env_with(TokenFormat::Opaque).await;
    let real = env.token(APP, APP_SECRET, None).await;
    env.assert_accepted(&real).await;

    let random = random_opaque();
    assert_opaque_shape(&random);
    env.secret(&random);
    // One character off a real token.
    let mut near = real.clone().into_bytes();
    near[0] = if near[0] == b'A' { b'B' } else { b'A' };
    let near = String::from_utf8(near).unwrap();
    env.secret(&near);

    for fake in [random.as_str(), near.as_str()] {
        env.assert_refused(fake).await;
        env.check(fake)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
        env.assert_inactive(fake).await;
        assert_eq!(env.assert_revoke_get(fake).await, "the token is not active");
        env.revoke_post(Some((APP, APP_SECRET)), &[("token", fake)])
            .await
            .assert_empty(StatusCode::OK);
    }
    // None of that touched the real one.
    env.assert_accepted(&real).await;
}
