//! Decoding.

use super::*;

#[tokio::test]
async fn query_values_are_decoded_exactly_once() {
    let w = world().await;
    let token = admin();
    // The query is application/x-www-form-urlencoded (as axum's `Query` reads it): `+` is a
    // space, so the address with a plus must be sent as `%2B`.
    let raw = call(
        &w.app,
        "/me?sudo=email:alice+ops@example.com",
        &bearer(&token),
        &[],
    )
    .await;
    let encoded = call(
        &w.app,
        "/me?sudo=email:alice%2Bops@example.com",
        &bearer(&token),
        &[],
    )
    .await;
    assert_eq!(encoded.status, StatusCode::OK, "{}", encoded.text());
    assert_eq!(encoded.json()["subject"], "1001");
    assert_access_denied(&raw, "+ is a space");
    // In a header (not a form) `+` stays a plus.
    let header = call(
        &w.app,
        "/me",
        &bearer(&token),
        &[("x-sudo", "email:alice+ops@example.com")],
    )
    .await;
    assert_eq!(header, encoded);

    // Decoded once: `%252B` is `%2B`, not `+`, and names nobody.
    let twice = call(
        &w.app,
        "/me?sudo=email:alice%252Bops@example.com",
        &bearer(&token),
        &[],
    )
    .await;
    assert_access_denied(&twice, "%252B");
    let events = w.audit.take();
    let last = events.last().unwrap();
    assert_eq!(last.outcome, AuditOutcome::Denied);
    assert_eq!(last.target.as_deref(), Some("a***@example.com"));

    // `%20` and `+` are the same space: "alice ops@..." is nobody either way.
    let space = call(
        &w.app,
        "/me?sudo=email:alice%20ops@example.com",
        &bearer(&token),
        &[],
    )
    .await;
    assert_access_denied(&space, "%20");
    assert_eq!(space, raw);
    // The local part is compared exactly.
    let upper = call(
        &w.app,
        "/me?sudo=email:Alice%2Bops@example.com",
        &bearer(&token),
        &[],
    )
    .await;
    assert_access_denied(&upper, "Alice");
    let lower_bob = call(
        &w.app,
        "/me?sudo=email:bob@example.org",
        &bearer(&token),
        &[],
    )
    .await;
    assert_access_denied(&lower_bob, "bob@");
    assert_eq!(space, upper);
}

#[tokio::test]
async fn encoded_parameter_names_are_honoured() {
    let w = world().await;
    let token = admin();
    for query in [
        "su%64o=uid:1001",
        "%73%75%64%6F=uid:1001",
        "%73udo=uid%3A1001",
        "other=x&su%64o=loginName:alice&more=%ZZ",
    ] {
        let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        assert_eq!(r.json(), as_alice(Value::Null), "{query}");
    }
    for query in [
        "tenant%49d=t-1&sudo=uid:1001",
        "tenantCod%65=acme&sudo=uid:1001",
    ] {
        let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        assert_eq!(r.json(), as_alice(acme()), "{query}");
    }
    // Names are case-sensitive and must decode exactly: these are not `sudo`.
    for query in [
        "SUDO=uid:1001",
        "sudo%20=uid:1001",
        "sudo+=uid:1001",
        "su%ZZo=uid:1001",
    ] {
        let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        assert_eq!(r.json()["subject"], "admin-app", "{query}");
        assert_eq!(r.json()["actor"], Value::Null, "{query}");
    }
}
