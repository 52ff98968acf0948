//! A `Verifier` of your own: API keys looked up in a table you keep (here, in memory; in
//! practice, your database or key service), compared in constant time.
//!
//! ```text
//! cargo run --example custom_verifier -- --addr 127.0.0.1:3000
//! curl -i -H 'x-api-key: demo-key-alice-0123456789' http://127.0.0.1:3000/whoami   # 200 alice
//! curl -i -H 'x-api-key: wrong' http://127.0.0.1:3000/whoami                       # 401
//! ```
//!
//! The verifier sees only credentials the sources found (here the `x-api-key` header); it
//! answers a principal, `Invalid` (401) or `Unavailable` (503), and `NotApplicable` for
//! credentials it does not handle, so it can be chained with others
//! (`tower_gatekeeper::verify::FirstMatch`).

// Only `serve` is used here, not its flag parsing.
#[allow(dead_code)]
#[path = "support/serve.rs"]
mod serve;

use axum::Router;
use axum::routing::get;
use subtle::ConstantTimeEq;
use tower_gatekeeper::extract::{Credential, CredentialSources, Scheme};
use tower_gatekeeper::principal::{Identity, Principal, PrincipalKind};
use tower_gatekeeper::verify::{Verification, Verifier, VerifyError};
use tower_gatekeeper::{GatekeeperLayer, MaybeReady};

/// One issued key: who owns it and what it may do.
struct KeyRecord {
    key: &'static str,
    owner: &'static str,
    scopes: &'static [&'static str],
}

/// Keys kept by the application. Real keys are random and stored as digests.
struct KeyTable(Vec<KeyRecord>);

impl Verifier for KeyTable {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        if credential.scheme() != Scheme::ApiKey {
            return MaybeReady::Ready(Err(VerifyError::NotApplicable));
        }
        let presented = credential.token().unwrap_or("").as_bytes();
        // Every record is compared, in constant time, so timing tells nothing about the keys.
        let mut found = None;
        for record in &self.0 {
            if bool::from(record.key.as_bytes().ct_eq(presented)) {
                found = Some(record);
            }
        }
        MaybeReady::Ready(match found {
            Some(record) => {
                let identity = Identity::new(record.owner)
                    .with_kind(PrincipalKind::ApiKeyOwner)
                    .with_scopes(record.scopes.iter().copied());
                Ok(Principal::new(identity))
            }
            // Never name the key in the description: it is sent to the client.
            None => Err(VerifyError::invalid("unknown API key")),
        })
    }
}

fn app() -> Router {
    let keys = KeyTable(vec![
        KeyRecord {
            key: "demo-key-alice-0123456789",
            owner: "alice",
            scopes: &["reports:read"],
        },
        KeyRecord {
            key: "demo-key-bob-0123456789",
            owner: "bob",
            scopes: &[],
        },
    ]);
    let gate = GatekeeperLayer::builder(keys)
        .realm("reports")
        .sources(
            CredentialSources::new()
                .bearer(false)
                .api_key_header("x-api-key"),
        )
        .build();
    Router::new()
        .route(
            "/whoami",
            get(|principal: Principal| async move {
                format!("{} ({})", principal.subject(), principal.scopes().join(" "))
            }),
        )
        .layer(gate)
}

#[tokio::main]
async fn main() {
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("usage: custom_verifier [--addr HOST:PORT]");
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
    println!("custom_verifier listening on http://{addr}");
    println!("  curl -i -H 'x-api-key: demo-key-alice-0123456789' http://{addr}/whoami");
    serve::serve(listener, app(), serve::Timeouts::default()).await;
}
