//! A tonic gRPC server behind the gatekeeper: tonic's `helloworld.Greeter/SayHello`.
//!
//! ```text
//! cargo run --example tonic --features tonic -- --addr 127.0.0.1:50051 --secret <32+ bytes>
//! ```
//!
//! It verifies HS256 tokens signed with the secret (issuer `tonic-demo`, audience `greeter`)
//! from the `authorization` metadata (`Bearer …`) or the `x-access-token` metadata key.
//! `SayHello` is the API `greeter`: it requires the scope `greeter:hello` and a grant held by
//! the calling app (its `client_id`) — per-method decisions, made from the method path, that a
//! tonic interceptor cannot make — and its reply names the caller's subject. `demo-app` holds
//! a grant; `--grant CLIENT` grants more apps. `--grant-store-offline` stands the grant store
//! in for a database that is down, to show how an outage is answered.
//!
//! Refusals are gRPC statuses: `UNAUTHENTICATED` (16) without a valid token,
//! `PERMISSION_DENIED` (7) without the scope or the grant, `INVALID_ARGUMENT` (3) for two
//! `authorization` values, `UNAVAILABLE` (14) when the grant store cannot answer. It prints a
//! demo token and the command to call it.
//!
//! The messages and the service are written by hand (`examples/support/greeter.rs`), so no
//! `protoc` is needed.

#[path = "support/greeter.rs"]
mod greeter;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use greeter::{GreeterServer, HelloReply};
use jsonwebtoken::{EncodingKey, Header};
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::grant::{
    ApiRoute, ApiTable, Grant, GrantCheck, GrantError, GrantState, GrantStore, GrantUpdate,
    Grantee, InMemoryGrantStore,
};
use tower_gatekeeper::grpc::PrincipalExt;
use tower_gatekeeper::principal::PrincipalKind;
use tower_gatekeeper::verify::JwtVerifier;
use tower_gatekeeper::{BoxFuture, GatekeeperLayer, MaybeReady};

const ISSUER: &str = "tonic-demo";
const AUDIENCE: &str = "greeter";
const DEFAULT_SECRET: &str = "tonic-demo-secret-change-me-0123456789";

const API: &str = "greeter";
const DEMO_APP: &str = "demo-app";

struct Args {
    addr: SocketAddr,
    secret: String,
    grants: Vec<String>,
    grant_store_offline: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut addr: SocketAddr = "127.0.0.1:50051".parse().expect("valid default address");
    let mut secret = DEFAULT_SECRET.to_owned();
    let mut grants = vec![DEMO_APP.to_owned()];
    let mut grant_store_offline = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                let value = args.next().ok_or("--addr needs HOST:PORT")?;
                addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?;
            }
            "--secret" => secret = args.next().ok_or("--secret needs a value")?,
            "--grant" => grants.push(args.next().ok_or("--grant needs a client id")?),
            "--grant-store-offline" => grant_store_offline = true,
            _ => {
                return Err(
                    "usage: tonic [--addr HOST:PORT] [--secret SECRET] [--grant CLIENT]… \
                            [--grant-store-offline]"
                        .into(),
                );
            }
        }
    }
    Ok(Args {
        addr,
        secret,
        grants,
        grant_store_offline,
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A client-credentials token for the app `client` with `scope`, valid for an hour: what an
/// issuer would hand out.
fn demo_token(secret: &str, client: &str, scope: &str) -> String {
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": client, "client_id": client, "scope": scope,
        "exp": now() + 3600,
    });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing")
}

