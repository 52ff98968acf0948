//! Request parameters.

use super::*;

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request() {
    let env = env().await;
    for repeated in ["grant_type", "client_id", "client_secret", "scope"] {
        let mut pairs = cc_body(APP, APP_SECRET);
        pairs.push(("scope", "read"));
        let value = pairs.iter().find(|(k, _)| *k == repeated).unwrap().1;
        // The same value again, or another one.
        for again in [value, "other"] {
            let mut pairs = pairs.clone();
            pairs.push((repeated, again));
            let body = send(&env.app(), post_form(&pairs))
                .await
                .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
            assert_eq!(
                body["error_description"],
                format!("the parameter {repeated} is repeated"),
            );
        }
    }
    // A name is compared decoded: `client%5Fsecret` is `client_secret`.
    let body = format!(
        "grant_type=client_credentials&client_id={APP}&client_secret={s}&client%5Fsecret={s}",
        s = form(&[("s", APP_SECRET)]).trim_start_matches("s="),
    );
    let request = post().body(Body::from(body)).unwrap();
    send(&env.app(), request)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    // Also in a GET query.
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("grant_type", "client_credentials"));
    send(&env.app_with_get(), get_query(&pairs))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    // Repeated client credentials with a Basic header: the body's copy is refused as a repeat
    // before the rule of one method per request is even asked.
    let reply = send(
        &env.app(),
        post_form_basic(
            &basic(APP, APP_SECRET),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_id", APP),
            ],
        ),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

/// RFC 6749 §3.2: "The authorization server MUST ignore unrecognized request parameters."
/// RFC 8707 §2 sends `resource` as often as there are resources.
#[tokio::test]
async fn parameters_the_endpoint_does_not_read_are_ignored_even_repeated() {
    let env = env().await;
    let extras: [&[(&str, &str)]; 5] = [
        &[
            ("resource", "https://a.example"),
            ("resource", "https://b.example"),
        ],
        &[("foo", "1"), ("foo", "2")],
        &[("foo", "1"), ("foo", "1"), ("foo", "1")],
        &[("x", ""), ("x", "")],
        // Names of other endpoints' parameters.
        &[
            ("token", "a"),
            ("token", "b"),
            ("token_type_hint", "x"),
            ("token_type_hint", "y"),
        ],
    ];
    for extra in extras {
        let mut pairs = cc_body(APP, APP_SECRET);
        pairs.extend_from_slice(extra);
        let body = send(&env.app(), post_form(&pairs)).await.assert_token();
        assert_eq!(body["scope"], "read", "{extra:?}");
        send(&env.app_with_get(), get_query(&pairs))
            .await
            .assert_token();
    }
}

