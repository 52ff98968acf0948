//! Request parameters.

use super::*;

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request() {
    let env = env().await;
    for repeated in ["grant_type", "client_id", "client_secret", "scope"] {
        let mut pairs = cc_body(APP, APP_SECRET);
        pairs.push(("scope", "read"));
        let value = pairs.iter().find(|(k, _)| *k == repeated).unwrap().1;
        pairs.push((repeated, value));
        let body = send(&env.app(), post_form(&pairs))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(repeated),
            "{body}"
        );
    }
    // Also in a GET query.
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("grant_type", "client_credentials"));
    send(&env.app_with_get(), get_query(&pairs))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_repeated_unknown_name_is_not_repeated_back() {
    // `&` typed for `=`: the secret becomes a parameter name, given twice.
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
    let body = reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(body["error_description"], "a parameter is repeated");
}

fn borrowed(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test]
async fn more_than_sixty_four_parameters_are_refused() {
    let env = env().await;
    let mut pairs: Vec<(String, String)> = cc_body(APP, APP_SECRET)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let fillers = 64 - pairs.len();
    pairs.extend((0..fillers).map(|i| (format!("x{i}"), "1".to_owned())));
    // Sixty-four are read (the unknown ones ignored) and the token is issued.
    send(&env.app(), post_form(&borrowed(&pairs)))
        .await
        .assert_token();
    pairs.push(("x-last".to_owned(), "1".to_owned()));
    let body = send(&env.app(), post_form(&borrowed(&pairs)))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(body["error_description"], "more than 64 parameters");
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
