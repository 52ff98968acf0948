//! Two nodes on one Redis, each with its own connection, stores and caches, through the whole
//! request path (the layer with its verified-credential cache, the issuer's verifier, Basic
//! logins, the grant check): a token revoked, a client disabled, a user disabled and a grant
//! ended on node A are refused on node B — measured over 200 changes, each polled on B until
//! it is refused — and a node that restarts (its store dropped, a new connection made) still
//! has every client, user, grant, revocation and opaque token.
//!
//! Needs `REDIS_URL`; without it each test prints `SKIPPED: REDIS_URL is not set` and returns.
//! Every test uses its own random key prefix. The figures are printed, never asserted (a
//! change not seen within 10 s fails as lost, not as slow):
//! `cargo test --all-features --test redis_cluster -- --nocapture`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::header::AUTHORIZATION;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use std::sync::Arc;
use tower::ServiceExt as _;
use tower_gatekeeper::accounts::{UserAccount, UserRegistry, canonical_password};
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::grant::{
    ApiTable, GrantCheck, GrantManager, GrantStore, Grantee, RedisGrantStore,
};
use tower_gatekeeper::issuer::TokenState;
use tower_gatekeeper::issuer::{Client, ClientRegistry, SigningKey, TokenFormat, TokenIssuer};
use tower_gatekeeper::store::{RedisOptions, RedisStore};
use tower_gatekeeper::verify::{FirstMatch, HashingPool};
use tower_gatekeeper::{GatekeeperLayer, Principal};

/// A change not seen on the other node within this is lost (the test fails).
const LOST: Duration = Duration::from_secs(10);
/// Far in the future (Unix seconds): grants that do not end by themselves.
const FAR: u64 = 4_000_000_000;

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
    format!("cluster-{}:", &ClientRegistry::generate_secret()[..12])
}

fn options(prefix: &str) -> RedisOptions {
    RedisOptions::new()
        .prefix(prefix)
        .heartbeat(Duration::from_millis(100))
        .staleness(Duration::from_secs(5))
        .command_timeout(Duration::from_millis(500))
}

fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"cluster-salt-16b").unwrap();
    argon
        .hash_password(canonical_password(password).as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

/// One node: its own connection to Redis, its own stores and caches, its own layer.
struct Node {
    store: RedisStore,
    clients: ClientRegistry,
    users: UserRegistry,
    grants: GrantManager,
    issuer: TokenIssuer,
    app: Router,
}

impl Node {
    async fn start(url: &str, prefix: &str) -> Self {
        let store = RedisStore::connect(url, options(prefix)).await.unwrap();
        let clients = ClientRegistry::redis(&store);
        let users = UserRegistry::redis(&store);
        let grant_store: Arc<dyn GrantStore> = Arc::new(RedisGrantStore::new(&store));
        let grants = GrantManager::builder_shared(grant_store.clone())
            .apis(["orders"])
            .grantee_check(|_| true)
            .build();
        // Every node signs with the same key: a token issued on one verifies on all.
        let issuer = TokenIssuer::builder(SigningKey::hs256(&[7u8; 32]).unwrap())
            .issuer("cluster")
            .audience("api")
            .clients(clients.clone())
            .users(users.clone())
            .tokens(TokenState::redis(&store))
            .build();
        let verifier = FirstMatch::new().or(issuer.verifier()).or(users
            .basic_verifier()
            .hashing(HashingPool::builder().permits(2).build()));
        let gate = |check: Option<GrantCheck>| {
            let builder = GatekeeperLayer::builder(verifier.clone())
                .sources(CredentialSources::new().basic(true));
            match check {
                Some(check) => builder.authorize(check).build(),
                None => builder.build(),
            }
        };
        let table = ApiTable::new().api("orders", "/api/orders", [Method::GET]);
        let whoami = || get(|p: Principal| async move { p.subject().to_owned() });
        let app = Router::new()
            .route("/whoami", whoami())
            .layer(gate(None))
            .merge(
                Router::new()
                    .route("/api/orders", whoami())
                    .layer(gate(Some(GrantCheck::by_table_shared(grant_store, table)))),
            );
        Self {
            store,
            clients,
            users,
            grants,
            issuer,
            app,
        }
    }

    async fn get(&self, path: &str, authorization: &str) -> StatusCode {
        let request = Request::get(path)
            .header(AUTHORIZATION, authorization)
            .body(Body::empty())
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let _ = response.into_body().collect().await;
        status
    }

    async fn bearer(&self, client: &str) -> String {
        let token = self
            .issuer
            .issue(client, &["read".to_owned()])
            .await
            .unwrap()
            .access_token;
        format!("Bearer {token}")
    }
}

/// Polls `path` on `node` until it answers `want`; how long that took.
async fn until(node: &Node, path: &str, authorization: &str, want: StatusCode) -> Duration {
    let start = Instant::now();
    loop {
        if node.get(path, authorization).await == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < LOST,
            "{path}: {want} never seen on the other node within {LOST:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    eprintln!(
        "propagation {what}: n={} p50={:?} p99={:?} max={:?}",
        samples.len(),
        percentile(samples, 0.50),
        percentile(samples, 0.99),
        samples[samples.len() - 1],
    );
}

async fn seed(a: &Node) {
    for id in ["app-t", "app-c", "app-g"] {
        a.clients
            .create(Client::new(id, format!("{id} secret 0123456789")).allowed_scopes(["read"]))
            .await
            .unwrap();
    }
    a.users
        .create(UserAccount::new("1001", "alice").password_hash(cheap_hash("alice pw")))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_node_are_refused_on_the_other_200_changes_measured() {
    let Some(url) = redis_url() else { return };
    let prefix = random_prefix();
    let a = Node::start(&url, &prefix).await;
    let b = Node::start(&url, &prefix).await;
    seed(&a).await;
    const EACH: usize = 50;
    let mut all = Vec::with_capacity(4 * EACH);

    // Revocations: a token issued on A, used on B (kept in B's verified cache), revoked on A.
    let mut revoked = Vec::with_capacity(EACH);
    for _ in 0..EACH {
        let bearer = a.bearer("app-t").await;
        until(&b, "/whoami", &bearer, StatusCode::OK).await;
        for _ in 0..3 {
            assert_eq!(b.get("/whoami", &bearer).await, StatusCode::OK);
        }
        let token = bearer.strip_prefix("Bearer ").unwrap();
        let start = Instant::now();
        assert_eq!(a.issuer.revoke(token, None).await, Ok(true));
        until(&b, "/whoami", &bearer, StatusCode::UNAUTHORIZED).await;
        revoked.push(start.elapsed());
    }

    // Disabled clients: the token stays valid, its client does not.
    let bearer = a.bearer("app-c").await;
    let mut clients = Vec::with_capacity(EACH);
    for _ in 0..EACH {
        until(&b, "/whoami", &bearer, StatusCode::OK).await;
        let start = Instant::now();
        assert!(a.clients.set_disabled("app-c", true).await.unwrap());
        until(&b, "/whoami", &bearer, StatusCode::UNAUTHORIZED).await;
        clients.push(start.elapsed());
        assert!(a.clients.set_disabled("app-c", false).await.unwrap());
    }

    // Disabled users: Basic logins (verified once, then kept and revalidated by B's cache).
    let alice = basic("alice", "alice pw");
    let mut users = Vec::with_capacity(EACH);
    for _ in 0..EACH {
        until(&b, "/whoami", &alice, StatusCode::OK).await;
        let start = Instant::now();
        assert!(a.users.set_disabled("1001", true).await.unwrap());
        until(&b, "/whoami", &alice, StatusCode::UNAUTHORIZED).await;
        users.push(start.elapsed());
        assert!(a.users.set_disabled("1001", false).await.unwrap());
    }

    // Grants: authorized on A, allowed on B; ended on A (the app revokes it), refused on B.
    let bearer = a.bearer("app-g").await;
    let mut grants = Vec::with_capacity(EACH);
    for _ in 0..EACH {
        a.grants
            .authorize("orders", Grantee::client("app-g"), FAR)
            .await
            .unwrap();
        until(&b, "/api/orders", &bearer, StatusCode::OK).await;
        let start = Instant::now();
        a.grants
            .app_revoke("orders", Grantee::client("app-g"))
            .await
            .unwrap();
        until(&b, "/api/orders", &bearer, StatusCode::FORBIDDEN).await;
        grants.push(start.elapsed());
    }

    all.extend_from_slice(&revoked);
    all.extend_from_slice(&clients);
    all.extend_from_slice(&users);
    all.extend_from_slice(&grants);
    report("token revoked", &mut revoked);
    report("client disabled", &mut clients);
    report("user disabled", &mut users);
    report("grant ended", &mut grants);
    report("all changes", &mut all);
    // B heard every change by notice: it never had to resynchronise.
    assert_eq!(b.store.resyncs(), a.store.resyncs());
}

#[tokio::test]
async fn a_restarted_node_keeps_clients_users_grants_revocations_and_opaque_tokens() {
    let Some(url) = redis_url() else { return };
    let prefix = random_prefix();
    let (revoked, live, opaque, grant_bearer, disabled) = {
        let a = Node::start(&url, &prefix).await;
        seed(&a).await;
        a.clients
            .create(
                Client::new("app-o", "app-o secret 0123456789")
                    .allowed_scopes(["read"])
                    .token_format(TokenFormat::Opaque),
            )
            .await
            .unwrap();
        a.grants
            .authorize("orders", Grantee::client("app-g"), FAR)
            .await
            .unwrap();
        let revoked = a.bearer("app-t").await;
        let token = revoked.strip_prefix("Bearer ").unwrap();
        assert_eq!(a.issuer.revoke(token, None).await, Ok(true));
        let live = a.bearer("app-t").await;
        let opaque = a.bearer("app-o").await;
        let disabled = a.bearer("app-c").await;
        assert!(a.clients.set_disabled("app-c", true).await.unwrap());
        let grant_bearer = a.bearer("app-g").await;
        assert_eq!(a.get("/whoami", &opaque).await, StatusCode::OK);
        (revoked, live, opaque, grant_bearer, disabled)
        // Node A, its connection and every cache it had are dropped here.
    };

    let c = Node::start(&url, &prefix).await;
    assert_eq!(c.get("/whoami", &live).await, StatusCode::OK);
    assert_eq!(c.get("/whoami", &opaque).await, StatusCode::OK);
    assert_eq!(c.get("/whoami", &revoked).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        c.get("/whoami", &basic("alice", "alice pw")).await,
        StatusCode::OK
    );
    assert_eq!(
        c.get("/whoami", &basic("alice", "wrong pw")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(c.get("/api/orders", &grant_bearer).await, StatusCode::OK);
    // The disabled client stayed disabled: the restart undid nothing.
    assert!(!c.clients.is_active("app-c").await.unwrap());
    assert_eq!(c.get("/whoami", &disabled).await, StatusCode::UNAUTHORIZED);
    // And a client's id is still taken: creating it again is refused.
    assert!(
        c.clients
            .create(Client::new("app-t", "another secret 0123456789"))
            .await
            .is_err()
    );
}
