//! RFC 8414 authorization server metadata (`TokenIssuer::metadata_endpoint`): the document's
//! shape, and that it says only what the issuer does. Every URL in it answers when the
//! endpoints are mounted as documented, every advertised client authentication method works
//! at every endpoint, the advertised grant type is the only one accepted, the issuer is the
//! tokens' `iss`, nothing secret is published, and issuers that are not URLs are refused.

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_gatekeeper::issuer::{Client, ClientRegistry, MetadataEndpoint, SigningKey, TokenIssuer};

const APP: &str = "meta-app";
const SECRET: &str = "meta-app-secret-of-some-length";
const HMAC: [u8; 32] = [0x5a; 32];
const FORM: &str = "application/x-www-form-urlencoded";

/// Memory-mode store writes complete at once: poll one without a runtime.
fn at_once<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("an in-memory store write waited"),
    }
}

fn clients() -> ClientRegistry {
    let clients = ClientRegistry::new();
    at_once(
        clients.register(Client::new(APP, SECRET).allowed_scopes(["orders:read", "orders:write"])),
    )
    .unwrap();
    clients
}

fn hs256_issuer(iss: &str) -> TokenIssuer {
    TokenIssuer::builder(SigningKey::hs256(&HMAC).unwrap())
        .issuer(iss)
        .clients(clients())
        .build()
}

fn rs256_issuer(iss: &str) -> TokenIssuer {
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/test_only_rsa2048_private_pkcs8.pem"
    ))
    .unwrap();
    TokenIssuer::builder(SigningKey::rs256_pem(&pem).unwrap().with_kid("k1"))
        .issuer(iss)
        .clients(clients())
        .build()
}

/// The endpoints at the paths the metadata names by default, under `prefix` (the issuer's
/// path), and the metadata at both well-known locations.
fn app(issuer: &TokenIssuer, metadata: MetadataEndpoint, prefix: &str) -> Router {
    let mut endpoints = Router::new()
        .route_service("/oauth/token", issuer.token_endpoint())
        .route_service("/oauth/token/introspect", issuer.introspection_endpoint())
        .route_service("/oauth/token/revoke", issuer.revocation_endpoint());
    if let Some(jwks) = issuer.jwks() {
        endpoints = endpoints.route(
            "/.well-known/jwks.json",
            axum::routing::get(move || std::future::ready(axum::Json(jwks.clone()))),
        );
    }
    let router = if prefix.is_empty() {
        endpoints
    } else {
        Router::new().nest(prefix, endpoints)
    };
    router
        .route_service(&metadata.well_known_path(), metadata.clone())
        .route_service(&metadata.openid_configuration_path(), metadata)
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

/// A form `POST`, the client authenticating by `method` (an RFC 7591 name).
fn post(path: &str, method: &str, params: &[(&str, &str)]) -> Request<Body> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let mut request = Request::post(path).header(CONTENT_TYPE, FORM);
    match method {
        "client_secret_basic" => {
            let basic = STANDARD.encode(format!("{APP}:{SECRET}"));
            request = request.header(AUTHORIZATION, format!("Basic {basic}"));
        }
        "client_secret_post" => {
            form.append_pair("client_id", APP);
            form.append_pair("client_secret", SECRET);
        }
        other => panic!("the metadata advertises {other}, which this test does not know"),
    }
    request.body(Body::from(form.finish())).unwrap()
}

/// The path (and query) of `url`, which must be under `origin`.
fn path_of<'a>(url: &'a str, origin: &str) -> &'a str {
    url.strip_prefix(origin)
        .unwrap_or_else(|| panic!("{url} is not under {origin}"))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

