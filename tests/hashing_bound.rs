//! The bound on password hashing (`HashingPool`): argon2 work runs at most `permits` at once,
//! a short queue waits, everyone else is refused with 503 at once; memory stays bounded under
//! a flood of bad credentials; clients with generated (digest) secrets are served meanwhile.
//!
//! In-process tests saturate a small pool on purpose (a job that holds its permit until the
//! test lets it go), so every refusal here is decided by the bound, not by timing. The flood
//! test starts the quickstart binary and reads its memory from `/proc/<pid>/status`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_gatekeeper::extract::{Credential, CredentialSources, Source};
use tower_gatekeeper::issuer::{Client, ClientRegistry, SigningKey, TokenIssuer};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{
    BasicUsers, BasicVerifier, HashingBusy, HashingPool, Verifier, VerifyError, hash_password,
};
use tower_gatekeeper::{GatekeeperLayer, MaybeReady, Principal};

// ---------------------------------------------------------------------------------------------
// Holding permits
// ---------------------------------------------------------------------------------------------

#[path = "support/hold.rs"]
mod hold;
use hold::{Hold, wait_until};

fn small_pool(permits: usize, queue: usize, max_wait: Duration) -> HashingPool {
    HashingPool::builder()
        .permits(permits)
        .queue(queue)
        .max_wait(max_wait)
        .build()
}

const LONG: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The pool itself
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn past_the_permits_and_the_queue_callers_are_refused_at_once() {
    let pool = small_pool(2, 1, LONG);
    assert_eq!(
        (pool.permits(), pool.queue(), pool.max_wait()),
        (2, 1, LONG)
    );
    let hold = Hold::take(&pool, 2).await;

    // One caller may wait in the queue ...
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.run(|| 7).await })
    };
    wait_until(|| pool.waiting() == 1).await;
    // ... the next ones are refused without waiting (the queue is full), and their work never
    // runs.
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let ran = ran.clone();
        let refused = pool
            .run(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .await;
        assert_eq!(refused, Err(HashingBusy::QueueFull));
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(!waiter.is_finished(), "the waiter waits for a permit");

    hold.release().await;
    assert_eq!(waiter.await.unwrap(), Ok(7));
    assert_eq!(pool.available(), 2);
    assert_eq!(pool.run(|| 1).await, Ok(1));
}

#[tokio::test]
async fn a_queue_of_zero_refuses_whenever_every_permit_is_taken() {
    let pool = small_pool(1, 0, LONG);
    let hold = Hold::take(&pool, 1).await;
    assert_eq!(pool.run(|| ()).await, Err(HashingBusy::QueueFull));
    assert_eq!(pool.try_run_now(|| ()), Err(HashingBusy::QueueFull));
    hold.release().await;
    assert_eq!(pool.try_run_now(|| 3), Ok(3));
}

#[tokio::test]
async fn a_waiter_is_refused_after_the_maximum_wait() {
    let pool = small_pool(1, 4, Duration::from_millis(50));
    let hold = Hold::take(&pool, 1).await;
    assert_eq!(pool.run(|| ()).await, Err(HashingBusy::WaitedTooLong));
    // It no longer counts as waiting: the queue has room again.
    assert_eq!(pool.run(|| ()).await, Err(HashingBusy::WaitedTooLong));
    hold.release().await;
    assert_eq!(pool.run(|| 5).await, Ok(5));
}

#[tokio::test]
async fn no_more_than_the_permits_run_at_once() {
    let pool = small_pool(2, 64, LONG);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
        tasks.push(tokio::spawn(async move {
            pool.run(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                running.fetch_sub(1, Ordering::SeqCst);
            })
            .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), Ok(()));
    }
    assert!(most.load(Ordering::SeqCst) <= 2, "{most:?}");
    assert!(most.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn a_caller_that_goes_away_keeps_its_permit_until_the_work_ends() {
    let pool = small_pool(1, 0, LONG);
    let (tx, rx) = mpsc::channel::<()>();
    let task = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.run(move || {
                let _ = rx.recv();
            })
            .await
        })
    };
    wait_until(|| pool.available() == 0).await;
    // The client disconnects: its request future is dropped mid-check.
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // The check still runs, and still holds the permit: the bound counts it.
    assert_eq!(pool.available(), 0);
    assert_eq!(pool.run(|| ()).await, Err(HashingBusy::QueueFull));
    drop(tx);
    wait_until(|| pool.available() == 1).await;
    assert_eq!(pool.run(|| 9).await, Ok(9));
}

