//! The issuer-side stores in redis mode (feature `redis`), as several nodes share them: tokens,
//! revocations, clients and API keys written on one node are seen on the others; creation and
//! rotation are atomic across nodes; what expires carries a Redis TTL; records of another
//! format version are refused; unknown tokens are remembered briefly; and with Redis gone,
//! warm decisions last only within the staleness bound, everything else is a 503.
//!
//! The tests that share a server read `REDIS_URL` (skipped with a note when it is unset) and
//! use a random key prefix each. The fault test starts a redis-server of its own.
//!
//! Timings (how long a revocation takes to reach another node) are printed, not asserted:
//! `cargo test --all-features --test store_issuer_redis -- --nocapture` shows them.

#[path = "support/redis_server.rs"]
mod redis_server;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use redis_server::Server;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;
use tower_gatekeeper::extract::{Credential, CredentialSources, Source};
use tower_gatekeeper::issuer::{
    AccountAdmin, Client, ClientRegistry, RegisterError, SigningKey, TokenFormat, TokenIssuer,
    TokenState,
};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::store::{RedisOptions, RedisStore, StoreErrorKind};
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, FirstMatch, Verifier, VerifyError};
use tower_gatekeeper::{GatekeeperLayer, Principal};

// ---------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------

fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("SKIPPED: REDIS_URL is not set");
            None
        }
    }
}

fn random_prefix() -> String {
    format!("test-{}:", &ClientRegistry::generate_secret()[..12])
}

fn options(prefix: &str) -> RedisOptions {
    RedisOptions::new()
        .prefix(prefix)
        .heartbeat(Duration::from_millis(50))
        .staleness(Duration::from_millis(600))
        .command_timeout(Duration::from_millis(300))
        .negative_ttl(Duration::from_secs(60))
}

/// One node: its own connection and caches over the shared Redis.
struct Node {
    store: RedisStore,
    clients: ClientRegistry,
    keys: ApiKeyStore,
    issuer: TokenIssuer,
    app: Router,
}

impl Node {
    async fn start(url: &str, options: RedisOptions) -> Self {
        let store = RedisStore::connect(url, options).await.unwrap();
        let clients = ClientRegistry::redis(&store);
        let keys = ApiKeyStore::redis(&store);
        let issuer = TokenIssuer::builder(SigningKey::hs256(&[42u8; 32]).unwrap())
            .issuer("shared")
            .audience("api")
            .clients(clients.clone())
            .tokens(TokenState::redis(&store))
            .build();
        let verifier = FirstMatch::new()
            .or(issuer.verifier())
            .or(ApiKeyVerifier::new(keys.clone()));
        let admin = AccountAdmin::new(
            clients.clone(),
            tower_gatekeeper::accounts::UserRegistry::new(),
        )
        .prefix("/admin");
        let app = Router::new()
            .route(
                "/whoami",
                get(|p: axum::Extension<Principal>| async move { p.subject().to_owned() }),
            )
            .layer(
                GatekeeperLayer::builder(verifier)
                    .sources(CredentialSources::new().api_key_header("x-api-key"))
                    .build(),
            )
            .route_service("/token", issuer.token_endpoint())
            .route_service("/admin/clients", admin.clone())
            .route_service("/admin/clients/{*rest}", admin);
        Self {
            store,
            clients,
            keys,
            issuer,
            app,
        }
    }

    async fn verify(&self, token: &str) -> Result<Principal, VerifyError> {
        self.issuer
            .verifier()
            .verify(&Credential::bearer(token, Source::Header))
            .await
    }

    fn verify_is_ready(&self, token: &str) -> bool {
        self.issuer
            .verifier()
            .verify(&Credential::bearer(token, Source::Header))
            .is_ready()
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }
}

