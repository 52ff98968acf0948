//! Tenants.

use super::*;

#[tokio::test]
async fn each_tenant_form_selects_the_tenant() {
    let w = world().await;
    let token = admin();
    let forms: [(&str, &[(&str, &str)]); 7] = [
        ("&tenantId=t-1", &[]),
        ("&tenantCode=acme", &[]),
        ("&tenantId=t-1&tenantCode=acme", &[]),
        ("&tenantCode=acme&tenantId=t-1", &[]),
        ("", &[("x-tenant-id", "t-1")]),
        ("", &[("x-tenant-code", "acme")]),
        ("", &[("x-tenant-id", "t-1"), ("x-tenant-code", "acme")]),
    ];
    for (query, headers) in forms {
        let r = call(
            &w.app,
            &format!("/me?sudo=uid:1001{query}"),
            &bearer(&token),
            headers,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{query} {headers:?}: {}",
            r.text()
        );
        assert_eq!(r.json(), as_alice(acme()), "{query} {headers:?}");
    }
    // Åsa is in two tenants; either can be picked.
    for (query, tenant) in [("tenantId=t-1", acme()), ("tenantCode=globex", globex())] {
        let r = call(
            &w.app,
            &format!("/me?sudo=loginName:%C3%A5sa&{query}"),
            &bearer(&token),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        assert_eq!(r.json(), as_user("1004", &[], tenant), "{query}");
    }
}

#[tokio::test]
async fn malformed_tenant_requests_are_400() {
    let w = world().await;
    // Åsa (1004) belongs to t-1 and t-2: a member of a tenant one of them names learns that
    // they disagree (anyone else gets the 403 of tests/tenant_probing.rs).
    let cases: [(&str, &[(&str, &str)]); 8] = [
        // id and code name different tenants
        ("tenantId=t-1&tenantCode=globex", &[]),
        ("", &[("x-tenant-id", "t-1"), ("x-tenant-code", "globex")]),
        // repeated
        ("tenantId=t-1&tenantId=t-1", &[]),
        ("tenantCode=acme&tenantCod%65=acme", &[]),
        // query and header for the same
        ("tenantId=t-1", &[("x-tenant-id", "t-1")]),
        ("tenantCode=acme", &[("x-tenant-code", "acme")]),
        // empty, or not decodable
        ("tenantId=", &[]),
        ("tenantId=t-%FF", &[]),
    ];
    for (query, headers) in cases {
        let r = call(
            &w.app,
            &format!("/me?sudo=uid:1004&{query}"),
            &bearer(&admin()),
            headers,
        )
        .await;
        assert_invalid_request(&r, &format!("{query} {headers:?}"));
    }
    let r = call(&w.app, "/me", &bearer(&admin()), &[("x-tenant-code", "")]).await;
    assert_invalid_request(&r, "empty x-tenant-code");
}

#[tokio::test]
async fn a_tenant_the_user_is_not_in_looks_like_one_that_does_not_exist() {
    let w = world().await;
    let token = admin();
    let mut replies = Vec::new();
    for query in [
        "tenantId=t-2",       // exists, alice is not in it
        "tenantId=t-404",     // does not exist
        "tenantCode=globex",  // exists
        "tenantCode=initech", // exists, nobody in it
        "tenantCode=nope",    // does not exist
        "tenantCode=ACME",    // codes are exact
    ] {
        let r = call(
            &w.app,
            &format!("/me?sudo=uid:1001&{query}"),
            &bearer(&token),
            &[],
        )
        .await;
        assert_access_denied(&r, query);
        replies.push(r);
    }
    for r in &replies[1..] {
        assert_eq!(r, &replies[0]);
    }
    // The same for a user choosing a tenant without sudo.
    let bob = basic("bob", BOB_PASSWORD);
    let not_in = call(&w.app, "/me?tenantId=t-1", &bob, &[]).await;
    let missing = call(&w.app, "/me?tenantId=t-404", &bob, &[]).await;
    assert_access_denied(&not_in, "bob t-1");
    assert_eq!(not_in, missing);
    // The same refusal as under sudo; only the challenge differs, since a password is no
    // access token (RFC 6750 §3).
    assert_eq!(not_in.status, replies[0].status);
    assert_eq!(not_in.body, replies[0].body);
    assert!(!not_in.headers.contains_key(http::header::WWW_AUTHENTICATE));
    assert!(
        replies[0]
            .headers
            .contains_key(http::header::WWW_AUTHENTICATE)
    );
}

#[tokio::test]
async fn under_sudo_the_targets_membership_counts() {
    let w = world().await;
    // admin-app is not in the directory: on its own it is in no tenant.
    let r = call(&w.app, "/me?tenantId=t-1", &bearer(&admin()), &[]).await;
    assert_access_denied(&r, "admin-app alone");
    // As alice it may pick her tenant, and not bob's.
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantId=t-1",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_eq!(r.json(), as_alice(acme()));
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantId=t-2",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_access_denied(&r, "alice in t-2");
    let r = call(
        &w.app,
        "/me?sudo=uid:1002&tenantId=t-2",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_eq!(
        r.json(),
        as_user("1002", &["orders:read", "orders:write"], globex())
    );
    // Membership is read at request time.
    let mut alice = DirectoryUser::clone(&w.dir.user("1001").unwrap());
    alice.tenants.push("t-2".into());
    w.dir.insert_user(alice).await.unwrap();
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantId=t-2",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), as_alice(globex()));
}

#[tokio::test]
async fn a_user_without_sudo_may_select_its_own_tenant() {
    let w = world().await;
    let bob = basic("bob", BOB_PASSWORD);
    for (query, headers) in [
        ("/me?tenantId=t-2", &[][..]),
        ("/me?tenantCode=globex", &[][..]),
        ("/me", &[("x-tenant-code", "globex")][..]),
    ] {
        let r = call(&w.app, query, &bob, headers).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        assert_eq!(
            r.json(),
            json!({
                "subject": "1002", "kind": "user", "client_id": null, "scopes": [], "actor": null,
                "tenant": globex(),
                "credential": {"scheme": "basic", "source": "header"},
            }),
            "{query}"
        );
    }
    // A user token (not Basic) works the same.
    let user = mint(&json!({"sub": "1004", "scope": "orders:read", "exp": now() + 600}));
    let r = call(&w.app, "/me?tenantCode=acme", &bearer(&user), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["tenant"], acme());
    assert_eq!(r.json()["subject"], "1004");
}

#[tokio::test]
async fn a_tenant_bound_token_may_only_select_its_own_tenant() {
    let w = world().await;
    for claim in [json!("t-1"), json!({"id": "t-1", "code": "acme"})] {
        let token = mint(&json!({
            "sub": "1004", "scope": "orders:read", "tenant": claim, "exp": now() + 600,
        }));
        // Without a selection, the bound tenant.
        let r = call(&w.app, "/me", &bearer(&token), &[]).await;
        assert_eq!(r.json()["tenant"]["id"], "t-1", "{claim}");
        // Its own tenant: by id or code.
        for query in ["tenantId=t-1", "tenantCode=acme"] {
            let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
            assert_eq!(r.status, StatusCode::OK, "{claim} {query}: {}", r.text());
            assert_eq!(r.json()["tenant"], acme(), "{claim} {query}");
        }
        // Åsa is a member of t-2 too, but the credential is bound to t-1.
        for query in ["tenantId=t-2", "tenantCode=globex"] {
            let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
            assert_access_denied(&r, query);
        }
    }
    // Under sudo too: a bound sudo credential cannot pick another tenant for its target.
    let bound_admin = mint(&json!({
        "sub": "admin-app", "client_id": "admin-app", "scope": ADMIN_SCOPES, "tenant": "t-1",
        "exp": now() + 600,
    }));
    let r = call(
        &w.app,
        "/me?sudo=uid:1004&tenantId=t-2",
        &bearer(&bound_admin),
        &[],
    )
    .await;
    assert_access_denied(&r, "bound admin, t-2");
    let r = call(
        &w.app,
        "/me?sudo=uid:1004&tenantId=t-1",
        &bearer(&bound_admin),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), as_user("1004", &[], acme()));
}
