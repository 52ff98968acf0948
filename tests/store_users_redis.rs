//! The user side in Redis, across nodes: users, logins, tenants and grants written on one node
//! are obeyed on another (each with its own cache); concurrent writers get one consistent
//! result; records in an unknown format are refused; and a Redis that dies leaves warm
//! decisions standing only within the staleness bound, everything else a 503, never a pass.
//!
//! Needs `REDIS_URL` (a redis-server without persistence); without it each test prints
//! `SKIPPED: REDIS_URL is not set` and returns. Every test uses its own random key prefix. The
//! fault test starts a redis-server of its own on a free loopback port (and is skipped, saying
//! so, when `redis-server` is not installed).

#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use redis_server::Server;
use tower::ServiceExt;
use tower_gatekeeper::accounts::{UserAccount, UserError, UserRegistry, canonical_password};
use tower_gatekeeper::clock::Clock;
use tower_gatekeeper::extract::{Credential, CredentialSources, Source};
use tower_gatekeeper::grant::{
    Access, GrantError, GrantManager, GrantState, GrantStore, Grantee, RedisGrantStore,
};
use tower_gatekeeper::impersonate::{Impersonation, TenantSelector, UserDirectory, UserSelector};
use tower_gatekeeper::issuer::{AccountAdmin, ClientRegistry};
use tower_gatekeeper::principal::{Identity, Tenant};
use tower_gatekeeper::store::{RedisOptions, RedisStore, StoreErrorKind};
use tower_gatekeeper::verify::{HashingPool, Verifier, VerifyError};
use tower_gatekeeper::{GatekeeperLayer, MaybeReady, Principal};

