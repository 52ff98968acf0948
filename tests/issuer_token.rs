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

const RSA_PRIVATE_PKCS8: &[u8] = include_bytes!("fixtures/test_only_rsa2048_private_pkcs8.pem");
const RSA_PRIVATE_PKCS1: &[u8] = include_bytes!("fixtures/test_only_rsa2048_private_pkcs1.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("fixtures/test_only_rsa2048_public.pem");
const EC256_PRIVATE: &[u8] = include_bytes!("fixtures/test_only_ec_p256_private_pkcs8.pem");

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

// ---------------------------------------------------------------------------------------------
// Success
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_form_post_returns_a_bearer_token() {
    let env = env().await;
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("scope", "read write"));
    let reply = send(&env.app(), post_form(&pairs)).await;
    let body = reply.assert_token();

    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    assert_eq!(reply.header(PRAGMA), Some("no-cache"));
    assert_eq!(reply.header(CONTENT_TYPE), Some("application/json"));
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["access_token", "expires_in", "scope", "token_type"]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], LIFETIME);
    assert_eq!(body["scope"], "read write");
    assert!(!body["access_token"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn the_token_is_an_rfc9068_access_token() {
    let env = env().await;
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("scope", "write read"));
    let body = send(&env.app(), post_form(&pairs)).await.assert_token();
    let token = body["access_token"].as_str().unwrap();

    let header = decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::HS256);
    assert_eq!(header.kid, None);

    let claims = jwt_claims(token);
    assert_eq!(claims["iss"], ISS);
    assert_eq!(claims["sub"], APP);
    assert_eq!(claims["client_id"], APP);
    assert_eq!(claims["aud"], AUD);
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + LIFETIME);
    assert_eq!(claims["scope"], "write read");
    let jti = claims["jti"].as_str().unwrap();
    assert!(jti.len() >= 16, "{jti}");

    // Each token has its own jti.
    let again = send(&env.app(), post_form(&pairs)).await.assert_token();
    let jti2 = jwt_claims(again["access_token"].as_str().unwrap())["jti"].clone();
    assert_ne!(jti2, jti);
}

#[tokio::test]
async fn the_issuer_verifier_accepts_the_token() {
    let env = env().await;
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("scope", "read admin"));
    let body = send(&env.app(), post_form(&pairs)).await.assert_token();
    let token = body["access_token"].as_str().unwrap();

    let principal = verify(&env.issuer.verifier(), token).unwrap();
    assert_eq!(principal.subject(), APP);
    assert_eq!(principal.client_id(), Some(APP));
    assert_eq!(principal.scopes(), ["read", "admin"]);
    assert!(principal.has_scope("admin"));
    assert_eq!(principal.identity().expires_at(), Some(NOW + LIFETIME));
    assert_eq!(
        principal.identity().token_id(),
        jwt_claims(token)["jti"].as_str()
    );

    // An independently configured verifier agrees.
    let independent = JwtVerifier::builder()
        .hs256(HMAC_SECRET)
        .issuer(ISS)
        .audience(AUD)
        .typ("at+jwt")
        .clock(env.clock.clone())
        .build()
        .unwrap();
    assert_eq!(verify(&independent, token).unwrap().subject(), APP);

    // A verifier for another issuer or audience does not.
    for other in [
        JwtVerifier::builder()
            .hs256(HMAC_SECRET)
            .issuer("https://elsewhere.example")
            .clock(env.clock.clone())
            .build()
            .unwrap(),
        JwtVerifier::builder()
            .hs256(HMAC_SECRET)
            .audience("billing-api")
            .clock(env.clock.clone())
            .build()
            .unwrap(),
    ] {
        assert!(verify(&other, token).is_err());
    }
}

