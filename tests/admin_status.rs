//! The admin services' status codes: 413 for an oversized body, 405 with `Allow` for another
//! method (RFC 9110 §15.5.6), a `WWW-Authenticate` challenge on every 401 (RFC 9110 §11.6.1),
//! `OPTIONS` answered 204 with `Allow`, and Huawei DataArts' literal authorize-action path
//! with its `instance_id`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use http::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::accounts::UserRegistry;
use tower_gatekeeper::grant::{
    Access, GrantAdmin, GrantManager, GrantStore, Grantee, InMemoryGrantStore,
};
use tower_gatekeeper::issuer::{AccountAdmin, ClientRegistry};
use tower_gatekeeper::verify::JwtVerifier;

const SECRET: &[u8] = b"admin status secret 0123456789abcdef";

struct World {
    gated: Router,
    open: Router,
    grants: GrantManager,
}

fn world() -> World {
    let store: Arc<dyn GrantStore> = Arc::new(InMemoryGrantStore::new());
    let grants = GrantManager::builder_shared(store)
        .apis(["orders"])
        .grantees([Grantee::client("app-1")])
        .build();
    let grant_admin = GrantAdmin::new(grants.clone()).realm("admin-realm");
    let accounts = AccountAdmin::new(ClientRegistry::new(), UserRegistry::new())
        .prefix("/admin")
        .realm("admin-realm");
    let routes = Router::new()
        .nest_service("/admin/apis", grant_admin.clone())
        .route_service(
            "/v1/{project_id}/service/apis/authorize/action",
            grant_admin,
        )
        .route_service("/admin/clients", accounts.clone())
        .route_service("/admin/clients/{*rest}", accounts.clone())
        .route_service("/admin/users", accounts.clone())
        .route_service("/admin/users/{*rest}", accounts);
    let gate = GatekeeperLayer::builder(JwtVerifier::hs256(SECRET).unwrap())
        .realm("admin-realm")
        .allow_cors_preflight(true)
        .build();
    World {
        gated: routes.clone().layer(gate),
        // Mounted without any layer (a misconfiguration): no principal ever arrives.
        open: routes,
        grants,
    }
}

fn admin() -> String {
    let claims = json!({"sub": "root", "client_id": "root", "scope": "grants:admin accounts:admin",
                        "exp": 4_000_000_000u64});
    let t = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    format!("Bearer {t}")
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn req(method: Method, uri: &str, auth: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header(CONTENT_TYPE, "application/json");
    if let Some(auth) = auth {
        b = b.header(AUTHORIZATION, auth);
    }
    b.body(body.into()).unwrap()
}

const GRANT_POSTS: [&str; 4] = [
    "/admin/apis/authorize/action",
    "/admin/apis/authorize/approve",
    "/admin/apis/authorize/reject",
    "/v1/p-1/service/apis/authorize/action",
];
const ACCOUNT_POSTS: [&str; 5] = [
    "/admin/clients",
    "/admin/users",
    "/admin/clients/c1/disable",
    "/admin/clients/c1/rotate-secret",
    "/admin/users/u1/enable",
];

#[tokio::test]
async fn oversized_bodies_are_413() {
    let w = world();
    let auth = admin();
    let big = format!(r#"{{"api_id":"{}"}}"#, "x".repeat(70 * 1024));
    for uri in GRANT_POSTS
        .iter()
        .chain(&["/admin/clients", "/admin/users"])
    {
        // Announced by Content-Length, and streamed without one.
        let r = send(&w.gated, req(Method::POST, uri, Some(&auth), big.clone())).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}: {}", r.body);
        let mut request = req(Method::POST, uri, Some(&auth), chunked(&big));
        request.headers_mut().remove(CONTENT_LENGTH);
        let r = send(&w.gated, request).await;
        assert_eq!(
            r.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{uri} streamed: {}",
            r.body
        );
    }
}

/// A body in 1 KiB chunks, with no length known in advance.
struct Chunked(std::collections::VecDeque<bytes::Bytes>);

impl http_body::Body for Chunked {
    type Data = bytes::Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }
}