// ---- set-up ---------------------------------------------------------------------------------

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
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test-users-{}-{nanos}-{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn options(prefix: &str) -> RedisOptions {
    RedisOptions::new()
        .prefix(prefix)
        .heartbeat(Duration::from_millis(50))
        .staleness(Duration::from_secs(5))
        .command_timeout(Duration::from_millis(500))
}

/// One node: its own connection, and its own stores (and so its own caches).
struct Node {
    store: RedisStore,
    users: UserRegistry,
    grants: RedisGrantStore,
}

impl Node {
    async fn connect(url: &str, options: RedisOptions) -> Self {
        let store = RedisStore::connect(url, options).await.unwrap();
        Self {
            users: UserRegistry::redis(&store),
            grants: RedisGrantStore::new(&store),
            store,
        }
    }

    fn manager(&self) -> GrantManager {
        GrantManager::builder(self.grants.clone())
            .apis(["orders"])
            .grantee_check(|_| true)
            .build()
    }

    async fn login(&self, name: &str, password: &str) -> Result<String, VerifyError> {
        let verifier = self
            .users
            .basic_verifier()
            .hashing(HashingPool::builder().permits(2).build());
        let credential = Credential::basic(name, password, Source::Header);
        verifier
            .verify(&credential)
            .await
            .map(|p| p.subject().to_owned())
    }

    /// `GET /me?sudo=…` as root (who holds the sudo role) through this node's stores.
    async fn sudo(&self, target: &str) -> (StatusCode, String) {
        let app: Router = Router::new()
            .route(
                "/me",
                get(|p: Principal| async move { p.subject().to_owned() }),
            )
            .layer(
                GatekeeperLayer::builder(self.users.basic_verifier())
                    .sources(CredentialSources::new().basic(true))
                    .authorize(Impersonation::new(self.users.directory()))
                    .build(),
            );
        let response = app
            .oneshot(
                Request::get(format!("/me?sudo={target}"))
                    .header(AUTHORIZATION, basic("root", "root pw"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

async fn two_nodes(url: &str) -> (Node, Node) {
    let prefix = random_prefix();
    (
        Node::connect(url, options(&prefix)).await,
        Node::connect(url, options(&prefix)).await,
    )
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"redis-salt-16by!").unwrap();
    argon
        .hash_password(canonical_password(password).as_bytes(), &salt)
        .unwrap()
        .to_string()
}

async fn root_and_alice(node: &Node) {
    node.users
        .create(
            UserAccount::new("0", "root")
                .roles(["sudo"])
                .password_hash(cheap_hash("root pw")),
        )
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
}

/// Polls `done` until it holds (then answers how long it took), failing after `limit`.
async fn until<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> F,
) -> Duration {
    let start = Instant::now();
    loop {
        if done().await {
            let took = start.elapsed();
            eprintln!("{what}: {took:?}");
            return took;
        }
        assert!(start.elapsed() < limit, "{what}: not seen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Raw access to the server, to plant what another program (or version) would write.
async fn raw_set(url: &str, key: &str, value: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut conn)
        .await
        .unwrap();
}

fn admin_request(body: &str) -> Request<Full<Bytes>> {
    let mut request = Request::post("/users")
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    request.extensions_mut().insert(Principal::new(
        Identity::new("ops").with_scopes(["accounts:admin"]),
    ));
    request
}

async fn admin_post(users: &UserRegistry, body: &str) -> StatusCode {
    let admin = AccountAdmin::new(ClientRegistry::new(), users.clone());
    admin.oneshot(admin_request(body)).await.unwrap().status()
}

// ---- propagation ----------------------------------------------------------------------------

#[tokio::test]
async fn a_user_disabled_on_one_node_is_refused_on_the_other() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_nodes(&url).await;
    root_and_alice(&a).await;
    // B warms its cache: alice logs in there, and root can act as her there.
    assert_eq!(b.login("alice", "alice pw").await.unwrap(), "1001");
    assert_eq!(
        b.sudo("uid:1001").await,
        (StatusCode::OK, "1001".to_owned())
    );
    assert!(b.users.peek("1001").is_some(), "B answers from its cache");
    assert!(matches!(
        b.users.disabled("1001"),
        MaybeReady::Ready(Ok(false))
    ));

    assert!(a.users.set_disabled("1001", true).await.unwrap());
    // The writer reads its own write at once.
    assert!(a.users.disabled("1001").await.unwrap());
    // B hears of it through the change channel (its view stays fresh all along, so nothing
    // but the notice can make it drop the enabled copy it holds).
    let b = &b;
    let took = until("disable reaches B", Duration::from_secs(2), || async move {
        b.login("alice", "alice pw").await.is_err() && b.sudo("uid:1001").await.0 != StatusCode::OK
    })
    .await;
    assert!(b.store.is_fresh());
    let refused = b.login("alice", "alice pw").await.unwrap_err();
    assert!(refused.to_string().contains("disabled"), "{refused}");
    assert_eq!(b.sudo("uid:1001").await.0, StatusCode::FORBIDDEN);
    assert!(b.users.disabled("1001").await.unwrap());
    eprintln!("disabled on A, refused on B after {took:?}");

    // And back.
    assert!(a.users.set_disabled("1001", false).await.unwrap());
    until("enable reaches B", Duration::from_secs(2), || async move {
        b.login("alice", "alice pw").await.is_ok()
    })
    .await;
    assert!(!a.users.set_disabled("nobody", true).await.unwrap());
}

#[tokio::test]
async fn the_sync_disabled_check_refuses_what_this_node_has_not_read() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_nodes(&url).await;
    a.users
        .create(UserAccount::new("7", "grace"))
        .await
        .unwrap();
    // B has never read user 7: the synchronous check cannot ask Redis, so it refuses...
    assert!(b.users.is_disabled("7"));
    // ...and starts the read, after which it answers from its cache.
    let b = &b;
    until("B caches user 7", Duration::from_secs(2), || async move {
        !b.users.is_disabled("7")
    })
    .await;
    assert!(!b.users.disabled("7").await.unwrap());
}

#[tokio::test]
async fn tenant_memberships_and_codes_propagate() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_nodes(&url).await;
    let dir_a = a.users.directory();
    let dir_b = b.users.directory();
    dir_a
        .insert_tenant(Tenant::new("t-1", Some("acme")))
        .await
        .unwrap();
    dir_a
        .insert_tenant(Tenant::new("t-2", Some("globex")))
        .await
        .unwrap();
    root_and_alice(&a).await;
    let member_of = |t: &'static str| {
        let dir_b = dir_b.clone();
        async move {
            dir_b
                .find_user(&UserSelector::Uid("1001".into()))
                .await
                .unwrap()
                .is_some_and(|u| u.in_tenant(t))
        }
    };
    assert!(member_of("t-1").await);
    let code = |c: &'static str| {
        let dir_b = dir_b.clone();
        async move {
            dir_b
                .find_tenant(&TenantSelector::Code(c.into()))
                .await
                .unwrap()
                .map(|t| t.id.clone())
        }
    };
    assert_eq!(code("acme").await.as_deref(), Some("t-1"));

    // Membership moves from t-1 to t-2 on A; B follows.
    assert!(
        a.users
            .update("1001", |u| u.tenants = vec!["t-2".into()])
            .await
            .unwrap()
    );
    let member_of = &member_of;
    until(
        "membership reaches B",
        Duration::from_secs(2),
        || async move { member_of("t-2").await && !member_of("t-1").await },
    )
    .await;
    // A tenant code renamed on A: the old code names nobody on B, the new one names t-1.
    dir_a
        .insert_tenant(Tenant::new("t-1", Some("acme-2")))
        .await
        .unwrap();
    let code = &code;
    until("code rename reaches B", Duration::from_secs(2), || async move {
        code("acme").await.is_none() && code("acme-2").await.as_deref() == Some("t-1")
    })
    .await;
    // A code another tenant holds is refused, whichever node asks.
    assert_eq!(
        dir_b
            .insert_tenant(Tenant::new("t-3", Some("globex")))
            .await,
        Err(UserError::TenantCodeTaken)
    );
}

#[tokio::test]
async fn a_login_rename_propagates() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_nodes(&url).await;
    root_and_alice(&a).await;
    assert_eq!(b.login("alice", "alice pw").await.unwrap(), "1001");
    assert_eq!(b.sudo("loginName:alice").await.0, StatusCode::OK);
    assert!(
        a.users
            .update("1001", |u| u.login_name = "alicia".into())
            .await
            .unwrap()
    );
    // Polled through the directory (a refused Basic login of an unknown name costs a full
    // decoy hash, which would blur the time measured).
    let dir_b = b.users.directory();
    let dir_b = &dir_b;
    let uid_of = |login: &'static str| async move {
        dir_b
            .find_user(&UserSelector::LoginName(login.into()))
            .await
            .unwrap()
            .map(|u| u.uid.clone())
    };
    let uid_of = &uid_of;
    until("rename reaches B", Duration::from_secs(2), || async move {
        uid_of("alice").await.is_none() && uid_of("alicia").await.as_deref() == Some("1001")
    })
    .await;
    assert!(b.login("alice", "alice pw").await.is_err());
    assert_eq!(b.login("alicia", "alice pw").await.unwrap(), "1001");
    assert_eq!(b.sudo("loginName:alice").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        b.sudo("loginName:Alicia").await,
        (StatusCode::OK, "1001".to_owned())
    );
    // The freed login can be taken by another user, on either node.
    b.users
        .create(UserAccount::new("1002", "alice"))
        .await
        .unwrap();
    let found = a
        .users
        .directory()
        .find_user(&UserSelector::LoginName("ALICE".into()))
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.uid.clone()).as_deref(), Some("1002"));
}

