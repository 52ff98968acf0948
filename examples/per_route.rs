//! Different policies on different routes.
//!
//! - `/public`: no gate at all.
//! - `/me`, `/orders`: one router-wide gate verifies the bearer token once; `/orders` also
//!   needs the scope `orders:read`, checked by an `AuthorizeLayer` (the stage layer) in a
//!   `route_layer`, on the principal the gate already placed — the token is not verified a
//!   second time.
//! - `/download`: a gate of its own in a `route_layer`, with another realm, taking the token
//!   only from the `access_token` query parameter (RFC 6750 §2.3; responses are marked
//!   `Cache-Control: private`).
//!
//! Placement rules: `Router::route_layer` wraps the routes added *before* it; `Router::layer`
//! wraps every route added before it and runs *outside* the route layers. So a stage layer goes
//! in a `route_layer` under a gate added later with `layer` (or outside it with
//! `ServiceBuilder`), never outside the gate: there it would find no principal, and refuses
//! every request (fail closed).
//!
//! ```text
//! cargo run --example per_route -- --addr 127.0.0.1:3000
//! ```

// Only `serve` is used here, not its flag parsing.
#[allow(dead_code)]
#[path = "support/serve.rs"]
mod serve;

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{EncodingKey, Header};
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::layer::AuthorizeLayer;
use tower_gatekeeper::principal::Principal;
use tower_gatekeeper::verify::JwtVerifier;

/// The demo signing secret (HS256). Use your own, from configuration.
const SECRET: &str = "per-route-demo-secret-0123456789abcdef";

fn verifier() -> JwtVerifier {
    JwtVerifier::hs256(SECRET.as_bytes()).expect("a 32+ byte secret")
}

fn app() -> Router {
    let gated = Router::new()
        .route(
            "/orders",
            get(|p: Principal| async move { format!("orders of {}", p.subject()) }),
        )
        // Only `/orders` (added before it): the scope, on the gate's principal.
        .route_layer(AuthorizeLayer::require_scopes(["orders:read"]))
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        // Every route above: find and verify the credential, once.
        .layer(GatekeeperLayer::builder(verifier()).realm("shop").build());

    let download = Router::new()
        .route(
            "/download",
            get(|p: Principal| async move { format!("file for {}", p.subject()) }),
        )
        .route_layer(
            GatekeeperLayer::builder(verifier())
                .realm("downloads")
                .sources(CredentialSources::new().bearer(false).query("access_token"))
                .build(),
        );

    Router::new()
        .route("/public", get(|| async { "public" }))
        .merge(gated)
        .merge(download)
}

fn demo_token(scope: &str) -> String {
    let claims = serde_json::json!({"sub": "demo-user", "scope": scope, "exp": 4_000_000_000u64});
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("HS256 signing")
}

#[tokio::main]
async fn main() {
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("usage: per_route [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
    let addr = listener.local_addr().expect("bound address");
    // The first line names the address: tests/examples.rs reads it.
    println!("per_route listening on http://{addr}");
    let token = demo_token("orders:read");
    println!("  curl -i http://{addr}/public");
    println!("  curl -i -H 'authorization: Bearer {token}' http://{addr}/orders");
    println!("  curl -i 'http://{addr}/download?access_token={token}'");
    serve::serve(listener, app(), serve::Timeouts::default()).await;
}
