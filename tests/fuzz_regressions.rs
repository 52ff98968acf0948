//! Findings of the fuzz targets (`fuzz/`), kept as regression tests.
//!
//! Each of the first five was a 401 without a challenge (RFC 9110 §11.6.1) found by the
//! targets; all are fixed, and the targets no longer tolerate them.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower_gatekeeper::Principal;
use tower_gatekeeper::accounts::UserRegistry;
use tower_gatekeeper::grant::{GrantAdmin, GrantManager, Grantee, InMemoryGrantStore};
use tower_gatekeeper::issuer::{AccountAdmin, Client, ClientRegistry, SigningKey, TokenIssuer};
use tower_gatekeeper::principal::Identity;

async fn issuer() -> TokenIssuer {
    let clients = ClientRegistry::new();
    clients
        .register(Client::new("fuzz-app", "fuzz-app-secret-7f3a"))
        .await
        .unwrap();
    TokenIssuer::builder(SigningKey::hs256(b"fuzz-issuer-signing-key-0123456789").unwrap())
        .issuer("https://issuer.fuzz")
        .lifetime(Duration::from_secs(600))
        .clients(clients)
        .build()
}

fn form(uri: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

/// Status, headers and body.
async fn answer<S, B>(
    service: S,
    request: Request<Full<Bytes>>,
) -> (StatusCode, http::HeaderMap, String)
where
    S: tower::Service<Request<Full<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

// token_endpoint seed `POST /oauth/token` + `grant_type=client_credentials` (no client
// authentication): RFC 9110 §11.6.1 / §15.5.2 — a 401 must carry a challenge.
#[tokio::test]
async fn token_endpoint_401_without_client_authentication_has_a_challenge() {
    let (status, headers, body) = answer(
        issuer().await.token_endpoint(),
        form("/oauth/token", "grant_type=client_credentials"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers.contains_key("www-authenticate"),
        "401 without WWW-Authenticate: {body}"
    );
}

// token_endpoint: a wrong secret in the body parameters.
#[tokio::test]
async fn token_endpoint_401_for_a_wrong_body_secret_has_a_challenge() {
    let (status, headers, body) = answer(
        issuer().await.token_endpoint(),
        form(
            "/oauth/token",
            "grant_type=client_credentials&client_id=fuzz-app&client_secret=wrong",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers.contains_key("www-authenticate"),
        "401 without WWW-Authenticate: {body}"
    );
}

// token_endpoint seed `GET /oauth/token/check?token=abc`.
#[tokio::test]
async fn token_check_401_has_a_challenge() {
    let request = Request::get("/oauth/token/check?token=abc")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, body) = answer(issuer().await.check_endpoint(), request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers.contains_key("www-authenticate"),
        "401 without WWW-Authenticate: {body}"
    );
}

// grant_admin with no principal in the extensions (the service mounted without the layer).
#[tokio::test]
async fn grant_admin_401_has_a_challenge() {
    let manager = GrantManager::builder(InMemoryGrantStore::new())
        .apis(["orders"])
        .build();
    let request = Request::get("/grants?api_id=orders")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, body) = answer(GrantAdmin::new(manager), request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers.contains_key("www-authenticate"),
        "401 without WWW-Authenticate: {body}"
    );
}

// account_admin with no principal in the extensions.
#[tokio::test]
async fn account_admin_401_has_a_challenge() {
    let admin = AccountAdmin::new(ClientRegistry::new(), UserRegistry::new());
    let (status, headers, body) = answer(admin, form("/clients", "{}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers.contains_key("www-authenticate"),
        "401 without WWW-Authenticate: {body}"
    );
}

// The passing counterparts: what the targets check on every input, on the seeds that cover it.

#[tokio::test]
async fn a_token_answer_is_no_store_and_never_carries_the_secret() {
    let (status, headers, body) = answer(
        issuer().await.token_endpoint(),
        form(
            "/oauth/token",
            "grant_type=client_credentials&client_id=fuzz-app&client_secret=fuzz-app-secret-7f3a",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(!body.contains("fuzz-app-secret-7f3a"));
}

#[tokio::test]
async fn an_app_without_the_admin_scope_cannot_list_another_apps_grants() {
    let manager = GrantManager::builder(InMemoryGrantStore::new())
        .apis(["orders"])
        .grantees([Grantee::client("app-a"), Grantee::client("app-b")])
        .build();
    manager
        .authorize("orders", Grantee::client("app-b"), 4_000_000_000)
        .await
        .unwrap();
    let mut request = Request::get("/grants?app_id=app-b")
        .body(Full::new(Bytes::new()))
        .unwrap();
    request.extensions_mut().insert(Principal::new(
        Identity::new("app-a").with_client_id("app-a"),
    ));
    let (status, _, body) = answer(GrantAdmin::new(manager), request).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!body.contains("\"app_id\":\"app-b\""), "{body}");
}