async fn two_nodes() -> Option<(Node, Node, String, String)> {
    let url = redis_url()?;
    let prefix = random_prefix();
    let a = Node::start(&url, options(&prefix)).await;
    let b = Node::start(&url, options(&prefix)).await;
    Some((a, b, url, prefix))
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn hex_sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn token_request(id: &str, secret: &str) -> Request<Body> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", id)
        .append_pair("client_secret", secret)
        .finish();
    Request::builder()
        .method(Method::POST)
        .uri("/token")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn admin_request(path: &str, body: Option<Value>) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    // The admin service reads the principal a gatekeeper layer in front would have set.
    request.extensions_mut().insert(Principal::new(
        Identity::new("operator").with_scopes(["accounts:admin"]),
    ));
    request
}

fn whoami(bearer: Option<&str>, api_key: Option<&str>) -> Request<Body> {
    let mut request = Request::builder().uri("/whoami");
    if let Some(token) = bearer {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(key) = api_key {
        request = request.header("x-api-key", key);
    }
    request.body(Body::empty()).unwrap()
}

/// Polls `check` every millisecond until it holds (or 5 s pass); answers how long it took.
async fn until<F: Future<Output = bool>>(mut check: impl FnMut() -> F) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

async fn register_app(node: &Node, id: &str, format: Option<TokenFormat>) -> String {
    let secret = ClientRegistry::generate_secret();
    let mut client = Client::with_generated_secret(id, &secret).allowed_scopes(["read"]);
    if let Some(format) = format {
        client = client.token_format(format);
    }
    node.clients.register(client).await.unwrap();
    secret
}

// ---------------------------------------------------------------------------------------------
// Across nodes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_issued_on_one_node_is_usable_on_another_at_once() {
    let Some((a, b, _, _)) = two_nodes().await else {
        return;
    };
    for (id, format) in [
        ("jwt-app", TokenFormat::Jwt),
        ("opaque-app", TokenFormat::Opaque),
    ] {
        let secret = register_app(&a, id, Some(format)).await;
        // Issued over HTTP on A, used on B straight away.
        let (status, body) = a.send(token_request(id, &secret)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(b.verify(&token).await.unwrap().subject(), id, "{format:?}");
        let (status, body) = b.send(whoami(Some(&token), None)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(b.issuer.inspect(&token).await.unwrap().client_id, id);
        // Warm on B now: answered without a round trip (once the notices of A's writes,
        // which may land after B's first read, have come and gone).
        until(|| async { b.verify(&token).await.is_ok() && b.verify_is_ready(&token) })
            .await
            .unwrap_or_else(|| panic!("{format:?}: never warm on B"));
    }
}

#[tokio::test]
async fn a_revocation_on_one_node_is_refused_on_another_within_moments() {
    let Some((a, b, _, _)) = two_nodes().await else {
        return;
    };
    for (id, format) in [
        ("jwt-app", TokenFormat::Jwt),
        ("opaque-app", TokenFormat::Opaque),
    ] {
        register_app(&a, id, Some(format)).await;
        let token = a
            .issuer
            .issue(id, &["read".to_owned()])
            .await
            .unwrap()
            .access_token;
        // B has it warm: verified from memory.
        until(|| async { b.verify(&token).await.is_ok() && b.verify_is_ready(&token) })
            .await
            .unwrap_or_else(|| panic!("{format:?}: never warm on B"));
        assert_eq!(a.issuer.revoke(&token, Some(id)).await, Ok(true));
        let took = until(|| async { b.verify(&token).await.is_err() })
            .await
            .unwrap_or_else(|| panic!("{format:?}: B still accepts a token revoked on A"));
        eprintln!("{format:?}: the revocation reached node B after {took:?}");
        // And stays refused, on both nodes, over HTTP too.
        let (status, _) = b.send(whoami(Some(&token), None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(a.verify(&token).await.is_err());
        // Revoking again is not a second revocation.
        assert_eq!(b.issuer.revoke(&token, Some(id)).await, Ok(false));
    }
}

#[tokio::test]
async fn a_client_disabled_on_one_node_is_refused_on_another() {
    let Some((a, b, _, _)) = two_nodes().await else {
        return;
    };
    let secret = register_app(&a, "app", None).await;
    let token = a
        .issuer
        .issue("app", &["read".to_owned()])
        .await
        .unwrap()
        .access_token;
    assert!(b.verify(&token).await.is_ok());
    assert_eq!(
        b.send(token_request("app", &secret)).await.0,
        StatusCode::OK
    );

    assert!(a.clients.set_disabled("app", true).await.unwrap());
    let took = until(|| async { b.verify(&token).await.is_err() })
        .await
        .expect("B still accepts the token of a client disabled on A");
    eprintln!("disabling reached node B after {took:?}");
    assert_eq!(
        b.send(token_request("app", &secret)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(b.clients.authenticate("app", &secret).await.unwrap(), None);

    // Re-enabled on B: A serves it again.
    assert!(b.clients.set_disabled("app", false).await.unwrap());
    until(|| async { a.verify(&token).await.is_ok() })
        .await
        .expect("A still refuses a client re-enabled on B");
    assert!(!a.clients.set_disabled("nobody", true).await.unwrap());
}

#[tokio::test]
async fn of_two_concurrent_creations_of_one_id_on_two_nodes_exactly_one_wins() {
    let Some((a, b, url, prefix)) = two_nodes().await else {
        return;
    };
    for i in 0..20 {
        let id = format!("race-{i}");
        let (ra, rb) = tokio::join!(
            a.clients.create(Client::with_generated_secret(
                &id,
                ClientRegistry::generate_secret()
            )),
            b.clients.create(Client::with_generated_secret(
                &id,
                ClientRegistry::generate_secret()
            )),
        );
        assert!(
            matches!(
                (&ra, &rb),
                (Ok(()), Err(RegisterError::Exists)) | (Err(RegisterError::Exists), Ok(()))
            ),
            "{id}: {ra:?} {rb:?}"
        );
    }
    // Through the account admin: one 201, one 409.
    let body = serde_json::json!({"client_id": "admin-made", "scopes": ["read"]});
    let (sa, sb) = tokio::join!(
        a.send(admin_request("/admin/clients", Some(body.clone()))),
        b.send(admin_request("/admin/clients", Some(body.clone()))),
    );
    let mut statuses = [sa.0, sb.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);

    // A uid that a user holds is not free for a client (one namespace, checked atomically).
    let mut conn = raw(&url).await;
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}user:1001"))
        .arg(r#"{"v":1,"d":{}}"#)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        a.clients
            .create(Client::with_generated_secret(
                "1001",
                ClientRegistry::generate_secret()
            ))
            .await,
        Err(RegisterError::Exists)
    );
    let (status, _) = b
        .send(admin_request(
            "/admin/clients",
            Some(serde_json::json!({"client_id": "1001"})),
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(!b.clients.contains("1001").await.unwrap());
}

/// Rotation and disabling are compare-and-sets: racing with each other on two nodes, neither
/// change is lost, and of two racing rotations exactly one secret is left working.
#[tokio::test]
async fn secret_rotation_is_a_compare_and_set() {
    let Some((a, b, _, _)) = two_nodes().await else {
        return;
    };
    let first = register_app(&a, "app", None).await;
    for round in 0..10 {
        let (rotated, disabled) = tokio::join!(
            a.clients.rotate_secret("app"),
            b.clients.set_disabled("app", true)
        );
        let rotated = rotated.unwrap().unwrap();
        assert!(disabled.unwrap());
        // Both landed: disabled, and only the new secret is kept.
        assert_eq!(a.clients.authenticate("app", &rotated).await.unwrap(), None);
        assert!(b.clients.set_disabled("app", false).await.unwrap());
        let works = until(|| async {
            a.clients
                .authenticate("app", &rotated)
                .await
                .unwrap()
                .is_some()
        })
        .await;
        assert!(works.is_some(), "round {round}: the rotation was lost");
        assert_eq!(a.clients.authenticate("app", &first).await.unwrap(), None);
    }
    let (ra, rb) = tokio::join!(
        a.clients.rotate_secret("app"),
        b.clients.rotate_secret("app")
    );
    let (ra, rb) = (ra.unwrap().unwrap(), rb.unwrap().unwrap());
    assert_ne!(ra, rb);
    // A node with nothing cached reads what Redis holds.
    let fresh = Node::start(&redis_url().unwrap(), a.store.options().clone()).await;
    let mut working = 0;
    for s in [&ra, &rb] {
        if fresh
            .clients
            .authenticate("app", s)
            .await
            .unwrap()
            .is_some()
        {
            working += 1;
        }
    }
    assert_eq!(working, 1, "exactly one of two racing rotations holds");
    assert!(a.clients.rotate_secret("nobody").await.unwrap().is_none());
}

#[tokio::test]
async fn opaque_tokens_and_revocations_expire_in_redis_with_the_token() {
    let Some((a, _b, url, prefix)) = two_nodes().await else {
        return;
    };
    register_app(&a, "opaque-app", Some(TokenFormat::Opaque)).await;
    register_app(&a, "jwt-app", None).await;
    let lifetime_ms: i64 = 3_600_000;
    let mut conn = raw(&url).await;

    let opaque = a
        .issuer
        .issue("opaque-app", &["read".to_owned()])
        .await
        .unwrap()
        .access_token;
    let key = format!("{prefix}opaque:{}", hex_sha256(&opaque));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        pttl > lifetime_ms - 60_000 && pttl <= lifetime_ms,
        "opaque PTTL {pttl}"
    );
    // The stored record is the digest's, never the token.
    let stored: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!stored.contains(&opaque));
    assert!(stored.starts_with(r#"{"v":1,"#), "{stored}");

    let jwt = a
        .issuer
        .issue("jwt-app", &["read".to_owned()])
        .await
        .unwrap()
        .access_token;
    let jti = a.issuer.inspect(&jwt).await.unwrap().token_id.unwrap();
    assert_eq!(a.issuer.revoke(&jwt, None).await, Ok(true));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}revoked:{jti}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        pttl > lifetime_ms - 60_000 && pttl <= lifetime_ms,
        "revocation PTTL {pttl}"
    );
    // Nothing the issuer wrote lives forever except clients (and their argon2 mark).
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    for key in keys {
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let permanent = key.starts_with(&format!("{prefix}client:"))
            || key.starts_with(&format!("{prefix}clientmeta:"));
        assert_eq!(pttl == -1, permanent, "{key}: PTTL {pttl}");
    }
}

#[tokio::test]
async fn records_of_another_format_version_are_refused_not_misread() {
    let Some((a, b, url, prefix)) = two_nodes().await else {
        return;
    };
    let mut conn = raw(&url).await;
    let secret = ClientRegistry::generate_secret();
    let digest = hex_sha256(&secret);
    let future_client = format!(
        r#"{{"v":2,"d":{{"id":"future","secret":{{"sha256":"{digest}"}},"allowed_scopes":[],"default_scopes":[],"disabled":false}}}}"#
    );
    let current_client = future_client.replacen(r#""v":2"#, r#""v":1"#, 1).replacen(
        r#""id":"future""#,
        r#""id":"present""#,
        1,
    );
    // A whole, current record, but stored under another client's id.
    let misplaced = current_client.replacen(r#""id":"present""#, r#""id":"elsewhere""#, 1);
    for (key, value) in [
        (format!("{prefix}client:future"), future_client.as_str()),
        (format!("{prefix}client:damaged"), r#"{"v":1,"d":{"id":3}}"#),
        (format!("{prefix}client:present"), current_client.as_str()),
        (format!("{prefix}client:misplaced"), misplaced.as_str()),
        (
            format!("{prefix}apikey:{}", hex_sha256("future-key")),
            r#"{"v":2,"d":{}}"#,
        ),
        (
            format!("{prefix}opaque:{}", hex_sha256("future-token")),
            r#"{"v":9}"#,
        ),
        (format!("{prefix}revoked:future-jti"), "not json"),
    ] {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    // The same record in the current version is read (the test writes it the right way).
    assert_eq!(
        a.clients
            .authenticate("present", &secret)
            .await
            .unwrap()
            .as_deref(),
        Some("present")
    );
    for id in ["future", "damaged", "misplaced"] {
        let err = a.clients.authenticate(id, &secret).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Format, "{id}: {err}");
        // At the token endpoint: a 503, never a token and never a 401 that hides the fault.
        let (status, body) = b.send(token_request(id, &secret)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{id}: {body}");
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    let err = a.clients.contains("future").await.unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");

    let answer = ApiKeyVerifier::new(b.keys.clone())
        .verify(&Credential::api_key("future-key", Source::Header))
        .await;
    assert!(
        matches!(answer, Err(VerifyError::Unavailable(_))),
        "{answer:?}"
    );
    let (status, _) = b.send(whoami(None, Some("future-key"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(matches!(
        b.verify("future-token").await,
        Err(VerifyError::Unavailable(_))
    ));
    assert_eq!(
        b.issuer
            .tokens()
            .is_revoked("future-jti")
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::Format
    );
}

/// A junk token costs one read; the same junk again is answered from memory, and stays so
/// only for the negative TTL.
#[tokio::test]
async fn unknown_tokens_and_keys_are_remembered_as_unknown_briefly() {
    let Some(url) = redis_url() else {
        return;
    };
    let prefix = random_prefix();
    // Loose staleness and timeout: this test is about remembered absences, and a node that
    // resynchronises (a slow heartbeat on a busy machine) forgets them, as it must.
    let a = Node::start(
        &url,
        options(&prefix)
            .negative_ttl(Duration::from_millis(300))
            .staleness(Duration::from_secs(10))
            .command_timeout(Duration::from_secs(3)),
    )
    .await;
    let keys = ApiKeyVerifier::new(a.keys.clone());
    let key = |k: &str| Credential::api_key(k, Source::Header).into_owned();
    for junk in ["junk-1", "junk-2"] {
        assert!(!a.verify_is_ready(junk), "a cold junk token needs a read");
        assert_eq!(
            a.verify(junk).await.unwrap_err(),
            VerifyError::NotApplicable
        );
        assert!(
            a.verify_is_ready(junk),
            "the same junk again must cost no read"
        );
        assert_eq!(
            a.verify(junk).await.unwrap_err(),
            VerifyError::NotApplicable
        );

        assert!(!keys.verify(&key(junk)).is_ready());
        assert!(matches!(
            keys.verify(&key(junk)).await,
            Err(VerifyError::Invalid(_))
        ));
        assert!(keys.verify(&key(junk)).is_ready());
    }
    // Bounded: after the negative TTL the absence is asked again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!a.verify_is_ready("junk-1"));
    assert!(!keys.verify(&key("junk-1")).is_ready());

    // A key created elsewhere ends a remembered absence at once (not after the TTL).
    let long = Node::start(&url, options(&prefix)).await;
    let verifier = ApiKeyVerifier::new(long.keys.clone());
    assert!(verifier.verify(&key("late-key")).await.is_err());
    assert!(verifier.verify(&key("late-key")).is_ready());
    a.keys
        .insert("late-key", Identity::new("late-owner"))
        .await
        .unwrap();
    let took = until(|| async { verifier.verify(&key("late-key")).await.is_ok() })
        .await
        .expect("a key created on A stays unknown on the other node");
    eprintln!("a new API key reached the other node after {took:?}");
}

#[tokio::test]
async fn api_keys_loaded_in_bulk_on_one_node_serve_every_node() {
    let Some((a, b, _, _)) = two_nodes().await else {
        return;
    };
    let entries = (0..1000).map(|i| {
        (
            ApiKeyStore::digest_of(&format!("bulk-{i}")),
            Identity::new(format!("owner-{i}")),
        )
    });
    assert_eq!(a.keys.insert_digests(entries).await.unwrap(), 1000);
    for i in (0..1000).step_by(37) {
        let owner = b.keys.lookup(&format!("bulk-{i}")).await.unwrap().unwrap();
        assert_eq!(owner.subject(), format!("owner-{i}"));
        assert_eq!(
            owner.kind(),
            tower_gatekeeper::principal::PrincipalKind::ApiKeyOwner
        );
    }
    assert_eq!(b.send(whoami(None, Some("bulk-5"))).await.0, StatusCode::OK);
    assert!(a.keys.remove("bulk-5").await.unwrap());
    assert!(!a.keys.remove("bulk-5").await.unwrap());
    until(|| async { b.keys.lookup("bulk-5").await.unwrap().is_none() })
        .await
        .expect("a key removed on A still works on B");
    assert_eq!(
        b.send(whoami(None, Some("bulk-5"))).await.0,
        StatusCode::UNAUTHORIZED
    );
}

// ---------------------------------------------------------------------------------------------
// Redis down
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn redis_down_warm_decisions_last_only_within_the_bound_then_503_then_recovery() {
    let Some(mut server) = Server::start() else {
        return;
    };
    let node = Node::start(&server.url(), options("fault:")).await;
    let secret = register_app(&node, "jwt-app", None).await;
    register_app(&node, "opaque-app", Some(TokenFormat::Opaque)).await;
    node.keys
        .insert("warm-key", Identity::new("key-owner"))
        .await
        .unwrap();
    let scopes = ["read".to_owned()];
    let warm_jwt = node
        .issuer
        .issue("jwt-app", &scopes)
        .await
        .unwrap()
        .access_token;
    let cold_jwt = node
        .issuer
        .issue("jwt-app", &scopes)
        .await
        .unwrap()
        .access_token;
    let warm_opaque = node
        .issuer
        .issue("opaque-app", &scopes)
        .await
        .unwrap()
        .access_token;
    // Let the writes' own notices come back, then warm the caches.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for token in [&warm_jwt, &warm_opaque] {
        assert_eq!(node.send(whoami(Some(token), None)).await.0, StatusCode::OK);
        assert!(node.verify_is_ready(token));
    }
    assert_eq!(
        node.send(whoami(None, Some("warm-key"))).await.0,
        StatusCode::OK
    );
    // Contact confirmed a moment ago: the whole staleness bound is ahead.
    let confirmed = node.store.resyncs();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(node.store.resyncs(), confirmed);

    server.kill();
    // Within the staleness bound: warm decisions are served from memory.
    for token in [&warm_jwt, &warm_opaque] {
        assert!(node.verify_is_ready(token));
        assert_eq!(node.send(whoami(Some(token), None)).await.0, StatusCode::OK);
    }
    assert_eq!(
        node.send(whoami(None, Some("warm-key"))).await.0,
        StatusCode::OK
    );
    // Anything cold needs Redis: 503, never a 2xx and never a 401.
    assert_eq!(
        node.send(whoami(Some(&cold_jwt), None)).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        node.send(whoami(None, Some("cold-key"))).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Writes cannot be made: a rotation, admin writes, a revocation.
    let opaque_secret = node.clients.rotate_secret("opaque-app").await;
    assert_eq!(
        opaque_secret.unwrap_err().kind(),
        StoreErrorKind::Unavailable
    );
    let (status, body) = node
        .send(admin_request(
            "/admin/clients",
            Some(serde_json::json!({"client_id": "new-app"})),
        ))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    let (status, body) = node
        .send(admin_request("/admin/clients/jwt-app/disable", None))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(node.issuer.revoke(&warm_jwt, None).await.is_err());

    // Past the bound, even warm decisions refuse.
    until(|| async { !node.store.is_fresh() })
        .await
        .expect("the node stayed fresh with Redis gone");
    for token in [&warm_jwt, &warm_opaque] {
        assert_eq!(
            node.send(whoami(Some(token), None)).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(
        node.send(whoami(None, Some("warm-key"))).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, body) = node.send(token_request("jwt-app", &secret)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");

    // Redis returns (empty: no persistence); the node recovers by itself.
    assert!(server.spawn());
    until(|| async { node.store.is_fresh() })
        .await
        .expect("the node never recovered");
    // Decisions again, from the new (empty) Redis: unknown, not unavailable.
    assert_eq!(
        node.send(whoami(None, Some("warm-key"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        node.send(whoami(Some(&warm_jwt), None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let secret = register_app(&node, "jwt-app", None).await;
    let (status, body) = node.send(token_request("jwt-app", &secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(node.send(whoami(Some(token), None)).await.0, StatusCode::OK);
}

/// Issuing an opaque token needs the write: with Redis gone it is a 503
/// `temporarily_unavailable` at once, even for a client this node has warm.
#[tokio::test]
async fn opaque_issuance_with_redis_down_is_temporarily_unavailable() {
    let Some(mut server) = Server::start() else {
        return;
    };
    let node = Node::start(&server.url(), options("fault2:")).await;
    let secret = register_app(&node, "opaque-app", Some(TokenFormat::Opaque)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = node.send(token_request("opaque-app", &secret)).await;
    assert_eq!(status, StatusCode::OK);
    server.kill();
    let (status, body) = node.send(token_request("opaque-app", &secret)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body.get("access_token").is_none());
}

// ---------------------------------------------------------------------------------------------
// The argon2 decoy across nodes
// ---------------------------------------------------------------------------------------------

/// Once any node registers a client with an argon2 secret, unknown ids cost an argon2 decoy on
/// every node (so that such clients' ids cannot be told from unknown ones), and keep costing
/// it: no node can count the others' argon2 clients cheaply. With a pool whose only permit is
/// held, an argon2 check is refused at once: 503 means "argon2 decoy", 401 "digest decoy".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argon2_client_on_any_node_makes_unknown_ids_pay_argon2_everywhere() {
    let Some((a, b, _, _)) = two_nodes().await else {
        return;
    };
    let pool = tower_gatekeeper::verify::HashingPool::builder()
        .permits(1)
        .queue(0)
        .build();
    let issuer = TokenIssuer::builder(SigningKey::hs256(&[42u8; 32]).unwrap())
        .clients(b.clients.clone())
        .hashing(pool.clone())
        .build();
    let app = Router::new().route_service("/token", issuer.token_endpoint());
    let (release, rx) = std::sync::mpsc::channel::<()>();
    let held = pool.clone();
    let hold = tokio::spawn(async move {
        held.run(move || {
            let _ = rx.recv();
        })
        .await
    });
    while pool.available() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let unknown = || async {
        let response = app
            .clone()
            .oneshot(token_request("nobody", "whatever"))
            .await
            .unwrap();
        response.status()
    };
    register_app(&a, "machine", None).await;
    assert_eq!(unknown().await, StatusCode::UNAUTHORIZED);

    let phc = tower_gatekeeper::verify::hash_password("a person's secret").unwrap();
    a.clients
        .register(Client::with_secret_hash("person", &phc))
        .await
        .unwrap();
    until(|| async { unknown().await == StatusCode::SERVICE_UNAVAILABLE })
        .await
        .expect("B never learnt that an argon2 client exists");
    // Rotated away, the argon2 client is gone, but the mark stays: B still pays argon2.
    a.clients.rotate_secret("person").await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(unknown().await, StatusCode::SERVICE_UNAVAILABLE);
    drop(release);
    assert!(hold.await.unwrap().is_ok());
}
