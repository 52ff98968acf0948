//! Grants under sudo.

use super::*;

async fn granted_app(grantee: Grantee<'_>) -> Router {
    let store: Arc<dyn GrantStore> = Arc::new(InMemoryGrantStore::new());
    GrantManager::builder_shared(store.clone())
        .apis(["orders"])
        .grantees([Grantee::client("admin-app"), Grantee::user("1001")])
        .build()
        .authorize("orders", grantee, now() + DAY)
        .await
        .unwrap();
    routes().layer(
        GatekeeperLayer::builder(verifier())
            .authorize(Impersonation::new(directory().await).audit(Collect::default()))
            .authorize(GrantCheck::for_api_shared(store, "orders"))
            .build(),
    )
}

#[tokio::test]
async fn under_sudo_the_callers_grant_counts() {
    // The app holds the grant: it may call as itself and as alice.
    let app = granted_app(Grantee::client("admin-app")).await;
    let r = call(&app, "/me", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = call(
        &app,
        "/me?sudo=uid:1001&tenantId=t-1",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), as_alice(acme()));

    // Only alice holds a grant: the app may not call, not even as her.
    let app = granted_app(Grantee::user("1001")).await;
    for uri in [
        "/me",
        "/me?sudo=uid:1001",
        "/me?sudo=loginName:alice&tenantId=t-1",
    ] {
        let r = call(&app, uri, &bearer(&admin()), &[]).await;
        assert_access_denied(&r, uri);
        assert!(r.text().contains("grant"), "{uri}: {}", r.text());
    }
}
