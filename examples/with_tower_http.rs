//! The gatekeeper among tower-http's layers, and what their order means.
//!
//! From the outside in:
//!
//! 1. `TraceLayer`: outermost, so refusals are traced too (with their status).
//! 2. `CorsLayer`: outside the gate, so it answers CORS preflights itself (browsers send them
//!    without credentials) and adds `Access-Control-Allow-Origin` to refusals as well — without
//!    it a browser hides the 401 and its `WWW-Authenticate` from the page's script.
//! 3. `RequestBodyLimitLayer`: outside the gate, so an oversized body is refused (413) before
//!    any credential work, whoever sends it.
//! 4. the gatekeeper.
//! 5. `TimeoutLayer`: inside the gate, so it times the handler only: a refused call is answered
//!    at once (401), an admitted one that takes too long gets 408. (The gate bounds its own
//!    work: body reads have a deadline, remote verifiers their timeouts.)
//!
//! ```text
//! cargo run --example with_tower_http -- --addr 127.0.0.1:3000 [--handler-timeout-ms 1000]
//! ```

// Only `serve` is used here, not its flag parsing.
#[allow(dead_code)]
#[path = "support/serve.rs"]
mod serve;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::routing::{get, post};
use jsonwebtoken::{EncodingKey, Header};
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::principal::Principal;
use tower_gatekeeper::verify::JwtVerifier;
use tower_http::cors::CorsLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The demo signing secret (HS256). Use your own, from configuration.
const SECRET: &str = "tower-http-demo-secret-0123456789abcdef";
/// The largest request body accepted.
const BODY_LIMIT: usize = 1024;
/// The page origin allowed to call the API from a browser.
const ORIGIN: &str = "https://app.example";

fn app(handler_timeout: Duration) -> Router {
    let verifier = JwtVerifier::hs256(SECRET.as_bytes()).expect("a 32+ byte secret");
    let routes = Router::new()
        .route(
            "/hello",
            get(|p: Principal| async move { format!("hello {}", p.subject()) }),
        )
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "finally"
            }),
        );
    // Each `Router::layer` wraps what is above it: the last one added runs first.
    routes
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            handler_timeout,
        ))
        .layer(GatekeeperLayer::builder(verifier).realm("api").build())
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(
            CorsLayer::new()
                .allow_origin(HeaderValue::from_static(ORIGIN))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .expose_headers([header::WWW_AUTHENTICATE]),
        )
        .layer(TraceLayer::new_for_http())
}

fn demo_token() -> String {
    let claims = serde_json::json!({"sub": "demo-user", "exp": 4_000_000_000u64});
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("HS256 signing")
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut handler_timeout = Duration::from_secs(1);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            ("--handler-timeout-ms", Some(value)) => match value.parse() {
                Ok(ms) => handler_timeout = Duration::from_millis(ms),
                Err(_) => {
                    eprintln!("--handler-timeout-ms {value}: a whole number");
                    std::process::exit(2);
                }
            },
            _ => {
                eprintln!("usage: with_tower_http [--addr HOST:PORT] [--handler-timeout-ms N]");
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
    println!("with_tower_http listening on http://{addr}");
    println!(
        "  curl -i -H 'authorization: Bearer {}' http://{addr}/hello",
        demo_token()
    );
    println!(
        "  curl -i -X OPTIONS -H 'origin: {ORIGIN}' -H 'access-control-request-method: GET' http://{addr}/hello"
    );
    serve::serve(listener, app(handler_timeout), serve::Timeouts::default()).await;
}
