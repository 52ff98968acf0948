//! Claims into a Principal.

use super::*;

/// Raw claims are kept only when asked (`keep_claims`); the mapping is the same either way.
fn principal_for(claims: &Value) -> Result<Principal, VerifyError> {
    let keeping = JwtVerifier::builder()
        .hs256(&secret(32))
        .clock(clock())
        .keep_claims(true)
        .build()
        .expect("valid key");
    let token = hs256_token(&secret(32), claims);
    let plain = verify(&hs256_verifier(&secret(32)), &token);
    if let Ok(p) = &plain {
        assert!(
            p.identity().claims().is_none(),
            "raw claims are off by default"
        );
    }
    let kept = verify(&keeping, &token);
    assert_eq!(
        plain
            .as_ref()
            .map(|p| p.subject().to_owned())
            .map_err(Clone::clone),
        kept.as_ref()
            .map(|p| p.subject().to_owned())
            .map_err(Clone::clone)
    );
    kept
}

#[test]
fn claims_map_to_the_principal() {
    let p = principal_for(&json!({
        "sub": "user-1",
        "client_id": "app-1",
        "scope": "orders:read  orders:write profile",
        "roles": ["admin", "ops"],
        "tenant": "t-1",
        "act": {"sub": "support-agent", "client_id": "console"},
        "exp": NOW + 600,
        "jti": "token-1",
        "department": "finance",
        "nested": {"a": [1, 2]}
    }))
    .unwrap();
    assert_eq!(p.subject(), "user-1");
    assert_eq!(p.client_id(), Some("app-1"));
    assert_eq!(p.scopes(), ["orders:read", "orders:write", "profile"]);
    assert!(p.has_scope("orders:write"));
    assert!(!p.has_scope("orders"));
    let id = p.identity();
    assert_eq!(id.roles(), ["admin", "ops"]);
    assert!(id.has_role("ops"));
    assert_eq!(p.tenant(), Some(&Tenant::new("t-1", None::<String>)));
    assert_eq!(
        p.actor(),
        Some(Actor {
            subject: "support-agent".into(),
            client_id: Some("console".into())
        })
    );
    assert_eq!(id.expires_at(), Some(NOW + 600));
    assert_eq!(id.token_id(), Some("token-1"));
    let raw = id.claims().expect("raw claims are kept");
    assert_eq!(raw["department"], "finance");
    assert_eq!(raw["nested"], json!({"a": [1, 2]}));
    assert_eq!(raw["sub"], "user-1");
}

#[test]
fn azp_scp_array_and_tenant_object() {
    let p = principal_for(&json!({
        "sub": "user-2",
        "azp": "spa-client",
        "scp": ["read", "write"],
        "tenant": {"id": "t-2", "code": "acme"},
        "exp": NOW + 600
    }))
    .unwrap();
    assert_eq!(p.subject(), "user-2");
    assert_eq!(p.client_id(), Some("spa-client"));
    assert_eq!(p.scopes(), ["read", "write"]);
    assert_eq!(p.tenant(), Some(&Tenant::new("t-2", Some("acme"))));
    assert_eq!(p.actor(), None);
    assert!(p.identity().roles().is_empty());
}

#[test]
fn client_id_alone_becomes_the_subject() {
    let p = principal_for(&json!({"clientId": "legacy-app", "exp": NOW + 600})).unwrap();
    assert_eq!(p.subject(), "legacy-app");
    assert_eq!(p.client_id(), Some("legacy-app"));
    assert!(p.scopes().is_empty());

    let p = principal_for(&json!({"client_id": "svc", "azp": "other", "exp": NOW + 600})).unwrap();
    assert_eq!(p.client_id(), Some("svc"), "client_id wins over azp");

    let p = principal_for(&json!({"sub": "u", "tenant_id": "t-9", "exp": NOW + 600})).unwrap();
    assert_eq!(p.tenant().map(|t| t.id.as_str()), Some("t-9"));
}

#[test]
fn a_token_without_a_subject_is_refused() {
    for claims in [
        json!({"exp": NOW + 600}),
        json!({"sub": "", "exp": NOW + 600}),
        json!({"sub": 42, "exp": NOW + 600}),
        json!({"scope": "read", "exp": NOW + 600}),
    ] {
        assert_invalid(principal_for(&claims));
    }
}

#[test]
fn a_malformed_sub_is_not_replaced_by_the_client_id() {
    for claims in [
        json!({"sub": 12345, "client_id": "admin-console", "exp": NOW + 600}),
        json!({"sub": {"id": "u-1"}, "azp": "admin-console", "exp": NOW + 600}),
    ] {
        assert_invalid(principal_for(&claims));
    }
    // An empty sub with a client id is refused today; a malformed one should be too.
    assert_invalid(principal_for(
        &json!({"sub": "", "client_id": "admin-console", "exp": NOW + 600}),
    ));
}
