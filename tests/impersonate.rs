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

// ---------------------------------------------------------------------------------------------
// Selectors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn each_selector_in_the_query_names_its_user() {
    let w = world().await;
    let bob = || as_user("1002", &["orders:read", "orders:write"], Value::Null);
    let asa = || as_user("1004", &[], Value::Null);
    let cases: Vec<(&str, Value)> = vec![
        ("uid:1001", as_alice(Value::Null)),
        ("uid:1002", bob()),
        ("loginName:alice", as_alice(Value::Null)),
        ("loginName:ALICE", as_alice(Value::Null)),
        ("loginName:aLiCe", as_alice(Value::Null)),
        // Unicode lower case: "Åsa" is "åsa" is "ÅSA".
        ("loginName:%C3%A5sa", asa()),
        ("loginName:%C3%85SA", asa()),
        // A plus is `%2B` (a raw `+` is a space, as in any form); the domain is
        // case-insensitive.
        ("email:alice%2Bops@example.com", as_alice(Value::Null)),
        ("email:alice%2bops@EXAMPLE.Com", as_alice(Value::Null)),
        ("email:alice%2Bops@Example.COM", as_alice(Value::Null)),
        ("email:Bob@example.ORG", bob()),
        // Mobile numbers are compared as `+` and digits.
        ("mobile:%2B86%20138%200013%208000", as_alice(Value::Null)),
        ("mobile:%2B86-138-0013-8000", as_alice(Value::Null)),
        ("mobile:%2B86(138)0013-8000", as_alice(Value::Null)),
        ("mobile:%2B86%20(138)%200013-8000", as_alice(Value::Null)),
        ("mobile:%2B86.138.0013.8000", as_alice(Value::Null)),
        ("mobile:%2B8613800138000", as_alice(Value::Null)),
        ("mobile:555%200100", bob()),
        ("mobile:(555)-0100", bob()),
    ];
    for (selector, expected) in cases {
        let r = call(
            &w.app,
            &format!("/me?sudo={selector}"),
            &bearer(&admin()),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{selector}: {}", r.text());
        assert_eq!(r.json(), expected, "{selector}");
        assert!(
            !r.headers.contains_key(WARNING),
            "{selector}: only the deprecated selector warns"
        );
    }
}

