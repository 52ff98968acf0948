//! JWKS and introspection verifiers against real HTTP servers on loopback started here.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_gatekeeper::clock::ManualClock;
use tower_gatekeeper::issuer::SigningKey;
use tower_gatekeeper::verify::{IntrospectionVerifier, JwksVerifier, ReqwestClient};
use tower_gatekeeper::{GatekeeperLayer, Principal};

const KEY_A: &[u8] = include_bytes!("fixtures/test_only_rsa2048_private_pkcs8.pem");
const KEY_B: &[u8] = include_bytes!("fixtures/test_only_rsa2048_attacker_private_pkcs8.pem");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What the fake authorization server answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ok,
    Error500,
    Garbage,
}

#[derive(Clone)]
struct Server {
    jwks: Arc<Mutex<Value>>,
    introspection: Arc<Mutex<Value>>,
    mode: Arc<Mutex<Mode>>,
    jwks_hits: Arc<AtomicUsize>,
    introspection_hits: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicU64>,
    base: String,
}

impl Server {
    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
    fn publish(&self, keys: &[(&str, &[u8])]) {
        let keys: Vec<Value> = keys
            .iter()
            .map(|(kid, pem)| {
                SigningKey::rs256_pem(pem)
                    .unwrap()
                    .with_kid(*kid)
                    .public_jwk()
                    .unwrap()
            })
            .collect();
        *self.jwks.lock().unwrap() = json!({ "keys": keys });
    }
    fn jwks_url(&self) -> String {
        format!("{}/jwks", self.base)
    }
}

fn answer(mode: Mode, body: &Value) -> Response {
    match mode {
        Mode::Ok => axum::Json(body.clone()).into_response(),
        Mode::Error500 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::Garbage => (StatusCode::OK, "<html>not json").into_response(),
    }
}

async fn jwks(State(s): State<Server>) -> Response {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let mode = *s.mode.lock().unwrap();
    let body = s.jwks.lock().unwrap().clone();
    answer(mode, &body)
}

async fn introspect(State(s): State<Server>, headers: http::HeaderMap, body: String) -> Response {
    s.introspection_hits.fetch_add(1, Ordering::SeqCst);
    let delay = s.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    // The resource server authenticates (RFC 6749 2.3.1 Basic): rs / rs-secret.
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Basic cnM6cnMtc2VjcmV0")
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let token = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mode = *s.mode.lock().unwrap();
    let table = s.introspection.lock().unwrap().clone();
    let entry = table
        .get(&token)
        .cloned()
        .unwrap_or(json!({"active": false}));
    answer(mode, &entry)
}

async fn discovery(State(s): State<Server>) -> axum::Json<Value> {
    axum::Json(json!({"issuer": s.base, "jwks_uri": s.jwks_url()}))
}

async fn start_server() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = Server {
        jwks: Arc::new(Mutex::new(json!({"keys": []}))),
        introspection: Arc::new(Mutex::new(json!({}))),
        mode: Arc::new(Mutex::new(Mode::Ok)),
        jwks_hits: Arc::new(AtomicUsize::new(0)),
        introspection_hits: Arc::new(AtomicUsize::new(0)),
        delay_ms: Arc::new(AtomicU64::new(0)),
        base,
    };
    let app = Router::new()
        .route("/jwks", get(jwks))
        .route("/introspect", post(introspect))
        .route("/.well-known/openid-configuration", get(discovery))
        .with_state(server.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    server
}

fn sign(pem: &[u8], kid: &str, exp: u64) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let claims = json!({"sub": "app-1", "client_id": "app-1", "scope": "read", "exp": exp});
    encode(&header, &claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}

fn app(verifier: impl tower_gatekeeper::verify::Verifier) -> Router {
    Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(GatekeeperLayer::builder(verifier).build())
}

async fn status(app: &Router, token: &str) -> StatusCode {
    let req = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap().status()
}

fn jwks_verifier(server: &Server, clock: &ManualClock) -> JwksVerifier {
    JwksVerifier::builder(
        server.jwks_url(),
        ReqwestClient::with_timeout(Duration::from_secs(2)),
    )
    .ttl(Duration::from_secs(300))
    .cooldown(Duration::from_secs(30))
    .max_stale(Duration::from_secs(600))
    .clock(clock.clone())
    .build()
}

