//! The cost of the layer on one request through an axum router, against the same router bare.
//!
//! cargo bench --bench request_path

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Method, Request};
use jsonwebtoken::{EncodingKey, Header, encode};
use tower::ServiceExt;
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::grant::{
    ApiTable, GrantCheck, GrantManager, GrantStore, Grantee, InMemoryGrantStore,
};
use tower_gatekeeper::layer::Authorize;
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, FirstMatch, JwtVerifier};

const SECRET: &[u8] = b"bench-secret-0123456789abcdef-0123456789";
const API_KEY: &str = "bench-api-key-0123456789abcdef";

fn token() -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = serde_json::json!({
        "iss": "bench", "aud": "bench-api", "sub": "app-7", "client_id": "app-7",
        "exp": exp, "scope": "orders:read orders:write"
    });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

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

fn routes() -> Router {
    Router::new()
        .route("/orders", get(|| async { "ok" }))
        .route("/orders", post(|| async { "ok" }))
}

fn guarded() -> Router {
    let keys = ApiKeyStore::new();
    at_once(keys.insert(API_KEY, Identity::new("svc"))).unwrap();
    let verifier = FirstMatch::new()
        .or(JwtVerifier::builder()
            .hs256(SECRET)
            .issuer("bench")
            .audience("bench-api")
            .build()
            .unwrap())
        .or(ApiKeyVerifier::new(keys));
    let sources = CredentialSources::new()
        .api_key_header("x-api-key")
        .form_body("access_token");
    routes().layer(GatekeeperLayer::builder(verifier).sources(sources).build())
}

/// The same verified path, plus a grant check (API table with a few routes, 1000 grants).
fn guarded_with_grants(by_table: bool) -> Router {
    let store: Arc<dyn GrantStore> = Arc::new(InMemoryGrantStore::new());
    let manager = GrantManager::builder_shared(store.clone())
        .apis(["orders", "reports", "users", "billing"])
        .grantee_check(|_| true)
        .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for i in 0..1000 {
            manager
                .authorize(
                    "orders",
                    Grantee::client(&format!("app-{i}")),
                    4_000_000_000,
                )
                .await
                .unwrap();
        }
    });
    let check = if by_table {
        let table = ApiTable::new()
            .api("orders", "/orders", [Method::GET, Method::POST])
            .api("reports", "/reports", [Method::GET])
            .api("users", "/users", [])
            .api("billing", "/billing", []);
        GrantCheck::by_table_shared(store, table)
    } else {
        GrantCheck::for_api_shared(store, "orders")
    };
    let verifier = JwtVerifier::builder()
        .hs256(SECRET)
        .issuer("bench")
        .audience("bench-api")
        .build()
        .unwrap();
    routes().layer(GatekeeperLayer::builder(verifier).authorize(check).build())
}

/// A stage that does nothing: separates the cost of running a stage from the grant check.
struct Noop;

impl Authorize for Noop {
    fn authorize(
        &self,
        principal: tower_gatekeeper::Principal,
        _: &mut http::request::Parts,
    ) -> tower_gatekeeper::MaybeReady<
        Result<tower_gatekeeper::Principal, tower_gatekeeper::AuthError>,
    > {
        tower_gatekeeper::MaybeReady::Ready(Ok(principal))
    }
}

fn guarded_with_noop_stage() -> Router {
    let verifier = JwtVerifier::builder()
        .hs256(SECRET)
        .issuer("bench")
        .audience("bench-api")
        .build()
        .unwrap();
    routes().layer(GatekeeperLayer::builder(verifier).authorize(Noop).build())
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bare = routes();
    let guarded = guarded();
    let token = token();
    let bearer = format!("Bearer {token}");
    let form = format!("access_token={token}");

    let mut group = c.benchmark_group("request_path");
    // Each case: a router and how to build its request (built inside the timed loop for all).
    let header_get = |name: &'static str, value: &str| {
        let value = value.to_owned();
        move || {
            Request::get("/orders")
                .header(name, value.as_str())
                .body(Body::empty())
                .unwrap()
        }
    };
    let form_post = || {
        let form = form.clone();
        move || {
            Request::post("/orders")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(form.clone()))
                .unwrap()
        }
    };
    type MakeRequest = Box<dyn Fn() -> Request<Body>>;
    let cases: Vec<(&str, Router, MakeRequest)> = vec![
        (
            "bare",
            bare.clone(),
            Box::new(header_get("authorization", &bearer)),
        ),
        ("bare_form_body", bare, Box::new(form_post())),
        (
            "jwt_hs256_header",
            guarded.clone(),
            Box::new(header_get("authorization", &bearer)),
        ),
        (
            "jwt_hs256_form_body",
            guarded.clone(),
            Box::new(form_post()),
        ),
        (
            "api_key_header",
            guarded,
            Box::new(header_get("x-api-key", API_KEY)),
        ),
        (
            "jwt_hs256_header_noop_stage",
            guarded_with_noop_stage(),
            Box::new(header_get("authorization", &bearer)),
        ),
        (
            "jwt_hs256_header_grant_for_api",
            guarded_with_grants(false),
            Box::new(header_get("authorization", &bearer)),
        ),
        (
            "jwt_hs256_header_grant_by_table",
            guarded_with_grants(true),
            Box::new(header_get("authorization", &bearer)),
        ),
    ];
    for (name, app, make_request) in &cases {
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter(|| {
                let req = make_request();
                let app = app.clone();
                async move { assert!(app.oneshot(req).await.unwrap().status().is_success()) }
            })
        });
    }
    group.finish();

    // The stage alone, on a verified principal: a no-op stage against the grant check.
    let mut group = c.benchmark_group("grant_stage");
    let principal =
        tower_gatekeeper::Principal::new(Identity::new("app-7").with_client_id("app-7"));
    let store: Arc<dyn GrantStore> = Arc::new(InMemoryGrantStore::new());
    let manager = GrantManager::builder_shared(store.clone())
        .apis(["orders", "reports", "users", "billing"])
        .grantee_check(|_| true)
        .build();
    rt.block_on(async {
        for i in 0..1000 {
            manager
                .authorize(
                    "orders",
                    Grantee::client(&format!("app-{i}")),
                    4_000_000_000,
                )
                .await
                .unwrap();
        }
    });
    let table = ApiTable::new()
        .api("orders", "/orders", [Method::GET, Method::POST])
        .api("reports", "/reports", [Method::GET])
        .api("users", "/users", [])
        .api("billing", "/billing", []);
    let stages: [(&str, Box<dyn Authorize>); 3] = [
        ("noop", Box::new(Noop)),
        (
            "grant_for_api",
            Box::new(GrantCheck::for_api_shared(store.clone(), "orders")),
        ),
        (
            "grant_by_table",
            Box::new(GrantCheck::by_table_shared(store, table)),
        ),
    ];
    for (name, stage) in &stages {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let (mut parts, ()) = Request::get("/orders").body(()).unwrap().into_parts();
                match stage.authorize(principal.clone(), &mut parts) {
                    tower_gatekeeper::MaybeReady::Ready(Ok(p)) => p,
                    _ => panic!("the grant is in force"),
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
