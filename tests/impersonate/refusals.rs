//! Refusals.

use super::*;

#[tokio::test]
async fn without_the_sudo_scope_the_answer_is_the_same_whoever_is_named() {
    let w = world().await;
    let token = plain();
    let targets = [
        "uid:1001",                    // exists
        "uid:1003",                    // disabled
        "uid:9999",                    // unknown
        "email:alice+ops@example.com", // exists
        "email:nobody@example.com",    // unknown
        "loginName:carol",             // disabled
        "mobile:%2B86%20138%200013%208000",
        "username:alice",
    ];
    let mut replies = Vec::new();
    for target in targets {
        let r = call(&w.app, &format!("/me?sudo={target}"), &bearer(&token), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{target}: {}", r.text());
        assert_eq!(r.json()["error"], "insufficient_scope", "{target}");
        let challenge = r.challenge();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{challenge}"
        );
        assert!(challenge.contains(r#"scope="sudo""#), "{challenge}");
        replies.push((target, r));
    }
    for header in ["uid:1001", "uid:1003", "uid:424242"] {
        let r = call(&w.app, "/me", &bearer(&token), &[("x-sudo", header)]).await;
        replies.push((header, r));
    }
    let (first_target, first) = &replies[0];
    for (target, r) in &replies[1..] {
        assert_eq!(r, first, "{target} answers unlike {first_target}");
    }
    // One denied sudo event per request, and nothing else.
    let events = w.audit.take();
    assert_eq!(events.len(), replies.len());
    assert!(
        events
            .iter()
            .all(|e| e.kind == AuditKind::Sudo && e.outcome == AuditOutcome::Denied)
    );
}

#[tokio::test]
async fn unknown_and_disabled_targets_get_the_identical_403() {
    let w = world().await;
    let token = admin();
    let targets = [
        "uid:1003",
        "uid:9999",
        "loginName:carol",
        "loginName:nobody",
        "email:carol@example.com",
        "email:nobody@example.com",
        "mobile:%2B1%20(415)%20555-0199",
        "mobile:%2B1%20(415)%20555-0100",
        "mobile:call-me",
    ];
    let mut replies = Vec::new();
    for target in targets {
        let r = call(&w.app, &format!("/me?sudo={target}"), &bearer(&token), &[]).await;
        assert_access_denied(&r, target);
        // RFC 6750 §3: the token does not enable access, so a challenge says so.
        let challenge = r.headers[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("error=\"insufficient_scope\""),
            "{target}: {challenge}"
        );
        replies.push(r);
    }
    for r in &replies[1..] {
        assert_eq!(r, &replies[0]);
    }
    // Re-enabled, carol can be impersonated; disabled again, she cannot.
    assert!(w.dir.set_disabled("1003", false).await.unwrap());
    let r = call(&w.app, "/me?sudo=uid:1003", &bearer(&token), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["subject"], "1003");
    assert!(w.dir.set_disabled("1003", true).await.unwrap());
    let r = call(&w.app, "/me?sudo=uid:1003", &bearer(&token), &[]).await;
    assert_eq!(r, replies[0]);
}

#[tokio::test]
async fn basic_users_need_the_sudo_role() {
    let w = world().await;
    let r = call(
        &w.app,
        "/both?sudo=loginName:bob",
        &basic("root", ROOT_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({
            "effective": {"subject": "1002", "scopes": [], "roles": ["viewer"]},
            "caller": {"subject": "ops-root", "client_id": null, "scopes": [], "roles": ["sudo", "ops"]},
        })
    );
    let r = call(
        &w.app,
        "/me?sudo=uid:1001",
        &basic("root", ROOT_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(
        r.json(),
        json!({
            "subject": "1001", "kind": "user", "client_id": null, "scopes": [],
            "actor": {"subject": "ops-root", "client_id": null},
            "tenant": null,
            "credential": {"scheme": "basic", "source": "header"},
        })
    );

    // bob has no sudo role: refused, the same for any target.
    let a = call(
        &w.app,
        "/me?sudo=uid:1001",
        &basic("bob", BOB_PASSWORD),
        &[],
    )
    .await;
    let b = call(
        &w.app,
        "/me?sudo=uid:9999",
        &basic("bob", BOB_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    assert_eq!(a.json()["error"], "insufficient_scope");
    assert_eq!(a, b);
    // bob is still bob without sudo.
    let r = call(&w.app, "/me", &basic("bob", BOB_PASSWORD), &[]).await;
    assert_eq!(r.json()["subject"], "1002");
    assert_eq!(r.json()["actor"], Value::Null);
}

#[tokio::test]
async fn malformed_sudo_requests_are_400() {
    let w = world().await;
    let queries = [
        "sudo=uid:",             // empty value
        "sudo=",                 // empty
        "sudo",                  // no value at all
        "sudo=uid1001",          // no colon
        "sudo=:1001",            // no selector
        "sudo=nick:alice",       // unknown selector
        "sudo=UID:42",           // selectors are case-sensitive
        "sudo=Email:a@b.c",      // ditto
        "sudo=login_name:alice", // ditto
        "sudo=uid:1001&sudo=uid:1001",
        "sudo=uid:1001&sudo=uid:1002",
        "sudo=uid:1001&su%64o=uid:1001",
        "sudo=%ZZ",
        "sudo=uid:%ZZ",
        "sudo=uid:100%",
        "sudo=uid:100%1",
        "sudo=uid:%FF",             // not UTF-8
        "sudo=uid:%C3%28",          // invalid UTF-8 sequence
        "sudo=email:alice%C0%AF@x", // overlong encoding
        "sudo=uid:%0A1001",         // control characters
        "sudo=uid:1001%00",
        "sudo=uid:10%0D01",
        "sudo=uid:%7F",
        "sudo=uid:%C2%85", // C1 control (NEL)
        "sudo=loginName:ali%09ce",
    ];
    for token in [admin(), plain()] {
        for query in queries {
            let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
            assert_invalid_request(&r, query);
        }
    }
    // The same through the header (no percent-decoding there).
    for header in ["uid:", "", "uid1001", "UID:42", "nick:alice", "uid:10\t01"] {
        let r = call(&w.app, "/me", &bearer(&admin()), &[("x-sudo", header)]).await;
        assert_invalid_request(&r, header);
    }
}

#[tokio::test]
async fn a_delegated_token_cannot_sudo() {
    let w = world().await;
    let delegated = mint(&json!({
        "sub": "1002",
        "client_id": "delegate-app",
        "scope": "sudo orders:read",
        "act": {"sub": "admin-app", "client_id": "admin-app"},
        "exp": now() + 600,
    }));
    // It works as itself, with its own actor.
    let r = call(&w.app, "/me", &bearer(&delegated), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["actor"],
        json!({"subject": "admin-app", "client_id": "admin-app"})
    );
    for target in ["uid:1001", "uid:9999", "loginName:alice"] {
        let r = call(
            &w.app,
            &format!("/me?sudo={target}"),
            &bearer(&delegated),
            &[],
        )
        .await;
        assert_access_denied(&r, target);
        let r = call(&w.app, "/me", &bearer(&delegated), &[("x-sudo", target)]).await;
        assert_access_denied(&r, target);
    }
    let events = w.audit.take();
    assert_eq!(events.len(), 6);
    assert!(
        events
            .iter()
            .all(|e| e.kind == AuditKind::Sudo && e.outcome == AuditOutcome::Denied)
    );
}

#[tokio::test]
async fn anonymous_requests_in_optional_mode_cannot_sudo() {
    let dir = directory().await;
    let app = Router::new()
        .route(
            "/maybe",
            get(|p: Option<Principal>| async move { axum::Json(p) }),
        )
        .layer(
            GatekeeperLayer::builder(verifier())
                .optional(true)
                .authorize(Impersonation::new(dir).audit(Collect::default()))
                .build(),
        );
    for uri in ["/maybe?sudo=uid:1001", "/maybe?tenantId=t-1"] {
        let r = send(&app, Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.json(), Value::Null, "{uri}");
    }
}
