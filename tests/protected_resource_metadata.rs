//! RFC 9728 protected resource metadata (`discovery::ProtectedResourceMetadata`) and the
//! `resource_metadata` parameter of the layer's challenges (RFC 9728 §5.1): the document's
//! shape, bearer methods taken from the layer's sources, the well-known location, refused
//! identifiers, the parameter on every Bearer challenge and on nothing else, opt-in only, and a
//! URL that cannot break out of its quoted string.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::discovery::{BearerMethod, ProtectedResourceMetadata};
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::verify::JwtVerifier;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn metadata(resource: &str) -> ProtectedResourceMetadata {
    ProtectedResourceMetadata::new(resource).unwrap()
}

#[test]
fn the_document_names_the_resource_and_what_it_accepts() {
    let doc = metadata("https://orders.example")
        .authorization_server("https://auth.example")
        .authorization_server("https://other-auth.example")
        .scopes(["orders:read", "orders:write"])
        .bearer_methods([
            BearerMethod::Header,
            BearerMethod::Query,
            BearerMethod::Header,
        ])
        .resource_name("Orders")
        .jwks_uri("https://orders.example/jwks.json")
        .field("resource_documentation", "https://orders.example/docs")
        .document();
    assert_eq!(
        doc,
        json!({
            "resource": "https://orders.example",
            "authorization_servers": ["https://auth.example", "https://other-auth.example"],
            "scopes_supported": ["orders:read", "orders:write"],
            "bearer_methods_supported": ["header", "query"],
            "resource_name": "Orders",
            "jwks_uri": "https://orders.example/jwks.json",
            "resource_documentation": "https://orders.example/docs",
        })
    );
    // Only the resource is required; empty lists are left out (RFC 9728 §3.2).
    assert_eq!(
        metadata("https://orders.example")
            .scopes(Vec::<String>::new())
            .document(),
        json!({"resource": "https://orders.example"})
    );
}

#[test]
fn bearer_methods_follow_the_layers_sources() {
    let methods = |sources: &CredentialSources| {
        metadata("https://api.example")
            .bearer_methods_from(sources)
            .document()["bearer_methods_supported"]
            .clone()
    };
    assert_eq!(methods(&CredentialSources::new()), json!(["header"]));
    assert_eq!(
        methods(
            &CredentialSources::new()
                .query("access_token")
                .form_body("access_token")
        ),
        json!(["header", "body", "query"])
    );
    // A named token header and a JSON body field are not RFC 6750 methods: not claimed.
    assert_eq!(
        methods(
            &CredentialSources::new()
                .bearer(false)
                .token_header("x-auth-token")
                .json_body("access_token")
        ),
        json!([])
    );
    // API keys only: RFC 9728 §2 says `[]`, meaning no bearer token is accepted.
    assert_eq!(
        methods(
            &CredentialSources::new()
                .bearer(false)
                .api_key_header("x-api-key")
        ),
        json!([])
    );
}

#[test]
fn the_document_lives_before_the_resources_path() {
    for (resource, path) in [
        (
            "https://api.example",
            "/.well-known/oauth-protected-resource",
        ),
        (
            "https://api.example/",
            "/.well-known/oauth-protected-resource",
        ),
        (
            "https://api.example/orders",
            "/.well-known/oauth-protected-resource/orders",
        ),
        (
            "https://api.example:8443/v1/orders/",
            "/.well-known/oauth-protected-resource/v1/orders",
        ),
    ] {
        let m = metadata(resource);
        assert_eq!(m.well_known_path(), path, "{resource}");
        let origin = resource.split('/').take(3).collect::<Vec<_>>().join("/");
        assert_eq!(m.metadata_url(), format!("{origin}{path}"), "{resource}");
        // The resource is named exactly as given (RFC 9728 §3.3: clients compare it).
        assert_eq!(m.document()["resource"], resource);
    }
}

#[test]
fn identifiers_that_are_not_urls_are_refused() {
    for bad in [
        "orders-api",
        "",
        "/orders",
        "urn:example:orders",
        "https://api.example/#frag",
        "https://api.example/?q=1",
        "https://user@api.example",
        "https://api example",
    ] {
        let err = ProtectedResourceMetadata::new(bad).unwrap_err();
        assert_eq!(err.what(), "resource", "{bad:?}");
    }
}

