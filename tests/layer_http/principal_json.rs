//! The Principal's JSON shape.

use super::*;

#[tokio::test]
async fn principal_json_shape_for_every_scheme_and_source() {
    let app = full_app().await;
    let t = token();
    let bearer_json = |source: &str| {
        format!(
            r#"{{"subject":"app-1","kind":"client","client_id":"app-1","scopes":["orders:read"],"actor":null,"tenant":null,"credential":{{"scheme":"bearer","source":"{source}"}}}}"#
        )
    };
    let cases: Vec<(Request<Body>, String)> = vec![
        (
            get_req("/whoami")
                .header(AUTHORIZATION, bearer(&t))
                .body(empty())
                .unwrap(),
            bearer_json("header"),
        ),
        (
            get_req(&format!("/whoami?access_token={t}"))
                .body(empty())
                .unwrap(),
            bearer_json("query"),
        ),
        (
            post_req("/whoami")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("access_token={t}")))
                .unwrap(),
            bearer_json("body"),
        ),
        (
            post_req("/whoami")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(format!(r#"{{"access_token":"{t}"}}"#)))
                .unwrap(),
            bearer_json("body"),
        ),
        (
            get_req("/whoami")
                .header("x-auth-token", &t)
                .body(empty())
                .unwrap(),
            bearer_json("header"),
        ),
        (
            get_req("/whoami")
                .header("x-api-key", "key-123")
                .body(empty())
                .unwrap(),
            r#"{"subject":"svc-reporting","kind":"api_key_owner","client_id":"reporting","scopes":["reports:read"],"actor":null,"tenant":null,"credential":{"scheme":"api_key","source":"header"}}"#.to_owned(),
        ),
        (
            get_req("/whoami")
                .header(AUTHORIZATION, basic("alice", ALICE_PASSWORD))
                .body(empty())
                .unwrap(),
            r#"{"subject":"u-alice","kind":"user","client_id":null,"scopes":["orders:read"],"actor":null,"tenant":null,"credential":{"scheme":"basic","source":"header"}}"#.to_owned(),
        ),
        // An API key carried as a bearer token (opted in): still an API key.
        (
            get_req("/whoami")
                .header(AUTHORIZATION, "Bearer key-123")
                .body(empty())
                .unwrap(),
            r#"{"subject":"svc-reporting","kind":"api_key_owner","client_id":"reporting","scopes":["reports:read"],"actor":null,"tenant":null,"credential":{"scheme":"api_key","source":"header"}}"#.to_owned(),
        ),
    ];
    for (request, expected) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let r = send(&app, request).await;
        assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.text());
        assert_eq!(r.text(), expected, "{what}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn principal_json_with_actor_and_tenant() {
    let app = app(builder().build());
    let t = mint(&json!({
        "sub": "u-9",
        "azp": "app-9",
        "scp": ["a", "b"],
        "act": {"sub": "admin", "client_id": "ops"},
        "tenant": {"id": "t-1", "code": "acme"},
        "exp": now() + 300,
    }));
    let r = send(
        &app,
        get_req("/whoami")
            .header(AUTHORIZATION, bearer(&t))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.text(),
        r#"{"subject":"u-9","kind":"user","client_id":"app-9","scopes":["a","b"],"actor":{"subject":"admin","client_id":"ops"},"tenant":{"id":"t-1","code":"acme"},"credential":{"scheme":"bearer","source":"header"}}"#
    );
}
