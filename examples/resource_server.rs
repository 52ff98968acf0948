//! A resource server in its own process, trusting the quickstart's authorization server two
//! ways: verifying JWTs with the keys from its JWKS endpoint, and asking it about tokens
//! (RFC 7662 introspection).
//!
//! ```text
//! cargo run --example quickstart -- --config examples/quickstart-rs256.toml     # terminal 1
//! cargo run --features introspection,reqwest --example resource_server          # terminal 2
//! ```
//!
//! Then, with a token from the quickstart:
//!
//! ```text
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3001/jwks/whoami
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3001/introspection/whoami
//! ```
//!
//! Revoke the token at the quickstart and call both again: the introspection route refuses it
//! at once; the JWKS route accepts it until it expires, because a JWT carries its own proof.
//! That is the trade-off between the two (docs/tokens.md).

#[path = "support/serve.rs"]
mod serve;

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use tower_gatekeeper::verify::{IntrospectionVerifier, JwksVerifier, JwtVerifier, ReqwestClient};
use tower_gatekeeper::{GatekeeperLayer, Principal};

struct Args {
    addr: SocketAddr,
    authorization_server: String,
    /// Default: the authorization server's URL, which is the quickstart's issuer unless its
    /// config names another.
    issuer: Option<String>,
    audience: String,
    client_id: String,
    client_secret: String,
    timeouts: serve::Timeouts,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:3001".parse().expect("valid default"),
        authorization_server: "http://127.0.0.1:3000".into(),
        issuer: None,
        audience: "quickstart-api".into(),
        client_id: "orders-rs".into(),
        client_secret: "orders-rs-secret".into(),
        timeouts: serve::Timeouts::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--authorization-server" => args.authorization_server = value()?,
            "--issuer" => args.issuer = Some(value()?),
            "--audience" => args.audience = value()?,
            "--client-id" => args.client_id = value()?,
            "--client-secret" => args.client_secret = value()?,
            other => {
                if !args.timeouts.parse_flag(other, || value().ok())? {
                    return Err(format!(
                        "usage: resource_server [--addr HOST:PORT] [--authorization-server URL] \
                         [--issuer ISS] [--audience AUD] [--client-id ID] [--client-secret SECRET] {}",
                        serve::Timeouts::USAGE
                    ));
                }
            }
        }
    }
    Ok(args)
}

async fn whoami(principal: Principal) -> Json<Principal> {
    Json(principal)
}

#[tokio::main]
async fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let http = ReqwestClient::with_timeout(Duration::from_secs(3));
    let base = args.authorization_server.trim_end_matches('/');

    let expected_issuer = args.issuer.clone().unwrap_or_else(|| base.to_owned());
    let (issuer, audience) = (expected_issuer.clone(), args.audience.clone());
    let jwks = JwksVerifier::builder(format!("{base}/.well-known/jwks.json"), http.clone())
        .claims(move || {
            JwtVerifier::builder()
                .issuer(issuer.clone())
                .audience(audience.clone())
                .typ("at+jwt")
        })
        .build();
    let introspection = IntrospectionVerifier::builder(
        format!("{base}/oauth/token/introspect"),
        &args.client_id,
        &args.client_secret,
        http,
    )
    .issuer(&expected_issuer)
    .audience(&args.audience)
    .build();

    let app = Router::new()
        .merge(
            Router::new().route("/jwks/whoami", get(whoami)).layer(
                GatekeeperLayer::builder(jwks)
                    .realm("resource-server")
                    .build(),
            ),
        )
        .merge(
            Router::new()
                .route("/introspection/whoami", get(whoami))
                .layer(
                    GatekeeperLayer::builder(introspection)
                        .realm("resource-server")
                        .build(),
                ),
        );

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        });
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    println!("resource server listening on http://{addr}");
    println!(
        "  trusting {base}: /jwks/whoami (keys from its JWKS), /introspection/whoami (RFC 7662)"
    );
    serve::serve(listener, app, args.timeouts).await;
}
