//! The Microsoft identity platform's `scope=<resource>/.default` (seed 001, Azure China AD):
//! it grants the client all its allowed scopes when the resource is the issuer's audience or a
//! configured resource id; any other resource, or `.default` beside other scopes, is
//! `invalid_scope`. The answer adds Azure's `ext_expires_in`.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::CONTENT_TYPE;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;
use tower_gatekeeper::issuer::{Client, ClientRegistry, SigningKey, TokenIssuer};

/// The resource GUID of the seed's literal request.
const SEED_RESOURCE: &str = "d6b7c858-55fa-4d04-85a6-131af690abd4";
const AUDIENCE: &str = "orders-api";
const APP: &str = "azure-app";
const APP_SECRET: &str = "azure-app test secret";
const BARE: &str = "bare-app";
const BARE_SECRET: &str = "bare-app test secret";

async fn app_with(resource_ids: &[&str]) -> Router {
    let clients = ClientRegistry::new();
    clients
        .register(
            Client::new(APP, APP_SECRET)
                .allowed_scopes(["orders:read", "orders:write"])
                .default_scopes(["orders:read"]),
        )
        .await
        .unwrap();
    clients
        .register(Client::new(BARE, BARE_SECRET))
        .await
        .unwrap();
    let mut builder = TokenIssuer::builder(SigningKey::hs256(&[1u8; 32]).unwrap())
        .audience(AUDIENCE)
        .lifetime(Duration::from_secs(3599))
        .clients(clients);
    for id in resource_ids {
        builder = builder.resource_id(*id);
    }
    let issuer = builder.build();
    Router::new().route_service("/{tenant}/oauth2/v2.0/token", issuer.token_endpoint())
}

async fn app() -> Router {
    app_with(&[SEED_RESOURCE]).await
}

struct Reply {
    status: StatusCode,
    body: Value,
}

async fn request(app: &Router, id: &str, secret: &str, scope: Option<&str>) -> Reply {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials")
        .append_pair("client_id", id)
        .append_pair("client_secret", secret)
        // The seed sends this too; it is not an OAuth parameter and is ignored.
        .append_pair("Type", "oauth2");
    if let Some(scope) = scope {
        form.append_pair("scope", scope);
    }
    let request = Request::builder()
        .method(Method::POST)
        .uri("/387c56a8-cf86-45de-b9f5-b4de88cac054/oauth2/v2.0/token")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.finish()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap(),
    }
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn the_seed_request_grants_every_allowed_scope() {
    let app = app().await;
    let seed_scope = format!("{SEED_RESOURCE}/.default");
    let audience_scope = format!("{AUDIENCE}/.default");
    for scope in [seed_scope.as_str(), audience_scope.as_str()] {
        let reply = request(&app, APP, APP_SECRET, Some(scope)).await;
        assert_eq!(reply.status, StatusCode::OK, "{scope}: {}", reply.body);
        // Seed 001's answer: token_type, expires_in, ext_expires_in, access_token.
        assert_eq!(reply.body["token_type"], "Bearer");
        assert_eq!(reply.body["expires_in"], 3599);
        assert_eq!(reply.body["ext_expires_in"], 3599);
        // All allowed scopes, not just the defaults.
        assert_eq!(reply.body["scope"], "orders:read orders:write");
        let claims = claims(reply.body["access_token"].as_str().unwrap());
        assert_eq!(claims["scope"], "orders:read orders:write");
        assert_eq!(claims["aud"], AUDIENCE);
    }
    // A client allowed nothing gets nothing, not an error.
    let reply = request(&app, BARE, BARE_SECRET, Some(&seed_scope)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.get("scope").is_none(), "{}", reply.body);
}

#[tokio::test]
async fn plain_requests_keep_the_rfc_6749_answer() {
    let app = app().await;
    let reply = request(&app, APP, APP_SECRET, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["scope"], "orders:read");
    assert!(reply.body.get("ext_expires_in").is_none(), "{}", reply.body);
    let reply = request(&app, APP, APP_SECRET, Some("orders:write")).await;
    assert_eq!(reply.body["scope"], "orders:write");
    assert!(reply.body.get("ext_expires_in").is_none());
}

#[tokio::test]
async fn other_resources_and_mixed_scopes_are_invalid_scope() {
    let app = app().await;
    let other_guid = "00000000-0000-0000-0000-000000000000/.default".to_owned();
    let mixed = format!("{SEED_RESOURCE}/.default orders:read");
    let mixed_reversed = format!("orders:read {SEED_RESOURCE}/.default");
    let twice = format!("{SEED_RESOURCE}/.default {SEED_RESOURCE}/.default");
    let suffix_only = format!("x{SEED_RESOURCE}/.default");
    let nested = format!("{SEED_RESOURCE}/orders/.default");
    let upper = format!("{}/.default", SEED_RESOURCE.to_uppercase());
    let audience_prefix = format!("{AUDIENCE}-evil/.default");
    for scope in [
        other_guid.as_str(),
        "/.default",
        ".default",
        "orders:read/.default",
        mixed.as_str(),
        mixed_reversed.as_str(),
        twice.as_str(),
        suffix_only.as_str(),
        nested.as_str(),
        upper.as_str(),
        audience_prefix.as_str(),
        "https://graph.chinacloudapi.cn/.default",
    ] {
        let reply = request(&app, APP, APP_SECRET, Some(scope)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{scope}: {}",
            reply.body
        );
        assert_eq!(reply.body["error"], "invalid_scope", "{scope}");
        assert!(reply.body.get("access_token").is_none());
    }
}

#[tokio::test]
async fn only_configured_resource_ids_count() {
    // Without the seed's resource id configured, only the audience names the resource.
    let app = app_with(&[]).await;
    let reply = request(
        &app,
        APP,
        APP_SECRET,
        Some(&format!("{SEED_RESOURCE}/.default")),
    )
    .await;
    assert_eq!(reply.body["error"], "invalid_scope", "{}", reply.body);
    let reply = request(&app, APP, APP_SECRET, Some(&format!("{AUDIENCE}/.default"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // Several ids may be configured.
    let app = app_with(&[SEED_RESOURCE, "api://orders"]).await;
    for resource in [SEED_RESOURCE, "api://orders", AUDIENCE] {
        let reply = request(&app, APP, APP_SECRET, Some(&format!("{resource}/.default"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{resource}: {}", reply.body);
    }
}

#[tokio::test]
async fn client_authentication_still_decides_first() {
    let app = app().await;
    let scope = format!("{SEED_RESOURCE}/.default");
    let reply = request(&app, APP, "wrong", Some(&scope)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(reply.body["error"], "invalid_client");
    let reply = request(&app, "nobody", APP_SECRET, Some(&scope)).await;
    assert_eq!(reply.body["error"], "invalid_client");
}
