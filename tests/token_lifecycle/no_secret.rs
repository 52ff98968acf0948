//! No secret in any error.

use super::*;

#[tokio::test]
async fn no_secret_comes_back_in_an_error() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    let other_token = env.token(OTHER, OTHER_SECRET, None).await;
    let admin = env.admin_token().await;
    let mut errors: Vec<Reply> = Vec::new();

    // Token endpoint: a real secret for the wrong client, a secret as the id, a secret twice,
    // two authentication methods, a scope the client may not have.
    errors.push(env.token_reply(OTHER, APP_SECRET, None).await);
    errors.push(env.token_reply(APP_SECRET, APP_SECRET, None).await);
    errors.push(
        env.send(form_req(
            Method::POST,
            "/oauth/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_secret", APP_SECRET),
                ("client_secret", OTHER_SECRET),
            ],
        ))
        .await,
    );
    errors.push(
        env.send(form_req(
            Method::POST,
            "/oauth/token",
            Some(&client_basic(APP, APP_SECRET)),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", APP_SECRET),
            ],
        ))
        .await,
    );
    errors.push(env.token_reply(APP, APP_SECRET, Some("admin")).await);
    errors.push(env.token_reply(APP, &token, None).await);
    // Basic users: a wrong password that is another user's, a disabled user's right one.
    errors.push(env.whoami_basic(ALICE, CAROL_PASSWORD).await);
    env.users.set_disabled(CAROL_UID, true).await.unwrap();
    errors.push(env.whoami_basic(CAROL, CAROL_PASSWORD).await);
    // Tokens: revoked, expired later, another client's, tokens as credentials where they are not.
    env.assert_revoke_get(&token).await;
    errors.push(env.whoami(&token).await);
    errors.push(env.check(&token).await);
    errors.push(
        env.revoke_post(Some((APP, APP_SECRET)), &[("token", &other_token)])
            .await,
    );
    errors.push(env.introspect(APP, &other_token, &other_token).await);
    errors.push(
        env.send(form_req(
            Method::POST,
            "/oauth/token/check",
            None,
            &[("token", &other_token)],
        ))
        .await,
    );
    // Admin: a duplicate user with a password, a body that does not parse.
    env.secret("eve test password 1a2b");
    errors.push(
        env.admin_post(
            &admin,
            "/admin/users",
            r#"{"uid":"1001","login_name":"eve","password":"eve test password 1a2b"}"#,
        )
        .await,
    );
    errors.push(
        env.admin_post(
            &admin,
            "/admin/users",
            r#"{"uid":"7007","login_name":"eve","password":"eve test password 1a2b","x":1}"#,
        )
        .await,
    );
    errors.push(
        env.admin_post(
            &admin,
            "/admin/clients",
            r#"{"client_id":"reporting-app","client_secret":"reporting-app test secret 7d41"}"#,
        )
        .await,
    );
    env.advance(LIFETIME);
    errors.push(env.whoami(&other_token).await);
    errors.push(env.check(&other_token).await);

    let secrets: Vec<String> = env.secrets.lock().unwrap().clone();
    assert!(secrets.contains(&token) && secrets.contains(&admin));
    for reply in &errors {
        assert!(
            reply.status.is_client_error(),
            "{}: {}",
            reply.status,
            reply.body
        );
        let text = reply.everything();
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{secret} in {text}");
        }
    }
    // Sanity of the scan itself: a success that carries the token does contain it.
    let fresh = env.token(OTHER, OTHER_SECRET, None).await;
    assert!(env.check(&fresh).await.everything().contains(&fresh));
}
