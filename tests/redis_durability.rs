//! Redis killed and restarted under a node: a redis-server of the test's own with AOF
//! (`--appendonly yes --appendfsync always`) on a free loopback port and a directory of its
//! own. The node writes clients, users, tenants, grants, API keys, a revocation and an opaque
//! token; redis-server is killed with SIGKILL (no shutdown, no final save); while it is down
//! and once past the staleness bound, every request is refused with 503 — warm or cold, never
//! a pass; then redis-server restarts on the same directory and port, and the node (without
//! restarting) and a fresh node both find every record, and refuse what was revoked.
//!
//! Needs `redis-server` on `PATH`: without it the test prints `SKIPPED: redis-server is not
//! installed` — unless `REDIS_URL` is set (as in CI), where a missing server is a failure.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::header::AUTHORIZATION;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use tower_gatekeeper::accounts::{UserAccount, UserRegistry, canonical_password};
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::grant::{
    Access, ApiTable, GrantCheck, GrantManager, GrantStore, Grantee, RedisGrantStore,
};
use tower_gatekeeper::issuer::{
    Client, ClientRegistry, SigningKey, TokenFormat, TokenIssuer, TokenState,
};
use tower_gatekeeper::principal::{Identity, Tenant};
use tower_gatekeeper::store::{RedisOptions, RedisStore};
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, FirstMatch, HashingPool};
use tower_gatekeeper::{GatekeeperLayer, Principal};

const STALENESS: Duration = Duration::from_millis(600);