#[tokio::test]
async fn grants_authorized_on_one_node_allow_on_the_other_until_revoked() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_nodes(&url).await;
    let (ma, mb) = (a.manager(), b.manager());
    let app = Grantee::client("app-1");
    let now = ma.clock().unix_seconds();
    // B learns there is no grant (and remembers it).
    assert_eq!(
        b.grants.check("orders", app, now).await.unwrap(),
        Access::Missing
    );
    ma.authorize("orders", app, now + 3600).await.unwrap();
    let (b, ma) = (&b, &ma);
    until(
        "authorize reaches B",
        Duration::from_secs(2),
        || async move { b.grants.check("orders", app, now).await.unwrap() == Access::Allowed },
    )
    .await;
    // Warm: answered from B's memory.
    assert!(matches!(
        b.grants.check("orders", app, now),
        MaybeReady::Ready(Ok(Access::Allowed))
    ));
    // The same id as a user holds nothing.
    assert_eq!(
        b.grants
            .check("orders", Grantee::user("app-1"), now)
            .await
            .unwrap(),
        Access::Missing
    );
    ma.app_revoke("orders", app).await.unwrap();
    until(
        "app revoke reaches B",
        Duration::from_secs(2),
        || async move {
            b.grants
                .check("orders", app, ma.clock().unix_seconds())
                .await
                .unwrap()
                != Access::Allowed
        },
    )
    .await;
    // Listed through the index sets, from either node.
    let listed = mb.list_by_api("orders").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, GrantState::Ended);
    assert_eq!(mb.list_by_grantee(app).await.unwrap().len(), 1);
    assert!(
        mb.list_by_grantee(Grantee::user("app-1"))
            .await
            .unwrap()
            .is_empty()
    );
}

