//! Stripping.

use super::*;

async fn stripping_app(strip: bool) -> Router {
    app(GatekeeperLayer::builder(everything_verifier().await)
        .realm(REALM)
        .sources(all_sources().strip(strip))
        .build())
}

#[tokio::test]
async fn strip_removes_the_query_parameter_only() {
    let app = stripping_app(true).await;
    let t = token();
    let r = send(
        &app,
        get_req(&format!(
            "/inspect?x=1&access_token={t}&y=%20z+a&empty=&flag&enc=%41%2b"
        ))
        .header("x-other", "kept")
        .body(empty())
        .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["uri"], "/inspect?x=1&y=%20z+a&empty=&flag&enc=%41%2b");
    assert_eq!(v["query"], "x=1&y=%20z+a&empty=&flag&enc=%41%2b");
    assert_eq!(v["x_other"], "kept");

    // The only parameter: no `?` left.
    let r = send(
        &app,
        get_req(&format!("/inspect?access_token={t}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["uri"], "/inspect");
    assert_eq!(r.json()["query"], Value::Null);

    // An encoded name is stripped too.
    let r = send(
        &app,
        get_req(&format!("/inspect?a=b&access%5Ftoken={t}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["uri"], "/inspect?a=b");
}

#[tokio::test]
async fn strip_removes_the_credential_headers() {
    let app = stripping_app(true).await;
    let t = token();
    for (name, value) in [
        ("authorization", bearer(&t)),
        ("authorization", basic("alice", ALICE_PASSWORD)),
        ("x-auth-token", t.clone()),
        ("x-api-key", "key-123".to_owned()),
    ] {
        let r = send(
            &app,
            get_req("/inspect?keep=1")
                .header(name, &value)
                .header("x-other", "kept")
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{name}");
        assert_eq!(
            r.json(),
            json!({
                "uri": "/inspect?keep=1", "query": "keep=1",
                "authorization": null, "x_auth_token": null, "x_api_key": null,
                "x_other": "kept",
            }),
            "{name}"
        );
    }
}

#[tokio::test]
async fn without_strip_the_handler_sees_the_credential() {
    let app = stripping_app(false).await;
    let t = token();
    let r = send(
        &app,
        get_req(&format!("/inspect?x=1&access_token={t}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.json()["uri"], format!("/inspect?x=1&access_token={t}"));
    let r = send(
        &app,
        get_req("/inspect")
            .header(AUTHORIZATION, bearer(&t))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.json()["authorization"], bearer(&t));
    let r = send(
        &app,
        get_req("/inspect")
            .header("x-auth-token", &t)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.json()["x_auth_token"], t);
}

#[tokio::test]
async fn strip_leaves_body_credentials_alone() {
    let app = stripping_app(true).await;
    let body = format!("access_token={}&x=1", token());
    let r = send(
        &app,
        post_req("/echo")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.clone()))
            .unwrap(),
    )
    .await;
    r.assert_ok_text(&body);
}
