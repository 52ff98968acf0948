//! GET /oauth/token/check.

use super::*;

#[tokio::test]
async fn check_reports_a_live_token_and_the_seconds_left() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, Some("read write")).await;
    let reply = env.check(&token).await;
    let body = reply.assert_json(StatusCode::OK);
    assert_eq!(
        body,
        json!({"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME, "scope": "read write"})
    );
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));

    env.advance(100);
    let body = env.check(&token).await.assert_json(StatusCode::OK);
    assert_eq!(body["expires_in"], LIFETIME - 100);
    assert_eq!(body["scope"], "read write");

    env.advance(LIFETIME - 101);
    assert_eq!(
        env.check(&token).await.assert_json(StatusCode::OK)["expires_in"],
        1
    );
    // At `exp` the token is dead.
    env.advance(1);
    let body = env
        .check(&token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(body["error_description"], "the token has expired");

    // Default scopes show as granted.
    let token = env.token(APP, APP_SECRET, None).await;
    let body = env.check(&token).await.assert_json(StatusCode::OK);
    assert_eq!(body["scope"], "read");
    assert_eq!(body["expires_in"], LIFETIME);
}

#[tokio::test]
async fn check_refuses_expired_revoked_and_garbage_tokens() {
    let env = env().await;

    let expired = env.token(APP, APP_SECRET, None).await;
    let revoked = env.token(APP, APP_SECRET, None).await;
    assert_eq!(
        env.assert_revoke_get(&revoked).await,
        "the token was revoked"
    );
    let body = env
        .check(&revoked)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(body["error_description"], "the token was revoked");

    env.advance(LIFETIME);
    let body = env
        .check(&expired)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(body["error_description"], "the token has expired");

    let forged = forged_jwt();
    let random = random_opaque();
    for garbage in ["garbage", "a.b.c", "....", forged.as_str(), random.as_str()] {
        env.secret(garbage);
        let reply = env.check(garbage).await;
        reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

#[tokio::test]
async fn check_without_a_token_is_invalid_request() {
    let env = env().await;
    for uri in [
        "/oauth/token/check",
        "/oauth/token/check?token=",
        "/oauth/token/check?access_token=abc",
    ] {
        let body = env
            .send(get_req(uri, None))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(body["error_description"], "the token parameter is missing");
    }
}

#[tokio::test]
async fn check_answers_only_get() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let reply = env
            .send(form_req(
                method.clone(),
                "/oauth/token/check",
                None,
                &[("token", &token)],
            ))
            .await;
        reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
        assert_eq!(reply.header(ALLOW), Some("GET"), "{method}");
    }
    // The token is untouched.
    env.check(&token).await.assert_json(StatusCode::OK);
}

/// The check reads `token` alone: other parameters are ignored (repeated or not), an empty
/// `token` is an omitted one, and two are refused (RFC 6749 §3.2's encoding).
#[tokio::test]
async fn check_reads_only_the_token_parameter() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    let t = enc(&token);
    for query in [
        format!("token={t}&foo=1&foo=2"),
        format!("token=&token={t}"),
        format!("token={t}&token="),
        format!("x=&x=&token={t}&access_token=a&access_token=b"),
    ] {
        let reply = env
            .send(get_req(&format!("/oauth/token/check?{query}"), None))
            .await;
        assert_eq!(
            reply.assert_json(StatusCode::OK)["access_token"],
            token,
            "{query}"
        );
    }
    for query in [
        format!("token={t}&token={t}"),
        format!("token={t}&tok%65n=x"),
    ] {
        let body = env
            .send(get_req(&format!("/oauth/token/check?{query}"), None))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(body["error_description"], "the parameter token is repeated");
    }
}