// ---- concurrency ----------------------------------------------------------------------------

#[tokio::test]
async fn two_nodes_approving_or_renewing_one_grant_agree() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_nodes(&url).await;
    let (ma, mb) = (a.manager(), b.manager());
    let now = ma.clock().unix_seconds();
    for round in 0..10 {
        let id = format!("app-{round}");
        let app = Grantee::client(&id);
        ma.apply("orders", app, now + 1000).await.unwrap();
        // Both approve at once: one approval applies, the other finds nothing pending.
        let (ra, rb) = tokio::join!(ma.approve("orders", app), mb.approve("orders", app));
        let ok = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "round {round}: {ra:?} / {rb:?}");
        for r in [&ra, &rb] {
            if let Err(e) = r {
                assert_eq!(*e, GrantError::NothingPending, "round {round}");
            }
        }
        // Both renew at once, to different ends: the later end wins, whatever the order; the
        // earlier is refused if it comes second (it would shorten), never applied over it.
        let (early, late) = (now + 2000 + round, now + 3000 + round);
        let (ra, rb) = if round % 2 == 0 {
            tokio::join!(
                ma.authorize("orders", app, early),
                mb.authorize("orders", app, late)
            )
        } else {
            tokio::join!(
                mb.authorize("orders", app, late),
                ma.authorize("orders", app, early)
            )
        };
        assert!(ra.is_ok() || rb.is_ok(), "round {round}: {ra:?} / {rb:?}");
        for r in [&ra, &rb] {
            if let Err(e) = r {
                assert!(matches!(e, GrantError::RenewMustExtend { .. }), "{e:?}");
            }
        }
        let stored = mb.store().get("orders", app).await.unwrap().unwrap();
        assert_eq!(stored.state, GrantState::Active);
        assert_eq!(
            stored.ends_at, late,
            "round {round}: a renewal shortened the grant"
        );
    }
}

#[tokio::test]
async fn of_two_nodes_creating_one_uid_or_login_exactly_one_wins() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_nodes(&url).await;
    for round in 0..10 {
        let uid = format!("u-{round}");
        let (ra, rb) = tokio::join!(
            a.users.create(UserAccount::new(&uid, format!("a-{round}"))),
            b.users.create(UserAccount::new(&uid, format!("b-{round}")))
        );
        assert_eq!(
            [&ra, &rb].iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {ra:?} / {rb:?}"
        );
        assert!(ra == Err(UserError::Exists) || rb == Err(UserError::Exists));
        // Only the winner's login names the user; the loser's login names nobody.
        let winner = if ra.is_ok() { "a" } else { "b" };
        let loser = if ra.is_ok() { "b" } else { "a" };
        let dir = a.users.directory();
        let by_login = |l: String| {
            let dir = dir.clone();
            async move {
                dir.find_user(&UserSelector::LoginName(l))
                    .await
                    .unwrap()
                    .map(|u| u.uid.clone())
            }
        };
        assert_eq!(
            by_login(format!("{winner}-{round}")).await,
            Some(uid.clone())
        );
        assert_eq!(by_login(format!("{loser}-{round}")).await, None);

        // One login name, two new uids: exactly one gets it.
        let login = format!("shared-{round}");
        let (ra, rb) = tokio::join!(
            a.users
                .create(UserAccount::new(format!("x-{round}"), &login)),
            b.users
                .create(UserAccount::new(format!("y-{round}"), login.to_uppercase()))
        );
        assert_eq!([&ra, &rb].iter().filter(|r| r.is_ok()).count(), 1);
        assert!(ra == Err(UserError::LoginNameTaken) || rb == Err(UserError::LoginNameTaken));
    }
    // Through the admin service on each node: one 201, one 409.
    let body = r#"{"uid":"admin-made","login_name":"made"}"#;
    let (sa, sb) = tokio::join!(admin_post(&a.users, body), admin_post(&b.users, body));
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
}

