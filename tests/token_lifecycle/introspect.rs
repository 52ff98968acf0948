//! RFC 7662 POST /oauth/token/introspect.

use super::*;

#[tokio::test]
async fn introspection_requires_client_authentication() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;

    // None at all.
    let reply = env
        .send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            None,
            &[("token", &token)],
        ))
        .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // A wrong secret, in the header or in the body: a Basic challenge either way.
    let reply = env.introspect(OTHER, "wrong secret", &token).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(
        reply
            .header(WWW_AUTHENTICATE)
            .is_some_and(|v| v.starts_with("Basic")),
        "{:?}",
        reply.headers
    );
    let reply = env
        .send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            None,
            &[
                ("token", &token),
                ("client_id", OTHER),
                ("client_secret", APP_SECRET),
            ],
        ))
        .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // Every 401 carries a challenge (RFC 9110 §11.6.1), whatever the client used.
    assert!(
        reply
            .header(WWW_AUTHENTICATE)
            .is_some_and(|v| v.starts_with("Basic")),
        "{:?}",
        reply.headers
    );

    // An unknown client; a disabled one.
    env.introspect("nobody", OTHER_SECRET, &token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(env.clients.set_disabled(OTHER, true).await.unwrap());
    env.introspect(OTHER, OTHER_SECRET, &token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(env.clients.set_disabled(OTHER, false).await.unwrap());

    // A bearer token is not client authentication.
    let reply = env
        .send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            Some(&bearer(&token)),
            &[("token", &token)],
        ))
        .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // Authenticated but no token.
    let reply = env
        .send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            Some(&client_basic(OTHER, OTHER_SECRET)),
            &[("token_type_hint", "access_token")],
        ))
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn introspection_describes_a_live_token() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, Some("read write")).await;
    let jti = jwt_claims(&token)["jti"].clone();
    assert!(jti.is_string());
    env.advance(30);

    let expected = json!({
        "active": true,
        "scope": "read write",
        "client_id": APP,
        "sub": APP,
        "exp": NOW + LIFETIME,
        "iat": NOW,
        "iss": ISS,
        "aud": AUD,
        "token_type": "Bearer",
        "jti": jti,
    });
    // Another client (a resource server) asks.
    let reply = env.introspect(OTHER, OTHER_SECRET, &token).await;
    assert_eq!(reply.assert_json(StatusCode::OK), expected);
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    // The token's own client asks, with a hint, credentials in the body.
    let reply = env
        .send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            None,
            &[
                ("token", &token),
                ("token_type_hint", "access_token"),
                ("client_id", APP),
                ("client_secret", APP_SECRET),
            ],
        ))
        .await;
    assert_eq!(reply.assert_json(StatusCode::OK), expected);
}

#[tokio::test]
async fn introspection_of_a_dead_token_says_only_inactive() {
    let env = env().await;
    let expired = env.token(APP, APP_SECRET, None).await;
    let revoked = env.token(APP, APP_SECRET, None).await;
    let live = env.token(APP, APP_SECRET, None).await;
    env.assert_revoke_get(&revoked).await;
    env.assert_inactive(&revoked).await;

    let forged = forged_jwt();
    let random = random_opaque();
    for unknown in ["garbage", "a.b.c", forged.as_str(), random.as_str()] {
        env.secret(unknown);
        env.assert_inactive(unknown).await;
    }

    env.advance(LIFETIME / 2);
    let later = env.token(APP, APP_SECRET, None).await;
    env.advance(LIFETIME / 2);
    env.assert_inactive(&expired).await;
    env.assert_inactive(&live).await;
    // Control: a token that is still live is active.
    assert_eq!(
        env.introspect(OTHER, OTHER_SECRET, &later)
            .await
            .assert_json(StatusCode::OK)["active"],
        true
    );
}

#[tokio::test]
async fn introspection_answers_only_post() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    let uri = format!("/oauth/token/introspect?token={}", enc(&token));
    let reply = env
        .send(get_req(&uri, Some(&client_basic(OTHER, OTHER_SECRET))))
        .await;
    reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert_eq!(reply.header(ALLOW), Some("POST"));
    let reply = env
        .send(form_req(
            Method::PUT,
            "/oauth/token/introspect",
            Some(&client_basic(OTHER, OTHER_SECRET)),
            &[("token", &token)],
        ))
        .await;
    reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert_eq!(reply.header(ALLOW), Some("POST"));
}

