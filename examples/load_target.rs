//! A server for load runs: the same handler bare and behind the layer, side by side.
//!
//! ```text
//! cargo run --release --example load_target [-- --addr 127.0.0.1:0]
//! ```
//!
//! Prints its address and an HS256 token on the first two lines, then serves:
//! `/bare` (no layer), `/jwt` (the layer verifying the token), `/jwt_grant` (the layer, plus a
//! grant check). Used by `benches/load.sh`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{EncodingKey, Header, encode};
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::grant::{GrantCheck, GrantManager, InMemoryGrantStore};
use tower_gatekeeper::verify::JwtVerifier;

const SECRET: &[u8] = b"load-target-secret-0123456789abcdef";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_owned();
    while let Some(arg) = args.next() {
        if arg == "--addr" {
            addr = args.next().expect("--addr needs HOST:PORT");
        }
    }
    let verifier = || {
        JwtVerifier::builder()
            .hs256(SECRET)
            .issuer("load")
            .build()
            .expect("valid key")
    };
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

    let app = Router::new()
        .route("/bare", get(|| async { "ok" }))
        .merge(
            Router::new()
                .route("/jwt", get(|| async { "ok" }))
                .layer(GatekeeperLayer::builder(verifier()).build()),
        )
        .merge(
            Router::new()
                .route("/jwt_grant", get(|| async { "ok" }))
                .layer(
                    GatekeeperLayer::builder(verifier())
                        .authorize(GrantCheck::for_api(store, "orders"))
                        .build(),
                ),
        );

    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 24 * 3600;
    let claims = serde_json::json!({"iss": "load", "sub": "load-app", "client_id": "load-app", "exp": exp, "scope": "orders:read"});
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("token");

    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("address")
    );
    println!("{token}");
    axum::serve(listener, app).await.expect("serve");
}
