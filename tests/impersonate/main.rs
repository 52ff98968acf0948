//! Sudo impersonation and tenant selection through a real axum `Router`, driven with
//! `tower::ServiceExt::oneshot`: selectors, the resulting principal, refusals (and that they
//! do not let a caller probe the directory), strict decoding, tenants, the audit trail, grants
//! under sudo, and property tests over arbitrary queries and headers.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::header::{WARNING, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::{EncodingKey, Header, encode};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::grant::{GrantCheck, GrantManager, GrantStore, Grantee, InMemoryGrantStore};
use tower_gatekeeper::impersonate::{
    AUDIT_TARGET, AuditEvent, AuditKind, AuditOutcome, AuditSink, DirectoryError, DirectoryUser,
    Impersonation, InMemoryDirectory, Lookup, TenantSelector, UserDirectory, UserSelector,
};
use tower_gatekeeper::layer::{AddResponseHeaders, Authorize};
use tower_gatekeeper::principal::{Identity, Tenant};
use tower_gatekeeper::verify::{BasicUsers, BasicVerifier, FirstMatch, JwtVerifier};
use tower_gatekeeper::{AuthError, GatekeeperLayer, MaybeReady, Principal};

const SECRET: &[u8] = b"impersonation-tests-hs256-secret-0123456789";
const DAY: u64 = 86_400;

/// The app that holds the sudo scope.
const ADMIN_SCOPES: &str = "sudo orders:read orders:write reports:read admin:all";
const ROOT_PASSWORD: &str = "root-password-1";
const BOB_PASSWORD: &str = "bob-password-2";