#[tokio::test]
async fn a_uid_that_a_client_holds_is_refused() {
    let Some(url) = redis_url() else { return };
    let prefix = random_prefix();
    let a = Node::connect(&url, options(&prefix)).await;
    // A client record written by another node's client registry (any value: the key is what
    // holds the id).
    raw_set(&url, &format!("{prefix}client:svc-1"), r#"{"v":1,"d":{}}"#).await;
    assert_eq!(
        a.users.create(UserAccount::new("svc-1", "svc")).await,
        Err(UserError::Exists)
    );
    assert_eq!(
        admin_post(&a.users, r#"{"uid":"svc-1","login_name":"svc"}"#).await,
        StatusCode::CONFLICT
    );
    // Nothing was written: not the user, not its login.
    assert!(a.users.get("svc-1").await.unwrap().is_none());
    a.users
        .create(UserAccount::new("svc-2", "svc"))
        .await
        .unwrap();
}

// ---- formats --------------------------------------------------------------------------------

#[tokio::test]
async fn records_in_an_unknown_format_version_are_refused_not_misread() {
    let Some(url) = redis_url() else { return };
    let prefix = random_prefix();
    let a = Node::connect(&url, options(&prefix)).await;
    a.users
        .create(
            UserAccount::new("0", "root")
                .roles(["sudo"])
                .password_hash(cheap_hash("root pw")),
        )
        .await
        .unwrap();
    // A newer node wrote user 5 (and its login entry) in format 2.
    let user = r#"{"v":2,"d":{"uid":"5","login_name":"eve","disabled":false,"extra":1}}"#;
    raw_set(&url, &format!("{prefix}user:5"), user).await;
    raw_set(&url, &format!("{prefix}login:eve"), r#"{"v":1,"d":"5"}"#).await;
    raw_set(
        &url,
        &format!("{prefix}email:eve@example.com"),
        r#"{"v":2,"d":"5"}"#,
    )
    .await;

    let err = a.users.get("5").await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Format);
    assert!(err.to_string().contains("version 2"), "{err}");
    // The disabled check cannot say: an error (503), not "not disabled".
    assert!(a.users.disabled("5").await.is_err());
    assert!(a.users.is_disabled("5"));
    // Basic login: 503, not a refusal that looks like a wrong password, and never a pass.
    let refused = a.login("eve", "anything").await.unwrap_err();
    assert!(
        matches!(refused, VerifyError::Unavailable(_)),
        "{refused:?}"
    );
    // Sudo to that user, by uid and by e-mail: 503.
    assert_eq!(a.sudo("uid:5").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        a.sudo("email:eve@example.com").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // A write over it refuses too (it cannot know what it would replace).
    assert!(matches!(
        a.users.set_disabled("5", true).await,
        Err(UserError::Store(e)) if e.kind() == StoreErrorKind::Format
    ));
    // A grant in format 2: the check is unavailable (503), not missing, not allowed.
    raw_set(
        &url,
        &format!("{prefix}grant:orders\u{1f}client\u{1f}app-9"),
        r#"{"v":2,"d":{"state":"active"}}"#,
    )
    .await;
    let check = a.grants.check("orders", Grantee::client("app-9"), 1).await;
    assert!(
        matches!(check, Err(GrantError::Unavailable(_))),
        "{check:?}"
    );
}

// ---- Redis down ----------------------------------------------------------------------------

#[tokio::test]
async fn redis_down_keeps_warm_decisions_within_the_bound_then_refuses_then_recovers() {
    let Some(mut server) = Server::start() else {
        return;
    };
    let bound = Duration::from_millis(800);
    let node = Node::connect(
        &server.url(),
        RedisOptions::new()
            .prefix(random_prefix())
            .heartbeat(Duration::from_millis(50))
            .staleness(bound)
            .command_timeout(Duration::from_millis(300)),
    )
    .await;
    let manager = node.manager();
    let app = Grantee::client("app-1");
    let now = manager.clock().unix_seconds();
    root_and_alice(&node).await;
    manager.authorize("orders", app, now + 3600).await.unwrap();
    // Warm this node's cache.
    assert_eq!(node.login("alice", "alice pw").await.unwrap(), "1001");
    assert!(!node.users.disabled("1001").await.unwrap());
    assert_eq!(
        node.grants.check("orders", app, now).await.unwrap(),
        Access::Allowed
    );

    server.kill();
    // Within the bound: warm decisions stand, answered from memory.
    assert!(matches!(
        node.users.disabled("1001"),
        MaybeReady::Ready(Ok(false))
    ));
    assert!(matches!(
        node.grants.check("orders", app, now),
        MaybeReady::Ready(Ok(Access::Allowed))
    ));
    assert_eq!(node.login("alice", "alice pw").await.unwrap(), "1001");
    // Cold: 503, never a pass, never "unknown" taken for "not there".
    let cold = node.login("bob", "bob pw").await.unwrap_err();
    assert!(matches!(cold, VerifyError::Unavailable(_)), "{cold:?}");
    assert!(node.users.get("bob").await.is_err());
    assert!(matches!(
        node.grants
            .check("orders", Grantee::client("app-2"), now)
            .await,
        Err(GrantError::Unavailable(_))
    ));
    // Writes: refused with a clear error, 503 through the admin service.
    let write = node.users.create(UserAccount::new("2", "bob")).await;
    assert!(
        matches!(&write, Err(UserError::Store(e)) if e.kind() == StoreErrorKind::Unavailable),
        "{write:?}"
    );
    assert_eq!(
        admin_post(&node.users, r#"{"uid":"3","login_name":"carol"}"#).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(matches!(
        manager
            .authorize("orders", Grantee::client("app-3"), now + 60)
            .await,
        Err(GrantError::Unavailable(_))
    ));

    // Past the bound: even warm decisions refuse.
    tokio::time::sleep(bound + Duration::from_millis(400)).await;
    assert!(!node.store.is_fresh());
    assert!(node.users.disabled("1001").await.is_err());
    assert!(node.users.is_disabled("1001"));
    assert!(matches!(
        node.grants.check("orders", app, now).await,
        Err(GrantError::Unavailable(_))
    ));
    let stale = node.login("alice", "alice pw").await.unwrap_err();
    assert!(matches!(stale, VerifyError::Unavailable(_)), "{stale:?}");
    assert_eq!(
        node.sudo("uid:1001").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Redis comes back (empty: no persistence); the node recovers by itself.
    assert!(server.spawn());
    let store = &node.store;
    until(
        "the node resynchronises",
        Duration::from_secs(10),
        || async move { store.is_fresh() },
    )
    .await;
    // This Redis has no alice: what the node cached before was dropped, not served.
    assert!(node.users.get("1001").await.unwrap().is_none());
    assert!(node.login("alice", "alice pw").await.is_err());
    root_and_alice(&node).await;
    assert_eq!(node.login("alice", "alice pw").await.unwrap(), "1001");
    manager.authorize("orders", app, now + 3600).await.unwrap();
    assert_eq!(
        node.grants.check("orders", app, now).await.unwrap(),
        Access::Allowed
    );
}
