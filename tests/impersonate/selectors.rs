//! Selectors.

use super::*;

#[tokio::test]
async fn each_selector_in_the_query_names_its_user() {
    let w = world().await;
    let bob = || as_user("1002", &["orders:read", "orders:write"], Value::Null);
    let asa = || as_user("1004", &[], Value::Null);
    let cases: Vec<(&str, Value)> = vec![
        ("uid:1001", as_alice(Value::Null)),
        ("uid:1002", bob()),
        ("loginName:alice", as_alice(Value::Null)),
        ("loginName:ALICE", as_alice(Value::Null)),
        ("loginName:aLiCe", as_alice(Value::Null)),
        // Unicode lower case: "Åsa" is "åsa" is "ÅSA".
        ("loginName:%C3%A5sa", asa()),
        ("loginName:%C3%85SA", asa()),
        // A plus is `%2B` (a raw `+` is a space, as in any form); the domain is
        // case-insensitive.
        ("email:alice%2Bops@example.com", as_alice(Value::Null)),
        ("email:alice%2bops@EXAMPLE.Com", as_alice(Value::Null)),
        ("email:alice%2Bops@Example.COM", as_alice(Value::Null)),
        ("email:Bob@example.ORG", bob()),
        // Mobile numbers are compared as `+` and digits.
        ("mobile:%2B86%20138%200013%208000", as_alice(Value::Null)),
        ("mobile:%2B86-138-0013-8000", as_alice(Value::Null)),
        ("mobile:%2B86(138)0013-8000", as_alice(Value::Null)),
        ("mobile:%2B86%20(138)%200013-8000", as_alice(Value::Null)),
        ("mobile:%2B86.138.0013.8000", as_alice(Value::Null)),
        ("mobile:%2B8613800138000", as_alice(Value::Null)),
        ("mobile:555%200100", bob()),
        ("mobile:(555)-0100", bob()),
    ];
    for (selector, expected) in cases {
        let r = call(
            &w.app,
            &format!("/me?sudo={selector}"),
            &bearer(&admin()),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{selector}: {}", r.text());
        assert_eq!(r.json(), expected, "{selector}");
        assert!(
            !r.headers.contains_key(WARNING),
            "{selector}: only the deprecated selector warns"
        );
    }
}

#[tokio::test]
async fn each_selector_in_the_x_sudo_header_names_its_user() {
    let w = world().await;
    let cases: Vec<(&str, &str)> = vec![
        ("uid:1001", "1001"),
        ("loginName:alice", "1001"),
        ("loginName:ALICE", "1001"),
        ("email:alice+ops@example.com", "1001"),
        ("email:alice+ops@EXAMPLE.COM", "1001"),
        ("mobile:+86 138 0013 8000", "1001"),
        ("mobile:+86 (138) 0013-8000", "1001"),
        ("mobile:+8613800138000", "1001"),
        // Surrounding white space of a header value is not part of it.
        ("  uid:1002  ", "1002"),
        ("email:Bob@example.org", "1002"),
    ];
    for (selector, uid) in cases {
        let mut req = Request::get("/me").header("authorization", bearer(&admin()));
        req = req.header(
            "x-sudo",
            HeaderValue::from_bytes(selector.as_bytes()).unwrap(),
        );
        let r = send(&w.app, req.body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{selector}: {}", r.text());
        let p = r.json();
        assert_eq!(p["subject"], uid, "{selector}");
        assert_eq!(
            p["actor"],
            json!({"subject": "admin-app", "client_id": "admin-app"}),
            "{selector}"
        );
        assert!(!r.headers.contains_key(WARNING), "{selector}");
    }
}

#[tokio::test]
async fn the_deprecated_username_selector_works_with_a_warning() {
    let w = world().await;
    let query = call(&w.app, "/me?sudo=username:alice", &bearer(&admin()), &[]).await;
    let header = call(
        &w.app,
        "/me",
        &bearer(&admin()),
        &[("x-sudo", "username:ALICE")],
    )
    .await;
    for (how, r) in [("query", &query), ("header", &header)] {
        assert_eq!(r.status, StatusCode::OK, "{how}: {}", r.text());
        assert_eq!(r.json(), as_alice(Value::Null), "{how}");
        let warnings: Vec<_> = r.headers.get_all(WARNING).iter().collect();
        assert_eq!(warnings.len(), 1, "{how}: {warnings:?}");
        let warning = warnings[0].to_str().unwrap();
        assert!(warning.starts_with("299 "), "{how}: {warning}");
        assert!(warning.contains("deprecated"), "{how}: {warning}");
        assert!(warning.contains("loginName"), "{how}: {warning}");
    }
    // Refused: no warning, and the refusal is the plain one.
    let r = call(&w.app, "/me?sudo=username:alice", &bearer(&plain()), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.headers.contains_key(WARNING));
    // The alias is case-sensitive like every selector.
    let r = call(&w.app, "/me?sudo=Username:alice", &bearer(&admin()), &[]).await;
    assert_invalid_request(&r, "Username:");
}

#[tokio::test]
async fn sudo_in_the_query_and_the_header_at_once_is_400() {
    let w = world().await;
    for (query, header) in [
        ("sudo=uid:1001", "uid:1001"),
        ("sudo=uid:1001", "uid:1002"),
        ("su%64o=uid:1001", "loginName:alice"),
    ] {
        let r = call(
            &w.app,
            &format!("/me?{query}"),
            &bearer(&admin()),
            &[("x-sudo", header)],
        )
        .await;
        assert_invalid_request(&r, query);
    }
    // A repeated header is as malformed as a repeated parameter.
    let req = Request::get("/me")
        .header("authorization", bearer(&admin()))
        .header("x-sudo", "uid:1001")
        .header("x-sudo", "uid:1001")
        .body(Body::empty())
        .unwrap();
    assert_invalid_request(&send(&w.app, req).await, "x-sudo twice");
    // A header that is not text.
    let req = Request::get("/me")
        .header("authorization", bearer(&admin()))
        .header("x-sudo", HeaderValue::from_bytes(b"uid:10\xff01").unwrap())
        .body(Body::empty())
        .unwrap();
    assert_invalid_request(&send(&w.app, req).await, "x-sudo obs-text");
}

/// The stage scans a usual request's headers once and looks a long request's headers up by
/// name: both must judge alike (once, repeated, absent), wherever the headers stand.
#[tokio::test]
async fn short_and_long_requests_read_the_sudo_and_tenant_headers_alike() {
    let w = world().await;
    let cases: [(&[(&str, &str)], StatusCode); 6] = [
        (&[("x-sudo", "uid:1001")], StatusCode::OK),
        (&[("X-Sudo", "uid:1001")], StatusCode::OK),
        (
            &[("x-sudo", "uid:1001"), ("x-sudo", "uid:1001")],
            StatusCode::BAD_REQUEST,
        ),
        (
            &[("x-sudo", "uid:1004"), ("x-tenant-id", "t-1")],
            StatusCode::OK,
        ),
        (
            &[
                ("x-tenant-id", "t-1"),
                ("x-sudo", "uid:1004"),
                ("x-tenant-id", "t-1"),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            &[
                ("x-sudo", "uid:1004"),
                ("x-tenant-code", "acme"),
                ("x-tenant-code", "acme"),
            ],
            StatusCode::BAD_REQUEST,
        ),
    ];
    let filler: Vec<(String, String)> = (0..20)
        .map(|i| (format!("x-filler-{i}"), format!("v{i}")))
        .collect();
    for (headers, expected) in cases {
        let short = call(&w.app, "/me", &bearer(&admin()), headers).await;
        assert_eq!(short.status, expected, "{headers:?}: {}", short.text());
        // 20 other headers around them: more than the stage scans in one pass.
        let mut long: Vec<(&str, &str)> = filler[..10]
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        long.extend_from_slice(headers);
        long.extend(filler[10..].iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let long = call(&w.app, "/me", &bearer(&admin()), &long).await;
        assert_eq!(long.status, short.status, "{headers:?}: {}", long.text());
        assert_eq!(long.body, short.body, "{headers:?}");
    }
}
