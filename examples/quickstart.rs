//! The quickstart: a token endpoint and protected APIs in one process, nothing to prepare.
//!
//! ```text
//! cargo run --example quickstart [-- --config examples/quickstart.toml --addr 127.0.0.1:3000]
//! ```
//!
//! It mounts the client-credentials endpoint at `/oauth/token` (with check, introspect and
//! revoke beside it, and the seed systems' literal paths as aliases), its RFC 8414 metadata at
//! `/.well-known/oauth-authorization-server` (and `/.well-known/openid-configuration`), the
//! RFC 9728 metadata of its APIs at `/.well-known/oauth-protected-resource`, protects
//! `/whoami`, `/admin/*` and `/api/*` (every other path is a plain 404), and prints the curl
//! commands to try next.
//!
//! The issuer (`iss` of tokens, `issuer` of the metadata) is the config's `issuer`, or, when it
//! sets none, the address the server listens on (`http://127.0.0.1:3000` by default).
//!
//! With `--redis URL` (build with `--features redis`) every store — clients, tokens,
//! revocations, API keys, users, tenants, grants — lives in that Redis, shared by every
//! process started the same way; the config then seeds only what Redis does not hold yet
//! (what is there wins, so a restart keeps admin changes), and stderr says what was seeded and
//! what was kept. Without it everything stays in this process's memory. See docs/scaling.md.
//!
//! Everything but the routes, the flags and the banner comes from the library's declarative
//! setup: `tower_gatekeeper::config` reads the file and builds the stores, the issuer, the
//! layers and the admin services (docs/configuration.md is the file's reference).
//!
//! It serves with timeouts for slow clients (`examples/support/serve.rs`: headers 10 s, a
//! request with its body 30 s, a silent connection 60 s), which `--header-timeout-secs`,
//! `--body-timeout-secs` and `--idle-timeout-secs` change.

#[path = "support/serve.rs"]
mod serve;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::State;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_gatekeeper::Principal;
use tower_gatekeeper::clock::{Clock, ManualClock};
use tower_gatekeeper::config::{BuildOptions, Config, ConfigProblem, Setup};
use tower_gatekeeper::grant::MatchedApi;

struct Args {
    config: PathBuf,
    addr: SocketAddr,
    manual_clock: bool,
    timeouts: serve::Timeouts,
    /// `--redis URL`: every store on this Redis, shared with every node started the same way.
    redis: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut config = None;
    let mut addr: SocketAddr = "127.0.0.1:3000".parse().expect("valid default address");
    let mut manual_clock = false;
    let mut redis = None;
    let mut timeouts = serve::Timeouts::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = Some(PathBuf::from(args.next().ok_or("--config needs a path")?)),
            "--addr" => {
                let value = args.next().ok_or("--addr needs HOST:PORT")?;
                addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?;
            }
            // Demo and tests only: time stands still until POST /_demo/clock moves it.
            "--manual-clock" => manual_clock = true,
            "--redis" => redis = Some(args.next().ok_or("--redis needs a URL")?),
            // Read by `observe()`.
            "--metrics-addr" => {
                args.next().ok_or("--metrics-addr needs HOST:PORT")?;
            }
            "-h" | "--help" => {
                return Err(format!(
                    "usage: quickstart [--config PATH] [--addr HOST:PORT] [--manual-clock] [--redis URL] [--metrics-addr HOST:PORT] {}",
                    serve::Timeouts::USAGE
                ));
            }
            other => {
                if !timeouts.parse_flag(other, || args.next())? {
                    return Err(format!("unknown argument {other}; try --help"));
                }
            }
        }
    }
    // Run from anywhere: fall back to the file beside this example.
    let config = config.unwrap_or_else(|| {
        let local = PathBuf::from("examples/quickstart.toml");
        if local.exists() {
            local
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.toml")
        }
    });
    Ok(Args {
        config,
        addr,
        manual_clock,
        timeouts,
        redis,
    })
}

async fn whoami(principal: Principal) -> Json<Principal> {
    Json(principal)
}

/// A published API: the layer mapped the request to it, found the caller's grant and checked
/// the credential kind against the API's `auth`.
async fn api(matched: MatchedApi, principal: Principal) -> Json<serde_json::Value> {
    let mut body = serde_json::to_value(&principal).expect("a principal serializes");
    body["api"] = serde_json::Value::String(matched.id().to_owned());
    Json(body)
}

#[derive(Deserialize)]
struct Advance {
    advance_secs: u64,
}