fn chunked(text: &str) -> Body {
    Body::new(Chunked(
        text.as_bytes()
            .chunks(1024)
            .map(bytes::Bytes::copy_from_slice)
            .collect(),
    ))
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let w = world();
    let auth = admin();
    for uri in GRANT_POSTS.iter().chain(&ACCOUNT_POSTS) {
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
            let r = send(&w.gated, req(method.clone(), uri, Some(&auth), "")).await;
            assert_eq!(
                r.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri}: {}",
                r.body
            );
            assert_eq!(
                r.headers.get(ALLOW).unwrap(),
                "POST, OPTIONS",
                "{method} {uri}"
            );
        }
    }
    for method in [Method::POST, Method::DELETE] {
        let r = send(
            &w.gated,
            req(
                method.clone(),
                "/admin/apis/grants?api_id=orders",
                Some(&auth),
                "",
            ),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}: {}",
            r.body
        );
        assert_eq!(r.headers.get(ALLOW).unwrap(), "GET, OPTIONS");
    }
    // An unknown path is a 404, not a 405.
    let r = send(
        &w.gated,
        req(Method::GET, "/admin/apis/nothing", Some(&auth), ""),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.headers.get(ALLOW).is_none());
}

#[tokio::test]
async fn options_is_204_with_allow_and_needs_no_credential() {
    let w = world();
    for app in [&w.gated, &w.open] {
        for uri in GRANT_POSTS.iter().chain(&ACCOUNT_POSTS) {
            let mut request = req(Method::OPTIONS, uri, None, "");
            request
                .headers_mut()
                .insert("origin", "https://console.example".parse().unwrap());
            request
                .headers_mut()
                .insert("access-control-request-method", "POST".parse().unwrap());
            let r = send(app, request).await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{uri}: {}", r.body);
            assert_eq!(r.headers.get(ALLOW).unwrap(), "POST, OPTIONS", "{uri}");
        }
        let mut request = req(Method::OPTIONS, "/admin/apis/grants", None, "");
        request
            .headers_mut()
            .insert("origin", "https://console.example".parse().unwrap());
        request
            .headers_mut()
            .insert("access-control-request-method", "GET".parse().unwrap());
        let r = send(app, request).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(r.headers.get(ALLOW).unwrap(), "GET, OPTIONS");
    }
}

#[tokio::test]
async fn every_401_carries_a_challenge() {
    let w = world();
    // Without a principal in the extensions (no layer in front): 401 with a Bearer challenge.
    for (method, uri) in GRANT_POSTS
        .iter()
        .chain(&ACCOUNT_POSTS)
        .map(|u| (Method::POST, *u))
        .chain([(Method::GET, "/admin/apis/grants?api_id=orders")])
    {
        let r = send(&w.open, req(method.clone(), uri, Some(&admin()), "{}")).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri}: {}",
            r.body
        );
        assert_eq!(
            r.headers.get(WWW_AUTHENTICATE).unwrap(),
            r#"Bearer realm="admin-realm""#,
            "{method} {uri}"
        );
    }
    // Behind the layer, without a credential: the layer's own challenge.
    let r = send(&w.gated, req(Method::POST, "/admin/users", None, "{}")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.get(WWW_AUTHENTICATE).is_some());
}

#[tokio::test]
async fn the_huawei_path_and_instance_id_are_accepted() {
    let w = world();
    let body = json!({
        "api_id": "orders",
        "instance_id": "eddc8fd1-5b94-4f5b-a7a6-1b9b8e2f6f10",
        "app_id": "app-1",
        "apply_type": "APPLY_TYPE_AUTHORIZE",
        "time": "2096-01-01T00:00:00Z",
    });
    let r = send(
        &w.gated,
        req(
            Method::POST,
            "/v1/0833a5737480d53b2f25c010dc1a7b88/service/apis/authorize/action",
            Some(&admin()),
            body.to_string(),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        w.grants
            .access("orders", Grantee::client("app-1"))
            .await
            .unwrap(),
        Access::Allowed
    );
    // The same body at the short path.
    let mut renew = body.clone();
    renew["time"] = json!("2097-01-01T00:00:00Z");
    let r = send(
        &w.gated,
        req(
            Method::POST,
            "/admin/apis/authorize/action",
            Some(&admin()),
            renew.to_string(),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    // Not the Huawei shape: an empty project id, or a longer path.
    for uri in [
        "/v1//service/apis/authorize/action",
        "/v1/p/service/apis/authorize/action/x",
    ] {
        let r = send(
            &w.gated,
            req(Method::POST, uri, Some(&admin()), body.to_string()),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}: {}", r.body);
    }
}

#[tokio::test]
async fn a_login_with_compatibility_characters_is_400_and_a_taken_one_409() {
    let w = world();
    let auth = admin();
    let create = |uid: &str, login: &str| {
        req(
            Method::POST,
            "/admin/users",
            Some(&auth),
            json!({"uid": uid, "login_name": login}).to_string(),
        )
    };
    let r = send(&w.gated, create("1", "jos\u{e9}")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = send(&w.gated, create("2", "jose\u{301}")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = send(&w.gated, create("3", "\u{fb01}le")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["error"], "invalid_request");
}