#[tokio::test]
async fn the_issuer_verifier_refuses_what_the_issuer_did_not_issue() {
    let env = env().await;
    let verifier = env.issuer.verifier();
    let key = EncodingKey::from_secret(HMAC_SECRET);
    let good = json!({
        "iss": ISS, "sub": APP, "client_id": APP, "aud": AUD,
        "exp": NOW + 60, "iat": NOW, "jti": "x"
    });
    let mut at_jwt = Header::new(Algorithm::HS256);
    at_jwt.typ = Some("at+jwt".into());
    // Control: signed with the same key and shaped like the issuer's tokens, it passes.
    assert!(verify(&verifier, &encode(&at_jwt, &good, &key).unwrap()).is_ok());
    // typ JWT instead of at+jwt.
    assert!(verify(&verifier, &encode(&Header::default(), &good, &key).unwrap()).is_err());
    // Another issuer, another audience, no sub, no exp.
    for (claim, value) in [
        ("iss", Some(json!("https://other.example"))),
        ("aud", Some(json!("other-api"))),
        ("sub", None),
        ("exp", None),
    ] {
        let mut claims = good.clone();
        match value {
            Some(v) => claims[claim] = v,
            None => {
                claims.as_object_mut().unwrap().remove(claim);
            }
        }
        assert!(
            verify(&verifier, &encode(&at_jwt, &claims, &key).unwrap()).is_err(),
            "{claim}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Methods and content types
// ---------------------------------------------------------------------------------------------

fn get_query(pairs: &[(&str, &str)]) -> Request<Body> {
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

// ---------------------------------------------------------------------------------------------
// Client authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn basic_client_authentication_is_form_urlencoded() {
    let env = env().await;
    let grant = [("grant_type", "client_credentials")];
    let reply = send(&env.app(), post_form_basic(&basic(ODD, ODD_SECRET), &grant)).await;
    let body = reply.assert_token();
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], ODD);
    assert_eq!(claims["client_id"], ODD);
    let principal = verify(
        &env.issuer.verifier(),
        body["access_token"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(principal.subject(), ODD);

    // The plain client works through Basic too, with "Basic" in any case.
    send(&env.app(), post_form_basic(&basic(APP, APP_SECRET), &grant))
        .await
        .assert_token();
    let lower = basic(APP, APP_SECRET).replacen("Basic", "basic", 1);
    send(&env.app(), post_form_basic(&lower, &grant))
        .await
        .assert_token();

    // Without the form-urlencoding step, '+' reads as a space and ':' splits too early.
    let reply = send(
        &env.app(),
        post_form_basic(&raw_basic(ODD, ODD_SECRET), &grant),
    )
    .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(reply.header(WWW_AUTHENTICATE).is_some());

    // The encoded form in the body is decoded as any form value.
    send(&env.app(), post_form(&cc_body(ODD, ODD_SECRET)))
        .await
        .assert_token();
}

#[tokio::test]
async fn malformed_basic_credentials_are_invalid_client() {
    let env = env().await;
    let grant = [("grant_type", "client_credentials")];
    for auth in [
        "Basic !!!not-base64!!!".to_owned(),
        format!("Basic {}", STANDARD.encode("no-colon-here")),
        format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', b'x'])),
    ] {
        let reply = send(&env.app(), post_form_basic(&auth, &grant)).await;
        reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
        assert!(
            reply
                .header(WWW_AUTHENTICATE)
                .is_some_and(|v| v.starts_with("Basic")),
            "{auth}"
        );
    }
}

#[tokio::test]
async fn basic_and_body_secret_together_are_invalid_request() {
    let env = env().await;
    let reply = send(
        &env.app(),
        post_form_basic(&basic(APP, APP_SECRET), &cc_body(APP, APP_SECRET)),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");

    // A client_id in the body that matches the Basic credentials is tolerated...
    let reply = send(
        &env.app(),
        post_form_basic(
            &basic(APP, APP_SECRET),
            &[("grant_type", "client_credentials"), ("client_id", APP)],
        ),
    )
    .await;
    reply.assert_token();
    // ...one that names another client is not.
    let reply = send(
        &env.app(),
        post_form_basic(
            &basic(APP, APP_SECRET),
            &[("grant_type", "client_credentials"), ("client_id", ALL)],
        ),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn basic_and_a_lone_body_secret_are_invalid_request() {
    let env = env().await;
    let reply = send(
        &env.app(),
        post_form_basic(
            &basic(APP, APP_SECRET),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", APP_SECRET),
            ],
        ),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let env = env().await;
    let request = post()
        .header(AUTHORIZATION, basic(APP, APP_SECRET))
        .header(AUTHORIZATION, basic(ALL, ALL_SECRET))
        .body(Body::from(form(&[("grant_type", "client_credentials")])))
        .unwrap();
    send(&env.app(), request)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn bad_client_credentials_are_invalid_client() {
    let env = env().await;
    let grant = [("grant_type", "client_credentials")];
    let mut descriptions = Vec::new();
    for (id, secret) in [
        (APP, "wrong secret"),
        (APP, ""),
        (APP, ALL_SECRET),
        ("unknown-app", APP_SECRET),
        (OFF, OFF_SECRET),
    ] {
        // In the body: 401, with a Basic challenge too (RFC 9110 §11.6.1: every 401 has one).
        let reply = send(&env.app(), post_form(&cc_body(id, secret))).await;
        let body = reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
        let challenge = reply.header(WWW_AUTHENTICATE).unwrap_or_default();
        assert!(challenge.starts_with("Basic "), "{id}: {challenge:?}");
        if !secret.is_empty() {
            descriptions.push(body["error_description"].clone());
        }

        // In a Basic header: 401 with a Basic challenge.
        let reply = send(&env.app(), post_form_basic(&basic(id, secret), &grant)).await;
        let body = reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
        let challenge = reply.header(WWW_AUTHENTICATE).unwrap_or_default();
        assert!(challenge.starts_with("Basic "), "{id}: {challenge:?}");
        descriptions.push(body["error_description"].clone());
    }
    // Wrong secret, unknown client and disabled client cannot be told apart.
    descriptions.dedup();
    assert_eq!(descriptions.len(), 1, "{descriptions:?}");

    // Re-enabling the disabled client lets it in.
    assert!(env.issuer.clients().set_disabled(OFF, false).await.unwrap());
    send(&env.app(), post_form(&cc_body(OFF, OFF_SECRET)))
        .await
        .assert_token();
    // And disabling a working one shuts it out.
    assert!(env.issuer.clients().set_disabled(APP, true).await.unwrap());
    send(&env.app(), post_form(&cc_body(APP, APP_SECRET)))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn no_client_authentication_is_invalid_client() {
    let env = env().await;
    for pairs in [
        vec![("grant_type", "client_credentials")],
        vec![("grant_type", "client_credentials"), ("client_id", APP)],
    ] {
        send(&env.app(), post_form(&pairs))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
}

// ---------------------------------------------------------------------------------------------
// Request parameters
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request() {
    let env = env().await;
    for repeated in ["grant_type", "client_id", "client_secret", "scope"] {
        let mut pairs = cc_body(APP, APP_SECRET);
        pairs.push(("scope", "read"));
        let value = pairs.iter().find(|(k, _)| *k == repeated).unwrap().1;
        pairs.push((repeated, value));
        let body = send(&env.app(), post_form(&pairs))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(repeated),
            "{body}"
        );
    }
    // Also in a GET query.
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("grant_type", "client_credentials"));
    send(&env.app_with_get(), get_query(&pairs))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_missing_grant_type_is_invalid_request() {
    let env = env().await;
    for pairs in [
        vec![("client_id", APP), ("client_secret", APP_SECRET)],
        vec![
            ("grant_type", ""),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
        ],
    ] {
        let body = send(&env.app(), post_form(&pairs))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("grant_type")
        );
    }
    send(&env.app(), post_form(&[]))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn other_grant_types_are_unsupported() {
    let env = env().await;
    for grant in [
        "password",
        "token",
        "implicit",
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "Client_Credentials",
        "client_credentials ",
    ] {
        let mut pairs = cc_body(APP, APP_SECRET);
        pairs[0] = ("grant_type", grant);
        pairs.push(("username", "alice"));
        pairs.push(("password", "pw"));
        send(&env.app(), post_form(&pairs))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
}

#[tokio::test]
async fn a_scope_beyond_the_allowed_ones_is_invalid_scope() {
    let env = env().await;
    for scope in [
        "delete",
        "read delete",
        "READ",
        "read:all",
        "write admin superuser",
    ] {
        let mut pairs = cc_body(APP, APP_SECRET);
        pairs.push(("scope", scope));
        send(&env.app(), post_form(&pairs))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    }
    // A client with no scopes may ask for none.
    let mut pairs = cc_body(BARE, BARE_SECRET);
    pairs.push(("scope", "read"));
    send(&env.app(), post_form(&pairs))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    // Extra spaces are not scopes.
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("scope", "  read   write "));
    let body = send(&env.app(), post_form(&pairs)).await.assert_token();
    assert_eq!(body["scope"], "read write");
}

#[tokio::test]
async fn no_scope_grants_the_default_scopes() {
    let env = env().await;
    // Explicit defaults.
    let body = send(&env.app(), post_form(&cc_body(APP, APP_SECRET)))
        .await
        .assert_token();
    assert_eq!(body["scope"], "read");
    let principal = verify(
        &env.issuer.verifier(),
        body["access_token"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(principal.scopes(), ["read"]);

    // An empty scope parameter counts as absent.
    let mut pairs = cc_body(APP, APP_SECRET);
    pairs.push(("scope", ""));
    let body = send(&env.app(), post_form(&pairs)).await.assert_token();
    assert_eq!(body["scope"], "read");

    // No defaults: all allowed scopes.
    let body = send(&env.app(), post_form(&cc_body(ALL, ALL_SECRET)))
        .await
        .assert_token();
    assert_eq!(body["scope"], "read write");

    // No scopes at all: a token without a scope claim.
    let body = send(&env.app(), post_form(&cc_body(BARE, BARE_SECRET)))
        .await
        .assert_token();
    let token = body["access_token"].as_str().unwrap();
    assert!(jwt_claims(token).get("scope").is_none());
    assert!(
        verify(&env.issuer.verifier(), token)
            .unwrap()
            .scopes()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_client_secret_never_appears_in_a_response() {
    let env = env().await;
    let grant = [("grant_type", "client_credentials")];
    let mut requests: Vec<Request<Body>> = Vec::new();
    for (id, secret) in [(APP, APP_SECRET), (ODD, ODD_SECRET), (OFF, OFF_SECRET)] {
        requests.push(post_form(&cc_body(id, secret)));
        requests.push(post_form_basic(&basic(id, secret), &grant));
        requests.push(post_form_basic(&raw_basic(id, secret), &grant));
        requests.push(get_query(&cc_body(id, secret)));
        // Errors of every kind, the secret always present.
        let mut scope = cc_body(id, secret);
        scope.push(("scope", "forbidden"));
        requests.push(post_form(&scope));
        let mut repeated = cc_body(id, secret);
        repeated.push(("client_secret", secret));
        requests.push(post_form(&repeated));
        let mut grant_type = cc_body(id, secret);
        grant_type[0] = ("grant_type", "password");
        requests.push(post_form(&grant_type));
        requests.push(post_form_basic(&basic(id, secret), &cc_body(id, secret)));
        requests.push(post_form(&[("client_id", id), ("client_secret", secret)]));
        // The secret where the id should be.
        requests.push(post_form(&cc_body(secret, secret)));
        requests.push(post_form_basic(&basic(secret, secret), &grant));
        requests.push(
            Request::builder()
                .method(Method::POST)
                .uri("/oauth/token")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret})
                        .to_string(),
                ))
                .unwrap(),
        );
    }
    let forbidden: Vec<String> = ALL_SECRETS
        .iter()
        .flat_map(|s| {
            [
                (*s).to_owned(),
                form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>(),
                STANDARD.encode(s),
                URL_SAFE_NO_PAD.encode(s),
            ]
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        let reply = send(&env.app_with_get(), request).await;
        statuses.push(reply.status);
        let everything = reply.everything();
        for secret in &forbidden {
            assert!(
                !everything.contains(secret.as_str()),
                "{secret:?} leaked in {everything}"
            );
        }
        // Nor inside an issued token.
        if reply.status == StatusCode::OK {
            let token = reply.json()["access_token"].as_str().unwrap().to_owned();
            let claims = jwt_claims(&token).to_string();
            for secret in ALL_SECRETS {
                assert!(!claims.contains(secret));
            }
        }
    }
    assert!(statuses.contains(&StatusCode::OK));
    assert!(statuses.contains(&StatusCode::BAD_REQUEST));
    assert!(statuses.contains(&StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn debug_output_hides_secrets() {
    let client = Client::new(APP, APP_SECRET).allowed_scopes(["read"]);
    let registry = clients().await;
    let key = SigningKey::hs256(HMAC_SECRET).unwrap();
    let env = env().await;
    let shown = format!(
        "{client:?} {registry:?} {key:?} {:?} {:?}",
        env.issuer,
        env.issuer.token_endpoint()
    );
    for secret in ALL_SECRETS {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(!shown.contains("test-only signing secret"), "{shown}");
    let issued = env.issuer.issue(APP, &["read".to_owned()]).await.unwrap();
    let shown = format!("{issued:?}");
    assert!(!shown.contains(&issued.access_token), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

async fn rsa_issuer(key: SigningKey) -> TokenIssuer {
    // The wall clock: tokens are also checked by verifiers that use it.
    TokenIssuer::builder(key)
        .issuer(ISS)
        .audience(AUD)
        .clients(clients().await)
        .build()
}

#[tokio::test]
async fn rs256_tokens_verify_with_the_public_key() {
    for private in [RSA_PRIVATE_PKCS8, RSA_PRIVATE_PKCS1] {
        let issuer = rsa_issuer(SigningKey::rs256_pem(private).unwrap()).await;
        let app = router(issuer.token_endpoint());
        let body = send(&app, post_form(&cc_body(APP, APP_SECRET)))
            .await
            .assert_token();
        let token = body["access_token"].as_str().unwrap();
        let header = decode_header(token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));

        let p = verify(&issuer.verifier(), token).unwrap();
        assert_eq!(p.subject(), APP);
        // The public half was derived correctly: the fixture's public key verifies it.
        let by_pem = JwtVerifier::rs256_pem(RSA_PUBLIC).unwrap();
        assert_eq!(verify(&by_pem, token).unwrap().client_id(), Some(APP));
        // And an HS256 verifier keyed with the public PEM does not.
        let confused = JwtVerifier::builder()
            .key(JwtKey::hmac(RSA_PUBLIC, &[Algorithm::HS256]).unwrap())
            .build()
            .unwrap();
        assert!(verify(&confused, token).is_err());
    }
}

#[tokio::test]
async fn a_kid_on_the_signing_key_is_carried_and_honoured() {
    let issuer = rsa_issuer(
        SigningKey::rs256_pem(RSA_PRIVATE_PKCS8)
            .unwrap()
            .with_kid("rsa-2024"),
    )
    .await;
    let issued = issuer.issue(APP, &["read".to_owned()]).await.unwrap();
    assert_eq!(
        decode_header(&issued.access_token).unwrap().kid.as_deref(),
        Some("rsa-2024")
    );
    assert!(verify(&issuer.verifier(), &issued.access_token).is_ok());
    let named = JwtVerifier::builder()
        .key(
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256])
                .unwrap()
                .with_kid("rsa-2024"),
        )
        .build()
        .unwrap();
    assert!(verify(&named, &issued.access_token).is_ok());
    let other_kid = JwtVerifier::builder()
        .key(
            JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256])
                .unwrap()
                .with_kid("rsa-2025"),
        )
        .build()
        .unwrap();
    assert!(verify(&other_kid, &issued.access_token).is_err());
}

#[test]
fn bad_signing_keys_are_refused() {
    assert_eq!(
        SigningKey::hs256(b"too short").unwrap_err(),
        KeyError::HmacSecretTooShort {
            algorithm: Algorithm::HS256,
            minimum: 32
        }
    );
    assert!(matches!(
        SigningKey::hs256(&[7u8; 31]),
        Err(KeyError::HmacSecretTooShort { minimum: 32, .. })
    ));
    let ok = SigningKey::hs256(&[7u8; 32]).unwrap();
    assert_eq!(ok.algorithm(), Algorithm::HS256);
    assert_eq!(ok.kid(), None);

    for not_rsa_private in [
        RSA_PUBLIC,
        EC256_PRIVATE,
        b"garbage".as_slice(),
        b"".as_slice(),
    ] {
        assert!(matches!(
            SigningKey::rs256_pem(not_rsa_private),
            Err(KeyError::InvalidKey(_))
        ));
    }
    assert_eq!(
        SigningKey::rs256_pem(RSA_PRIVATE_PKCS8)
            .unwrap()
            .algorithm(),
        Algorithm::RS256
    );
}

// ---------------------------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_is_refused_once_its_lifetime_has_passed() {
    let env = env().await;
    // Made before the clock moves: it shares the issuer's clock.
    let verifier = env.issuer.verifier();
    let body = send(&env.app(), post_form(&cc_body(APP, APP_SECRET)))
        .await
        .assert_token();
    let token = body["access_token"].as_str().unwrap();
    assert!(verify(&verifier, token).is_ok());

    env.clock.advance(Duration::from_secs(LIFETIME - 1));
    assert!(verify(&verifier, token).is_ok(), "one second before exp");
    assert!(verify(&env.issuer.verifier(), token).is_ok());

    env.clock.advance(Duration::from_secs(1));
    let err = verify(&verifier, token).unwrap_err();
    assert!(matches!(err, VerifyError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(verify(&env.issuer.verifier(), token).is_err());

    // A token issued now is valid again, with iat/exp from the moved clock.
    let body = send(&env.app(), post_form(&cc_body(APP, APP_SECRET)))
        .await
        .assert_token();
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(fresh)["iat"], NOW + LIFETIME);
    assert!(verify(&verifier, fresh).is_ok());
}

#[tokio::test]
async fn issue_uses_the_configured_lifetime_and_scopes() {
    let env = env().await;
    let issued = env
        .issuer
        .issue("some-client", &["a".to_owned(), "b".to_owned()])
        .await
        .unwrap();
    assert_eq!(issued.token_type, "Bearer");
    assert_eq!(issued.expires_in, LIFETIME);
    assert_eq!(issued.scope, "a b");
    let claims = jwt_claims(&issued.access_token);
    assert_eq!(claims["exp"], NOW + LIFETIME);
    assert_eq!(claims["sub"], "some-client");
    assert_eq!(env.issuer.issuer_name(), ISS);
}

#[tokio::test]
async fn scopes_must_be_scope_tokens_and_defaults_must_be_allowed() {
    use tower_gatekeeper::issuer::RegisterError;
    let clients = ClientRegistry::new();
    assert_eq!(
        clients
            .register(Client::new("x", "s").allowed_scopes(["a b"]))
            .await
            .unwrap_err(),
        RegisterError::InvalidScope("a b".into())
    );
    assert_eq!(
        clients
            .register(Client::new("x", "s").allowed_scopes([""]))
            .await
            .unwrap_err(),
        RegisterError::InvalidScope(String::new())
    );
    assert_eq!(
        clients
            .register(
                Client::new("x", "s")
                    .allowed_scopes(["a"])
                    .default_scopes(["b"])
            )
            .await
            .unwrap_err(),
        RegisterError::DefaultScopeNotAllowed("b".into())
    );
    assert_eq!(
        clients.register(Client::new("", "s")).await.unwrap_err(),
        RegisterError::EmptyId
    );
    assert!(!clients.is_active("x").await.unwrap());
}