async fn advance_clock(
    State(clock): State<ManualClock>,
    Json(advance): Json<Advance>,
) -> Json<serde_json::Value> {
    clock.advance(Duration::from_secs(advance.advance_secs));
    Json(serde_json::json!({"now": tower_gatekeeper::grant::format_time(clock.unix_seconds())}))
}

/// Mounts what the config built. The gatekeeper wraps the protected routes only
/// (`route_layer`): a path that matches no route is a plain 404, with or without a credential.
fn routes(setup: &Setup, manual_clock: Option<ManualClock>) -> Router {
    let published = Router::new()
        .route("/api/{*path}", any(api))
        .route_layer(setup.published_apis_layer().clone());
    let grant_admin = setup.grant_admin();
    let accounts = setup.account_admin();
    let mut app: Router = Router::new()
        .route("/whoami", get(whoami).post(whoami))
        .nest_service("/admin/apis", grant_admin.clone())
        // Huawei DataArts' own path for the authorize action (seed 002), behind the same gate.
        .route_service(
            "/v1/{project_id}/service/apis/authorize/action",
            grant_admin,
        )
        .route_service("/admin/clients", accounts.clone())
        .route_service("/admin/clients/{*rest}", accounts.clone())
        .route_service("/admin/users", accounts.clone())
        .route_service("/admin/users/{*rest}", accounts)
        .route_layer(setup.layer().clone())
        .merge(published);
    // The token endpoint, and check / introspect / revoke beside it, outside the gatekeeper.
    // Each service answers on exactly the paths it is mounted at; other paths are 404.
    let (token, check, revoke) = (
        setup.token_endpoint(),
        setup.check_endpoint(),
        setup.revocation_endpoint(),
    );
    app = app
        .route_service("/oauth/token", token.clone())
        .route_service("/oauth/token/check", check.clone())
        .route_service("/oauth/token/introspect", setup.introspection_endpoint())
        .route_service("/oauth/token/revoke", revoke.clone())
        // The seeds' literal paths, for clients written against them. These exact routes win
        // over `/api/{*path}` and are not behind the gatekeeper.
        // HENGSHI BI: GET /api/oauth2/server/tokens?grant_type=…, …/check?token=…, …/revoke?token=…
        .route_service("/api/oauth2/server/tokens", token.clone())
        .route_service("/api/oauth2/server/tokens/check", check)
        .route_service("/api/oauth2/server/tokens/revoke", revoke)
        // Azure (China) AD: POST /{tenant}/oauth2/v2.0/token, any tenant segment.
        .route_service("/{tenant}/oauth2/v2.0/token", token);
    // Discovery documents, outside the gatekeeper: the same RFC 8414 document at its own
    // location and at OpenID Connect's (RFC 8414 §5), for clients that only know that one.
    if let Some(metadata) = setup.server_metadata() {
        app = app
            .route_service(&metadata.well_known_path(), metadata.clone())
            .route_service(&metadata.openid_configuration_path(), metadata.clone());
    }
    let resource = setup.resource_metadata();
    app = app.route_service(&resource.well_known_path(), resource.clone());
    // Resource servers in other processes fetch the public key here (RS256 configs only).
    if let Some(jwks) = setup.jwks() {
        app = app.route(
            "/.well-known/jwks.json",
            get(move || std::future::ready(Json(jwks.clone()))),
        );
    }
    if let Some(clock) = manual_clock {
        app = app.merge(
            Router::new()
                .route("/_demo/clock", post(advance_clock))
                .with_state(clock),
        );
    }
    app
}