// ---------------------------------------------------------------------------------------------
// Tokens, users, the app
// ---------------------------------------------------------------------------------------------

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn mint(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// A client-credentials token of app `client` with `scope`.
fn app_token(client: &str, scope: &str) -> String {
    mint(&json!({"sub": client, "client_id": client, "scope": scope, "exp": now() + 600}))
}

/// The privileged integration: `admin-app` with the sudo scope.
fn admin() -> String {
    app_token("admin-app", ADMIN_SCOPES)
}

/// An app without the sudo scope.
fn plain() -> String {
    app_token("plain-app", "orders:read orders:write")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

/// The directory:
///
/// | uid | login | email | mobile | tenants | scopes |
/// | --- | --- | --- | --- | --- | --- |
/// | 1001 | alice | alice+ops@example.com | +86 138 0013 8000 | t-1 | orders:read reports:read sudo billing:read |
/// | 1002 | bob | Bob@Example.org | 555-0100 | t-2 | orders:read orders:write |
/// | 1003 | carol (disabled) | carol@example.com | +1 (415) 555-0199 | t-1 | orders:read |
/// | 1004 | Åsa | asa@example.com | — | t-1 t-2 | — |
async fn directory() -> InMemoryDirectory {
    let dir = InMemoryDirectory::new();
    dir.insert_tenant(Tenant::new("t-1", Some("acme")))
        .await
        .unwrap();
    dir.insert_tenant(Tenant::new("t-2", Some("globex")))
        .await
        .unwrap();
    dir.insert_tenant(Tenant::new("t-3", Some("initech")))
        .await
        .unwrap();

    let mut alice = DirectoryUser::new("1001", "alice");
    alice.email = Some("alice+ops@example.com".into());
    alice.mobile = Some("+86 138 0013 8000".into());
    alice.tenants = vec!["t-1".into()];
    alice.scopes = vec![
        "orders:read".into(),
        "reports:read".into(),
        "sudo".into(),
        "billing:read".into(),
    ];
    alice.roles = vec!["analyst".into(), "sudo".into()];
    dir.insert_user(alice).await.unwrap();

    let mut bob = DirectoryUser::new("1002", "bob");
    bob.email = Some("Bob@Example.org".into());
    bob.mobile = Some("555-0100".into());
    bob.tenants = vec!["t-2".into()];
    bob.scopes = vec!["orders:read".into(), "orders:write".into()];
    bob.roles = vec!["viewer".into()];
    dir.insert_user(bob).await.unwrap();

    let mut carol = DirectoryUser::new("1003", "carol");
    carol.email = Some("carol@example.com".into());
    carol.mobile = Some("+1 (415) 555-0199".into());
    carol.tenants = vec!["t-1".into()];
    carol.scopes = vec!["orders:read".into()];
    carol.disabled = true;
    dir.insert_user(carol).await.unwrap();

    let mut asa = DirectoryUser::new("1004", "Åsa");
    asa.email = Some("asa@example.com".into());
    asa.tenants = vec!["t-1".into(), "t-2".into()];
    dir.insert_user(asa).await.unwrap();
    dir
}

/// Basic users: `root` holds the sudo role (and is not in the directory); `bob` is directory
/// user 1002 without it. Hashing is slow, so the set is built once.
fn basic_users() -> BasicUsers {
    static USERS: OnceLock<BasicUsers> = OnceLock::new();
    USERS
        .get_or_init(|| {
            let users = BasicUsers::new();
            users
                .insert_password(
                    "root",
                    ROOT_PASSWORD,
                    Identity::new("ops-root").with_roles(["sudo", "ops"]),
                )
                .unwrap();
            users
                .insert_password(
                    "bob",
                    BOB_PASSWORD,
                    Identity::new("1002").with_roles(["viewer"]),
                )
                .unwrap();
            users
        })
        .clone()
}

/// Collects audit events.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<AuditEvent>>>);

impl AuditSink for Collect {
    fn record(&self, event: &AuditEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Collect {
    fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn me(p: Principal) -> axum::Json<Principal> {
    axum::Json(p)
}

/// Both identities as the handler sees them.
async fn both(p: Principal) -> axum::Json<Value> {
    axum::Json(json!({
        "effective": {
            "subject": p.subject(),
            "scopes": p.scopes(),
            "roles": p.identity().roles(),
        },
        "caller": {
            "subject": p.caller().subject(),
            "client_id": p.caller().client_id(),
            "scopes": p.caller().scopes(),
            "roles": p.caller().roles(),
        },
    }))
}

fn verifier() -> FirstMatch {
    FirstMatch::new()
        .or(JwtVerifier::hs256(SECRET).unwrap())
        .or(BasicVerifier::new(basic_users()))
}

fn routes() -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/both", get(both))
        .route("/orders/{id}", get(me).post(me))
}

fn layer(impersonation: Impersonation) -> GatekeeperLayer {
    GatekeeperLayer::builder(verifier())
        .sources(CredentialSources::new().basic(true))
        .authorize(impersonation)
        .build()
}

struct World {
    app: Router,
    dir: InMemoryDirectory,
    audit: Collect,
}

async fn world() -> World {
    let dir = directory().await;
    let audit = Collect::default();
    let app = routes().layer(layer(Impersonation::new(dir.clone()).audit(audit.clone())));
    World { app, dir, audit }
}

// ---------------------------------------------------------------------------------------------
// Requests and replies
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn challenge(&self) -> String {
        self.headers
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

/// `GET uri` with `authorization` and the other headers.
async fn call(app: &Router, uri: &str, authorization: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::get(uri).header("authorization", authorization);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

/// The principal of `admin-app` impersonating `uid`, as the handler serialises it.
fn as_user(uid: &str, scopes: &[&str], tenant: Value) -> Value {
    json!({
        "subject": uid,
        "kind": "user",
        "client_id": null,
        "scopes": scopes,
        "actor": {"subject": "admin-app", "client_id": "admin-app"},
        "tenant": tenant,
        "credential": {"scheme": "bearer", "source": "header"},
    })
}

/// `admin-app` impersonating alice: its scopes that she holds too, without `sudo`.
fn as_alice(tenant: Value) -> Value {
    as_user("1001", &["orders:read", "reports:read"], tenant)
}

fn acme() -> Value {
    json!({"id": "t-1", "code": "acme"})
}

fn globex() -> Value {
    json!({"id": "t-2", "code": "globex"})
}

fn assert_invalid_request(r: &Reply, what: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text());
    assert_eq!(r.json()["error"], "invalid_request", "{what}");
    assert!(
        r.challenge().contains(r#"error="invalid_request""#),
        "{what}: {}",
        r.challenge()
    );
}

fn assert_access_denied(r: &Reply, what: &str) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.text());
    assert_eq!(r.json()["error"], "access_denied", "{what}");
}

mod audit;
mod decoding;
mod directories;
mod grants;
mod principal;
mod properties;
mod refusals;
mod regressions;
mod selectors;
mod tenants;