async fn token(app: &Router, prefix: &str) -> String {
    let r = send(
        app,
        post(
            &format!("{prefix}/oauth/token"),
            "client_secret_post",
            &[("grant_type", "client_credentials")],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn the_document_names_the_issuer_and_its_endpoints() {
    let issuer = hs256_issuer("https://auth.example");
    let metadata = issuer.metadata_endpoint().unwrap();
    assert_eq!(
        metadata.document(),
        json!({
            "issuer": "https://auth.example",
            "token_endpoint": "https://auth.example/oauth/token",
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint": "https://auth.example/oauth/token/introspect",
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint": "https://auth.example/oauth/token/revoke",
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["none"],
        })
    );
    // Served as JSON on GET, and at the RFC 8414 location for an issuer without a path.
    assert_eq!(
        metadata.well_known_path(),
        "/.well-known/oauth-authorization-server"
    );
    assert_eq!(
        metadata.metadata_url(),
        "https://auth.example/.well-known/oauth-authorization-server"
    );
    let app = app(&issuer, metadata.clone(), "");
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let r = send(&app, get(path)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers[CONTENT_TYPE], "application/json");
        assert_eq!(r.json(), metadata.document(), "{path}");
    }
}

#[tokio::test]
async fn an_hmac_key_is_never_published_and_an_rsa_key_is() {
    let hs = hs256_issuer("https://auth.example")
        .metadata_endpoint()
        .unwrap();
    let text = hs.document().to_string();
    assert!(!text.contains("jwks"), "{text}");
    // Neither the key nor a client secret appears in any form.
    for secret in [
        URL_SAFE_NO_PAD.encode(HMAC),
        STANDARD.encode(HMAC),
        SECRET.to_owned(),
    ] {
        assert!(!text.contains(&secret), "{text}");
    }
    // Naming a JWK Set explicitly still publishes no key: the document only points at one.
    let named = hs.clone().jwks_uri("/keys").document();
    assert_eq!(named["jwks_uri"], "https://auth.example/keys");

    let rs = rs256_issuer("https://auth.example")
        .metadata_endpoint()
        .unwrap();
    assert_eq!(
        rs.document()["jwks_uri"],
        "https://auth.example/.well-known/jwks.json"
    );
    assert!(
        rs.clone()
            .no_jwks_uri()
            .document()
            .get("jwks_uri")
            .is_none()
    );
}

#[tokio::test]
async fn every_url_in_the_document_answers_and_every_advertised_method_works() {
    for (issuer, prefix) in [
        (rs256_issuer("http://127.0.0.1:3000"), ""),
        (hs256_issuer("https://auth.example/tenant-1"), "/tenant-1"),
        (rs256_issuer("https://auth.example/a/b/"), "/a/b"),
    ] {
        let metadata = issuer.metadata_endpoint().unwrap();
        let doc = metadata.document();
        let origin = metadata
            .metadata_url()
            .strip_suffix(&metadata.well_known_path())
            .unwrap()
            .to_owned();
        let app = app(&issuer, metadata.clone(), prefix);

        // The document is where RFC 8414 §3.1 puts it, and where OpenID Connect does.
        let well_known = format!("/.well-known/oauth-authorization-server{prefix}");
        assert_eq!(metadata.well_known_path(), well_known);
        assert_eq!(send(&app, get(&well_known)).await.json(), doc);
        let oidc = format!("{prefix}/.well-known/openid-configuration");
        assert_eq!(send(&app, get(&oidc)).await.json(), doc);

        let token_path = path_of(doc["token_endpoint"].as_str().unwrap(), &origin);
        let introspect_path = path_of(doc["introspection_endpoint"].as_str().unwrap(), &origin);
        let revoke_path = path_of(doc["revocation_endpoint"].as_str().unwrap(), &origin);
        assert_eq!(token_path, format!("{prefix}/oauth/token"));

        for method in strings(&doc["token_endpoint_auth_methods_supported"]) {
            let r = send(
                &app,
                post(token_path, method, &[("grant_type", "client_credentials")]),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "token, {method}: {}", r.body);
            // The tokens say who issued them exactly as the metadata does.
            let access = r.json()["access_token"].as_str().unwrap().to_owned();
            assert_eq!(jwt_claims(&access)["iss"], doc["issuer"]);
        }
        let access = token(&app, prefix).await;
        for method in strings(&doc["introspection_endpoint_auth_methods_supported"]) {
            let r = send(&app, post(introspect_path, method, &[("token", &access)])).await;
            assert_eq!(r.status, StatusCode::OK, "introspect, {method}: {}", r.body);
            assert_eq!(r.json()["active"], true, "introspect, {method}");
        }
        for method in strings(&doc["revocation_endpoint_auth_methods_supported"]) {
            let access = token(&app, prefix).await;
            let r = send(&app, post(revoke_path, method, &[("token", &access)])).await;
            assert_eq!(r.status, StatusCode::OK, "revoke, {method}: {}", r.body);
            let r = send(
                &app,
                post(
                    introspect_path,
                    "client_secret_basic",
                    &[("token", &access)],
                ),
            )
            .await;
            assert_eq!(r.json()["active"], false, "revoked with {method}");
        }
        if let Some(jwks) = doc.get("jwks_uri") {
            let r = send(&app, get(path_of(jwks.as_str().unwrap(), &origin))).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.json(), issuer.jwks().unwrap());
        }
    }
}

#[tokio::test]
async fn the_advertised_grant_type_is_the_only_one_accepted() {
    let issuer = hs256_issuer("https://auth.example");
    let metadata = issuer.metadata_endpoint().unwrap();
    let doc = metadata.document();
    assert_eq!(
        strings(&doc["grant_types_supported"]),
        ["client_credentials"]
    );
    // No authorization endpoint, so no response type that hands out a code or a token: the
    // implicit grant is not offered (RFC 9700 §2.1.2).
    assert!(doc.get("authorization_endpoint").is_none());
    assert_eq!(strings(&doc["response_types_supported"]), ["none"]);
    let app = app(&issuer, metadata, "");
    for grant in [
        "authorization_code",
        "implicit",
        "password",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ] {
        let r = send(
            &app,
            post(
                "/oauth/token",
                "client_secret_basic",
                &[("grant_type", grant)],
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{grant}: {}", r.body);
        assert_eq!(r.json()["error"], "unsupported_grant_type", "{grant}");
    }
}

#[test]
fn no_member_is_an_empty_list() {
    // RFC 8414 §3.2: claims with zero elements are omitted.
    let issuer = hs256_issuer("https://auth.example");
    for metadata in [
        issuer.metadata_endpoint().unwrap(),
        issuer
            .metadata_endpoint()
            .unwrap()
            .scopes(Vec::<String>::new()),
        issuer
            .metadata_endpoint()
            .unwrap()
            .no_introspection_endpoint()
            .no_revocation_endpoint(),
    ] {
        let doc = metadata.document();
        for (name, value) in doc.as_object().unwrap() {
            assert!(value.as_array().is_none_or(|a| !a.is_empty()), "{name}");
        }
        assert!(doc.get("scopes_supported").is_none());
    }
}

#[test]
fn the_builder_moves_and_removes_endpoints() {
    let issuer = hs256_issuer("https://auth.example/");
    let doc = issuer
        .metadata_endpoint()
        .unwrap()
        .token_endpoint("/token")
        .introspection_endpoint("https://introspect.example/x")
        .no_revocation_endpoint()
        .scopes(["orders:read", "orders:write"])
        .field("service_documentation", "https://docs.example")
        .field("response_types_supported", json!(["none"]))
        .document();
    // The issuer is kept exactly as configured (clients compare it as a string), and paths
    // are joined without a double slash.
    assert_eq!(doc["issuer"], "https://auth.example/");
    assert_eq!(doc["token_endpoint"], "https://auth.example/token");
    assert_eq!(
        doc["introspection_endpoint"],
        "https://introspect.example/x"
    );
    assert!(doc.get("revocation_endpoint").is_none());
    assert!(
        doc.get("revocation_endpoint_auth_methods_supported")
            .is_none()
    );
    assert_eq!(
        strings(&doc["scopes_supported"]),
        ["orders:read", "orders:write"]
    );
    assert_eq!(doc["service_documentation"], "https://docs.example");
    let doc = issuer
        .metadata_endpoint()
        .unwrap()
        .no_introspection_endpoint()
        .document();
    assert!(doc.get("introspection_endpoint").is_none());
    assert!(
        doc.get("introspection_endpoint_auth_methods_supported")
            .is_none()
    );
}

#[test]
fn issuers_that_are_not_urls_publish_no_metadata() {
    for bad in [
        "tower-gatekeeper",
        "custom-issuer",
        "",
        "/relative",
        "auth.example",
        "ftp://auth.example",
        "https://auth.example?tenant=1",
        "https://auth.example/#frag",
        "https://user:pass@auth.example",
        "https://auth example",
        "https://",
    ] {
        let err = hs256_issuer(bad).metadata_endpoint().unwrap_err();
        assert_eq!(err.what(), "issuer", "{bad:?}");
        assert!(err.to_string().contains("issuer"), "{bad:?}");
    }
    for good in [
        "https://auth.example",
        "https://auth.example/",
        "http://127.0.0.1:3000",
        "https://auth.example:8443/t/1",
    ] {
        assert!(hs256_issuer(good).metadata_endpoint().is_ok(), "{good}");
    }
}

#[tokio::test]
async fn the_document_is_read_with_get_or_head() {
    let issuer = hs256_issuer("https://auth.example");
    let app = app(&issuer, issuer.metadata_endpoint().unwrap(), "");
    let path = "/.well-known/oauth-authorization-server";
    let head = Request::head(path).body(Body::empty()).unwrap();
    assert_eq!(send(&app, head).await.status, StatusCode::OK);
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let r = send(&app, request).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(r.headers[ALLOW], "GET, HEAD", "{method}");
        assert_eq!(r.json()["error"], "invalid_request");
    }
}