#[tokio::test]
async fn each_selector_in_the_x_sudo_header_names_its_user() {
    let w = world().await;
    let cases: Vec<(&str, &str)> = vec![
        ("uid:1001", "1001"),
        ("loginName:alice", "1001"),
        ("loginName:ALICE", "1001"),
        ("email:alice+ops@example.com", "1001"),
        ("email:alice+ops@EXAMPLE.COM", "1001"),
        ("mobile:+86 138 0013 8000", "1001"),
        ("mobile:+86 (138) 0013-8000", "1001"),
        ("mobile:+8613800138000", "1001"),
        // Surrounding white space of a header value is not part of it.
        ("  uid:1002  ", "1002"),
        ("email:Bob@example.org", "1002"),
    ];
    for (selector, uid) in cases {
        let mut req = Request::get("/me").header("authorization", bearer(&admin()));
        req = req.header(
            "x-sudo",
            HeaderValue::from_bytes(selector.as_bytes()).unwrap(),
        );
        let r = send(&w.app, req.body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{selector}: {}", r.text());
        let p = r.json();
        assert_eq!(p["subject"], uid, "{selector}");
        assert_eq!(
            p["actor"],
            json!({"subject": "admin-app", "client_id": "admin-app"}),
            "{selector}"
        );
        assert!(!r.headers.contains_key(WARNING), "{selector}");
    }
}

#[tokio::test]
async fn the_deprecated_username_selector_works_with_a_warning() {
    let w = world().await;
    let query = call(&w.app, "/me?sudo=username:alice", &bearer(&admin()), &[]).await;
    let header = call(
        &w.app,
        "/me",
        &bearer(&admin()),
        &[("x-sudo", "username:ALICE")],
    )
    .await;
    for (how, r) in [("query", &query), ("header", &header)] {
        assert_eq!(r.status, StatusCode::OK, "{how}: {}", r.text());
        assert_eq!(r.json(), as_alice(Value::Null), "{how}");
        let warnings: Vec<_> = r.headers.get_all(WARNING).iter().collect();
        assert_eq!(warnings.len(), 1, "{how}: {warnings:?}");
        let warning = warnings[0].to_str().unwrap();
        assert!(warning.starts_with("299 "), "{how}: {warning}");
        assert!(warning.contains("deprecated"), "{how}: {warning}");
        assert!(warning.contains("loginName"), "{how}: {warning}");
    }
    // Refused: no warning, and the refusal is the plain one.
    let r = call(&w.app, "/me?sudo=username:alice", &bearer(&plain()), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.headers.contains_key(WARNING));
    // The alias is case-sensitive like every selector.
    let r = call(&w.app, "/me?sudo=Username:alice", &bearer(&admin()), &[]).await;
    assert_invalid_request(&r, "Username:");
}

#[tokio::test]
async fn sudo_in_the_query_and_the_header_at_once_is_400() {
    let w = world().await;
    for (query, header) in [
        ("sudo=uid:1001", "uid:1001"),
        ("sudo=uid:1001", "uid:1002"),
        ("su%64o=uid:1001", "loginName:alice"),
    ] {
        let r = call(
            &w.app,
            &format!("/me?{query}"),
            &bearer(&admin()),
            &[("x-sudo", header)],
        )
        .await;
        assert_invalid_request(&r, query);
    }
    // A repeated header is as malformed as a repeated parameter.
    let req = Request::get("/me")
        .header("authorization", bearer(&admin()))
        .header("x-sudo", "uid:1001")
        .header("x-sudo", "uid:1001")
        .body(Body::empty())
        .unwrap();
    assert_invalid_request(&send(&w.app, req).await, "x-sudo twice");
    // A header that is not text.
    let req = Request::get("/me")
        .header("authorization", bearer(&admin()))
        .header("x-sudo", HeaderValue::from_bytes(b"uid:10\xff01").unwrap())
        .body(Body::empty())
        .unwrap();
    assert_invalid_request(&send(&w.app, req).await, "x-sudo obs-text");
}

// ---------------------------------------------------------------------------------------------
// The resulting principal
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_handler_sees_both_identities_and_the_narrowed_scopes() {
    let w = world().await;
    let r = call(&w.app, "/both?sudo=uid:1001", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({
            "effective": {
                "subject": "1001",
                // The caller's scopes the target holds too; never `sudo`, though both hold it.
                "scopes": ["orders:read", "reports:read"],
                // The target's roles, without the sudo role.
                "roles": ["analyst"],
            },
            "caller": {
                "subject": "admin-app",
                "client_id": "admin-app",
                "scopes": ["sudo", "orders:read", "orders:write", "reports:read", "admin:all"],
                "roles": [],
            },
        })
    );

    // Without sudo the caller is the subject.
    let r = call(&w.app, "/me", &bearer(&admin()), &[]).await;
    assert_eq!(
        r.json(),
        json!({
            "subject": "admin-app",
            "kind": "client",
            "client_id": "admin-app",
            "scopes": ["sudo", "orders:read", "orders:write", "reports:read", "admin:all"],
            "actor": null,
            "tenant": null,
            "credential": {"scheme": "bearer", "source": "header"},
        })
    );
}

#[tokio::test]
async fn sudo_scopes_are_the_intersection_in_the_callers_order() {
    let w = world().await;
    // A caller with only some of the target's scopes keeps only those.
    let narrow = app_token("narrow-app", "billing:read sudo nothing:else");
    let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&narrow), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let p = r.json();
    assert_eq!(p["scopes"], json!(["billing:read"]));
    assert_eq!(
        p["actor"],
        json!({"subject": "narrow-app", "client_id": "narrow-app"})
    );
    // A target without scopes gives an empty set; never the caller's.
    let r = call(&w.app, "/me?sudo=uid:1004", &bearer(&admin()), &[]).await;
    assert_eq!(r.json()["scopes"], json!([]));
    // An impersonated principal cannot sudo further: a second stage refuses it.
    let dir = directory().await;
    let twice = routes().layer(
        GatekeeperLayer::builder(verifier())
            .authorize(Impersonation::new(dir.clone()).audit(Collect::default()))
            .authorize(
                Impersonation::new(dir)
                    .sudo_header("x-sudo-again")
                    .audit(Collect::default()),
            )
            .build(),
    );
    let r = call(
        &twice,
        "/me",
        &bearer(&admin()),
        &[("x-sudo", "uid:1001"), ("x-sudo-again", "uid:1002")],
    )
    .await;
    assert_access_denied(&r, "sudo twice");
    let r = call(&twice, "/me", &bearer(&admin()), &[("x-sudo", "uid:1001")]).await;
    assert_eq!(r.json(), as_alice(Value::Null));
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn without_the_sudo_scope_the_answer_is_the_same_whoever_is_named() {
    let w = world().await;
    let token = plain();
    let targets = [
        "uid:1001",                    // exists
        "uid:1003",                    // disabled
        "uid:9999",                    // unknown
        "email:alice+ops@example.com", // exists
        "email:nobody@example.com",    // unknown
        "loginName:carol",             // disabled
        "mobile:%2B86%20138%200013%208000",
        "username:alice",
    ];
    let mut replies = Vec::new();
    for target in targets {
        let r = call(&w.app, &format!("/me?sudo={target}"), &bearer(&token), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{target}: {}", r.text());
        assert_eq!(r.json()["error"], "insufficient_scope", "{target}");
        let challenge = r.challenge();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{challenge}"
        );
        assert!(challenge.contains(r#"scope="sudo""#), "{challenge}");
        replies.push((target, r));
    }
    for header in ["uid:1001", "uid:1003", "uid:424242"] {
        let r = call(&w.app, "/me", &bearer(&token), &[("x-sudo", header)]).await;
        replies.push((header, r));
    }
    let (first_target, first) = &replies[0];
    for (target, r) in &replies[1..] {
        assert_eq!(r, first, "{target} answers unlike {first_target}");
    }
    // One denied sudo event per request, and nothing else.
    let events = w.audit.take();
    assert_eq!(events.len(), replies.len());
    assert!(
        events
            .iter()
            .all(|e| e.kind == AuditKind::Sudo && e.outcome == AuditOutcome::Denied)
    );
}

#[tokio::test]
async fn unknown_and_disabled_targets_get_the_identical_403() {
    let w = world().await;
    let token = admin();
    let targets = [
        "uid:1003",
        "uid:9999",
        "loginName:carol",
        "loginName:nobody",
        "email:carol@example.com",
        "email:nobody@example.com",
        "mobile:%2B1%20(415)%20555-0199",
        "mobile:%2B1%20(415)%20555-0100",
        "mobile:call-me",
    ];
    let mut replies = Vec::new();
    for target in targets {
        let r = call(&w.app, &format!("/me?sudo={target}"), &bearer(&token), &[]).await;
        assert_access_denied(&r, target);
        assert!(!r.headers.contains_key(WWW_AUTHENTICATE), "{target}");
        replies.push(r);
    }
    for r in &replies[1..] {
        assert_eq!(r, &replies[0]);
    }
    // Re-enabled, carol can be impersonated; disabled again, she cannot.
    assert!(w.dir.set_disabled("1003", false).await.unwrap());
    let r = call(&w.app, "/me?sudo=uid:1003", &bearer(&token), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["subject"], "1003");
    assert!(w.dir.set_disabled("1003", true).await.unwrap());
    let r = call(&w.app, "/me?sudo=uid:1003", &bearer(&token), &[]).await;
    assert_eq!(r, replies[0]);
}

#[tokio::test]
async fn basic_users_need_the_sudo_role() {
    let w = world().await;
    let r = call(
        &w.app,
        "/both?sudo=loginName:bob",
        &basic("root", ROOT_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({
            "effective": {"subject": "1002", "scopes": [], "roles": ["viewer"]},
            "caller": {"subject": "ops-root", "client_id": null, "scopes": [], "roles": ["sudo", "ops"]},
        })
    );
    let r = call(
        &w.app,
        "/me?sudo=uid:1001",
        &basic("root", ROOT_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(
        r.json(),
        json!({
            "subject": "1001", "kind": "user", "client_id": null, "scopes": [],
            "actor": {"subject": "ops-root", "client_id": null},
            "tenant": null,
            "credential": {"scheme": "basic", "source": "header"},
        })
    );

    // bob has no sudo role: refused, the same for any target.
    let a = call(
        &w.app,
        "/me?sudo=uid:1001",
        &basic("bob", BOB_PASSWORD),
        &[],
    )
    .await;
    let b = call(
        &w.app,
        "/me?sudo=uid:9999",
        &basic("bob", BOB_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    assert_eq!(a.json()["error"], "insufficient_scope");
    assert_eq!(a, b);
    // bob is still bob without sudo.
    let r = call(&w.app, "/me", &basic("bob", BOB_PASSWORD), &[]).await;
    assert_eq!(r.json()["subject"], "1002");
    assert_eq!(r.json()["actor"], Value::Null);
}

#[tokio::test]
async fn malformed_sudo_requests_are_400() {
    let w = world().await;
    let queries = [
        "sudo=uid:",             // empty value
        "sudo=",                 // empty
        "sudo",                  // no value at all
        "sudo=uid1001",          // no colon
        "sudo=:1001",            // no selector
        "sudo=nick:alice",       // unknown selector
        "sudo=UID:42",           // selectors are case-sensitive
        "sudo=Email:a@b.c",      // ditto
        "sudo=login_name:alice", // ditto
        "sudo=uid:1001&sudo=uid:1001",
        "sudo=uid:1001&sudo=uid:1002",
        "sudo=uid:1001&su%64o=uid:1001",
        "sudo=%ZZ",
        "sudo=uid:%ZZ",
        "sudo=uid:100%",
        "sudo=uid:100%1",
        "sudo=uid:%FF",             // not UTF-8
        "sudo=uid:%C3%28",          // invalid UTF-8 sequence
        "sudo=email:alice%C0%AF@x", // overlong encoding
        "sudo=uid:%0A1001",         // control characters
        "sudo=uid:1001%00",
        "sudo=uid:10%0D01",
        "sudo=uid:%7F",
        "sudo=uid:%C2%85", // C1 control (NEL)
        "sudo=loginName:ali%09ce",
    ];
    for token in [admin(), plain()] {
        for query in queries {
            let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
            assert_invalid_request(&r, query);
        }
    }
    // The same through the header (no percent-decoding there).
    for header in ["uid:", "", "uid1001", "UID:42", "nick:alice", "uid:10\t01"] {
        let r = call(&w.app, "/me", &bearer(&admin()), &[("x-sudo", header)]).await;
        assert_invalid_request(&r, header);
    }
}

#[tokio::test]
async fn a_delegated_token_cannot_sudo() {
    let w = world().await;
    let delegated = mint(&json!({
        "sub": "1002",
        "client_id": "delegate-app",
        "scope": "sudo orders:read",
        "act": {"sub": "admin-app", "client_id": "admin-app"},
        "exp": now() + 600,
    }));
    // It works as itself, with its own actor.
    let r = call(&w.app, "/me", &bearer(&delegated), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["actor"],
        json!({"subject": "admin-app", "client_id": "admin-app"})
    );
    for target in ["uid:1001", "uid:9999", "loginName:alice"] {
        let r = call(
            &w.app,
            &format!("/me?sudo={target}"),
            &bearer(&delegated),
            &[],
        )
        .await;
        assert_access_denied(&r, target);
        let r = call(&w.app, "/me", &bearer(&delegated), &[("x-sudo", target)]).await;
        assert_access_denied(&r, target);
    }
    let events = w.audit.take();
    assert_eq!(events.len(), 6);
    assert!(
        events
            .iter()
            .all(|e| e.kind == AuditKind::Sudo && e.outcome == AuditOutcome::Denied)
    );
}

#[tokio::test]
async fn anonymous_requests_in_optional_mode_cannot_sudo() {
    let dir = directory().await;
    let app = Router::new()
        .route(
            "/maybe",
            get(|p: Option<Principal>| async move { axum::Json(p) }),
        )
        .layer(
            GatekeeperLayer::builder(verifier())
                .optional(true)
                .authorize(Impersonation::new(dir).audit(Collect::default()))
                .build(),
        );
    for uri in ["/maybe?sudo=uid:1001", "/maybe?tenantId=t-1"] {
        let r = send(&app, Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.json(), Value::Null, "{uri}");
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn query_values_are_decoded_exactly_once() {
    let w = world().await;
    let token = admin();
    // The query is application/x-www-form-urlencoded (as axum's `Query` reads it): `+` is a
    // space, so the address with a plus must be sent as `%2B`.
    let raw = call(
        &w.app,
        "/me?sudo=email:alice+ops@example.com",
        &bearer(&token),
        &[],
    )
    .await;
    let encoded = call(
        &w.app,
        "/me?sudo=email:alice%2Bops@example.com",
        &bearer(&token),
        &[],
    )
    .await;
    assert_eq!(encoded.status, StatusCode::OK, "{}", encoded.text());
    assert_eq!(encoded.json()["subject"], "1001");
    assert_access_denied(&raw, "+ is a space");
    // In a header (not a form) `+` stays a plus.
    let header = call(
        &w.app,
        "/me",
        &bearer(&token),
        &[("x-sudo", "email:alice+ops@example.com")],
    )
    .await;
    assert_eq!(header, encoded);

    // Decoded once: `%252B` is `%2B`, not `+`, and names nobody.
    let twice = call(
        &w.app,
        "/me?sudo=email:alice%252Bops@example.com",
        &bearer(&token),
        &[],
    )
    .await;
    assert_access_denied(&twice, "%252B");
    let events = w.audit.take();
    let last = events.last().unwrap();
    assert_eq!(last.outcome, AuditOutcome::Denied);
    assert_eq!(last.target.as_deref(), Some("a***@example.com"));

    // `%20` and `+` are the same space: "alice ops@..." is nobody either way.
    let space = call(
        &w.app,
        "/me?sudo=email:alice%20ops@example.com",
        &bearer(&token),
        &[],
    )
    .await;
    assert_access_denied(&space, "%20");
    assert_eq!(space, raw);
    // The local part is compared exactly.
    let upper = call(
        &w.app,
        "/me?sudo=email:Alice%2Bops@example.com",
        &bearer(&token),
        &[],
    )
    .await;
    assert_access_denied(&upper, "Alice");
    let lower_bob = call(
        &w.app,
        "/me?sudo=email:bob@example.org",
        &bearer(&token),
        &[],
    )
    .await;
    assert_access_denied(&lower_bob, "bob@");
    assert_eq!(space, upper);
}

#[tokio::test]
async fn encoded_parameter_names_are_honoured() {
    let w = world().await;
    let token = admin();
    for query in [
        "su%64o=uid:1001",
        "%73%75%64%6F=uid:1001",
        "%73udo=uid%3A1001",
        "other=x&su%64o=loginName:alice&more=%ZZ",
    ] {
        let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        assert_eq!(r.json(), as_alice(Value::Null), "{query}");
    }
    for query in [
        "tenant%49d=t-1&sudo=uid:1001",
        "tenantCod%65=acme&sudo=uid:1001",
    ] {
        let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        assert_eq!(r.json(), as_alice(acme()), "{query}");
    }
    // Names are case-sensitive and must decode exactly: these are not `sudo`.
    for query in [
        "SUDO=uid:1001",
        "sudo%20=uid:1001",
        "sudo+=uid:1001",
        "su%ZZo=uid:1001",
    ] {
        let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        assert_eq!(r.json()["subject"], "admin-app", "{query}");
        assert_eq!(r.json()["actor"], Value::Null, "{query}");
    }
}

// ---------------------------------------------------------------------------------------------
// Tenants
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn each_tenant_form_selects_the_tenant() {
    let w = world().await;
    let token = admin();
    let forms: [(&str, &[(&str, &str)]); 7] = [
        ("&tenantId=t-1", &[]),
        ("&tenantCode=acme", &[]),
        ("&tenantId=t-1&tenantCode=acme", &[]),
        ("&tenantCode=acme&tenantId=t-1", &[]),
        ("", &[("x-tenant-id", "t-1")]),
        ("", &[("x-tenant-code", "acme")]),
        ("", &[("x-tenant-id", "t-1"), ("x-tenant-code", "acme")]),
    ];
    for (query, headers) in forms {
        let r = call(
            &w.app,
            &format!("/me?sudo=uid:1001{query}"),
            &bearer(&token),
            headers,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{query} {headers:?}: {}",
            r.text()
        );
        assert_eq!(r.json(), as_alice(acme()), "{query} {headers:?}");
    }
    // Åsa is in two tenants; either can be picked.
    for (query, tenant) in [("tenantId=t-1", acme()), ("tenantCode=globex", globex())] {
        let r = call(
            &w.app,
            &format!("/me?sudo=loginName:%C3%A5sa&{query}"),
            &bearer(&token),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        assert_eq!(r.json(), as_user("1004", &[], tenant), "{query}");
    }
}

#[tokio::test]
async fn malformed_tenant_requests_are_400() {
    let w = world().await;
    // Åsa (1004) belongs to t-1 and t-2: only a member of both learns that they disagree
    // (anyone else gets the 403 of tests/tenant_probing.rs).
    let cases: [(&str, &[(&str, &str)]); 8] = [
        // id and code name different tenants
        ("tenantId=t-1&tenantCode=globex", &[]),
        ("", &[("x-tenant-id", "t-1"), ("x-tenant-code", "globex")]),
        // repeated
        ("tenantId=t-1&tenantId=t-1", &[]),
        ("tenantCode=acme&tenantCod%65=acme", &[]),
        // query and header for the same
        ("tenantId=t-1", &[("x-tenant-id", "t-1")]),
        ("tenantCode=acme", &[("x-tenant-code", "acme")]),
        // empty, or not decodable
        ("tenantId=", &[]),
        ("tenantId=t-%FF", &[]),
    ];
    for (query, headers) in cases {
        let r = call(
            &w.app,
            &format!("/me?sudo=uid:1004&{query}"),
            &bearer(&admin()),
            headers,
        )
        .await;
        assert_invalid_request(&r, &format!("{query} {headers:?}"));
    }
    let r = call(&w.app, "/me", &bearer(&admin()), &[("x-tenant-code", "")]).await;
    assert_invalid_request(&r, "empty x-tenant-code");
}

#[tokio::test]
async fn a_tenant_the_user_is_not_in_looks_like_one_that_does_not_exist() {
    let w = world().await;
    let token = admin();
    let mut replies = Vec::new();
    for query in [
        "tenantId=t-2",       // exists, alice is not in it
        "tenantId=t-404",     // does not exist
        "tenantCode=globex",  // exists
        "tenantCode=initech", // exists, nobody in it
        "tenantCode=nope",    // does not exist
        "tenantCode=ACME",    // codes are exact
    ] {
        let r = call(
            &w.app,
            &format!("/me?sudo=uid:1001&{query}"),
            &bearer(&token),
            &[],
        )
        .await;
        assert_access_denied(&r, query);
        replies.push(r);
    }
    for r in &replies[1..] {
        assert_eq!(r, &replies[0]);
    }
    // The same for a user choosing a tenant without sudo.
    let bob = basic("bob", BOB_PASSWORD);
    let not_in = call(&w.app, "/me?tenantId=t-1", &bob, &[]).await;
    let missing = call(&w.app, "/me?tenantId=t-404", &bob, &[]).await;
    assert_access_denied(&not_in, "bob t-1");
    assert_eq!(not_in, missing);
    assert_eq!(not_in, replies[0]);
}

#[tokio::test]
async fn under_sudo_the_targets_membership_counts() {
    let w = world().await;
    // admin-app is not in the directory: on its own it is in no tenant.
    let r = call(&w.app, "/me?tenantId=t-1", &bearer(&admin()), &[]).await;
    assert_access_denied(&r, "admin-app alone");
    // As alice it may pick her tenant, and not bob's.
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantId=t-1",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_eq!(r.json(), as_alice(acme()));
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantId=t-2",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_access_denied(&r, "alice in t-2");
    let r = call(
        &w.app,
        "/me?sudo=uid:1002&tenantId=t-2",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_eq!(
        r.json(),
        as_user("1002", &["orders:read", "orders:write"], globex())
    );
    // Membership is read at request time.
    let mut alice = DirectoryUser::clone(&w.dir.user("1001").unwrap());
    alice.tenants.push("t-2".into());
    w.dir.insert_user(alice).await.unwrap();
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantId=t-2",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), as_alice(globex()));
}

#[tokio::test]
async fn a_user_without_sudo_may_select_its_own_tenant() {
    let w = world().await;
    let bob = basic("bob", BOB_PASSWORD);
    for (query, headers) in [
        ("/me?tenantId=t-2", &[][..]),
        ("/me?tenantCode=globex", &[][..]),
        ("/me", &[("x-tenant-code", "globex")][..]),
    ] {
        let r = call(&w.app, query, &bob, headers).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        assert_eq!(
            r.json(),
            json!({
                "subject": "1002", "kind": "user", "client_id": null, "scopes": [], "actor": null,
                "tenant": globex(),
                "credential": {"scheme": "basic", "source": "header"},
            }),
            "{query}"
        );
    }
    // A user token (not Basic) works the same.
    let user = mint(&json!({"sub": "1004", "scope": "orders:read", "exp": now() + 600}));
    let r = call(&w.app, "/me?tenantCode=acme", &bearer(&user), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["tenant"], acme());
    assert_eq!(r.json()["subject"], "1004");
}

#[tokio::test]
async fn a_tenant_bound_token_may_only_select_its_own_tenant() {
    let w = world().await;
    for claim in [json!("t-1"), json!({"id": "t-1", "code": "acme"})] {
        let token = mint(&json!({
            "sub": "1004", "scope": "orders:read", "tenant": claim, "exp": now() + 600,
        }));
        // Without a selection, the bound tenant.
        let r = call(&w.app, "/me", &bearer(&token), &[]).await;
        assert_eq!(r.json()["tenant"]["id"], "t-1", "{claim}");
        // Its own tenant: by id or code.
        for query in ["tenantId=t-1", "tenantCode=acme"] {
            let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
            assert_eq!(r.status, StatusCode::OK, "{claim} {query}: {}", r.text());
            assert_eq!(r.json()["tenant"], acme(), "{claim} {query}");
        }
        // Åsa is a member of t-2 too, but the credential is bound to t-1.
        for query in ["tenantId=t-2", "tenantCode=globex"] {
            let r = call(&w.app, &format!("/me?{query}"), &bearer(&token), &[]).await;
            assert_access_denied(&r, query);
        }
    }
    // Under sudo too: a bound sudo credential cannot pick another tenant for its target.
    let bound_admin = mint(&json!({
        "sub": "admin-app", "client_id": "admin-app", "scope": ADMIN_SCOPES, "tenant": "t-1",
        "exp": now() + 600,
    }));
    let r = call(
        &w.app,
        "/me?sudo=uid:1004&tenantId=t-2",
        &bearer(&bound_admin),
        &[],
    )
    .await;
    assert_access_denied(&r, "bound admin, t-2");
    let r = call(
        &w.app,
        "/me?sudo=uid:1004&tenantId=t-1",
        &bearer(&bound_admin),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), as_user("1004", &[], acme()));
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_audit_sink_receives_one_event_per_decision() {
    let w = world().await;
    let token = admin();

    // Nothing asked: nothing recorded.
    let r = call(&w.app, "/me", &bearer(&token), &[("x-request-id", "req-0")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(w.audit.take().is_empty());

    // Sudo and tenant allowed.
    let req = Request::post("/orders/7?sudo=email:alice%2Bops@example.com&tenantCode=acme")
        .header("authorization", bearer(&token))
        .header("x-request-id", "req-42")
        .body(Body::empty())
        .unwrap();
    let r = send(&w.app, req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let events = w.audit.take();
    assert_eq!(events.len(), 2, "{events:?}");
    let (sudo, tenant) = (&events[0], &events[1]);
    assert_eq!(sudo.kind, AuditKind::Sudo);
    assert_eq!(sudo.outcome, AuditOutcome::Allowed);
    assert_eq!(sudo.actor, "admin-app");
    assert_eq!(sudo.actor_client_id.as_deref(), Some("admin-app"));
    assert_eq!(sudo.target_kind, Some("email"));
    assert_eq!(
        sudo.target.as_deref(),
        Some("1001"),
        "the uid, not the e-mail"
    );
    assert_eq!(sudo.tenant, None);
    assert_eq!(sudo.method, "POST");
    assert_eq!(sudo.path, "/orders/7", "without the query");
    assert_eq!(sudo.request_id.as_deref(), Some("req-42"));
    assert!(!sudo.reason.is_empty());
    assert_eq!(tenant.kind, AuditKind::Tenant);
    assert_eq!(tenant.outcome, AuditOutcome::Allowed);
    assert_eq!(tenant.actor, "admin-app");
    assert_eq!(tenant.target.as_deref(), Some("1001"));
    assert_eq!(tenant.tenant.as_deref(), Some("t-1"));
    assert_eq!(tenant.method, "POST");
    assert_eq!(tenant.path, "/orders/7");
    assert_eq!(tenant.request_id.as_deref(), Some("req-42"));
    let since = SystemTime::now().duration_since(sudo.time).unwrap();
    assert!(since.as_secs() < 60);
    // Its JSON form has the fields, the time in Unix seconds.
    let v: Value = serde_json::from_str(&sudo.to_string()).unwrap();
    assert_eq!(v["kind"], "sudo");
    assert_eq!(v["outcome"], "allowed");
    assert_eq!(v["target"], "1001");
    assert!(v["time"].as_u64().unwrap() > 1_600_000_000);

    // Sudo denied: target unknown. The value asked for is masked; the tenant is not decided.
    let r = call(
        &w.app,
        "/orders/8?sudo=email:alice%2Bops@example.net&tenantId=t-1",
        &bearer(&token),
        &[("x-request-id", "req-43")],
    )
    .await;
    assert_access_denied(&r, "unknown e-mail");
    let events = w.audit.take();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!((e.kind, e.outcome), (AuditKind::Sudo, AuditOutcome::Denied));
    assert_eq!(e.target_kind, Some("email"));
    assert_eq!(e.target.as_deref(), Some("a***@example.net"));
    assert_eq!(e.request_id.as_deref(), Some("req-43"));
    assert_eq!((e.method.as_str(), e.path.as_str()), ("GET", "/orders/8"));

    // Sudo denied for lack of privilege: recorded, masked, for the caller that tried.
    let r = call(
        &w.app,
        "/me?sudo=mobile:%2B86%20138%200013%208000",
        &bearer(&plain()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let events = w.audit.take();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!((e.kind, e.outcome), (AuditKind::Sudo, AuditOutcome::Denied));
    assert_eq!(e.actor, "plain-app");
    assert_eq!(e.target_kind, Some("mobile"));
    assert_eq!(e.target.as_deref(), Some("+***"));
    assert_eq!(e.request_id, None);

    // Sudo allowed, tenant denied: both recorded, the tenant masked.
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantId=t-404",
        &bearer(&token),
        &[],
    )
    .await;
    assert_access_denied(&r, "t-404");
    let events = w.audit.take();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        (events[0].kind, events[0].outcome),
        (AuditKind::Sudo, AuditOutcome::Allowed)
    );
    assert_eq!(
        (events[1].kind, events[1].outcome),
        (AuditKind::Tenant, AuditOutcome::Denied)
    );
    assert_eq!(events[1].tenant.as_deref(), Some("t***"));
    assert_eq!(events[1].actor, "admin-app");

    // Tenant alone (a Basic user): one event, no target.
    let r = call(
        &w.app,
        "/me?tenantCode=globex",
        &basic("bob", BOB_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let events = w.audit.take();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(
        (e.kind, e.outcome),
        (AuditKind::Tenant, AuditOutcome::Allowed)
    );
    assert_eq!(e.actor, "1002");
    assert_eq!(e.actor_client_id, None);
    assert_eq!(e.target, None);
    assert_eq!(e.tenant.as_deref(), Some("t-2"));
}

#[tokio::test]
async fn audit_events_hold_no_credential() {
    let w = world().await;
    let token = admin();
    let plain_token = plain();
    let root = basic("root", ROOT_PASSWORD);
    let requests: Vec<(String, String)> = vec![
        (bearer(&token), "/me?sudo=uid:1001&tenantId=t-1".into()),
        (bearer(&token), "/me?sudo=uid:9999".into()),
        (bearer(&token), "/me?sudo=uid:1001&tenantId=t-2".into()),
        (bearer(&plain_token), "/me?sudo=uid:1001".into()),
        (
            root.clone(),
            "/me?sudo=loginName:bob&tenantCode=globex".into(),
        ),
        (root.clone(), "/me?sudo=loginName:nobody".into()),
    ];
    for (auth, uri) in &requests {
        let _ = call(&w.app, uri, auth, &[("x-request-id", "rid-1")]).await;
    }
    let events = w.audit.take();
    assert_eq!(events.len(), 9, "{events:?}");
    let signature = |t: &str| t.rsplit('.').next().unwrap().to_owned();
    let secrets = [
        token.clone(),
        signature(&token),
        plain_token.clone(),
        signature(&plain_token),
        root.trim_start_matches("Basic ").to_owned(),
        ROOT_PASSWORD.to_owned(),
    ];
    for e in &events {
        for shown in [format!("{e:?}"), format!("{e}")] {
            for secret in &secrets {
                assert!(!shown.contains(secret.as_str()), "{shown}");
            }
            assert!(!shown.contains("Bearer"), "{shown}");
        }
    }
}

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn tracing_audit_emits_events_at_the_audit_target() {
    assert_eq!(AUDIT_TARGET, "tower_gatekeeper::audit");
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_target(true)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // The default sink.
    let app = routes().layer(layer(Impersonation::new(directory().await)));
    let token = admin();
    let r = call(
        &app,
        "/me?sudo=uid:1001&tenantId=t-1",
        &bearer(&token),
        &[("x-request-id", "trace-7")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = call(&app, "/me?sudo=uid:9999", &bearer(&token), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let out = buffer.contents();
    let audit: Vec<&str> = out.lines().filter(|l| l.contains(AUDIT_TARGET)).collect();
    assert_eq!(audit.len(), 3, "{out}");
    assert!(audit[0].contains("INFO"), "{}", audit[0]);
    assert!(audit[0].contains("sudo allowed"), "{}", audit[0]);
    assert!(audit[0].contains("actor=admin-app"), "{}", audit[0]);
    assert!(audit[0].contains("outcome=Allowed"), "{}", audit[0]);
    assert!(audit[0].contains("trace-7"), "{}", audit[0]);
    assert!(audit[0].contains("1001"), "{}", audit[0]);
    assert!(audit[1].contains("tenant allowed"), "{}", audit[1]);
    assert!(audit[1].contains("t-1"), "{}", audit[1]);
    assert!(audit[2].contains("WARN"), "{}", audit[2]);
    assert!(audit[2].contains("outcome=Denied"), "{}", audit[2]);
    assert!(audit[2].contains("9***"), "{}", audit[2]);
    assert!(!out.contains(&token), "the token was logged");
}

// ---------------------------------------------------------------------------------------------
// Grants under sudo
// ---------------------------------------------------------------------------------------------

async fn granted_app(grantee: Grantee<'_>) -> Router {
    let store: Arc<dyn GrantStore> = Arc::new(InMemoryGrantStore::new());
    GrantManager::builder_shared(store.clone())
        .apis(["orders"])
        .grantees([Grantee::client("admin-app"), Grantee::user("1001")])
        .build()
        .authorize("orders", grantee, now() + DAY)
        .await
        .unwrap();
    routes().layer(
        GatekeeperLayer::builder(verifier())
            .authorize(Impersonation::new(directory().await).audit(Collect::default()))
            .authorize(GrantCheck::for_api_shared(store, "orders"))
            .build(),
    )
}

#[tokio::test]
async fn under_sudo_the_callers_grant_counts() {
    // The app holds the grant: it may call as itself and as alice.
    let app = granted_app(Grantee::client("admin-app")).await;
    let r = call(&app, "/me", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = call(
        &app,
        "/me?sudo=uid:1001&tenantId=t-1",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), as_alice(acme()));

    // Only alice holds a grant: the app may not call, not even as her.
    let app = granted_app(Grantee::user("1001")).await;
    for uri in [
        "/me",
        "/me?sudo=uid:1001",
        "/me?sudo=loginName:alice&tenantId=t-1",
    ] {
        let r = call(&app, uri, &bearer(&admin()), &[]).await;
        assert_access_denied(&r, uri);
        assert!(r.text().contains("grant"), "{uri}: {}", r.text());
    }
}

// ---------------------------------------------------------------------------------------------
// Directories that answer later, count lookups, or are down
// ---------------------------------------------------------------------------------------------

/// Wraps the in-memory directory: counts lookups, can answer asynchronously or be down.
struct Remote {
    inner: InMemoryDirectory,
    lookups: Arc<AtomicUsize>,
    pending: bool,
    down: bool,
}

impl Remote {
    fn answer<T: Send + Sync + 'static>(&self, answer: Lookup<T>) -> Lookup<T> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.down {
            return MaybeReady::Ready(Err(DirectoryError("connection refused".into())));
        }
        if self.pending {
            MaybeReady::pending(async move {
                tokio::task::yield_now().await;
                answer.await
            })
        } else {
            answer
        }
    }
}

impl UserDirectory for Remote {
    fn find_user(&self, selector: &UserSelector) -> Lookup<DirectoryUser> {
        self.answer(self.inner.find_user(selector))
    }
    fn find_tenant(&self, selector: &TenantSelector) -> Lookup<Tenant> {
        self.answer(self.inner.find_tenant(selector))
    }
}

async fn remote_world(pending: bool, down: bool) -> (World, Arc<AtomicUsize>) {
    let dir = directory().await;
    let lookups = Arc::new(AtomicUsize::new(0));
    let audit = Collect::default();
    let remote = Remote {
        inner: dir.clone(),
        lookups: lookups.clone(),
        pending,
        down,
    };
    let app = routes().layer(layer(Impersonation::new(remote).audit(audit.clone())));
    (World { app, dir, audit }, lookups)
}

#[tokio::test]
async fn a_directory_that_answers_later_gives_the_same_answers() {
    let sync = world().await;
    let (slow, lookups) = remote_world(true, false).await;
    let admin = bearer(&admin());
    let bob = basic("bob", BOB_PASSWORD);
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: Vec<Case<'_>> = vec![
        (&admin, "/me?sudo=uid:1001", &[]),
        (&admin, "/me?sudo=username:alice&tenantCode=acme", &[]),
        (&admin, "/me?sudo=loginName:%C3%A5sa&tenantId=t-2", &[]),
        (
            &admin,
            "/me?tenantId=t-1",
            &[("x-sudo", "email:alice+ops@example.com")],
        ),
        (&admin, "/me?sudo=uid:1003", &[]),
        (&admin, "/me?sudo=uid:9999&tenantId=t-1", &[]),
        (&admin, "/me?sudo=uid:1001&tenantId=t-2", &[]),
        (&admin, "/me?sudo=uid:1001&tenantId=t-404", &[]),
        (
            &admin,
            "/me?sudo=uid:1001&tenantId=t-1&tenantCode=acme",
            &[],
        ),
        (
            &admin,
            "/me?sudo=uid:1001&tenantId=t-1&tenantCode=globex",
            &[],
        ),
        (&bob, "/me?tenantCode=globex", &[]),
        (&bob, "/me?tenantCode=acme", &[]),
        (&bob, "/me?sudo=uid:1001", &[]),
    ];
    for (auth, uri, headers) in cases {
        let a = call(&sync.app, uri, auth, headers).await;
        let b = call(&slow.app, uri, auth, headers).await;
        assert_eq!(a, b, "{uri} {headers:?}");
        let (ea, eb) = (sync.audit.take(), slow.audit.take());
        assert_eq!(ea.len(), eb.len(), "{uri}");
        for (x, y) in ea.iter().zip(&eb) {
            assert_eq!(
                (x.kind, x.outcome, &x.target, &x.tenant, x.reason),
                (y.kind, y.outcome, &y.target, &y.tenant, y.reason),
                "{uri}"
            );
        }
    }
    assert!(lookups.load(Ordering::SeqCst) > 0);
    // The deprecation warning survives the asynchronous path.
    let r = call(&slow.app, "/me?sudo=username:alice", &admin, &[]).await;
    assert!(r.headers.contains_key(WARNING));
}

#[tokio::test]
async fn without_the_privilege_nothing_is_looked_up() {
    let (w, lookups) = remote_world(false, false).await;
    for uri in [
        "/me?sudo=uid:1001",
        "/me?sudo=uid:9999",
        "/me?sudo=email:alice%2Bops@example.com&tenantId=t-1",
    ] {
        let r = call(&w.app, uri, &bearer(&plain()), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}");
    }
    let r = call(
        &w.app,
        "/me?sudo=uid:1001",
        &basic("bob", BOB_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(lookups.load(Ordering::SeqCst), 0, "the directory was asked");
    // Nothing asked, nothing looked up either.
    let r = call(&w.app, "/me?other=1", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(lookups.load(Ordering::SeqCst), 0);
    // The privileged caller does ask.
    let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_directory_that_is_down_fails_closed() {
    for pending in [false, true] {
        let (w, _) = remote_world(pending, true).await;
        for uri in [
            "/me?sudo=uid:1001",
            "/me?sudo=uid:1001&tenantId=t-1",
            "/me?tenantId=t-1",
        ] {
            let r = call(&w.app, uri, &bearer(&admin()), &[]).await;
            assert_eq!(
                r.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{uri}: {}",
                r.text()
            );
            assert_eq!(r.json()["error"], "temporarily_unavailable");
            let events = w.audit.take();
            assert_eq!(events.len(), 1, "{uri}: {events:?}");
            assert_eq!(events[0].outcome, AuditOutcome::Denied);
        }
        // The caller without the privilege is refused as always: nothing to ask.
        let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&plain()), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.json()["error"], "insufficient_scope");
    }
}

#[tokio::test]
async fn the_sudo_scope_and_header_can_be_renamed() {
    let dir = directory().await;
    let app = routes().layer(layer(
        Impersonation::new(dir)
            .sudo_scope("act-as")
            .sudo_role("operators")
            .sudo_header("x-act-as")
            .audit(Collect::default()),
    ));
    // `sudo` is an ordinary scope now, `act-as` the privilege.
    let r = call(&app, "/me?sudo=uid:1001", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.challenge().contains(r#"scope="act-as""#),
        "{}",
        r.challenge()
    );
    let actor = app_token("actor-app", "act-as sudo orders:read");
    let r = call(&app, "/me", &bearer(&actor), &[("x-act-as", "uid:1001")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // alice holds `sudo` as a plain scope: it stays; `act-as` does not.
    assert_eq!(r.json()["scopes"], json!(["sudo", "orders:read"]));
    // The old header name means nothing.
    let r = call(&app, "/me", &bearer(&actor), &[("x-sudo", "uid:1001")]).await;
    assert_eq!(r.json()["subject"], "actor-app");
    // The root Basic user holds `sudo`, not `operators`.
    let r = call(
        &app,
        "/me?sudo=uid:1001",
        &basic("root", ROOT_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// A stage that wants a header on the response.
struct AddsHeader;

impl Authorize for AddsHeader {
    fn authorize(
        &self,
        principal: Principal,
        parts: &mut http::request::Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        let mut headers = HeaderMap::new();
        headers.insert("x-earlier-stage", HeaderValue::from_static("kept"));
        parts.extensions.insert(AddResponseHeaders(headers));
        MaybeReady::Ready(Ok(principal))
    }
}

#[tokio::test]
async fn the_deprecation_warning_keeps_earlier_stages_headers() {
    let app = routes().layer(
        GatekeeperLayer::builder(verifier())
            .authorize(AddsHeader)
            .authorize(Impersonation::new(directory().await).audit(Collect::default()))
            .build(),
    );
    let r = call(&app, "/me?sudo=uid:1001", &bearer(&admin()), &[]).await;
    assert_eq!(r.headers["x-earlier-stage"], "kept");
    let r = call(&app, "/me?sudo=username:alice", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.contains_key(WARNING));
    assert_eq!(
        r.headers
            .get("x-earlier-stage")
            .map(|v| v.to_str().unwrap()),
        Some("kept")
    );
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Characters a request target may carry as they are; others are percent-encoded.
fn uri_safe(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/?%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("sudo".to_owned()),
        Just("su%64o".to_owned()),
        Just("%73udo".to_owned()),
        Just("tenantId".to_owned()),
        Just("tenantCode".to_owned()),
        Just("tenant%49d".to_owned()),
        "[a-zA-Z%]{0,6}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("uid:1001".to_owned()),
        Just("uid:1003".to_owned()),
        Just("uid:1002".to_owned()),
        Just("loginName:%C3%A5sa".to_owned()),
        Just("loginName:alice".to_owned()),
        Just("username:ALICE".to_owned()),
        Just("email:alice+ops@example.com".to_owned()),
        Just("email:alice%2Bops@example.com".to_owned()),
        Just("mobile:%2B86%20138%200013%208000".to_owned()),
        Just("t-1".to_owned()),
        Just("t-2".to_owned()),
        Just("globex".to_owned()),
        "(uid|loginName|email|mobile|username|UID)?:?[a-z0-9+%:@. ]{0,12}",
        "[%+:0-9A-Fa-f]{0,10}",
        "\\PC{0,8}",
        any::<String>(),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec((key(), prop::option::weighted(0.9, value())), 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k,
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn header_value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(
        0.25,
        prop_oneof![
            Just(b"uid:1001".to_vec()),
            Just(b"loginName:alice".to_vec()),
            Just(b"username:alice".to_vec()),
            Just("mobile:+86 138 0013 8000".as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..16),
            "\\PC{0,10}".prop_map(String::into_bytes),
        ],
    )
}

fn request(auth: &str, query: &str, headers: &[(&str, &Option<Vec<u8>>)]) -> Request<Body> {
    let mut uri = format!("/me?{}", uri_safe(query));
    if uri.parse::<http::Uri>().is_err() {
        uri = "/me".to_owned();
    }
    let mut req = Request::get(uri).header("authorization", auth);
    for (name, value) in headers {
        if let Some(value) = value
            && let Ok(value) = HeaderValue::from_bytes(value)
        {
            req = req.header(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
    }
    req.body(Body::empty()).unwrap()
}

const ALLOWED: [StatusCode; 4] = [
    StatusCode::OK,
    StatusCode::BAD_REQUEST,
    StatusCode::UNAUTHORIZED,
    StatusCode::FORBIDDEN,
];

#[test]
fn without_the_privilege_no_input_changes_who_the_caller_is() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = routes().layer(layer(
        Impersonation::new(rt.block_on(directory())).audit(Collect::default()),
    ));
    // Callers without the sudo privilege: an app, a directory user (who may pick its tenant),
    // a user with look-alike scopes and roles, a tenant-bound user.
    let callers: Vec<(String, &str)> = vec![
        (bearer(&plain()), "plain-app"),
        (
            bearer(&mint(
                &json!({"sub": "1002", "scope": "orders:read", "exp": now() + 600}),
            )),
            "1002",
        ),
        (
            bearer(&mint(&json!({
                "sub": "1004", "scope": "SUDO sudo: sudoers", "roles": ["Sudo", "admin"],
                "exp": now() + 600,
            }))),
            "1004",
        ),
        (
            bearer(&mint(
                &json!({"sub": "1004", "tenant": "t-1", "exp": now() + 600}),
            )),
            "1004",
        ),
    ];
    let strategy = (
        0..callers.len(),
        query(),
        header_value(),
        header_value(),
        header_value(),
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 768,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&strategy, |(who, query, x_sudo, x_id, x_code)| {
            let (auth, subject) = &callers[who];
            let req = request(
                auth,
                &query,
                &[
                    ("x-sudo", &x_sudo),
                    ("x-tenant-id", &x_id),
                    ("x-tenant-code", &x_code),
                ],
            );
            let r = rt.block_on(send(&app, req));
            prop_assert!(ALLOWED.contains(&r.status), "{query:?}: {}", r.status);
            if r.status.is_success() {
                let p = r.json();
                prop_assert_eq!(&p["subject"], subject, "{:?}", query);
                prop_assert_eq!(&p["actor"], &Value::Null, "{:?}", query);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn with_the_privilege_a_success_is_always_a_known_enabled_user() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = routes().layer(layer(
        Impersonation::new(rt.block_on(directory())).audit(Collect::default()),
    ));
    let auth = bearer(&admin());
    let strategy = (query(), header_value(), header_value());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&strategy, |(query, x_sudo, x_tenant)| {
            let req = request(
                &auth,
                &query,
                &[("x-sudo", &x_sudo), ("x-tenant-id", &x_tenant)],
            );
            let r = rt.block_on(send(&app, req));
            prop_assert!(ALLOWED.contains(&r.status), "{query:?}: {}", r.status);
            if r.status.is_success() {
                let p = r.json();
                let subject = p["subject"].as_str().unwrap();
                if subject == "admin-app" {
                    prop_assert_eq!(&p["actor"], &Value::Null);
                } else {
                    prop_assert!(
                        ["1001", "1002", "1004"].contains(&subject),
                        "{query:?} became {subject}"
                    );
                    prop_assert_eq!(
                        &p["actor"],
                        &json!({"subject": "admin-app", "client_id": "admin-app"})
                    );
                    let scopes = p["scopes"].as_array().unwrap();
                    prop_assert!(!scopes.contains(&json!("sudo")), "{query:?}");
                }
            }
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Bugs found (ignored until fixed)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_tenant_bound_credential_cannot_probe_which_tenants_exist() {
    let w = world().await;
    let token = mint(&json!({
        "sub": "1001", "scope": "orders:read", "tenant": "t-1", "exp": now() + 600,
    }));
    let exists = call(&w.app, "/me?tenantId=t-3", &bearer(&token), &[]).await;
    let unknown = call(&w.app, "/me?tenantId=t-404", &bearer(&token), &[]).await;
    assert_eq!(exists.status, StatusCode::FORBIDDEN);
    assert_eq!(exists, unknown, "{} vs {}", exists.text(), unknown.text());
}

#[tokio::test]
async fn replacing_a_tenant_forgets_its_old_code() {
    let w = world().await;
    w.dir
        .insert_tenant(Tenant::new("t-1", Some("acme-renamed")))
        .await
        .unwrap();
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantCode=acme-renamed",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["tenant"],
        json!({"id": "t-1", "code": "acme-renamed"})
    );
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantCode=acme",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_access_denied(&r, "the old code");
}

#[tokio::test]
async fn sudo_keeps_the_tenant_the_credential_is_bound_to() {
    let w = world().await;
    let bound_admin = mint(&json!({
        "sub": "admin-app", "client_id": "admin-app", "scope": ADMIN_SCOPES, "tenant": "t-1",
        "exp": now() + 600,
    }));
    let r = call(&w.app, "/me", &bearer(&bound_admin), &[]).await;
    assert_eq!(r.json()["tenant"], json!({"id": "t-1", "code": null}));
    // Under sudo the bound tenant is selected for the target (who must belong to it), so the
    // directory's full record is shown.
    let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&bound_admin), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["tenant"], json!({"id": "t-1", "code": "acme"}));
}

#[tokio::test]
async fn a_scoped_token_cannot_sudo_through_a_role_claim() {
    let w = world().await;
    let token = mint(&json!({
        "sub": "1002", "client_id": "reporting-app", "scope": "orders:read",
        "roles": ["sudo"], "exp": now() + 600,
    }));
    let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&token), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"], "insufficient_scope");
}

#[tokio::test]
async fn a_tenant_bound_sudo_credential_cannot_reach_users_of_other_tenants() {
    let w = world().await;
    // Bound to t-2 (globex); alice (1001) is only in t-1.
    let bound = mint(&json!({
        "sub": "admin-app", "client_id": "admin-app", "scope": ADMIN_SCOPES, "tenant": "t-2",
        "exp": now() + 600,
    }));
    let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&bound), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // Åsa (1004) is in t-2: allowed, and the tenant is t-2.
    let r = call(&w.app, "/me?sudo=uid:1004", &bearer(&bound), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["tenant"]["id"], "t-2");
}

#[tokio::test]
async fn the_sudo_header_is_percent_decoded_like_the_query() {
    let w = world().await;
    // "Åsa" percent-encoded in a header value.
    let r = call(
        &w.app,
        "/me",
        &bearer(&admin()),
        &[("x-sudo", "loginName:%C3%85sa")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["subject"], "1004");
    let r = call(
        &w.app,
        "/me",
        &bearer(&admin()),
        &[("x-sudo", "loginName:%ZZ")],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
