//! Regressions: bugs found by review, each with the test that caught it.

use super::*;

#[tokio::test]
async fn a_tenant_bound_credential_cannot_probe_which_tenants_exist() {
    let w = world().await;
    let token = mint(&json!({
        "sub": "1001", "scope": "orders:read", "tenant": "t-1", "exp": now() + 600,
    }));
    let exists = call(&w.app, "/me?tenantId=t-3", &bearer(&token), &[]).await;
    let unknown = call(&w.app, "/me?tenantId=t-404", &bearer(&token), &[]).await;
    assert_eq!(exists.status, StatusCode::FORBIDDEN);
    assert_eq!(exists, unknown, "{} vs {}", exists.text(), unknown.text());
}

#[tokio::test]
async fn replacing_a_tenant_forgets_its_old_code() {
    let w = world().await;
    w.dir
        .insert_tenant(Tenant::new("t-1", Some("acme-renamed")))
        .await
        .unwrap();
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantCode=acme-renamed",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["tenant"],
        json!({"id": "t-1", "code": "acme-renamed"})
    );
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantCode=acme",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_access_denied(&r, "the old code");
}

#[tokio::test]
async fn sudo_keeps_the_tenant_the_credential_is_bound_to() {
    let w = world().await;
    let bound_admin = mint(&json!({
        "sub": "admin-app", "client_id": "admin-app", "scope": ADMIN_SCOPES, "tenant": "t-1",
        "exp": now() + 600,
    }));
    let r = call(&w.app, "/me", &bearer(&bound_admin), &[]).await;
    assert_eq!(r.json()["tenant"], json!({"id": "t-1", "code": null}));
    // Under sudo the bound tenant is selected for the target (who must belong to it), so the
    // directory's full record is shown.
    let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&bound_admin), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["tenant"], json!({"id": "t-1", "code": "acme"}));
}

#[tokio::test]
async fn a_scoped_token_cannot_sudo_through_a_role_claim() {
    let w = world().await;
    let token = mint(&json!({
        "sub": "1002", "client_id": "reporting-app", "scope": "orders:read",
        "roles": ["sudo"], "exp": now() + 600,
    }));
    let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&token), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"], "insufficient_scope");
}

#[tokio::test]
async fn a_tenant_bound_sudo_credential_cannot_reach_users_of_other_tenants() {
    let w = world().await;
    // Bound to t-2 (globex); alice (1001) is only in t-1.
    let bound = mint(&json!({
        "sub": "admin-app", "client_id": "admin-app", "scope": ADMIN_SCOPES, "tenant": "t-2",
        "exp": now() + 600,
    }));
    let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&bound), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // Åsa (1004) is in t-2: allowed, and the tenant is t-2.
    let r = call(&w.app, "/me?sudo=uid:1004", &bearer(&bound), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["tenant"]["id"], "t-2");
}

#[tokio::test]
async fn the_sudo_header_is_percent_decoded_like_the_query() {
    let w = world().await;
    // "Åsa" percent-encoded in a header value.
    let r = call(
        &w.app,
        "/me",
        &bearer(&admin()),
        &[("x-sudo", "loginName:%C3%85sa")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["subject"], "1004");
    let r = call(
        &w.app,
        "/me",
        &bearer(&admin()),
        &[("x-sudo", "loginName:%ZZ")],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// A sudo credential bound to t-2 gets the same 403 for t-1 (alice's) as for t-3 (not hers):
/// naming a disagreeing id/code pair must not tell it that alice is in t-1.
#[tokio::test]
async fn a_bound_sudoer_cannot_probe_memberships_outside_its_tenant_with_a_pair() {
    let w = world().await;
    let bound = mint(&json!({
        "sub": "admin-app", "client_id": "admin-app", "scope": ADMIN_SCOPES, "tenant": "t-2",
        "exp": now() + 600,
    }));
    let b = bearer(&bound);
    let alone_in = call(&w.app, "/me?sudo=uid:1001&tenantId=t-1", &b, &[]).await;
    let alone_out = call(&w.app, "/me?sudo=uid:1001&tenantId=t-3", &b, &[]).await;
    assert_eq!(alone_in, alone_out);
    let pair_in = call(
        &w.app,
        "/me?sudo=uid:1001&tenantId=t-1&tenantCode=zz",
        &b,
        &[],
    )
    .await;
    let pair_out = call(
        &w.app,
        "/me?sudo=uid:1001&tenantId=t-3&tenantCode=zz",
        &b,
        &[],
    )
    .await;
    assert_eq!(pair_in.status, StatusCode::FORBIDDEN, "{}", pair_in.text());
    assert_eq!(pair_in, pair_out);
    assert_eq!(pair_in, alone_in);
}

/// Åsa (t-1, t-2) with a token bound to t-1: t-2 looks like t-404, pair or not; a pair on her
/// bound tenant that disagrees is still the 400.
#[tokio::test]
async fn a_bound_token_cannot_probe_its_users_other_memberships_with_a_pair() {
    let w = world().await;
    let token = mint(&json!({
        "sub": "1004", "scope": "orders:read", "tenant": "t-1", "exp": now() + 600,
    }));
    let b = bearer(&token);
    let pair_in = call(&w.app, "/me?tenantId=t-2&tenantCode=zz", &b, &[]).await;
    let pair_out = call(&w.app, "/me?tenantId=t-404&tenantCode=zz", &b, &[]).await;
    assert_eq!(pair_in.status, StatusCode::FORBIDDEN, "{}", pair_in.text());
    assert_eq!(pair_in, pair_out);
    let own = call(&w.app, "/me?tenantId=t-1&tenantCode=zz", &b, &[]).await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST, "{}", own.text());
}
