//! Refusals in the shapes other gateways answer with: Huawei's `{"error_code","error_msg"}` and
//! HENGSHI's `{"code","msg"}`, one shape per router. The status, `WWW-Authenticate` challenges
//! and cache headers stay RFC 6750's; only the body changes.
//!
//! ```text
//! cargo run --example custom_errors -- --addr 127.0.0.1:3000
//! curl -i http://127.0.0.1:3000/huawei/data    # 401 {"error_code":"unauthorized","error_msg":…}
//! curl -i http://127.0.0.1:3000/hengshi/data   # 401 {"code":401,"msg":…}
//! ```
//!
//! `data` needs the scope `data:read`: a token without it gets 403 in the same shape.

// Only `serve` is used here, not its flag parsing.
#[allow(dead_code)]
#[path = "support/serve.rs"]
mod serve;

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{EncodingKey, Header};
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::error::JsonResponder;
use tower_gatekeeper::principal::Principal;
use tower_gatekeeper::verify::JwtVerifier;

/// The demo signing secret (HS256). Use your own, from configuration.
const SECRET: &str = "custom-errors-demo-secret-0123456789abcdef";

/// The same API behind a gate that answers refusals in `shape`.
fn api(shape: JsonResponder) -> Router {
    let verifier = JwtVerifier::hs256(SECRET.as_bytes()).expect("a 32+ byte secret");
    let gate = GatekeeperLayer::builder(verifier)
        .realm("data")
        .responder(shape)
        .authorize(tower_gatekeeper::layer::RequireScopes::all(["data:read"]))
        .build();
    Router::new()
        .route(
            "/data",
            get(|principal: Principal| async move { format!("data for {}", principal.subject()) }),
        )
        .layer(gate)
}

fn app() -> Router {
    Router::new()
        .nest("/huawei", api(JsonResponder::Huawei))
        .nest("/hengshi", api(JsonResponder::Hengshi))
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
                eprintln!("usage: custom_errors [--addr HOST:PORT]");
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
    println!("custom_errors listening on http://{addr}");
    println!("  curl -i http://{addr}/huawei/data");
    println!("  curl -i http://{addr}/hengshi/data");
    println!(
        "  curl -i -H 'authorization: Bearer {}' http://{addr}/hengshi/data",
        demo_token("data:read")
    );
    serve::serve(listener, app(), serve::Timeouts::default()).await;
}
