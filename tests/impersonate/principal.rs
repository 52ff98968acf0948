//! The resulting principal.

use super::*;

#[tokio::test]
async fn the_handler_sees_both_identities_and_the_narrowed_scopes() {
    let w = world().await;
    let r = call(&w.app, "/both?sudo=uid:1001", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({
            "effective": {
                "subject": "1001",
                // The caller's scopes the target holds too; never `sudo`, though both hold it.
                "scopes": ["orders:read", "reports:read"],
                // The target's roles, without the sudo role.
                "roles": ["analyst"],
            },
            "caller": {
                "subject": "admin-app",
                "client_id": "admin-app",
                "scopes": ["sudo", "orders:read", "orders:write", "reports:read", "admin:all"],
                "roles": [],
            },
        })
    );

    // Without sudo the caller is the subject.
    let r = call(&w.app, "/me", &bearer(&admin()), &[]).await;
    assert_eq!(
        r.json(),
        json!({
            "subject": "admin-app",
            "kind": "client",
            "client_id": "admin-app",
            "scopes": ["sudo", "orders:read", "orders:write", "reports:read", "admin:all"],
            "actor": null,
            "tenant": null,
            "credential": {"scheme": "bearer", "source": "header"},
        })
    );
}

#[tokio::test]
async fn sudo_scopes_are_the_intersection_in_the_callers_order() {
    let w = world().await;
    // A caller with only some of the target's scopes keeps only those.
    let narrow = app_token("narrow-app", "billing:read sudo nothing:else");
    let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&narrow), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let p = r.json();
    assert_eq!(p["scopes"], json!(["billing:read"]));
    assert_eq!(
        p["actor"],
        json!({"subject": "narrow-app", "client_id": "narrow-app"})
    );
    // A target without scopes gives an empty set; never the caller's.
    let r = call(&w.app, "/me?sudo=uid:1004", &bearer(&admin()), &[]).await;
    assert_eq!(r.json()["scopes"], json!([]));
    // An impersonated principal cannot sudo further: a second stage refuses it.
    let dir = directory().await;
    let twice = routes().layer(
        GatekeeperLayer::builder(verifier())
            .authorize(Impersonation::new(dir.clone()).audit(Collect::default()))
            .authorize(
                Impersonation::new(dir)
                    .sudo_header("x-sudo-again")
                    .audit(Collect::default()),
            )
            .build(),
    );
    let r = call(
        &twice,
        "/me",
        &bearer(&admin()),
        &[("x-sudo", "uid:1001"), ("x-sudo-again", "uid:1002")],
    )
    .await;
    assert_access_denied(&r, "sudo twice");
    let r = call(&twice, "/me", &bearer(&admin()), &[("x-sudo", "uid:1001")]).await;
    assert_eq!(r.json(), as_alice(Value::Null));
}