#[tokio::test]
async fn jwks_rotation_new_key_appears_old_key_removed() {
    let server = start_server().await;
    server.publish(&[("a", KEY_A)]);
    let clock = ManualClock::at_unix(now());
    let verifier = jwks_verifier(&server, &clock);
    let app = app(verifier.clone());
    let exp = now() + 86_400;

    assert_eq!(status(&app, &sign(KEY_A, "a", exp)).await, StatusCode::OK);
    assert_eq!(verifier.fetch_count(), 1);
    // Cached: no refetch.
    assert_eq!(status(&app, &sign(KEY_A, "a", exp)).await, StatusCode::OK);
    assert_eq!(verifier.fetch_count(), 1);

    // The server rotates: b appears, a is withdrawn.
    server.publish(&[("b", KEY_B)]);
    clock.advance(Duration::from_secs(31)); // past the cooldown, within the TTL
    assert_eq!(
        status(&app, &sign(KEY_B, "b", exp)).await,
        StatusCode::OK,
        "unknown kid triggers a refetch"
    );
    assert_eq!(verifier.fetch_count(), 2);
    assert_eq!(
        status(&app, &sign(KEY_A, "a", exp)).await,
        StatusCode::UNAUTHORIZED,
        "the removed key"
    );
    assert_eq!(verifier.fetch_count(), 2, "within the cooldown: no refetch");

    // A token signed by b's key but naming a is refused (the kid picks the key).
    assert_eq!(
        status(&app, &sign(KEY_B, "a", exp)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn unknown_kid_storm_costs_at_most_one_fetch_per_cooldown() {
    let server = start_server().await;
    server.publish(&[("a", KEY_A)]);
    let clock = ManualClock::at_unix(now());
    let verifier = jwks_verifier(&server, &clock);
    let app = app(verifier.clone());
    let exp = now() + 86_400;
    assert_eq!(status(&app, &sign(KEY_A, "a", exp)).await, StatusCode::OK);
    clock.advance(Duration::from_secs(31));
    let before = server.jwks_hits.load(Ordering::SeqCst);

    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let app = app.clone();
            let token = sign(KEY_A, &format!("random-kid-{i}"), exp);
            tokio::spawn(async move { status(&app, &token).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    let fetched = server.jwks_hits.load(Ordering::SeqCst) - before;
    assert!(fetched <= 1, "{fetched} fetches for 100 unknown kids");
    // The known key still works, without a fetch.
    assert_eq!(status(&app, &sign(KEY_A, "a", exp)).await, StatusCode::OK);
    assert_eq!(server.jwks_hits.load(Ordering::SeqCst) - before, fetched);
}

#[tokio::test]
async fn dead_jwks_server_is_503_and_recovery_works() {
    let server = start_server().await;
    server.publish(&[("a", KEY_A)]);
    let clock = ManualClock::at_unix(now());
    let verifier = jwks_verifier(&server, &clock);
    let app = app(verifier.clone());
    let token = sign(KEY_A, "a", now() + 86_400);

    for mode in [Mode::Error500, Mode::Garbage] {
        server.set_mode(mode);
        assert_eq!(status(&app, &token).await, StatusCode::SERVICE_UNAVAILABLE);
        clock.advance(Duration::from_secs(31));
    }
    // Recovery once the server answers again (after the cooldown).
    server.set_mode(Mode::Ok);
    assert_eq!(status(&app, &token).await, StatusCode::OK);

    // Nothing listening at all: 503 too.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = JwksVerifier::builder(
        format!("http://127.0.0.1:{port}/jwks"),
        ReqwestClient::new(),
    )
    .build();
    assert_eq!(
        status(&self::app(nowhere), &token).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn last_good_keys_are_kept_for_a_bounded_time_when_fetches_fail() {
    let server = start_server().await;
    server.publish(&[("a", KEY_A)]);
    let clock = ManualClock::at_unix(now());
    let verifier = jwks_verifier(&server, &clock);
    let app = app(verifier.clone());
    let token = sign(KEY_A, "a", now() + 86_400);
    assert_eq!(status(&app, &token).await, StatusCode::OK);

    server.set_mode(Mode::Error500);
    clock.advance(Duration::from_secs(301)); // past the TTL
    assert_eq!(status(&app, &token).await, StatusCode::OK, "stale-if-error");
    let hits = server.jwks_hits.load(Ordering::SeqCst);
    for _ in 0..10 {
        assert_eq!(status(&app, &token).await, StatusCode::OK);
    }
    assert_eq!(
        server.jwks_hits.load(Ordering::SeqCst),
        hits,
        "failed fetches are not retried within the cooldown"
    );
    clock.advance(Duration::from_secs(600)); // past TTL + max_stale
    assert_eq!(status(&app, &token).await, StatusCode::SERVICE_UNAVAILABLE);
    server.set_mode(Mode::Ok);
    clock.advance(Duration::from_secs(31));
    assert_eq!(status(&app, &token).await, StatusCode::OK);
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks_and_pins_the_issuer() {
    let server = start_server().await;
    server.publish(&[("a", KEY_A)]);
    let verifier = JwksVerifier::discover(&server.base, ReqwestClient::new())
        .await
        .unwrap()
        .build();
    let app = app(verifier);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("a".into());
    let good = json!({"sub": "u", "iss": server.base, "exp": now() + 600});
    let bad = json!({"sub": "u", "iss": "https://elsewhere", "exp": now() + 600});
    let key = EncodingKey::from_rsa_pem(KEY_A).unwrap();
    assert_eq!(
        status(&app, &encode(&header, &good, &key).unwrap()).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, &encode(&header, &bad, &key).unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        JwksVerifier::discover("http://127.0.0.1:1/other", ReqwestClient::new())
            .await
            .is_err()
    );
    // A document naming another issuer is refused.
    let other = format!("{}/", server.base);
    assert!(
        JwksVerifier::discover(
            &other.replace("127.0.0.1", "localhost"),
            ReqwestClient::new()
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn jwks_never_accepts_symmetric_keys_or_encryption_keys() {
    let server = start_server().await;
    *server.jwks.lock().unwrap() = json!({"keys": [
        {"kty": "oct", "kid": "h", "k": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", "alg": "HS256"},
        SigningKey::rs256_pem(KEY_A).unwrap().with_kid("enc").public_jwk().unwrap().as_object().unwrap().clone()
            .into_iter().chain([("use".to_owned(), json!("enc"))]).collect::<serde_json::Map<_, _>>(),
    ]});
    let clock = ManualClock::at_unix(now());
    let app = app(jwks_verifier(&server, &clock));
    let hs = encode(
        &Header {
            kid: Some("h".into()),
            ..Header::new(Algorithm::HS256)
        },
        &json!({"sub": "u", "exp": now() + 600}),
        &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
    )
    .unwrap();
    // No usable key at all: the server is "misconfigured", which is 503, not a pass.
    assert_ne!(status(&app, &hs).await, StatusCode::OK);
    assert_ne!(
        status(&app, &sign(KEY_A, "enc", now() + 600)).await,
        StatusCode::OK
    );
}

fn introspector(server: &Server, clock: &ManualClock) -> IntrospectionVerifier {
    IntrospectionVerifier::builder(
        format!("{}/introspect", server.base),
        "rs",
        "rs-secret",
        ReqwestClient::with_timeout(Duration::from_secs(2)),
    )
    .issuer("https://as.example")
    .audience("orders")
    .negative_ttl(Duration::from_secs(30))
    .clock(clock.clone())
    .build()
}

fn set_introspection(server: &Server, token: &str, answer: Value) {
    server
        .introspection
        .lock()
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(token.to_owned(), answer);
}

#[tokio::test]
async fn introspection_answers_and_caches() {
    let server = start_server().await;
    let clock = ManualClock::at_unix(now());
    let verifier = introspector(&server, &clock);
    let app = app(verifier.clone());
    let exp = now() + 120;
    set_introspection(
        &server,
        "good-token",
        json!({"active": true, "sub": "u1", "client_id": "app", "scope": "read", "exp": exp, "iss": "https://as.example", "aud": ["orders"]}),
    );
    set_introspection(
        &server,
        "wrong-aud",
        json!({"active": true, "sub": "u1", "exp": exp, "aud": "billing"}),
    );
    set_introspection(
        &server,
        "wrong-iss",
        json!({"active": true, "sub": "u1", "exp": exp, "iss": "https://evil", "aud": "orders"}),
    );
    set_introspection(
        &server,
        "string-active",
        json!({"active": "true", "sub": "u1", "aud": "orders"}),
    );

    assert_eq!(status(&app, "good-token").await, StatusCode::OK);
    assert_eq!(status(&app, "good-token").await, StatusCode::OK);
    assert_eq!(
        server.introspection_hits.load(Ordering::SeqCst),
        1,
        "the second answer came from the cache"
    );

    assert_eq!(
        status(&app, "unknown-token").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, "unknown-token").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.introspection_hits.load(Ordering::SeqCst),
        2,
        "negative answers are cached too"
    );

    assert_eq!(status(&app, "wrong-aud").await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&app, "wrong-iss").await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(&app, "string-active").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "active must be the boolean true"
    );

    // Never beyond exp: once the clock passes it, the cached positive answer is not used.
    clock.set_unix(exp);
    set_introspection(&server, "good-token", json!({"active": false}));
    assert_eq!(status(&app, "good-token").await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn introspection_server_trouble_is_503_and_not_cached() {
    let server = start_server().await;
    let clock = ManualClock::at_unix(now());
    let app = app(introspector(&server, &clock));
    set_introspection(
        &server,
        "t",
        json!({"active": true, "sub": "u1", "aud": "orders", "exp": now() + 600}),
    );
    for mode in [Mode::Error500, Mode::Garbage] {
        server.set_mode(mode);
        assert_eq!(status(&app, "t").await, StatusCode::SERVICE_UNAVAILABLE);
    }
    server.set_mode(Mode::Ok);
    assert_eq!(
        status(&app, "t").await,
        StatusCode::OK,
        "recovery: errors were not cached"
    );

    // Timeout and nothing listening.
    server.delay_ms.store(3000, Ordering::SeqCst);
    assert_eq!(
        status(&app, "fresh-token").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    server.delay_ms.store(0, Ordering::SeqCst);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = IntrospectionVerifier::builder(
        format!("http://127.0.0.1:{port}/introspect"),
        "rs",
        "rs-secret",
        ReqwestClient::new(),
    )
    .build();
    assert_eq!(
        status(&self::app(nowhere), "t").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn concurrent_requests_for_one_token_share_one_call() {
    let server = start_server().await;
    server.delay_ms.store(200, Ordering::SeqCst);
    let clock = ManualClock::at_unix(now());
    let app = app(introspector(&server, &clock));
    set_introspection(
        &server,
        "shared",
        json!({"active": true, "sub": "u1", "aud": "orders", "exp": now() + 600}),
    );
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { status(&app, "shared").await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(server.introspection_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn introspection_secret_stays_out_of_debug() {
    let server = start_server().await;
    let v = introspector(&server, &ManualClock::at_unix(now()));
    assert!(!format!("{v:?}").contains("rs-secret"));
}

/// The real arrangement: the quickstart (RS256) as authorization server, the resource_server
/// example as a separate process trusting it by JWKS and by introspection.
mod two_processes {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    use super::*;

    struct Process(Child);

    impl Drop for Process {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn example(name: &str) -> std::path::PathBuf {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().and_then(|p| p.parent()).unwrap();
        dir.join("examples")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
    }

    fn spawn(name: &str, args: &[&str]) -> (Process, String) {
        let mut child = Command::new(example(name))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        std::thread::spawn(move || for _ in reader.lines() {});
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_owned();
        (Process(child), url)
    }

    async fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let client = reqwest::Client::new();
        let mut req = client
            .request(method.parse().unwrap(), url)
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    #[tokio::test]
    async fn resource_server_trusts_the_quickstart_by_jwks_and_introspection() {
        let (_as, as_url) = spawn(
            "quickstart",
            &[
                "--addr",
                "127.0.0.1:0",
                "--config",
                "examples/quickstart-rs256.toml",
            ],
        );
        let (_rs, rs_url) = spawn(
            "resource_server",
            &["--addr", "127.0.0.1:0", "--authorization-server", &as_url],
        );

        let form = [("content-type", "application/x-www-form-urlencoded")];
        let (status, body) = http(
            "POST",
            &format!("{as_url}/oauth/token"),
            &form,
            "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let token = serde_json::from_str::<Value>(&body).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let bearer = format!("Bearer {token}");

        for route in ["jwks", "introspection"] {
            let (status, body) = http(
                "GET",
                &format!("{rs_url}/{route}/whoami"),
                &[("authorization", &bearer)],
                "",
            )
            .await;
            assert_eq!(status, 200, "{route}: {body}");
            assert_eq!(
                serde_json::from_str::<Value>(&body).unwrap()["subject"],
                "demo-app"
            );
        }

        // Revoke a token at the authorization server. Introspection answers are cached (up to
        // 5 minutes for active tokens), so take one the resource server has not seen yet.
        let (_, body) = http(
            "POST",
            &format!("{as_url}/oauth/token"),
            &form,
            "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret",
        )
        .await;
        let fresh = serde_json::from_str::<Value>(&body).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, _) = http(
            "GET",
            &format!("{as_url}/oauth/token/revoke?token={fresh}"),
            &[],
            "",
        )
        .await;
        assert_eq!(status, 200);
        let fresh_bearer = format!("Bearer {fresh}");
        let (status, _) = http(
            "GET",
            &format!("{rs_url}/introspection/whoami"),
            &[("authorization", &fresh_bearer)],
            "",
        )
        .await;
        assert_eq!(status, 401, "introspection knows the token was revoked");
        let (status, _) = http(
            "GET",
            &format!("{rs_url}/jwks/whoami"),
            &[("authorization", &fresh_bearer)],
            "",
        )
        .await;
        assert_eq!(
            status, 200,
            "a JWT verified with the key alone stays valid until it expires"
        );

        // A forged token fails both ways.
        let (status, _) = http(
            "GET",
            &format!("{rs_url}/jwks/whoami"),
            &[("authorization", "Bearer a.b.c")],
            "",
        )
        .await;
        assert_eq!(status, 401);
    }
}