#[tokio::main]
async fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let verifier = JwtVerifier::builder()
        .hs256(args.secret.as_bytes())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("--secret: {e}");
            std::process::exit(2);
        });

    // Per-method decisions: the method path names the API and its scopes; the calling app
    // must hold a grant for that API. Unmapped methods are refused (default deny).
    let methods = ApiTable::new()
        .route(ApiRoute::grpc_method(API, "helloworld.Greeter/SayHello").scopes(["greeter:hello"]));
    let grants = if args.grant_store_offline {
        GrantCheck::by_table(OfflineStore, methods)
    } else {
        let store = InMemoryGrantStore::new();
        for client in &args.grants {
            grant(&store, client);
        }
        GrantCheck::by_table(store, methods)
    };
    let gate = GatekeeperLayer::builder(verifier)
        .realm("greeter")
        // `authorization: Bearer …` metadata, or the token alone in `x-access-token`.
        .sources(CredentialSources::new().token_header("x-access-token"))
        .authorize(grants)
        .build();

    let greeter = GreeterServer::new(|request| {
        // The layer placed the principal in the request extensions.
        let subject = request.principal()?.subject().to_owned();
        let name = request.into_inner().name;
        Ok(tonic::Response::new(HelloReply {
            message: format!("Hello {name}, from {subject}"),
        }))
    });

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        });
    let addr = listener.local_addr().expect("bound address");
    print_next_steps(addr, &args.secret);

    let served = tonic::transport::Server::builder()
        .layer(gate)
        .add_service(greeter)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
        .await;
    if let Err(e) = served {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}

/// Grants the app `client` the API for a year (what a provider's approval would do).
fn grant(store: &InMemoryGrantStore, client: &str) {
    let now = now();
    store
        .update_now(API, Grantee::client(client), |_| {
            Ok(Grant {
                api_id: API.into(),
                grantee: client.into(),
                grantee_kind: PrincipalKind::Client,
                state: GrantState::Active,
                starts_at: Some(now),
                ends_at: now + 365 * 86_400,
                revoke_at: None,
                renewal: None,
            })
        })
        .expect("a new grant");
}

/// A grant store that cannot be reached (a database that is down): every check fails, and the
/// layer answers `UNAVAILABLE` rather than letting the call through.
struct OfflineStore;

fn offline() -> GrantError {
    GrantError::Unavailable("the grant database is offline".into())
}

impl GrantStore for OfflineStore {
    fn get(
        &self,
        _: &str,
        _: Grantee<'_>,
    ) -> MaybeReady<Result<Option<std::sync::Arc<Grant>>, GrantError>> {
        MaybeReady::Ready(Err(offline()))
    }

    fn update(
        &self,
        _: &str,
        _: Grantee<'_>,
        _: GrantUpdate,
    ) -> BoxFuture<Result<std::sync::Arc<Grant>, GrantError>> {
        Box::pin(async { Err(offline()) })
    }

    fn list_by_api(&self, _: &str) -> BoxFuture<Result<Vec<std::sync::Arc<Grant>>, GrantError>> {
        Box::pin(async { Err(offline()) })
    }

    fn list_by_grantee(
        &self,
        _: Grantee<'_>,
    ) -> BoxFuture<Result<Vec<std::sync::Arc<Grant>>, GrantError>> {
        Box::pin(async { Err(offline()) })
    }
}

fn print_next_steps(addr: SocketAddr, secret: &str) {
    // The first line names the address: tests/tonic_example.rs reads it.
    println!("tonic greeter listening on http://{addr}");
    println!();
    println!("A demo token (app {DEMO_APP}, which holds a grant; scope greeter:hello; one hour):");
    println!("  TOKEN={}", demo_token(secret, DEMO_APP, "greeter:hello"));
    println!("Call SayHello (grpcurl, with the proto beside this example):");
    println!(
        "  grpcurl -plaintext -import-path examples/proto -proto helloworld.proto \\\n    -H \"authorization: Bearer $TOKEN\" -d '{{\"name\":\"world\"}}' {addr} helloworld.Greeter/SayHello"
    );
    println!(
        "Without a token the answer is UNAUTHENTICATED (16); without the scope or a grant, \
         PERMISSION_DENIED (7); with two authorization values, INVALID_ARGUMENT (3); with \
         --grant-store-offline, UNAVAILABLE (14):"
    );
    println!(
        "  grpcurl -plaintext -import-path examples/proto -proto helloworld.proto -d '{{}}' {addr} helloworld.Greeter/SayHello"
    );
}