#[test]
fn defaults_are_sized_to_the_cores() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let pool = HashingPool::default();
    assert_eq!(pool.permits(), cores);
    assert_eq!(pool.queue(), 4 * cores);
    assert!(pool.max_wait() > Duration::ZERO);
    assert_eq!(HashingPool::builder().permits(0).build().permits(), 1);
    let shown = format!("{pool:?}");
    assert!(shown.contains("permits"), "{shown}");
}

/// PHC strings made by the `argon2` crate itself, with other algorithms, versions, costs and
/// output lengths, check as the crate checks them; the reused memory leaves no trace.
#[tokio::test]
async fn password_checks_agree_with_the_argon2_crate() {
    let pool = small_pool(1, 16, LONG);
    let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
    let mut hashes = vec![hash_password("pw-default").unwrap()];
    for (algorithm, version, m, t, p, len) in [
        (Algorithm::Argon2id, Version::V0x13, 4096, 1, 1, 32),
        (Algorithm::Argon2i, Version::V0x13, 1024, 3, 2, 16),
        (Algorithm::Argon2d, Version::V0x10, 2048, 2, 1, 64),
        (Algorithm::Argon2id, Version::V0x13, 8, 1, 1, 32),
    ] {
        let params = Params::new(m, t, p, Some(len)).unwrap();
        let hasher = Argon2::new(algorithm, version, params);
        hashes.push(
            hasher
                .hash_password(b"pw-custom", &salt)
                .unwrap()
                .to_string(),
        );
    }
    // Twice round, so that every check but the first runs on memory a larger one dirtied.
    for _ in 0..2 {
        for (i, phc) in hashes.iter().enumerate() {
            let right = if i == 0 { "pw-default" } else { "pw-custom" };
            assert_eq!(
                pool.verify_password(phc.as_str(), right).await,
                Ok(true),
                "{phc}"
            );
            assert_eq!(
                pool.verify_password(phc.as_str(), "pw-wrong").await,
                Ok(false)
            );
            assert_eq!(pool.verify_password(phc.as_str(), "").await, Ok(false));
        }
    }
    // Strings that are not argon2 PHC hashes match nothing.
    let tampered = hashes[1].replace("$m=4096", "$m=4097");
    // Over the memory bound of one check (4 GiB): never computed, never a match.
    let huge = hashes[1].replace("$m=4096", "$m=4194304");
    for phc in [
        "",
        "plain text",
        "$argon2id$v=19$m=4096,t=1,p=1$c2l4dGVlbiBieXRlIHNsdA",
        "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$aGFzaA",
        tampered.as_str(),
        huge.as_str(),
    ] {
        assert_eq!(
            pool.verify_password(phc, "pw-custom").await,
            Ok(false),
            "{phc}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The token endpoints under a saturated pool
// ---------------------------------------------------------------------------------------------

const PERSON: &str = "person-app";
const PERSON_SECRET: &str = "a secret a person chose";
const MACHINE: &str = "machine-app";

struct Env {
    pool: HashingPool,
    app: Router,
    machine_secret: String,
}

async fn env() -> Env {
    let pool = small_pool(1, 0, LONG);
    let clients = ClientRegistry::new();
    clients
        .register(Client::new(PERSON, PERSON_SECRET).allowed_scopes(["read"]))
        .await
        .unwrap();
    let machine_secret = ClientRegistry::generate_secret();
    clients
        .register(Client::with_generated_secret(MACHINE, &machine_secret).allowed_scopes(["read"]))
        .await
        .unwrap();
    let issuer = TokenIssuer::builder(SigningKey::hs256(&[9u8; 32]).unwrap())
        .clients(clients)
        .hashing(pool.clone())
        .build();
    let app = Router::new()
        .route_service("/token", issuer.token_endpoint())
        .route_service("/introspect", issuer.introspection_endpoint())
        .route_service("/revoke", issuer.revocation_endpoint());
    Env {
        pool,
        app,
        machine_secret,
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    #[track_caller]
    fn assert_busy(&self) {
        assert_eq!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            self.body
        );
        assert_eq!(self.json()["error"], "temporarily_unavailable");
        assert!(self.json().get("access_token").is_none());
        assert!(
            self.headers.get(RETRY_AFTER).is_some(),
            "{:?}",
            self.headers
        );
        assert_eq!(self.headers[CACHE_CONTROL], "no-store");
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn form_post(path: &str, pairs: &[(&str, &str)]) -> Request<Body> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        form.append_pair(k, v);
    }
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.finish()))
        .unwrap()
}

fn token_request(id: &str, secret: &str) -> Request<Body> {
    form_post(
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
    )
}

#[tokio::test]
async fn a_saturated_pool_is_503_for_argon2_clients_and_unknown_ids_only() {
    let env = env().await;
    let hold = Hold::take(&env.pool, 1).await;

    // A person-chosen secret needs argon2: refused with 503, never a token, never a 401.
    send(&env.app, token_request(PERSON, PERSON_SECRET))
        .await
        .assert_busy();
    send(&env.app, token_request(PERSON, "wrong"))
        .await
        .assert_busy();
    // Unknown ids cost an argon2 check while argon2 clients exist: refused the same way.
    send(&env.app, token_request("nobody", "whatever"))
        .await
        .assert_busy();
    // Introspection and revocation authenticate clients the same way.
    for path in ["/introspect", "/revoke"] {
        let request = form_post(
            path,
            &[
                ("token", "x"),
                ("client_id", PERSON),
                ("client_secret", PERSON_SECRET),
            ],
        );
        send(&env.app, request).await.assert_busy();
    }

    // A generated secret is a digest: served while the pool is saturated.
    let reply = send(&env.app, token_request(MACHINE, &env.machine_secret)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.json()["access_token"].is_string());
    let reply = send(&env.app, token_request(MACHINE, "wrong")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    let introspect = form_post(
        "/introspect",
        &[
            ("token", "x"),
            ("client_id", MACHINE),
            ("client_secret", &env.machine_secret),
        ],
    );
    assert_eq!(
        send(&env.app, introspect).await.json(),
        json!({"active": false})
    );

    // Once the pool has room, the person-chosen secret works again.
    hold.release().await;
    let reply = send(&env.app, token_request(PERSON, PERSON_SECRET)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = send(&env.app, token_request(PERSON, "wrong")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn with_digest_secrets_only_unknown_ids_need_no_argon2() {
    let pool = small_pool(1, 0, LONG);
    let clients = ClientRegistry::new();
    let secret = ClientRegistry::generate_secret();
    clients
        .register(Client::with_generated_secret(MACHINE, &secret))
        .await
        .unwrap();
    let issuer = TokenIssuer::builder(SigningKey::hs256(&[9u8; 32]).unwrap())
        .clients(clients.clone())
        .hashing(pool.clone())
        .build();
    let app = Router::new().route_service("/token", issuer.token_endpoint());
    let hold = Hold::take(&pool, 1).await;
    // No client has an argon2 secret: an unknown id costs what a digest client costs.
    let reply = send(&app, token_request("nobody", &secret)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(reply.json()["error"], "invalid_client");
    // Registering one argon2 client changes that at once ...
    clients
        .register(Client::new(PERSON, PERSON_SECRET))
        .await
        .unwrap();
    send(&app, token_request("nobody", &secret))
        .await
        .assert_busy();
    // ... and rotating its secret (to a digest) changes it back.
    let rotated = clients.rotate_secret(PERSON).await.unwrap().unwrap();
    let reply = send(&app, token_request("nobody", &secret)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    let reply = send(&app, token_request(PERSON, &rotated)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    hold.release().await;
}

// ---------------------------------------------------------------------------------------------
// Basic authentication under a saturated pool
// ---------------------------------------------------------------------------------------------

fn basic_users() -> BasicUsers {
    let users = BasicUsers::new();
    users
        .insert_password("alice", "alice-password", Identity::new("u-1"))
        .unwrap();
    users
}

fn basic(name: &str, password: &str) -> Credential<'static> {
    Credential::basic(name.to_owned(), password.to_owned(), Source::Header)
}

#[tokio::test]
async fn a_saturated_pool_makes_basic_verification_unavailable() {
    let pool = small_pool(1, 0, LONG);
    let verifier = BasicVerifier::new(basic_users()).hashing(pool.clone());
    let hold = Hold::take(&pool, 1).await;
    for (name, password) in [
        ("alice", "alice-password"),
        ("nobody", "x"),
        ("alice", "bad"),
    ] {
        let answer = verifier.verify(&basic(name, password)).await;
        assert!(
            matches!(answer, Err(VerifyError::Unavailable(_))),
            "{name}: {answer:?}"
        );
    }

    // Through the layer: 503, never a 2xx, never a 401 that would make a client drop its password.
    async fn whoami(principal: Principal) -> String {
        principal.subject().to_owned()
    }
    let app = Router::new().route("/whoami", get(whoami)).layer(
        GatekeeperLayer::builder(verifier.clone())
            .sources(CredentialSources::new().basic(true))
            .build(),
    );
    let request = |auth: String| {
        Request::builder()
            .uri("/whoami")
            .header(AUTHORIZATION, auth)
            .body(Body::empty())
            .unwrap()
    };
    let alice = format!("Basic {}", STANDARD.encode("alice:alice-password"));
    let reply = send(&app, request(alice.clone())).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );

    hold.release().await;
    let answer = verifier.verify(&basic("alice", "alice-password")).await;
    assert_eq!(answer.unwrap().subject(), "u-1");
    let reply = send(&app, request(alice)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, "u-1");
}

/// Outside a tokio runtime there is nothing to wait on: a check runs at once if a permit is
/// free, and is refused if not.
#[test]
fn without_a_runtime_basic_verification_runs_inline_or_is_refused() {
    let pool = small_pool(1, 0, LONG);
    let verifier = BasicVerifier::new(basic_users()).hashing(pool.clone());
    let ready = |answer| match answer {
        MaybeReady::Ready(result) => result,
        MaybeReady::Pending(_) => panic!("outside a runtime the answer is ready"),
    };
    let answer = ready(verifier.verify(&basic("alice", "alice-password")));
    assert_eq!(answer.unwrap().subject(), "u-1");

    let (taken_tx, taken_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            pool.try_run_now(move || {
                taken_tx.send(()).unwrap();
                let _ = release_rx.recv();
            })
        })
    };
    taken_rx.recv().unwrap();
    let answer = ready(verifier.verify(&basic("alice", "alice-password")));
    assert!(
        matches!(answer, Err(VerifyError::Unavailable(_))),
        "{answer:?}"
    );
    drop(release_tx);
    assert_eq!(holder.join().unwrap(), Ok(()));
    let answer = ready(verifier.verify(&basic("alice", "bad")));
    assert!(matches!(answer, Err(VerifyError::Invalid(_))), "{answer:?}");
}

// ---------------------------------------------------------------------------------------------
// A flood against the quickstart process
// ---------------------------------------------------------------------------------------------

struct Quickstart {
    child: Child,
    base: String,
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_quickstart() -> Quickstart {
    // target/<profile>/deps/hashing_bound-<hash> -> target/<profile>/examples/quickstart
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|p| p.parent()).unwrap();
    let bin: PathBuf = profile_dir
        .join("examples")
        .join(format!("quickstart{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: cargo test builds examples",
        bin.display()
    );
    let mut child = Command::new(bin)
        .args(["--addr", "127.0.0.1:0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    reader.read_line(&mut banner).unwrap();
    let base = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_owned();
    std::thread::spawn(move || for _ in reader.lines() {});
    Quickstart { child, base }
}

/// The resident set of `pid` in KiB, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

type Http = HttpClient<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn http(
    client: &Http,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = client
        .request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .expect("the quickstart answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

async fn qs_token(
    client: &Http,
    base: &str,
    id: &str,
    secret: &str,
) -> (StatusCode, HeaderMap, String) {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", id)
        .append_pair("client_secret", secret)
        .finish();
    http(
        client,
        Method::POST,
        &format!("{base}/oauth/token"),
        &[FORM],
        body,
    )
    .await
}

/// 128 concurrent token requests with random client ids and a wrong secret (each an argon2
/// decoy check, ~19 MiB), then 64 Basic logins of unknown users: the process grows by far
/// less than one check per request would take (the old code grew by gigabytes), every answer
/// is 401 or 503, a digest-secret client is served during the flood, and a person-chosen one
/// once it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_credentials_keeps_memory_bounded() {
    let qs = start_quickstart();
    let base = qs.base.clone();
    let client: Http = HttpClient::builder(TokioExecutor::new()).build_http();

    // A client with an issuer-generated secret, created by the account admin.
    let (status, _, body) = qs_token(&client, &base, "admin-console", "admin-console-secret").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin: Value = serde_json::from_str(&body).unwrap();
    let bearer = format!("Bearer {}", admin["access_token"].as_str().unwrap());
    let (status, _, body) = http(
        &client,
        Method::POST,
        &format!("{base}/admin/clients"),
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        json!({"client_id": "flood-proof-app", "scopes": ["orders:read"]}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    let generated = created["client_secret"].as_str().unwrap().to_owned();

    let before = rss_kib(qs.child.id());

    let mut flood = Vec::new();
    for i in 0..128 {
        let (client, base) = (client.clone(), base.clone());
        flood.push(tokio::spawn(async move {
            let id = format!("flood-{i}-{}", ClientRegistry::generate_secret());
            qs_token(&client, &base, &id, "wrong secret").await
        }));
    }
    // Served while the flood runs: its secret is a digest, no argon2 needed.
    let (status, _, body) = qs_token(&client, &base, "flood-proof-app", &generated).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut refused = 0;
    for task in flood {
        let (status, headers, body) = task.await.unwrap();
        match status {
            StatusCode::UNAUTHORIZED => {
                assert!(headers.contains_key("www-authenticate"), "{headers:?}");
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert!(headers.contains_key("retry-after"), "{headers:?}");
                assert!(body.contains("temporarily_unavailable"), "{body}");
            }
            other => panic!("a flood request was answered {other}: {body}"),
        }
    }
    let after_token_flood = rss_kib(qs.child.id());

    // Basic logins of unknown users go through the same bound.
    let mut flood = Vec::new();
    for i in 0..64 {
        let (client, base) = (client.clone(), base.clone());
        flood.push(tokio::spawn(async move {
            let auth = format!("Basic {}", STANDARD.encode(format!("nobody-{i}:wrong")));
            http(
                &client,
                Method::GET,
                &format!("{base}/whoami"),
                &[("authorization", &auth)],
                String::new(),
            )
            .await
        }));
    }
    for task in flood {
        let (status, _, body) = task.await.unwrap();
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::SERVICE_UNAVAILABLE,
            "a Basic flood request was answered {status}: {body}"
        );
    }
    let after = rss_kib(qs.child.id());

    // The flood is over: a person-chosen secret (argon2) is served again.
    let (status, _, body) = qs_token(&client, &base, "demo-app", "demo-app-secret").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let grown_mib = after.max(after_token_flood).saturating_sub(before) / 1024;
    eprintln!(
        "quickstart RSS: {} MiB before, {} MiB after 128 token requests, {} MiB after 64 Basic logins ({refused} token requests refused with 503)",
        before / 1024,
        after_token_flood / 1024,
        after / 1024
    );
    assert!(
        grown_mib < 200,
        "the flood grew the process by {grown_mib} MiB"
    );
}