/// RFC 7662 §2.1 sends its parameters as RFC 6749 §3.2 does: unknown ones are ignored
/// (repeated or not), empty ones are omitted, and only a repeat of one it reads is refused.
#[tokio::test]
async fn introspection_ignores_unknown_and_empty_parameters_and_refuses_repeats() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, Some("read write")).await;
    let introspect = |pairs: Vec<(&'static str, String)>, basic: bool| {
        let env = &env;
        async move {
            let mut pairs = pairs;
            if !basic {
                pairs.push(("client_id", OTHER.to_owned()));
                pairs.push(("client_secret", OTHER_SECRET.to_owned()));
            }
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let auth = basic.then(|| client_basic(OTHER, OTHER_SECRET));
            env.send(form_req(
                Method::POST,
                "/oauth/token/introspect",
                auth.as_deref(),
                &pairs,
            ))
            .await
        }
    };
    let t = || ("token", token.clone());
    for basic in [false, true] {
        for extra in [
            vec![("foo", "1"), ("foo", "2")],
            vec![
                ("resource", "https://a.example"),
                ("resource", "https://b.example"),
            ],
            vec![("x", ""), ("x", "")],
            vec![("token", "")],
            vec![("token_type_hint", ""), ("token_type_hint", "access_token")],
            vec![("client_id", ""), ("client_secret", "")],
            // The token endpoint's parameters mean nothing here.
            vec![
                ("grant_type", "a"),
                ("grant_type", "b"),
                ("scope", "a"),
                ("scope", "b"),
            ],
        ] {
            let mut pairs = vec![t()];
            pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
            let body = introspect(pairs, basic).await.assert_json(StatusCode::OK);
            assert_eq!(body["active"], true, "{extra:?} (basic {basic}): {body}");
            assert_eq!(body["scope"], "read write");
        }
        for repeated in ["token", "token_type_hint", "client_id", "client_secret"] {
            let mut pairs = vec![t(), ("token_type_hint", "access_token".to_owned())];
            pairs.push((repeated, "x".to_owned()));
            if basic && repeated.starts_with("client_") {
                // Not in the body yet: twice is a repeat, found before anything else.
                pairs.push((repeated, "x".to_owned()));
            }
            let body = introspect(pairs, basic)
                .await
                .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
            assert_eq!(
                body["error_description"],
                format!("the parameter {repeated} is repeated"),
                "basic {basic}"
            );
        }
    }
    // An empty client_secret is an omitted one: the client has not authenticated.
    let reply = introspect(
        vec![
            t(),
            ("client_id", OTHER.to_owned()),
            ("client_secret", String::new()),
        ],
        true,
    )
    .await;
    // (with Basic: the body's id matches the header, its empty secret is nothing)
    assert_eq!(reply.assert_json(StatusCode::OK)["active"], true);
    let reply = env
        .send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            None,
            &[
                ("token", &token),
                ("client_id", OTHER),
                ("client_secret", ""),
            ],
        ))
        .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

/// RFC 7662 §2.2 makes `scope` optional and RFC 6749 §3.3 has no empty scope value: a token
/// with no scopes is introspected and checked without `scope`, JWT and opaque alike.
#[tokio::test]
async fn a_token_without_scopes_is_described_without_scope() {
    let env = env().await;
    let bare = "bare-app";
    let bare_opaque = "bare-opaque-app";
    let secret = "bare-app test secret 61d0";
    env.secret(secret);
    env.clients
        .register(Client::new(bare, secret))
        .await
        .unwrap();
    env.clients
        .register(Client::new(bare_opaque, secret).token_format(TokenFormat::Opaque))
        .await
        .unwrap();
    for id in [bare, bare_opaque] {
        let token = env.token(id, secret, None).await;
        let body = env
            .introspect(OTHER, OTHER_SECRET, &token)
            .await
            .assert_json(StatusCode::OK);
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["client_id"], id);
        assert!(body.get("scope").is_none(), "{body}");
        let body = env.check(&token).await.assert_json(StatusCode::OK);
        assert_eq!(body["access_token"], token.as_str());
        assert!(body.get("scope").is_none(), "{body}");
        let keys = sorted_keys(&body);
        assert_eq!(keys, ["access_token", "expires_in", "token_type"]);
    }
    // With scopes, both name them.
    for id in [APP, OPAQUE_APP] {
        let token = env.token(id, client_secret_of(id), Some("read")).await;
        let body = env
            .introspect(OTHER, OTHER_SECRET, &token)
            .await
            .assert_json(StatusCode::OK);
        assert_eq!(body["scope"], "read", "{body}");
        assert_eq!(
            env.check(&token).await.assert_json(StatusCode::OK)["scope"],
            "read"
        );
    }
}

fn client_secret_of(id: &str) -> &'static str {
    match id {
        APP => APP_SECRET,
        OPAQUE_APP => OPAQUE_SECRET,
        _ => unreachable!("{id}"),
    }
}
