//! The account admin service over HTTP.

use super::*;

#[tokio::test]
async fn admin_creates_a_client_whose_secret_works() {
    let env = env().await;
    let admin = env.admin_token().await;
    let reply = env
        .admin_post(
            &admin,
            "/admin/clients",
            r#"{"client_id":"new-app","scopes":["read","write"],"default_scopes":["read"]}"#,
        )
        .await;
    let body = reply.assert_json(StatusCode::CREATED);
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    let keys = sorted_keys(&body);
    assert_eq!(keys, ["client_id", "client_secret"]);
    assert_eq!(body["client_id"], "new-app");
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "{secret}");

    let reply = env
        .token_reply("new-app", &secret, None)
        .await
        .assert_json(StatusCode::OK);
    assert_eq!(reply["scope"], "read");
    let token = reply["access_token"].as_str().unwrap().to_owned();
    assert_jwt_shape(&token);
    let who = env.assert_accepted(&token).await;
    assert_eq!(who["subject"], "new-app");
    assert_eq!(who["scopes"], json!(["read"]));
    env.token_reply("new-app", &secret, Some("read write"))
        .await
        .assert_json(StatusCode::OK);
    env.token_reply("new-app", &secret, Some("admin"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    env.token_reply("new-app", "not the secret", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // One that wants opaque tokens.
    let body = env
        .admin_post(
            &admin,
            "/admin/clients",
            r#"{"client_id":"opaque-new","scopes":["read"],"token_format":"opaque"}"#,
        )
        .await
        .assert_json(StatusCode::CREATED);
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    let token = env.token("opaque-new", &secret, None).await;
    assert_opaque_shape(&token);
    assert_eq!(env.assert_accepted(&token).await["subject"], "opaque-new");
    // And an explicit jwt.
    let body = env
        .admin_post(
            &admin,
            "/admin/clients",
            r#"{"client_id":"jwt-new","token_format":"jwt"}"#,
        )
        .await
        .assert_json(StatusCode::CREATED);
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    let reply = env
        .token_reply("jwt-new", &secret, None)
        .await
        .assert_json(StatusCode::OK);
    // No scopes: no `scope` member (RFC 6749 §3.3 has no empty scope value).
    assert!(reply.get("scope").is_none(), "{reply}");
    assert_jwt_shape(reply["access_token"].as_str().unwrap());
}

#[tokio::test]
async fn admin_client_creation_refuses_duplicates_and_bad_bodies() {
    let env = env().await;
    let admin = env.admin_token().await;
    // An existing client: 409, and its secret is unchanged.
    let body = env
        .admin_post(&admin, "/admin/clients", r#"{"client_id":"reporting-app"}"#)
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_request");
    assert!(body.get("client_secret").is_none());
    env.token(APP, APP_SECRET, None).await;
    env.admin_post(&admin, "/admin/clients", r#"{"client_id":"dup"}"#)
        .await
        .assert_json(StatusCode::CREATED);
    env.admin_post(&admin, "/admin/clients", r#"{"client_id":"dup"}"#)
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_request");

    for bad in [
        "",
        "not json",
        "[]",
        r#"{"scopes":["read"]}"#,
        r#"{"client_id":42}"#,
        r#"{"client_id":"x1","client_secret":"chosen by the caller"}"#,
        r#"{"client_id":"x2","scopes":"read"}"#,
        r#"{"client_id":"x3","token_format":"paseto"}"#,
        r#"{"client_id":"x4","token_format":"JWT"}"#,
        r#"{"client_id":"x5","scopes":["read write"]}"#,
        r#"{"client_id":"x6","scopes":["read"],"default_scopes":["write"]}"#,
        r#"{"client_id":""}"#,
    ] {
        let reply = env.admin_post(&admin, "/admin/clients", bad).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    for id in ["x1", "x2", "x3", "x4", "x5", "x6", ""] {
        assert!(!env.clients.contains(id).await.unwrap(), "{id}");
    }
}

#[tokio::test]
async fn admin_rotates_a_client_secret() {
    let env = env().await;
    let admin = env.admin_token().await;
    let old = env.token(APP, APP_SECRET, None).await;
    let reply = env
        .admin_post(&admin, "/admin/clients/reporting-app/rotate-secret", "")
        .await;
    let body = reply.assert_json(StatusCode::OK);
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    let keys = sorted_keys(&body);
    assert_eq!(keys, ["client_id", "client_secret"]);
    assert_eq!(body["client_id"], APP);
    let new_secret = body["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, APP_SECRET);

    env.token_reply(APP, APP_SECRET, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    env.token(APP, &new_secret, None).await;
    // Introspection and revocation authenticate with the new secret too.
    env.introspect(APP, APP_SECRET, &old)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(
        env.introspect(APP, &new_secret, &old)
            .await
            .assert_json(StatusCode::OK)["active"],
        true
    );

    // Rotating again retires the second secret.
    let again = env
        .admin_post(&admin, "/admin/clients/reporting-app/rotate-secret", "")
        .await
        .assert_json(StatusCode::OK);
    let third = again["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(third, new_secret);
    env.token_reply(APP, &new_secret, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    env.token(APP, &third, None).await;
}

#[tokio::test]
async fn admin_disables_and_enables_a_client() {
    let env = env().await;
    let admin = env.admin_token().await;
    let token = env.token(APP, APP_SECRET, None).await;
    env.assert_accepted(&token).await;

    let reply = env
        .admin_post(&admin, "/admin/clients/reporting-app/disable", "")
        .await;
    reply.assert_empty(StatusCode::NO_CONTENT);
    assert!(!env.clients.is_active(APP).await.unwrap());
    env.assert_refused(&token).await;
    env.token_reply(APP, APP_SECRET, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // Disabling twice is fine.
    env.admin_post(&admin, "/admin/clients/reporting-app/disable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);

    env.admin_post(&admin, "/admin/clients/reporting-app/enable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    assert!(env.clients.is_active(APP).await.unwrap());
    env.assert_accepted(&token).await;
    env.token(APP, APP_SECRET, None).await;

    // An admin that disables its own client locks itself out on the next request.
    env.admin_post(&admin, "/admin/clients/admin-console/disable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    env.admin_post(&admin, "/admin/clients/reporting-app/disable", "")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert!(env.clients.is_active(APP).await.unwrap());
}

#[tokio::test]
async fn admin_creates_a_user_whose_password_works() {
    let env = env().await;
    let admin = env.admin_token().await;
    const BOB_PASSWORD: &str = "bob test password 6f2e";
    env.secret(BOB_PASSWORD);
    let body = format!(
        r#"{{"uid":"2002","login_name":"bob","password":"{BOB_PASSWORD}","email":"bob@example.com","scopes":["read"],"roles":["analyst"]}}"#
    );
    let reply = env.admin_post(&admin, "/admin/users", &body).await;
    assert_eq!(
        reply.assert_json(StatusCode::CREATED),
        json!({"created": true})
    );
    assert!(env.users.contains("2002"));

    let who = env
        .whoami_basic("bob", BOB_PASSWORD)
        .await
        .assert_json(StatusCode::OK);
    assert_eq!(who["subject"], "2002");
    assert_eq!(who["scopes"], json!(["read"]));
    env.whoami_basic("bob", "not the password")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");

    // The same uid again: 409, and the first password still works.
    let again = format!(r#"{{"uid":"2002","login_name":"bob2","password":"{BOB_PASSWORD}x"}}"#);
    env.secret(&format!("{BOB_PASSWORD}x"));
    env.admin_post(&admin, "/admin/users", &again)
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_request");
    env.whoami_basic("bob", BOB_PASSWORD)
        .await
        .assert_json(StatusCode::OK);
    env.whoami_basic("bob2", &format!("{BOB_PASSWORD}x"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // Another uid with a login name in use: 409, and alice keeps hers.
    let taken = format!(r#"{{"uid":"3003","login_name":"alice","password":"{BOB_PASSWORD}"}}"#);
    env.admin_post(&admin, "/admin/users", &taken)
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_request");
    assert!(!env.users.contains("3003"));
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_json(StatusCode::OK);

    // Bad bodies (one carrying a password in an unknown field).
    for bad in [
        "",
        "{}",
        r#"{"uid":"4004"}"#,
        r#"{"uid":"4004","login_name":""}"#,
        r#"{"uid":"","login_name":"dave"}"#,
        r#"{"uid":"4004","login_name":"dave","pasword":"bob test password 6f2e"}"#,
    ] {
        env.admin_post(&admin, "/admin/users", bad)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert!(!env.users.contains("4004"));

    // A user without a password exists but cannot log in with Basic.
    env.admin_post(
        &admin,
        "/admin/users",
        r#"{"uid":"5005","login_name":"erin"}"#,
    )
    .await
    .assert_json(StatusCode::CREATED);
    assert!(env.users.contains("5005"));
    env.whoami_basic("erin", "")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn admin_disables_and_enables_a_user() {
    let env = env().await;
    let admin = env.admin_token().await;
    let token = env.token(UID, UID_SECRET, None).await;
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_json(StatusCode::OK);

    env.admin_post(&admin, "/admin/users/1001/disable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    assert!(env.users.is_disabled(UID));
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // Client 1001 is not user 1001 (separate namespaces): its token still works.
    env.assert_accepted(&token).await;
    env.whoami_basic(CAROL, CAROL_PASSWORD)
        .await
        .assert_json(StatusCode::OK);

    env.admin_post(&admin, "/admin/users/1001/enable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    assert!(!env.users.is_disabled(UID));
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_json(StatusCode::OK);
    env.assert_accepted(&token).await;
}

#[tokio::test]
async fn admin_unknown_clients_users_and_operations_are_404() {
    let env = env().await;
    let admin = env.admin_token().await;
    for path in [
        "/admin/clients/nobody/disable",
        "/admin/clients/nobody/enable",
        "/admin/clients/nobody/rotate-secret",
        "/admin/users/9999/disable",
        "/admin/users/9999/enable",
        "/admin/clients/reporting-app/delete",
        "/admin/clients/reporting-app",
        "/admin/users/1001",
        "/admin/users/1001/rotate-secret",
        "/admin/users/1001/disable/now",
    ] {
        let reply = env.admin_post(&admin, path, "").await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.body
        );
        reply.assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert!(!env.clients.contains("nobody").await.unwrap());
    assert!(env.clients.is_active(APP).await.unwrap());
    assert!(!env.users.is_disabled(UID));
}

#[tokio::test]
async fn admin_needs_a_principal_with_the_admin_scope() {
    let env = env().await;
    let create = r#"{"client_id":"sneaky"}"#;
    // No credential: the layer answers 401.
    let reply = env.send(json_req("/admin/clients", None, create)).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // A bad token: 401 invalid_token.
    env.send(json_req("/admin/clients", Some(&bearer("garbage")), create))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // Authenticated without the scope: a client token, a Basic user, an admin client's token
    // issued without the admin scope.
    let plain = env.token(APP, APP_SECRET, Some("read write")).await;
    let reply = env.admin_post(&plain, "/admin/clients", create).await;
    let body = reply.assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
    assert!(body["error_description"].is_string());
    // RFC 6750 §3.1: the token lacks a scope, and the challenge names it.
    let challenge = reply.header(http::header::WWW_AUTHENTICATE).unwrap();
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="accounts:admin""#),
        "{challenge}"
    );
    // A password is no access token: its 403 carries no Bearer challenge.
    let reply = env
        .send(json_req(
            "/admin/clients",
            Some(&user_basic(ALICE, ALICE_PASSWORD)),
            create,
        ))
        .await;
    reply.assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
    assert_eq!(reply.header(http::header::WWW_AUTHENTICATE), None);
    let admin_read = env.token(ADMIN, ADMIN_SECRET, Some("read")).await;
    for path in [
        "/admin/clients/reporting-app/disable",
        "/admin/clients/reporting-app/rotate-secret",
        "/admin/users/1001/disable",
    ] {
        env.admin_post(&admin_read, path, "")
            .await
            .assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
    }
    env.admin_post(
        &admin_read,
        "/admin/users",
        r#"{"uid":"6006","login_name":"mallory","password":"mallory pw"}"#,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
    assert!(!env.clients.contains("sneaky").await.unwrap());
    assert!(!env.users.contains("6006"));
    assert!(env.clients.is_active(APP).await.unwrap());
    assert!(!env.users.is_disabled(UID));
    env.token(APP, APP_SECRET, None).await;

    // Mounted without a layer, the service itself refuses a request without a principal.
    let bare = AccountAdmin::new(env.clients.clone(), env.users.clone()).prefix("/admin");
    let response = bare
        .oneshot(json_req("/admin/clients", None, create))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert!(!env.clients.contains("sneaky").await.unwrap());
}

#[tokio::test]
async fn admin_answers_only_post() {
    let env = env().await;
    let admin = env.admin_token().await;
    for path in [
        "/admin/clients",
        "/admin/clients/reporting-app/disable",
        "/admin/users",
        "/admin/users/1001/disable",
    ] {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let reply = env
                .send(
                    request(method.clone(), path, Some(&bearer(&admin)))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
            reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
        }
    }
    assert!(env.clients.is_active(APP).await.unwrap());
    assert!(!env.users.is_disabled(UID));
}

/// A client id or uid that needs percent-encoding in a URL (RFC 3986 §2.1) is accepted by
/// `POST /admin/clients` / `/admin/users`, but the per-account routes compare the raw,
/// still-encoded path segment with the registered id, so such an account can never be
/// disabled, enabled or rotated over HTTP.
#[tokio::test]
async fn admin_routes_percent_decode_account_ids() {
    let env = env().await;
    let admin = env.admin_token().await;
    env.admin_post(&admin, "/admin/clients", r#"{"client_id":"billing app"}"#)
        .await
        .assert_json(StatusCode::CREATED);
    assert!(env.clients.contains("billing app").await.unwrap());
    env.admin_post(&admin, "/admin/clients/billing%20app/disable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    assert!(!env.clients.is_active("billing app").await.unwrap());

    env.admin_post(
        &admin,
        "/admin/users",
        r#"{"uid":"ops:7","login_name":"ops seven","password":"ops seven pw"}"#,
    )
    .await
    .assert_json(StatusCode::CREATED);
    env.admin_post(&admin, "/admin/users/ops%3A7/disable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    assert!(env.users.is_disabled("ops:7"));
}

/// `POST /admin/clients` checks `contains` and then `register`s (which replaces), with the
/// slow argon2 hash of the new secret in between: two concurrent creations of one id both
/// answer 201 with a secret, and only the second secret works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creation_of_one_client_yields_one_201() {
    let env = std::sync::Arc::new(env().await);
    let admin = env.admin_token().await;
    for round in 0..3 {
        let id = format!("raced-{round}");
        let body = format!(r#"{{"client_id":"{id}"}}"#);
        let spawn = |env: std::sync::Arc<Env>, admin: String, body: String| {
            tokio::spawn(async move { env.admin_post(&admin, "/admin/clients", &body).await })
        };
        let a = spawn(env.clone(), admin.clone(), body.clone());
        let b = spawn(env.clone(), admin.clone(), body);
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "{id}: {} / {}",
            a.body,
            b.body
        );
        // Whoever got 201 holds a working secret.
        let created = if a.status == StatusCode::CREATED {
            a
        } else {
            b
        };
        let secret = created.json()["client_secret"].as_str().unwrap().to_owned();
        env.token(&id, &secret, None).await;
    }
}

/// RFC 6749 Appendix A.1: a client id is `*VSCHAR` (`%x20-7E`). The admin refuses, with 400
/// and without repeating it, an id with a control character, DEL or anything non-ASCII, an
/// empty one and one over 255 bytes; it creates nothing.
#[tokio::test]
async fn admin_refuses_client_ids_outside_printable_ascii() {
    let env = env().await;
    let admin = env.admin_token().await;
    let too_long = "L".repeat(256);
    for id in [
        "ctl\u{1}x",
        "nl\nFAKE LOG LINE",
        "cr\rFAKE LOG LINE",
        "del\u{7f}FAKE",
        "nul\u{0}FAKE",
        "we:ird+id é%FAKE",
        "FAKE\u{2028}line",
        "",
        too_long.as_str(),
    ] {
        let body = json!({ "client_id": id }).to_string();
        let reply = env.admin_post(&admin, "/admin/clients", &body).await;
        let answer = reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(answer.get("client_secret").is_none());
        assert!(!reply.body.contains("FAKE"), "{}", reply.body);
        assert!(!reply.body.contains(&too_long), "{}", reply.body);
        assert!(!env.clients.contains(id).await.unwrap(), "{id:?}");
    }
    // The edges that are fine: 255 bytes, spaces and any printable ASCII.
    for id in [
        "L".repeat(255),
        "we:ird+id %~".to_owned(),
        " spaced id ".to_owned(),
    ] {
        let body = json!({ "client_id": id }).to_string();
        env.admin_post(&admin, "/admin/clients", &body)
            .await
            .assert_json(StatusCode::CREATED);
        assert!(env.clients.contains(&id).await.unwrap());
    }
}

#[tokio::test]
async fn admin_refuses_a_uid_with_a_control_character() {
    let env = env().await;
    let admin = env.admin_token().await;
    for uid in [r"20\n03", r"20\t03", r"20\u007f03"] {
        let body =
            format!(r#"{{"uid":"{uid}","login_name":"eve","password":"eve test password"}}"#);
        let reply = env.admin_post(&admin, "/admin/users", &body).await;
        let error = reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(!reply.body.contains("2003"), "{error}");
    }
    assert!(!env.users.contains("20\n03"));
}
