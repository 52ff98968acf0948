//! Two quickstart processes started with the same config and `--redis` form one cluster
//! (issue 9): a token issued on one works on the other at once; a revocation, a disabled client
//! or user, and a grant authorized or ended on one are honoured on the other. Once node A has
//! acknowledged a change, node B is polled until it shows it, and the time that took (from
//! A's answer to B's first answer that honours it, B's own request included) is printed (p50, p99; the
//! figures in docs/performance.md come from this run). Nothing is timed as an assertion: a
//! change not seen within 10 s fails as lost.
//!
//! Then a bounded load on both nodes while changes are published: no wrong decision.
//!
//! Each test starts a redis-server of its own on a free loopback port (tests/support); without
//! `redis-server` on PATH they skip with a message, unless `REDIS_URL` is set (as in CI), where
//! that is a failure. `cargo test --all-features --test quickstart_cluster -- --nocapture`
//! prints the figures.

#[path = "support/quickstart.rs"]
mod quickstart;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{Method, StatusCode};
use quickstart::{Http, Quickstart};
use redis_server::Server;

/// A change not seen on the other node within this is lost (the test fails).
const LOST: Duration = Duration::from_secs(10);

/// The committed quickstart config with opaque tokens, so that a token is only known through
/// the shared store (a JWT would verify anywhere with the key alone).
fn opaque_config(name: &str) -> PathBuf {
    let committed = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart.toml");
    let text = std::fs::read_to_string(committed).unwrap();
    assert!(
        text.contains("token_format = \"jwt\""),
        "the config changed"
    );
    let text = text.replace("token_format = \"jwt\"", "token_format = \"opaque\"");
    let path = std::env::temp_dir().join(format!("gatekeeper-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

struct Cluster {
    _redis: Server,
    a: Quickstart,
    b: Quickstart,
    http: Http,
}

impl Cluster {
    fn start(name: &str) -> Option<Self> {
        let redis = Server::start()?;
        let config = opaque_config(name);
        let config = config.to_str().unwrap();
        let url = redis.url();
        // One after the other: A has seeded Redis before B starts (B then keeps what is there).
        let a = Quickstart::start(&["--config", config, "--redis", &url]);
        let b = Quickstart::start(&["--config", config, "--redis", &url]);
        Some(Self {
            _redis: redis,
            a,
            b,
            http: Http::default(),
        })
    }

    async fn bearer(&self, base: &str, id: &str, secret: &str) -> String {
        format!("Bearer {}", self.http.token(base, id, secret).await)
    }

    /// Polls `GET base+path` until it answers `want`; how long that took.
    async fn until(
        &self,
        base: &str,
        path: &str,
        authorization: &str,
        want: StatusCode,
    ) -> Duration {
        let start = Instant::now();
        let url = format!("{base}{path}");
        loop {
            if self.http.status(&url, authorization).await == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < LOST,
                "{url}: {want} never seen within {LOST:?}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// RFC 7009 revocation on `base`, the client authenticated with Basic.
    async fn revoke(&self, base: &str, token: &str) {
        let basic = format!("Basic {}", B64.encode("demo-app:demo-app-secret"));
        let r = self
            .http
            .send(
                Method::POST,
                &format!("{base}/oauth/token/revoke"),
                &[
                    ("authorization", &basic),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                &format!("token={token}"),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    async fn admin(&self, base: &str, admin: &str, path: &str) {
        let r = self
            .http
            .send(
                Method::POST,
                &format!("{base}{path}"),
                &[("authorization", admin)],
                "",
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{path}: {}", r.body);
    }

    async fn grant_action(&self, base: &str, bearer: &str, body: serde_json::Value) {
        let r = self
            .http
            .post_json(
                &format!("{base}/admin/apis/authorize/action"),
                bearer,
                &body.to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{body}: {}", r.body);
    }
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    eprintln!(
        "quickstart propagation {what}: n={} p50={:?} p99={:?} max={:?}",
        samples.len(),
        at(0.50),
        at(0.99),
        samples[samples.len() - 1],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_quickstart_processes_on_one_redis_form_one_cluster() {
    let Some(c) = Cluster::start("cluster") else {
        return;
    };
    let (a, b) = (c.a.base.as_str(), c.b.base.as_str());
    let admin = c.bearer(a, "admin-console", "admin-console-secret").await;
    const EACH: usize = 20;
    let mut all = Vec::new();

    // An opaque token issued on one node is usable at once on the other: the first request,
    // no polling. Revoked on the issuing node: refused on the other.
    let mut revoked = Vec::new();
    for i in 0..EACH {
        let (issuer, other) = if i.is_multiple_of(2) { (a, b) } else { (b, a) };
        let token = c.http.token(issuer, "demo-app", "demo-app-secret").await;
        let bearer = format!("Bearer {token}");
        let whoami = format!("{other}/whoami");
        let r = c
            .http
            .send(Method::GET, &whoami, &[("authorization", &bearer)], "")
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "issued on {issuer}, used on {other}: {}",
            r.body
        );
        assert_eq!(r.json()["subject"], "demo-app", "{}", r.body);
        c.revoke(issuer, &token).await;
        let start = Instant::now();
        c.until(other, "/whoami", &bearer, StatusCode::UNAUTHORIZED)
            .await;
        revoked.push(start.elapsed());
        // ...and never again on either node.
        assert_eq!(
            c.http.status(&whoami, &bearer).await,
            StatusCode::UNAUTHORIZED
        );
        let here = format!("{issuer}/whoami");
        assert_eq!(
            c.http.status(&here, &bearer).await,
            StatusCode::UNAUTHORIZED
        );
    }

    // A client disabled on A: its (still unexpired) token is refused on B; enabled: back.
    let demo = c.bearer(a, "demo-app", "demo-app-secret").await;
    let mut clients = Vec::new();
    for _ in 0..EACH {
        c.until(b, "/whoami", &demo, StatusCode::OK).await;
        c.admin(a, &admin, "/admin/clients/demo-app/disable").await;
        let start = Instant::now();
        c.until(b, "/whoami", &demo, StatusCode::UNAUTHORIZED).await;
        clients.push(start.elapsed());
        c.admin(a, &admin, "/admin/clients/demo-app/enable").await;
    }

    // A user disabled on A: her Basic login is refused on B, even with the right password.
    let alice = format!("Basic {}", B64.encode("alice:alice-password"));
    let mut users = Vec::new();
    for _ in 0..EACH / 2 {
        c.until(b, "/whoami", &alice, StatusCode::OK).await;
        c.admin(a, &admin, "/admin/users/1001/disable").await;
        let start = Instant::now();
        c.until(b, "/whoami", &alice, StatusCode::UNAUTHORIZED)
            .await;
        users.push(start.elapsed());
        c.admin(a, &admin, "/admin/users/1001/enable").await;
    }

    // A grant authorized on A: allowed on B; ended on A (the app cancels it): refused on B.
    let bi = c.bearer(a, "bi-integration", "bi-integration-secret").await;
    let mut granted = Vec::new();
    let mut ended = Vec::new();
    assert_eq!(
        c.http.status(&format!("{b}/api/reports"), &bi).await,
        StatusCode::FORBIDDEN,
        "no grant yet: default deny"
    );
    for i in 0..EACH {
        let time = format!("2031-01-{:02}T00:00:00Z", i + 1);
        c.grant_action(a, &admin, serde_json::json!({"api_id": "reports", "app_id": "bi-integration", "apply_type": "APPLY_TYPE_AUTHORIZE", "time": time})).await;
        let start = Instant::now();
        c.until(b, "/api/reports", &bi, StatusCode::OK).await;
        granted.push(start.elapsed());
        c.grant_action(a, &bi, serde_json::json!({"api_id": "reports", "app_id": "bi-integration", "apply_type": "APPLY_TYPE_APP_CANCEL_AUTHORIZE"})).await;
        let start = Instant::now();
        c.until(b, "/api/reports", &bi, StatusCode::FORBIDDEN).await;
        ended.push(start.elapsed());
    }

    for samples in [&revoked, &clients, &users, &granted, &ended] {
        all.extend_from_slice(samples);
    }
    report("token revoked", &mut revoked);
    report("client disabled", &mut clients);
    report("user disabled", &mut users);
    report("grant authorized", &mut granted);
    report("grant ended", &mut ended);
    report("all changes", &mut all);
}

/// What a request must get, whatever else is changing.
#[derive(Clone, Copy, Debug)]
enum Case {
    /// demo-app's token, never revoked, on `/whoami`.
    Stable,
    /// demo-app's token on `/api/orders` (granted in the config).
    Granted,
    /// bi-integration's token on `/api/orders` (no grant, and none is ever made).
    NoGrant,
    /// A token never issued.
    Junk,
    /// A token revoked, and seen refused on both nodes, before this request was sent.
    Revoked,
}

impl Case {
    const ALL: [Case; 5] = [
        Case::Stable,
        Case::Granted,
        Case::NoGrant,
        Case::Junk,
        Case::Revoked,
    ];

    fn want(self) -> StatusCode {
        match self {
            Case::Stable | Case::Granted => StatusCode::OK,
            Case::NoGrant => StatusCode::FORBIDDEN,
            Case::Junk | Case::Revoked => StatusCode::UNAUTHORIZED,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_under_load_while_changes_are_published_make_no_wrong_decision() {
    let Some(c) = Cluster::start("load") else {
        return;
    };
    let c = Arc::new(c);
    let (a, b) = (c.a.base.clone(), c.b.base.clone());
    let stable = c.bearer(&a, "demo-app", "demo-app-secret").await;
    let bi = c
        .bearer(&b, "bi-integration", "bi-integration-secret")
        .await;
    let admin = c.bearer(&a, "admin-console", "admin-console-secret").await;
    let revoked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (total, wrong) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    const LOAD: Duration = Duration::from_secs(4);
    const MAX_PER_WORKER: usize = 5_000;

    let mut workers = Vec::new();
    for w in 0..16usize {
        let (c, a, b, stable, bi) = (c.clone(), a.clone(), b.clone(), stable.clone(), bi.clone());
        let (revoked, stop, total, wrong) =
            (revoked.clone(), stop.clone(), total.clone(), wrong.clone());
        workers.push(tokio::spawn(async move {
            for i in 0..MAX_PER_WORKER {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let node = if (w + i).is_multiple_of(2) { &a } else { &b };
                let case = Case::ALL[(w * 7 + i) % Case::ALL.len()];
                let (path, authorization) = match case {
                    Case::Stable => ("/whoami", stable.clone()),
                    Case::Granted => ("/api/orders", stable.clone()),
                    Case::NoGrant => ("/api/orders", bi.clone()),
                    Case::Junk => ("/whoami", format!("Bearer junk-{w}-{i}-0123456789abcdef")),
                    Case::Revoked => {
                        let list = revoked.lock().unwrap();
                        if list.is_empty() {
                            continue;
                        }
                        ("/whoami", list[i % list.len()].clone())
                    }
                };
                let got = c
                    .http
                    .status(&format!("{node}{path}"), &authorization)
                    .await;
                total.fetch_add(1, Ordering::Relaxed);
                if got != case.want() {
                    let n = wrong.fetch_add(1, Ordering::Relaxed);
                    if n < 10 {
                        eprintln!(
                            "WRONG: {case:?} on {node}{path}: {got}, want {}",
                            case.want()
                        );
                    }
                }
            }
        }));
    }

    // Changes published meanwhile: tokens issued on one node and revoked there (each joins the
    // `Revoked` cases once both nodes refuse it), and a grant the workers never ask about
    // authorized and ended, both through the same pub/sub channel.
    let started = Instant::now();
    let mut changes = 0usize;
    let mut i = 0usize;
    while started.elapsed() < LOAD {
        let (issuer, other) = if i.is_multiple_of(2) {
            (&a, &b)
        } else {
            (&b, &a)
        };
        let token = c.http.token(issuer, "demo-app", "demo-app-secret").await;
        let bearer = format!("Bearer {token}");
        c.until(other, "/whoami", &bearer, StatusCode::OK).await;
        c.revoke(issuer, &token).await;
        c.until(other, "/whoami", &bearer, StatusCode::UNAUTHORIZED)
            .await;
        c.until(issuer, "/whoami", &bearer, StatusCode::UNAUTHORIZED)
            .await;
        revoked.lock().unwrap().push(bearer);
        // A grant the workers never ask about: authorized on one node, ended on the other.
        let time = format!("2032-01-01T{:02}:{:02}:00Z", (i / 60) % 24, i % 60);
        c.grant_action(issuer, &admin, serde_json::json!({"api_id": "reports", "app_id": "bi-integration", "apply_type": "APPLY_TYPE_AUTHORIZE", "time": time})).await;
        c.until(other, "/api/reports", &bi, StatusCode::OK).await;
        c.grant_action(other, &bi, serde_json::json!({"api_id": "reports", "app_id": "bi-integration", "apply_type": "APPLY_TYPE_APP_CANCEL_AUTHORIZE"})).await;
        c.until(issuer, "/api/reports", &bi, StatusCode::FORBIDDEN)
            .await;
        i += 1;
        changes += 2;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let (total, wrong) = (total.load(Ordering::Relaxed), wrong.load(Ordering::Relaxed));
    eprintln!(
        "two-node load: {total} requests, {changes} changes published (revocations and grants), {wrong} wrong"
    );
    assert!(changes >= 3, "only {changes} changes were published");
    assert!(total >= 500, "only {total} requests were made");
    assert_eq!(wrong, 0, "{wrong} wrong decisions out of {total}");
}