/// A redis-server with AOF on every write, on a port and in a directory of its own.
struct Server {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "tg-aof-{}-{}",
            std::process::id(),
            &ClientRegistry::generate_secret()[..8]
        ));
        std::fs::create_dir_all(&dir).ok()?;
        let mut server = Self {
            child: None,
            port,
            dir,
        };
        if !server.spawn() {
            assert!(
                std::env::var_os("REDIS_URL").is_none(),
                "REDIS_URL is set but redis-server could not be started: install redis-server"
            );
            eprintln!("SKIPPED: redis-server is not installed");
            return None;
        }
        Some(server)
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// SIGKILL: no shutdown, no final save. Only what the AOF already holds survives.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"aof-salt-16bytes").unwrap();
    argon
        .hash_password(canonical_password(password).as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

struct Node {
    clients: ClientRegistry,
    users: UserRegistry,
    keys: ApiKeyStore,
    grants: GrantManager,
    issuer: TokenIssuer,
    app: Router,
}

impl Node {
    async fn start(url: &str) -> Self {
        let options = RedisOptions::new()
            .prefix("aof:")
            .heartbeat(Duration::from_millis(50))
            .staleness(STALENESS)
            .command_timeout(Duration::from_millis(300));
        let store = RedisStore::connect(url, options).await.unwrap();
        let clients = ClientRegistry::redis(&store);
        let users = UserRegistry::redis(&store);
        let keys = ApiKeyStore::redis(&store);
        let grant_store: Arc<dyn GrantStore> = Arc::new(RedisGrantStore::new(&store));
        let grants = GrantManager::builder_shared(grant_store.clone())
            .apis(["orders"])
            .grantee_check(|_| true)
            .build();
        let issuer = TokenIssuer::builder(SigningKey::hs256(&[9u8; 32]).unwrap())
            .issuer("aof")
            .audience("api")
            .clients(clients.clone())
            .users(users.clone())
            .tokens(TokenState::redis(&store))
            .build();
        let verifier = FirstMatch::new()
            .or(issuer.verifier())
            .or(ApiKeyVerifier::new(keys.clone()))
            .or(users
                .basic_verifier()
                .hashing(HashingPool::builder().permits(2).build()));
        let table = ApiTable::new().api("orders", "/api/orders", [Method::GET]);
        let app = Router::new()
            .route(
                "/api/orders",
                get(|p: Principal| async move { p.subject().to_owned() }),
            )
            .layer(
                GatekeeperLayer::builder(verifier)
                    .sources(
                        CredentialSources::new()
                            .basic(true)
                            .api_key_header("x-api-key"),
                    )
                    .authorize(GrantCheck::by_table_shared(grant_store, table))
                    .build(),
            );
        Self {
            clients,
            users,
            keys,
            grants,
            issuer,
            app,
        }
    }

    async fn get(&self, header: (&str, &str)) -> StatusCode {
        let request = Request::get("/api/orders")
            .header(header.0, header.1)
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

/// Polls until `node` answers `want` for every credential, failing after 10 s.
async fn until_all(node: &Node, credentials: &[(&str, &str)], want: StatusCode) {
    let start = Instant::now();
    loop {
        let mut all = true;
        for c in credentials {
            all &= node.get(*c).await == want;
        }
        if all {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never all {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_survive_sigkill_with_aof_and_reads_fail_closed_while_redis_is_down() {
    let Some(mut server) = Server::start() else {
        return;
    };
    let node = Node::start(&server.url()).await;
    for id in ["app-jwt", "app-revoked", "app-off"] {
        node.clients
            .create(Client::new(id, format!("{id} secret 0123456789")).allowed_scopes(["read"]))
            .await
            .unwrap();
    }
    node.clients
        .create(
            Client::new("app-opaque", "app-opaque secret 0123456789")
                .allowed_scopes(["read"])
                .token_format(TokenFormat::Opaque),
        )
        .await
        .unwrap();
    node.users
        .directory()
        .insert_tenant(Tenant::new("t-1", Some("acme")))
        .await
        .unwrap();
    node.users
        .create(
            UserAccount::new("1001", "alice")
                .password_hash(cheap_hash("alice pw"))
                .tenants(["t-1"]),
        )
        .await
        .unwrap();
    node.keys
        .insert("aof-key-0123456789", Identity::new("svc"))
        .await
        .unwrap();
    for grantee in [
        Grantee::client("app-jwt"),
        Grantee::client("app-opaque"),
        Grantee::client("app-revoked"),
        Grantee::client("app-off"),
        Grantee::user("1001"),
        Grantee::api_key_owner("svc"),
    ] {
        node.grants
            .authorize("orders", grantee, 4_000_000_000)
            .await
            .unwrap();
    }
    let jwt = node.bearer("app-jwt").await;
    let opaque = node.bearer("app-opaque").await;
    let revoked = node.bearer("app-revoked").await;
    let token = revoked.strip_prefix("Bearer ").unwrap();
    assert_eq!(node.issuer.revoke(token, None).await, Ok(true));
    let off = node.bearer("app-off").await;
    assert!(node.clients.set_disabled("app-off", true).await.unwrap());
    let alice = basic("alice", "alice pw");
    let allowed = [
        ("authorization", jwt.as_str()),
        ("authorization", opaque.as_str()),
        ("authorization", alice.as_str()),
        ("x-api-key", "aof-key-0123456789"),
    ];
    let refused = [
        ("authorization", revoked.as_str()),
        ("authorization", off.as_str()),
    ];
    // Warm: every allowed credential served (and kept by the layer's verified cache).
    until_all(&node, &allowed, StatusCode::OK).await;
    for c in allowed {
        assert_eq!(node.get(c).await, StatusCode::OK);
    }
    until_all(&node, &refused, StatusCode::UNAUTHORIZED).await;

    server.kill();
    // Past the staleness bound nothing is served from memory: every request is a 503, warm
    // or cold, allowed before or not — never a 200, and never a 401 guessed from a stale copy.
    tokio::time::sleep(STALENESS + Duration::from_millis(300)).await;
    for c in allowed.iter().chain(&refused) {
        assert_eq!(
            node.get(*c).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "{} while redis is down",
            c.0
        );
    }
    assert_eq!(
        node.get((AUTHORIZATION.as_str(), basic("alice", "wrong").as_str()))
            .await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Same directory, same port: the AOF is replayed.
    assert!(server.spawn(), "redis-server restarts");
    // The node that lived through the outage recovers by itself (no restart).
    until_all(&node, &allowed, StatusCode::OK).await;
    until_all(&node, &refused, StatusCode::UNAUTHORIZED).await;
    // And a node that starts now finds everything.
    let fresh = Node::start(&server.url()).await;
    for c in allowed {
        assert_eq!(fresh.get(c).await, StatusCode::OK, "{}", c.0);
    }
    for c in refused {
        assert_eq!(fresh.get(c).await, StatusCode::UNAUTHORIZED, "{}", c.0);
    }
    assert!(!fresh.clients.is_active("app-off").await.unwrap());
    let user = fresh.users.get("1001").await.unwrap().expect("alice");
    assert_eq!(user.tenants, ["t-1"]);
    assert!(matches!(
        fresh.grants.access("orders", Grantee::user("1001")).await,
        Ok(Access::Allowed)
    ));
}