fn print_next_steps(addr: SocketAddr) {
    let base = format!("http://{addr}");
    println!("tower-gatekeeper quickstart listening on {base}");
    println!();
    println!("Get a token (client credentials):");
    println!(
        "  TOKEN=$(curl -s -d grant_type=client_credentials -d client_id=demo-app -d client_secret=demo-app-secret {base}/oauth/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')"
    );
    println!("Call with it in the header, the query or the body:");
    println!("  curl -H \"Authorization: Bearer $TOKEN\" {base}/whoami");
    println!("  curl \"{base}/whoami?access_token=$TOKEN\"");
    println!("  curl -d access_token=$TOKEN {base}/whoami");
    println!("Call a published API:");
    println!("  curl -H \"Authorization: Bearer $TOKEN\" {base}/api/orders");
    println!("With an API key, or as a user (Basic):");
    println!("  curl -H 'X-API-Key: qs-demo-api-key-0001' {base}/api/reports");
    println!("  curl -u alice:alice-password {base}/api/orders");
    println!("Manage grants (Huawei DataArts' authorize action) as the provider admin:");
    println!(
        r#"  ADMIN=$(curl -s -d grant_type=client_credentials -d client_id=admin-console -d client_secret=admin-console-secret {base}/oauth/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"#
    );
    println!(
        "  curl -H \"Authorization: Bearer $ADMIN\" -H 'Content-Type: application/json' -d '{{\"api_id\":\"reports\",\"app_id\":\"demo-app\",\"apply_type\":\"APPLY_TYPE_AUTHORIZE\",\"time\":\"2030-01-01T00:00:00Z\"}}' {base}/admin/apis/authorize/action"
    );
    println!("  curl -H \"Authorization: Bearer $ADMIN\" '{base}/admin/apis/grants?api_id=orders'");
    println!("Act as a user inside a tenant (bi-integration holds the sudo scope):");
    println!(
        r#"  BI=$(curl -s -d grant_type=client_credentials -d client_id=bi-integration -d client_secret=bi-integration-secret {base}/oauth/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"#
    );
    println!(
        "  curl -H \"Authorization: Bearer $BI\" '{base}/whoami?sudo=loginName:alice&tenantCode=acme'"
    );
    println!("Check, introspect and revoke a token:");
    println!("  curl \"{base}/oauth/token/check?token=$TOKEN\"");
    println!("  curl -u demo-app:demo-app-secret -d token=$TOKEN {base}/oauth/token/introspect");
    println!("  curl \"{base}/oauth/token/revoke?token=$TOKEN\"");
    println!(
        "The seed systems' literal requests work too (HENGSHI BI's GET forms, Azure AD's POST):"
    );
    println!(
        "  curl '{base}/api/oauth2/server/tokens?grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret'"
    );
    println!("  curl \"{base}/api/oauth2/server/tokens/check?token=$TOKEN\"");
    println!(
        "  curl -d grant_type=client_credentials -d client_id=demo-app -d client_secret=demo-app-secret -d scope=d6b7c858-55fa-4d04-85a6-131af690abd4/.default {base}/387c56a8-cf86-45de-b9f5-b4de88cac054/oauth2/v2.0/token"
    );
    println!("Discovery (RFC 8414 for the issuer, RFC 9728 for the APIs):");
    println!("  curl {base}/.well-known/oauth-authorization-server");
    println!("  curl {base}/.well-known/oauth-protected-resource");
    println!("Refusals: no credential, a bad token:");
    println!("  curl -i {base}/whoami");
    println!("  curl -i -H 'Authorization: Bearer not.a.token' {base}/whoami");
}

// Logging and `--metrics-addr` (docs/observability.md).
#[path = "support/observe.rs"]
mod observe;

#[tokio::main]
async fn main() {
    if let Err(message) = observe::init() {
        eprintln!("{message}");
        std::process::exit(2);
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let config = Config::from_toml_file(&args.config).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let clock = args.manual_clock.then(ManualClock::starting_now);
    // Bind first: the issuer defaults to the address actually bound (`--addr 127.0.0.1:0`
    // picks a free port).
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        });
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let mut options = BuildOptions::new().listening_on(addr);
    if let Some(clock) = &clock {
        options = options.clock(clock.clone());
    }
    if let Some(url) = &args.redis {
        if !cfg!(feature = "redis") {
            eprintln!(
                "--redis needs the redis feature: cargo run --example quickstart --features redis -- --redis URL"
            );
            std::process::exit(1);
        }
        options = options.redis(url);
    }
    let setup = config.build(options).await.unwrap_or_else(|e| {
        eprintln!("{e}");
        // A store that cannot be reached is no mistake in the file.
        let unreachable = matches!(e.problem(), Some(ConfigProblem::Store(_)));
        std::process::exit(if unreachable && e.entry() == Some("store") {
            1
        } else {
            2
        });
    });
    let seeding = setup.seeding();
    if !seeding.seeded.is_empty() {
        eprintln!("seeded into redis: {}", seeding.seeded.join(", "));
    }
    if !seeding.kept.is_empty() {
        eprintln!("kept (already in redis): {}", seeding.kept.join(", "));
    }
    if setup.server_metadata().is_none() {
        eprintln!(
            "note: no authorization server metadata: the issuer {} is not an http(s) URL",
            setup.issuer().issuer_name()
        );
    }
    let app = routes(&setup, clock);
    print_next_steps(addr);
    serve::serve(listener, app, args.timeouts).await;
}