#[tokio::test]
async fn a_repeated_unknown_name_is_not_repeated_back() {
    // `&` typed for `=`: the secret becomes a parameter name, given twice. `client_secret` and
    // `scope` have no value (omitted) and the secret-named parameters are unknown (ignored):
    // what is left has no client authentication, and nothing repeats the secret.
    let env = env().await;
    let body = format!(
        "grant_type=client_credentials&client_id={APP}&client_secret&{APP_SECRET}&scope&{APP_SECRET}"
    );
    let request = post()
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let reply = send(&env.app(), request).await;
    assert!(!reply.everything().contains(APP_SECRET), "{}", reply.body);
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

/// RFC 6749 §3.2: "Parameters sent without a value MUST be treated as if they were omitted
/// from the request."
#[tokio::test]
async fn a_parameter_without_a_value_is_omitted() {
    let env = env().await;
    // Beside a valued one, an empty one is no repeat, before it or after it.
    for scope in [
        [("scope", ""), ("scope", "write")],
        [("scope", "write"), ("scope", "")],
    ] {
        let mut pairs = cc_body(APP, APP_SECRET);
        pairs.extend_from_slice(&scope);
        let body = send(&env.app(), post_form(&pairs)).await.assert_token();
        assert_eq!(body["scope"], "write");
    }
    let mut pairs = vec![("grant_type", ""), ("client_id", ""), ("client_secret", "")];
    pairs.extend(cc_body(APP, APP_SECRET));
    pairs.push(("scope", ""));
    pairs.push(("scope", ""));
    let body = send(&env.app(), post_form(&pairs)).await.assert_token();
    assert_eq!(body["scope"], "read");
    send(&env.app_with_get(), get_query(&pairs))
        .await
        .assert_token();
    // `client_secret=` is no client_secret beside a Basic header either.
    let reply = send(
        &env.app(),
        post_form_basic(
            &basic(APP, APP_SECRET),
            &[("grant_type", "client_credentials"), ("client_secret", "")],
        ),
    )
    .await;
    reply.assert_token();
}

/// An empty `client_secret` is an omitted one: it authenticates nobody, and is no second
/// method of authentication that would change which one is used.
#[tokio::test]
async fn an_empty_client_secret_authenticates_nobody() {
    let env = env().await;
    for secret in [vec![("client_secret", "")], vec![("client_secret", ""); 2]] {
        let mut pairs = vec![("grant_type", "client_credentials"), ("client_id", APP)];
        pairs.extend(secret);
        let reply = send(&env.app(), post_form(&pairs)).await;
        let body = reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
        assert_eq!(
            body["error_description"],
            "client authentication is required"
        );
        assert!(
            reply
                .header(WWW_AUTHENTICATE)
                .is_some_and(|v| v.starts_with("Basic ")),
            "{:?}",
            reply.headers
        );
        send(&env.app_with_get(), get_query(&pairs))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    // An empty secret of a wrong client beside a Basic header for the right one: the header
    // decides, and the body's empty id and secret say nothing.
    let reply = send(
        &env.app(),
        post_form_basic(
            &basic(APP, "wrong secret"),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", ""),
                ("client_secret", ""),
            ],
        ),
    )
    .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

/// The check for a repeat looks only at the few names the endpoint reads, so many parameters
/// cost little: all of them are read (the unknown ones ignored) within the body limit.
#[tokio::test]
async fn many_unknown_parameters_are_ignored() {
    let env = env().await;
    let mut body = form(&cc_body(APP, APP_SECRET));
    for i in 0..2_000 {
        body.push_str(&format!("&x{}=1", i % 100));
    }
    assert!(body.len() < 16 * 1024);
    let request = post().body(Body::from(body)).unwrap();
    send(&env.app(), request).await.assert_token();
}

#[tokio::test]
async fn a_missing_grant_type_is_invalid_request() {
    let env = env().await;
    for pairs in [
        vec![("client_id", APP), ("client_secret", APP_SECRET)],
        vec![
            ("grant_type", ""),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
        ],
    ] {
        let body = send(&env.app(), post_form(&pairs))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("grant_type")
        );
    }
    send(&env.app(), post_form(&[]))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn other_grant_types_are_unsupported() {
    let env = env().await;
    for grant in [
        "password",
        "token",
        "implicit",
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "Client_Credentials",
        "client_credentials ",
    ] {
        let mut pairs = cc_body(APP, APP_SECRET);
        pairs[0] = ("grant_type", grant);
        pairs.push(("username", "alice"));
        pairs.push(("password", "pw"));
        send(&env.app(), post_form(&pairs))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
}

#[tokio::test]
async fn a_scope_beyond_the_allowed_ones_is_invalid_scope() {
    let env = env().await;
    for scope in [
        "delete",
        "read delete",
        "READ",
        "read:all",
        "write admin superuser",
    ] {
        let mut pairs = cc_body(APP, APP_SECRET);
        pairs.push(("scope", scope));
        send(&env.app(), post_form(&pairs))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    }
    // The scope asked for is not named back: it may be a secret pasted into the wrong field.
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("scope", BARE_SECRET));
    let reply = send(&env.app(), post_form(&pairs)).await;
    assert!(!reply.everything().contains(BARE_SECRET), "{}", reply.body);
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    // A client with no scopes may ask for none.
    let mut pairs = cc_body(BARE, BARE_SECRET);
    pairs.push(("scope", "read"));
    send(&env.app(), post_form(&pairs))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    // Extra spaces are not scopes.
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("scope", "  read   write "));
    let body = send(&env.app(), post_form(&pairs)).await.assert_token();
    assert_eq!(body["scope"], "read write");
}

#[tokio::test]
async fn no_scope_grants_the_default_scopes() {
    let env = env().await;
    // Explicit defaults.
    let body = send(&env.app(), post_form(&cc_body(APP, APP_SECRET)))
        .await
        .assert_token();
    assert_eq!(body["scope"], "read");
    let principal = verify(
        &env.issuer.verifier(),
        body["access_token"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(principal.scopes(), ["read"]);

    // An empty scope parameter counts as absent.
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("scope", ""));
    let body = send(&env.app(), post_form(&pairs)).await.assert_token();
    assert_eq!(body["scope"], "read");

    // No defaults: all allowed scopes.
    let body = send(&env.app(), post_form(&cc_body(ALL, ALL_SECRET)))
        .await
        .assert_token();
    assert_eq!(body["scope"], "read write");

    // No scopes at all: a token without a scope claim.
    let body = send(&env.app(), post_form(&cc_body(BARE, BARE_SECRET)))
        .await
        .assert_token();
    let token = body["access_token"].as_str().unwrap();
    assert!(jwt_claims(token).get("scope").is_none());
    assert!(
        verify(&env.issuer.verifier(), token)
            .unwrap()
            .scopes()
            .is_empty()
    );
}
