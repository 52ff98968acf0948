//! Disabling clients and users.

use super::*;

#[tokio::test]
async fn disabling_a_client_stops_its_tokens_until_it_is_enabled() {
    let env = env().await;
    // Issued at NOW; expired by the time the clients are enabled again.
    let jwt_old = env.token(APP, APP_SECRET, None).await;
    let opaque_old = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    env.advance(LIFETIME / 2);
    let jwt_live = env.token(APP, APP_SECRET, None).await;
    let jwt_revoked = env.token(APP, APP_SECRET, None).await;
    let opaque_live = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    let opaque_revoked = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    let bystander = env.token(OTHER, OTHER_SECRET, None).await;
    let all = [
        &jwt_old,
        &opaque_old,
        &jwt_live,
        &jwt_revoked,
        &opaque_live,
        &opaque_revoked,
    ];
    for token in all {
        env.assert_accepted(token).await;
    }

    assert!(env.clients.set_disabled(APP, true).await.unwrap());
    assert!(env.clients.set_disabled(OPAQUE_APP, true).await.unwrap());
    assert!(!env.clients.set_disabled("nobody", true).await.unwrap());
    // The very next request.
    for token in all {
        assert_eq!(
            env.assert_refused(token).await,
            "the client is disabled or unknown"
        );
        env.check(token)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
        env.assert_inactive(token).await;
    }
    // No new tokens, whichever way the client authenticates.
    for (id, secret) in [(APP, APP_SECRET), (OPAQUE_APP, OPAQUE_SECRET)] {
        env.token_reply(id, secret, None)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
        env.send(form_req(
            Method::POST,
            "/oauth/token",
            Some(&client_basic(id, secret)),
            &[("grant_type", "client_credentials")],
        ))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    // Other clients are not affected.
    env.assert_accepted(&bystander).await;
    env.token(OTHER, OTHER_SECRET, None).await;

    // Revoked while disabled (the holder of a token may always give it up).
    assert_eq!(
        env.assert_revoke_get(&jwt_revoked).await,
        "the token was revoked"
    );
    assert_eq!(
        env.assert_revoke_get(&opaque_revoked).await,
        "the token was revoked"
    );

    // The old ones expire meanwhile.
    env.advance(LIFETIME / 2);
    assert!(env.clients.set_disabled(APP, false).await.unwrap());
    assert!(env.clients.set_disabled(OPAQUE_APP, false).await.unwrap());

    assert_eq!(env.assert_accepted(&jwt_live).await["subject"], APP);
    assert_eq!(
        env.assert_accepted(&opaque_live).await["subject"],
        OPAQUE_APP
    );
    env.check(&jwt_live).await.assert_json(StatusCode::OK);
    env.check(&opaque_live).await.assert_json(StatusCode::OK);
    assert_eq!(
        env.assert_refused(&jwt_revoked).await,
        "the token was revoked"
    );
    env.assert_refused(&opaque_revoked).await;
    env.assert_inactive(&opaque_revoked).await;
    assert_eq!(env.assert_refused(&jwt_old).await, "the token has expired");
    assert_eq!(
        env.assert_refused(&opaque_old).await,
        "the token has expired"
    );
    env.assert_inactive(&jwt_old).await;
    // New tokens again.
    let new = env.token(APP, APP_SECRET, None).await;
    env.assert_accepted(&new).await;
    assert_opaque_shape(&env.token(OPAQUE_APP, OPAQUE_SECRET, None).await);
}

#[tokio::test]
async fn disabling_a_user_stops_basic_login_and_tokens_naming_the_user() {
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let env = env_with(format).await;
        let token = env.token(UID, UID_SECRET, None).await;
        let bystander = env.token(APP, APP_SECRET, None).await;
        let who = env.assert_accepted(&token).await;
        assert_eq!(who["subject"], UID, "{format:?}");
        assert_eq!(who["client_id"], UID);
        let who = env
            .whoami_basic(ALICE, ALICE_PASSWORD)
            .await
            .assert_json(StatusCode::OK);
        assert_eq!(who["subject"], UID);
        assert_eq!(who["client_id"], Value::Null);
        assert_eq!(who["scopes"], json!(["read"]));

        assert!(env.users.set_disabled(UID, true).await.unwrap());
        assert!(!env.users.set_disabled("9999", true).await.unwrap());
        let body = env
            .whoami_basic(ALICE, ALICE_PASSWORD)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
        assert_eq!(body["error_description"], "the account is disabled");
        // Client 1001's token is the client's own (kind "client"), not user 1001's: client ids
        // and uids are separate namespaces, so disabling the user leaves the client alone.
        assert_eq!(env.assert_accepted(&token).await["kind"], "client");
        env.check(&token).await.assert_json(StatusCode::OK);
        // Other users and clients are not affected.
        env.whoami_basic(CAROL, CAROL_PASSWORD)
            .await
            .assert_json(StatusCode::OK);
        env.assert_accepted(&bystander).await;

        assert!(env.users.set_disabled(UID, false).await.unwrap());
        env.whoami_basic(ALICE, ALICE_PASSWORD)
            .await
            .assert_json(StatusCode::OK);
        assert_eq!(env.assert_accepted(&token).await["subject"], UID);
        env.check(&token).await.assert_json(StatusCode::OK);
        // A wrong password is still wrong.
        env.whoami_basic(ALICE, CAROL_PASSWORD)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

/// `UserRegistry::insert` "creates or replaces a user (by uid)". Replacing user 1001 under a
/// new login name leaves the old login name and password in the Basic store, still naming uid
/// 1001; `set_disabled` then disables only the new login name, so the old credentials keep
/// logging in as a disabled user. Replacing the user without a password likewise leaves the
/// old password working, though such a user "cannot log in with Basic".
#[tokio::test]
async fn replacing_a_user_retires_the_old_basic_login() {
    let env = env().await;
    const NEW_PASSWORD: &str = "alice renamed test password 8b1c";
    env.secret(NEW_PASSWORD);
    env.users
        .insert(
            UserAccount::new(UID, "alice.renamed")
                .password(NEW_PASSWORD)
                .scopes(["read"]),
        )
        .await
        .unwrap();
    assert_eq!(
        env.whoami_basic("alice.renamed", NEW_PASSWORD)
            .await
            .assert_json(StatusCode::OK)["subject"],
        UID
    );
    assert!(env.users.set_disabled(UID, true).await.unwrap());
    env.whoami_basic("alice.renamed", NEW_PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // The old login must not let a disabled user in.
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");

    // Nor, once enabled, log in at all: it is no longer the user's login name.
    assert!(env.users.set_disabled(UID, false).await.unwrap());
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");

    // Replaced without a password, the user cannot log in with Basic.
    env.users
        .insert(UserAccount::new(CAROL_UID, CAROL))
        .await
        .unwrap();
    env.whoami_basic(CAROL, CAROL_PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
}
