//! Methods and content types.

use super::*;

pub(crate) fn get_query(pairs: &[(&str, &str)]) -> Request<Body> {
    Request::builder()
        .method(Method::GET)
        .uri(format!("/oauth/token?{}", form(pairs)))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn get_with_query_parameters_works_when_allowed() {
    let env = env().await;
    let reply = send(&env.app_with_get(), get_query(&cc_body(APP, APP_SECRET))).await;
    let body = reply.assert_token();
    assert_eq!(body["scope"], "read");
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    assert!(
        verify(
            &env.issuer.verifier(),
            body["access_token"].as_str().unwrap()
        )
        .is_ok()
    );

    // Errors follow the same rules in the query.
    send(&env.app_with_get(), get_query(&cc_body(APP, "wrong")))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn get_is_refused_unless_allowed() {
    let env = env().await;
    // Off by default, and when switched off explicitly.
    for app in [
        env.app(),
        router(env.issuer.token_endpoint().allow_get(false)),
    ] {
        let reply = send(&app, get_query(&cc_body(APP, APP_SECRET))).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.header(ALLOW), Some("POST"));
        assert!(reply.json().get("access_token").is_none());
        // POST still works.
        send(&app, post_form(&cc_body(APP, APP_SECRET)))
            .await
            .assert_token();
    }
}

#[tokio::test]
async fn other_methods_are_refused() {
    let env = env().await;
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let request = Request::builder()
            .method(method.clone())
            .uri("/oauth/token")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form(&cc_body(APP, APP_SECRET))))
            .unwrap();
        let reply = send(&env.app(), request).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.header(ALLOW), Some("POST"));
        let request = Request::builder()
            .method(method.clone())
            .uri("/oauth/token")
            .body(Body::empty())
            .unwrap();
        let reply = send(&env.app_with_get(), request).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.header(ALLOW), Some("GET, POST"));
    }
}

#[tokio::test]
async fn a_post_that_is_not_a_form_is_refused() {
    let env = env().await;
    let json_body =
        json!({"grant_type": "client_credentials", "client_id": APP, "client_secret": APP_SECRET});
    for content_type in [
        Some("application/json"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencoded-not"),
        None,
    ] {
        let mut builder = Request::builder().method(Method::POST).uri("/oauth/token");
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        let body = if content_type == Some("application/json") {
            json_body.to_string()
        } else {
            form(&cc_body(APP, APP_SECRET))
        };
        let reply = send(&env.app(), builder.body(Body::from(body)).unwrap()).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    // The media type is matched without its parameters and case-insensitively.
    for content_type in [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded",
    ] {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/oauth/token")
            .header(CONTENT_TYPE, content_type)
            .body(Body::from(form(&cc_body(APP, APP_SECRET))))
            .unwrap();
        send(&env.app(), request).await.assert_token();
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let env = env().await;
    let padding = "x".repeat(32 * 1024);
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("padding", &padding));
    let reply = send(&env.app(), post_form(&pairs)).await;
    reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
}
