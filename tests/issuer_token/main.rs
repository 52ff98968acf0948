//! `TokenIssuer` and its client-credentials `TokenEndpoint` (RFC 6749 §4.4, RFC 9068 tokens),
//! mounted in an axum `Router` and driven with `tower::ServiceExt::oneshot`.
//!
//! All keys under `tests/fixtures/` are test-only keys.
#![cfg(feature = "issuer")]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::header::{ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, decode_header, encode};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_gatekeeper::MaybeReady;
use tower_gatekeeper::Principal;
use tower_gatekeeper::clock::ManualClock;
use tower_gatekeeper::extract::{Credential, Source};
use tower_gatekeeper::issuer::{Client, ClientRegistry, SigningKey, TokenEndpoint, TokenIssuer};
use tower_gatekeeper::verify::{JwtKey, JwtVerifier, KeyError, Verifier, VerifyError};

const RSA_PRIVATE_PKCS8: &[u8] = include_bytes!("../fixtures/test_only_rsa2048_private_pkcs8.pem");
const RSA_PRIVATE_PKCS1: &[u8] = include_bytes!("../fixtures/test_only_rsa2048_private_pkcs1.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../fixtures/test_only_rsa2048_public.pem");
const EC256_PRIVATE: &[u8] = include_bytes!("../fixtures/test_only_ec_p256_private_pkcs8.pem");

const NOW: u64 = 1_700_000_000;
const LIFETIME: u64 = 300;
const ISS: &str = "https://auth.example";
const AUD: &str = "orders-api";
const HMAC_SECRET: &[u8] = b"test-only signing secret, 32+ bytes long";

/// The main client.
const APP: &str = "reporting-app";
const APP_SECRET: &str = "reporting-app test secret 1f9c";
/// A client whose id and secret need RFC 6749 §2.3.1 form-urlencoding in a Basic header.
const ODD: &str = "svc:reports+ops 100%";
const ODD_SECRET: &str = "p@ss:w+rd %41 x&y=z";
/// A client with no default scopes (it gets all it is allowed).
const ALL: &str = "all-scopes-app";
const ALL_SECRET: &str = "all-scopes-app test secret";
/// A client with no scopes at all.
const BARE: &str = "bare-app";
const BARE_SECRET: &str = "bare-app test secret";
/// A disabled client.
const OFF: &str = "disabled-app";
const OFF_SECRET: &str = "disabled-app test secret";

const ALL_SECRETS: [&str; 5] = [APP_SECRET, ODD_SECRET, ALL_SECRET, BARE_SECRET, OFF_SECRET];

async fn clients() -> ClientRegistry {
    let clients = ClientRegistry::new();
    clients
        .register(
            Client::new(APP, APP_SECRET)
                .allowed_scopes(["read", "write", "admin"])
                .default_scopes(["read"]),
        )
        .await
        .unwrap();
    clients
        .register(Client::new(ODD, ODD_SECRET).allowed_scopes(["read"]))
        .await
        .unwrap();
    clients
        .register(Client::new(ALL, ALL_SECRET).allowed_scopes(["read", "write"]))
        .await
        .unwrap();
    clients
        .register(Client::new(BARE, BARE_SECRET))
        .await
        .unwrap();
    clients
        .register(
            Client::new(OFF, OFF_SECRET)
                .allowed_scopes(["read"])
                .disabled(true),
        )
        .await
        .unwrap();
    clients
}

struct Env {
    issuer: TokenIssuer,
    clock: ManualClock,
}

async fn env() -> Env {
    let clock = ManualClock::at_unix(NOW);
    let issuer = TokenIssuer::builder(SigningKey::hs256(HMAC_SECRET).unwrap())
        .issuer(ISS)
        .audience(AUD)
        .lifetime(Duration::from_secs(LIFETIME))
        .clients(clients().await)
        .clock(clock.clone())
        .build();
    Env { issuer, clock }
}

fn router(endpoint: TokenEndpoint) -> Router {
    Router::new().route_service("/oauth/token", endpoint)
}

impl Env {
    fn app(&self) -> Router {
        router(self.issuer.token_endpoint())
    }

    /// The seeds' compatibility mode: `GET` with the parameters in the query.
    fn app_with_get(&self) -> Router {
        router(self.issuer.token_endpoint().allow_get(true))
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn header(&self, name: http::header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    #[track_caller]
    fn assert_token(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        self.json()
    }

    #[track_caller]
    fn assert_error(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        let body = self.json();
        assert_eq!(body["error"], code, "{}", self.body);
        assert!(body.get("access_token").is_none());
        assert_eq!(self.header(CACHE_CONTROL), Some("no-store"));
        assert_eq!(self.header(CONTENT_TYPE), Some("application/json"));
        body
    }

    /// Every byte that went back to the client.
    fn everything(&self) -> String {
        let mut all = self.body.clone();
        for (name, value) in &self.headers {
            all.push_str(name.as_str());
            all.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        all
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

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn post() -> http::request::Builder {
    Request::builder()
        .method(Method::POST)
        .uri("/oauth/token")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
}

fn post_form(pairs: &[(&str, &str)]) -> Request<Body> {
    post().body(Body::from(form(pairs))).unwrap()
}

fn post_form_basic(auth: &str, pairs: &[(&str, &str)]) -> Request<Body> {
    post()
        .header(AUTHORIZATION, auth)
        .body(Body::from(form(pairs)))
        .unwrap()
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined and base64-encoded.
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// The same without the form-urlencoding step.
fn raw_basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn cc_body<'a>(id: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ]
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn verify(verifier: &impl Verifier, token: &str) -> Result<Principal, VerifyError> {
    match verifier.verify(&Credential::bearer(token, Source::Header)) {
        MaybeReady::Ready(r) => r,
        MaybeReady::Pending(_) => panic!("JWT verification should answer without waiting"),
    }
}

mod client_auth;
mod expiry;
mod keys;
mod methods;
mod parameters;
mod secrets;
mod success;
use methods::get_query;
