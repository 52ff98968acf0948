//! Client authentication.

use super::*;

#[tokio::test]
async fn basic_client_authentication_is_form_urlencoded() {
    let env = env().await;
    let grant = [("grant_type", "client_credentials")];
    let reply = send(&env.app(), post_form_basic(&basic(ODD, ODD_SECRET), &grant)).await;
    let body = reply.assert_token();
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], ODD);
    assert_eq!(claims["client_id"], ODD);
    let principal = verify(
        &env.issuer.verifier(),
        body["access_token"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(principal.subject(), ODD);

    // The plain client works through Basic too, with "Basic" in any case.
    send(&env.app(), post_form_basic(&basic(APP, APP_SECRET), &grant))
        .await
        .assert_token();
    let lower = basic(APP, APP_SECRET).replacen("Basic", "basic", 1);
    send(&env.app(), post_form_basic(&lower, &grant))
        .await
        .assert_token();

    // Without the form-urlencoding step, '+' reads as a space and ':' splits too early.
    let reply = send(
        &env.app(),
        post_form_basic(&raw_basic(ODD, ODD_SECRET), &grant),
    )
    .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(reply.header(WWW_AUTHENTICATE).is_some());

    // The encoded form in the body is decoded as any form value.
    send(&env.app(), post_form(&cc_body(ODD, ODD_SECRET)))
        .await
        .assert_token();
}

#[tokio::test]
async fn malformed_basic_credentials_are_invalid_client() {
    let env = env().await;
    let grant = [("grant_type", "client_credentials")];
    for auth in [
        "Basic !!!not-base64!!!".to_owned(),
        format!("Basic {}", STANDARD.encode("no-colon-here")),
        format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', b'x'])),
    ] {
        let reply = send(&env.app(), post_form_basic(&auth, &grant)).await;
        reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
        assert!(
            reply
                .header(WWW_AUTHENTICATE)
                .is_some_and(|v| v.starts_with("Basic")),
            "{auth}"
        );
    }
}

#[tokio::test]
async fn basic_and_body_secret_together_are_invalid_request() {
    let env = env().await;
    let reply = send(
        &env.app(),
        post_form_basic(&basic(APP, APP_SECRET), &cc_body(APP, APP_SECRET)),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");

    // A client_id in the body that matches the Basic credentials is tolerated...
    let reply = send(
        &env.app(),
        post_form_basic(
            &basic(APP, APP_SECRET),
            &[("grant_type", "client_credentials"), ("client_id", APP)],
        ),
    )
    .await;
    reply.assert_token();
    // ...one that names another client is not.
    let reply = send(
        &env.app(),
        post_form_basic(
            &basic(APP, APP_SECRET),
            &[("grant_type", "client_credentials"), ("client_id", ALL)],
        ),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn basic_and_a_lone_body_secret_are_invalid_request() {
    let env = env().await;
    let reply = send(
        &env.app(),
        post_form_basic(
            &basic(APP, APP_SECRET),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", APP_SECRET),
            ],
        ),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let env = env().await;
    let request = post()
        .header(AUTHORIZATION, basic(APP, APP_SECRET))
        .header(AUTHORIZATION, basic(ALL, ALL_SECRET))
        .body(Body::from(form(&[("grant_type", "client_credentials")])))
        .unwrap();
    send(&env.app(), request)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn bad_client_credentials_are_invalid_client() {
    let env = env().await;
    let grant = [("grant_type", "client_credentials")];
    let mut descriptions = Vec::new();
    for (id, secret) in [
        (APP, "wrong secret"),
        (APP, ""),
        (APP, ALL_SECRET),
        ("unknown-app", APP_SECRET),
        (OFF, OFF_SECRET),
    ] {
        // In the body: 401, with a Basic challenge too (RFC 9110 §11.6.1: every 401 has one).
        let reply = send(&env.app(), post_form(&cc_body(id, secret))).await;
        let body = reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
        let challenge = reply.header(WWW_AUTHENTICATE).unwrap_or_default();
        assert!(challenge.starts_with("Basic "), "{id}: {challenge:?}");
        if !secret.is_empty() {
            descriptions.push(body["error_description"].clone());
        }

        // In a Basic header: 401 with a Basic challenge.
        let reply = send(&env.app(), post_form_basic(&basic(id, secret), &grant)).await;
        let body = reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
        let challenge = reply.header(WWW_AUTHENTICATE).unwrap_or_default();
        assert!(challenge.starts_with("Basic "), "{id}: {challenge:?}");
        descriptions.push(body["error_description"].clone());
    }
    // Wrong secret, unknown client and disabled client cannot be told apart.
    descriptions.dedup();
    assert_eq!(descriptions.len(), 1, "{descriptions:?}");

    // Re-enabling the disabled client lets it in.
    assert!(env.issuer.clients().set_disabled(OFF, false).await.unwrap());
    send(&env.app(), post_form(&cc_body(OFF, OFF_SECRET)))
        .await
        .assert_token();
    // And disabling a working one shuts it out.
    assert!(env.issuer.clients().set_disabled(APP, true).await.unwrap());
    send(&env.app(), post_form(&cc_body(APP, APP_SECRET)))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn no_client_authentication_is_invalid_client() {
    let env = env().await;
    for pairs in [
        vec![("grant_type", "client_credentials")],
        vec![("grant_type", "client_credentials"), ("client_id", APP)],
    ] {
        send(&env.app(), post_form(&pairs))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
}
