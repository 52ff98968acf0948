//! Revocation.

use super::*;

#[tokio::test]
async fn hengshi_revoke_kills_the_token_at_once() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    let sibling = env.token(APP, APP_SECRET, None).await;
    assert_eq!(env.assert_accepted(&token).await["subject"], APP);

    assert_eq!(env.assert_revoke_get(&token).await, "the token was revoked");
    // The very next request.
    assert_eq!(env.assert_refused(&token).await, "the token was revoked");
    env.check(&token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    env.assert_inactive(&token).await;

    // Again: still 200 code 0.
    assert_eq!(
        env.assert_revoke_get(&token).await,
        "the token is not active"
    );
    env.assert_refused(&token).await;

    // Another token of the same client lives on.
    assert_eq!(env.assert_accepted(&sibling).await["client_id"], APP);

    // Garbage is "not active", still code 0.
    assert_eq!(
        env.assert_revoke_get("garbage").await,
        "the token is not active"
    );
    // No token: 400 in the same shape.
    for uri in ["/oauth/token/revoke", "/oauth/token/revoke?token="] {
        let body = env
            .send(get_req(uri, None))
            .await
            .assert_json(StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], 400);
        assert!(body["msg"].is_string());
        assert_eq!(body.as_object().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn rfc7009_revoke_of_an_own_token() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    let second = env.token(APP, APP_SECRET, None).await;
    env.assert_accepted(&token).await;

    let reply = env
        .revoke_post(Some((APP, APP_SECRET)), &[("token", &token)])
        .await;
    reply.assert_empty(StatusCode::OK);
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    assert_eq!(env.assert_refused(&token).await, "the token was revoked");
    env.check(&token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    env.assert_inactive(&token).await;
    // Again: 200.
    env.revoke_post(Some((APP, APP_SECRET)), &[("token", &token)])
        .await
        .assert_empty(StatusCode::OK);

    // Credentials in the body, with an access_token hint.
    env.assert_accepted(&second).await;
    env.revoke_post(
        None,
        &[
            ("token", &second),
            ("token_type_hint", "access_token"),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
        ],
    )
    .await
    .assert_empty(StatusCode::OK);
    env.assert_refused(&second).await;
}

#[tokio::test]
async fn rfc7009_revoke_of_an_unknown_token_is_200() {
    let env = env().await;
    let expired = env.token(APP, APP_SECRET, None).await;
    env.advance(LIFETIME);
    let forged = forged_jwt();
    let random = random_opaque();
    for unknown in [
        "garbage",
        "a.b.c",
        forged.as_str(),
        random.as_str(),
        expired.as_str(),
    ] {
        env.secret(unknown);
        env.revoke_post(Some((APP, APP_SECRET)), &[("token", unknown)])
            .await
            .assert_empty(StatusCode::OK);
    }
    // A revoked list is not filled with tokens that were not live.
    assert_eq!(env.issuer.tokens().revoked_len(), 0);
}

#[tokio::test]
async fn rfc7009_revoke_of_another_clients_token_is_refused() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    let body = env
        .revoke_post(Some((OTHER, OTHER_SECRET)), &[("token", &token)])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    assert_eq!(
        body["error_description"],
        "the token was issued to another client"
    );
    // Still works everywhere.
    assert_eq!(env.assert_accepted(&token).await["subject"], APP);
    env.check(&token).await.assert_json(StatusCode::OK);
    assert_eq!(env.issuer.tokens().revoked_len(), 0);
}

#[tokio::test]
async fn rfc7009_revoke_needs_client_authentication() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    env.revoke_post(None, &[("token", &token)])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    env.revoke_post(Some((APP, "wrong secret")), &[("token", &token)])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // A bearer token is not client authentication, not even the token itself.
    env.send(form_req(
        Method::POST,
        "/oauth/token/revoke",
        Some(&bearer(&token)),
        &[("token", &token)],
    ))
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    env.assert_accepted(&token).await;
    // Authenticated, but no token.
    env.revoke_post(Some((APP, APP_SECRET)), &[])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn rfc7009_revoke_refuses_an_unknown_token_type_hint() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    env.revoke_post(
        Some((APP, APP_SECRET)),
        &[("token", &token), ("token_type_hint", "foo")],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "unsupported_token_type");
    env.assert_accepted(&token).await;
    // The hints RFC 7009 defines are fine.
    env.revoke_post(
        Some((APP, APP_SECRET)),
        &[("token", &token), ("token_type_hint", "refresh_token")],
    )
    .await
    .assert_empty(StatusCode::OK);
    env.assert_refused(&token).await;
}

#[tokio::test]
async fn revoke_answers_get_and_post_only() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let reply = env
            .send(form_req(
                method,
                "/oauth/token/revoke",
                Some(&client_basic(APP, APP_SECRET)),
                &[("token", &token)],
            ))
            .await;
        reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
        assert_eq!(reply.header(ALLOW), Some("GET, POST"));
    }
    env.assert_accepted(&token).await;
}

/// RFC 7009 §2.1 sends its parameters as RFC 6749 §3.2 does: unknown ones are ignored
/// (repeated or not), empty ones are omitted, and only a repeat of one it reads is refused.
#[tokio::test]
async fn rfc7009_revoke_ignores_unknown_and_empty_parameters_and_refuses_repeats() {
    let env = env().await;
    for repeated in ["token", "token_type_hint", "client_id", "client_secret"] {
        let token = env.token(APP, APP_SECRET, None).await;
        let reply = env
            .revoke_post(
                None,
                &[
                    ("token", &token),
                    ("token_type_hint", "access_token"),
                    ("client_id", APP),
                    ("client_secret", APP_SECRET),
                    (repeated, "x"),
                ],
            )
            .await;
        let body = reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(
            body["error_description"],
            format!("the parameter {repeated} is repeated")
        );
        env.assert_accepted(&token).await;
    }
    for basic in [false, true] {
        let token = env.token(APP, APP_SECRET, None).await;
        let mut pairs = vec![
            ("token", ""),
            ("token", token.as_str()),
            ("token_type_hint", ""),
            ("token_type_hint", "access_token"),
            ("foo", "1"),
            ("foo", "2"),
            ("resource", "https://a.example"),
            ("resource", "https://b.example"),
            ("grant_type", "a"),
            ("grant_type", "b"),
            ("x", ""),
            ("x", ""),
            ("client_secret", ""),
        ];
        if !basic {
            pairs.extend([("client_id", APP), ("client_secret", APP_SECRET)]);
        }
        let auth = basic.then_some((APP, APP_SECRET));
        env.revoke_post(auth, &pairs)
            .await
            .assert_empty(StatusCode::OK);
        assert_eq!(env.assert_refused(&token).await, "the token was revoked");
    }
    // An empty client_secret is an omitted one: the client has not authenticated.
    let token = env.token(APP, APP_SECRET, None).await;
    env.revoke_post(
        None,
        &[("token", &token), ("client_id", APP), ("client_secret", "")],
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    env.assert_accepted(&token).await;
}