fn app(layer: GatekeeperLayer, metadata: ProtectedResourceMetadata) -> Router {
    Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route_layer(layer)
        .route_service(&metadata.well_known_path(), metadata)
}

async fn challenges(app: &Router, authorization: Option<&str>) -> (StatusCode, Vec<String>) {
    let mut request = Request::get("/orders");
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let values = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (response.status(), values)
}

fn token(scope: &str) -> String {
    let claims = json!({"sub": "app-1", "scope": scope, "exp": 4_000_000_000u64});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(KEY),
    )
    .unwrap()
}

#[tokio::test]
async fn every_bearer_challenge_names_the_metadata() {
    let m = metadata("https://orders.example").authorization_server("https://auth.example");
    let url = m.metadata_url();
    let layer = GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap())
        .realm("orders")
        .sources(
            CredentialSources::new()
                .basic(true)
                .api_key_header("x-api-key"),
        )
        .require_scopes(["orders:read"])
        .resource_metadata(&url)
        .build();
    let app = app(layer, m.clone());

    // No credential: bare Bearer challenge with the parameter; Basic and ApiKey without it.
    let (status, values) = challenges(&app, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        values,
        [
            format!("Bearer realm=\"orders\", resource_metadata=\"{url}\""),
            "Basic realm=\"orders\", charset=\"UTF-8\"".to_owned(),
            "ApiKey realm=\"orders\", header=\"x-api-key\"".to_owned(),
        ]
    );
    // A bad token: the error, then the parameter.
    let (status, values) = challenges(&app, Some("Bearer not.a.jwt")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(values[0].starts_with("Bearer realm=\"orders\", error=\"invalid_token\""));
    assert!(
        values[0].ends_with(&format!(", resource_metadata=\"{url}\"")),
        "{values:?}"
    );
    // A missing scope (403): the parameter too (RFC 9728 §5.1 allows it on any Bearer
    // challenge, and the metadata names the scopes).
    let (status, values) = challenges(&app, Some(&format!("Bearer {}", token("other")))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(values.len(), 1);
    assert!(
        values[0].contains("error=\"insufficient_scope\""),
        "{values:?}"
    );
    assert!(
        values[0].ends_with(&format!(", resource_metadata=\"{url}\"")),
        "{values:?}"
    );
    // Admitted: no challenge.
    let (status, values) =
        challenges(&app, Some(&format!("Bearer {}", token("orders:read")))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(values.is_empty());

    // The URL in the challenge is where the document answers, outside the gatekeeper.
    let path = url.strip_prefix("https://orders.example").unwrap();
    let response = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        m.document()
    );
}

#[tokio::test]
async fn without_the_builder_call_no_challenge_names_metadata() {
    let layer = GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap()).build();
    let app = app(layer, metadata("https://orders.example"));
    for authorization in [None, Some("Bearer not.a.jwt")] {
        let (status, values) = challenges(&app, authorization).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            values.iter().all(|v| !v.contains("resource_metadata")),
            "{values:?}"
        );
    }
}

#[tokio::test]
async fn a_url_cannot_break_out_of_its_quoted_string() {
    // A quote would end the parameter and start another; CR LF would start a new header.
    let layer = GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap())
        .resource_metadata("https://x.example/\", error=\"forged\r\nSet-Cookie: a=b")
        .build();
    let app = app(layer, metadata("https://x.example"));
    let (status, values) = challenges(&app, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        values,
        [
            "Bearer realm=\"api\", resource_metadata=\"https://x.example/\\\", error=\\\"forged??Set-Cookie: a=b\""
        ]
    );
}

#[tokio::test]
async fn the_document_is_read_with_get_or_head() {
    let m = metadata("https://orders.example");
    let path = m.well_known_path();
    let app = Router::new().route_service(&path, m);
    for (method, status) in [
        (Method::GET, StatusCode::OK),
        (Method::HEAD, StatusCode::OK),
        (Method::POST, StatusCode::METHOD_NOT_ALLOWED),
        (Method::DELETE, StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri(&path)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status, "{method}");
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert_eq!(response.headers()[ALLOW], "GET, HEAD");
        }
    }
}
