//! A server for load runs: the same handler bare, behind tower-gatekeeper, and behind the
//! layers it is compared with, side by side on one single-threaded runtime.
//!
//! ```text
//! cargo run --release --example load_target [-- --addr 127.0.0.1:0]
//! ```
//!
//! Prints its address, an HS256 token and an API key on its first three lines, then serves
//! (every route answers `"ok"`):
//!
//! | route | guard |
//! | --- | --- |
//! | `/bare` | none |
//! | `/tower_http` | tower-http `ValidateRequestHeaderLayer::bearer` (a fixed token) |
//! | `/opaque_minimal` | a hand-written opaque-token map lookup (the API key as bearer) |
//! | `/jwt_authorizer` | jwt-authorizer 0.15, HS256 |
//! | `/jsonwebtoken` | a layer calling `jsonwebtoken::decode`, HS256 |
//! | `/handwritten` | a minimal hand-written HS256 verifier (aws-lc-rs) |
//! | `/gatekeeper_jwt` | tower-gatekeeper, HS256, verified-credential cache on (the default) |
//! | `/gatekeeper_jwt_uncached` | the same with the cache off: every request verified |
//! | `/gatekeeper_full` | HS256 + required scope + sudo/tenant stage + grant check, cached |
//! | `/gatekeeper_opaque` | tower-gatekeeper `ApiKeyVerifier` (the API key as bearer), cached |
//! | `/gatekeeper_opaque_uncached` | the same with the cache off |
//! | `/gatekeeper_jwt_axum`, `/gatekeeper_opaque_axum` | `/gatekeeper_jwt` and `/gatekeeper_opaque` mounted with `GatekeeperLayer::for_axum` |
//!
//! Used by `scripts/loadtest.sh`. The reference layers are those of `benches/compare.rs`.

#[path = "../benches/support/reference.rs"]
mod reference;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use http::Method;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, encode};
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::grant::{ApiTable, GrantCheck, GrantManager, InMemoryGrantStore};
use tower_gatekeeper::impersonate::{Impersonation, InMemoryDirectory};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, CacheConfig, JwtVerifier};

const SECRET: &str = "load-target-secret-0123456789abcdef";
const API_KEY: &str = "load-target-api-key-0123456789abcdef-0123456789";
const ISS: &str = "load";
const AUD: &str = "load-api";

fn ok(path: &str) -> Router {
    Router::new().route(path, get(|| async { "ok" }))
}

fn jwt() -> JwtVerifier {
    JwtVerifier::builder()
        .hs256(SECRET.as_bytes())
        .issuer(ISS)
        .audience(AUD)
        .build()
        .expect("valid key")
}

async fn api_keys() -> ApiKeyStore {
    let keys = ApiKeyStore::new();
    keys.insert(API_KEY, Identity::new("load-svc"))
        .await
        .expect("in memory");
    for i in 0..1000 {
        keys.insert(
            &format!("other-key-{i:06}-0123456789abcdef"),
            Identity::new("x"),
        )
        .await
        .expect("in memory");
    }
    keys
}

// One worker: the server's cost per request is what the run compares.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_owned();
    while let Some(arg) = args.next() {
        if arg == "--addr" {
            addr = args.next().expect("--addr needs HOST:PORT");
        }
    }
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 24 * 3600;
    let claims = serde_json::json!({
        "iss": ISS, "sub": "load-app", "client_id": "load-app", "aud": AUD, "exp": exp,
        "iat": exp - 24 * 3600, "jti": "load-token-0001", "scope": "orders:read orders:write"
    });
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    let token = encode(
        &header,
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token");

    let store = InMemoryGrantStore::new();
    let grants = GrantManager::builder(store.clone())
        .apis(["orders"])
        .grantees([tower_gatekeeper::grant::Grantee::client("load-app")])
        .build();
    grants
        .authorize(
            "orders",
            tower_gatekeeper::grant::Grantee::client("load-app"),
            4_000_000_000,
        )
        .await
        .expect("grant");
    let table = ApiTable::new().api("orders", "/gatekeeper_full", [Method::GET]);

    let gatekeeper = |path: &str, layer: GatekeeperLayer| ok(path).layer(layer);
    let uncached = CacheConfig::disabled;
    let mut keys: Vec<String> = vec![API_KEY.to_owned()];
    keys.extend((0..1000).map(|i| format!("other-key-{i:06}-0123456789abcdef")));

    let app = Router::new()
        .merge(ok("/bare"))
        .merge(ok("/tower_http").layer(reference::tower_http_bearer(&token)))
        .merge(reference::opaque_minimal(ok("/opaque_minimal"), keys))
        .merge(reference::jwt_authorizer_router(ok("/jwt_authorizer"), SECRET, ISS, AUD).await)
        .merge(reference::jsonwebtoken_layer(
            ok("/jsonwebtoken"),
            Algorithm::HS256,
            DecodingKey::from_secret(SECRET.as_bytes()),
            ISS,
            AUD,
        ))
        .merge(reference::handwritten_hs256(
            ok("/handwritten"),
            SECRET.as_bytes(),
            ISS,
            AUD,
        ))
        .merge(gatekeeper(
            "/gatekeeper_jwt",
            GatekeeperLayer::builder(jwt()).build(),
        ))
        .merge(gatekeeper(
            "/gatekeeper_jwt_uncached",
            GatekeeperLayer::builder(jwt())
                .verified_cache(uncached())
                .build(),
        ))
        .merge(gatekeeper(
            "/gatekeeper_full",
            GatekeeperLayer::builder(jwt())
                .require_scopes(["orders:read"])
                .authorize(Impersonation::new(InMemoryDirectory::new()))
                .authorize(GrantCheck::by_table(store, table))
                .build(),
        ))
        .merge(gatekeeper(
            "/gatekeeper_opaque",
            GatekeeperLayer::builder(ApiKeyVerifier::new(api_keys().await).accept_bearer(true))
                .build(),
        ))
        .merge(gatekeeper(
            "/gatekeeper_opaque_uncached",
            GatekeeperLayer::builder(ApiKeyVerifier::new(api_keys().await).accept_bearer(true))
                .verified_cache(uncached())
                .build(),
        ))
        .merge(ok("/gatekeeper_jwt_axum").layer(GatekeeperLayer::builder(jwt()).build().for_axum()))
        .merge(
            ok("/gatekeeper_opaque_axum").layer(
                GatekeeperLayer::builder(ApiKeyVerifier::new(api_keys().await).accept_bearer(true))
                    .build()
                    .for_axum(),
            ),
        );

    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("address")
    );
    println!("{token}");
    println!("{API_KEY}");
    axum::serve(listener, app).await.expect("serve");
}
