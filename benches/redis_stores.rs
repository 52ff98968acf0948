//! A request through the layer with the Redis stores warm, beside the same request with the
//! in-memory stores, in the same run (issue 9: within 10 %), and what a cold read costs beside
//! one raw Redis round trip.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379/ cargo bench --features redis,issuer,axum --bench redis_stores
//! ```
//!
//! Each stack is the issuer's verifier (opaque tokens: a token store lookup, then the client's
//! record) and the grant check, behind the layer with its verified-credential cache, on an axum
//! 0.8 `Router` through `oneshot`. The cases run interleaved: every round runs a batch of each
//! (in a rotated order), each case's time is divided by the bare router's time of the same
//! round, and the median ratio over the rounds is printed with its spread. Every key lives under
//! a prefix of its own, removed at the end. Without `REDIS_URL` it prints why and exits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderValue, Method, Request};
use tokio::runtime::Runtime;
use tower::ServiceExt as _;
use tower_gatekeeper::grant::{
    ApiTable, GrantCheck, GrantManager, GrantStore, Grantee, InMemoryGrantStore, RedisGrantStore,
};
use tower_gatekeeper::issuer::{
    Client, ClientRegistry, RegisterError, SigningKey, TokenFormat, TokenIssuer, TokenState,
};
use tower_gatekeeper::store::{RedisOptions, RedisStore};
use tower_gatekeeper::{GatekeeperLayer, Principal};

const FAR: u64 = 4_000_000_000;

/// A request router and the tokens it accepts.
struct Stack {
    app: Router,
    issuer: TokenIssuer,
}

async fn stack(clients: ClientRegistry, tokens: TokenState, grants: Arc<dyn GrantStore>) -> Stack {
    // A second node on the same Redis finds the client already there.
    let created = match clients
        .create(Client::new("bench-app", "bench-app secret 0123456789").allowed_scopes(["read"]))
        .await
    {
        Ok(()) => true,
        Err(RegisterError::Exists) => false,
        Err(e) => panic!("create the bench client: {e}"),
    };
    if created {
        GrantManager::builder_shared(grants.clone())
            .apis(["orders"])
            .grantee_check(|_| true)
            .build()
            .authorize("orders", Grantee::client("bench-app"), FAR)
            .await
            .unwrap();
    }
    let issuer = TokenIssuer::builder(SigningKey::hs256(&[7u8; 32]).unwrap())
        .issuer("bench")
        .audience("api")
        .clients(clients)
        .tokens(tokens)
        .token_format(TokenFormat::Opaque)
        .build();
    let table = ApiTable::new().api("orders", "/orders", [Method::GET]);
    let app = Router::new()
        .route(
            "/orders",
            get(|p: Principal| async move { p.subject().len().to_string() }),
        )
        .layer(
            GatekeeperLayer::builder(issuer.verifier())
                .authorize(GrantCheck::by_table_shared(grants, table))
                .build(),
        );
    Stack { app, issuer }
}

async fn bearer(stack: &Stack) -> HeaderValue {
    let token = stack
        .issuer
        .issue("bench-app", &["read".to_owned()])
        .await
        .unwrap();
    HeaderValue::try_from(format!("Bearer {}", token.access_token)).unwrap()
}

async fn call(app: &Router, authorization: Option<&HeaderValue>) {
    let mut request = Request::get("/orders");
    if let Some(value) = authorization {
        request = request.header(http::header::AUTHORIZATION, value.clone());
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "the bench request was refused: {}",
        response.status()
    );
}

type Run = Box<dyn Fn(&Runtime, u64) -> Duration>;

fn warm(rt: &Runtime, app: Router, value: Option<HeaderValue>) -> Run {
    rt.block_on(call(&app, value.as_ref()));
    Box::new(move |rt, n| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..n {
                call(&app, value.as_ref()).await;
            }
            start.elapsed()
        })
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn ratios(rt: &Runtime, cases: &[(&str, Run)], rounds: usize) {
    let target = Duration::from_millis(3);
    let batches: Vec<u64> = cases
        .iter()
        .map(|(_, run)| {
            run(rt, 50);
            let t = run(rt, 200).as_secs_f64() / 200.0;
            ((target.as_secs_f64() / t) as u64).clamp(10, 200_000)
        })
        .collect();
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut ratio: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut vs_memory: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        let mut t = vec![0f64; cases.len()];
        for j in 0..cases.len() {
            let i = (j + round) % cases.len();
            t[i] = cases[i].1(rt, batches[i]).as_secs_f64() * 1e9 / batches[i] as f64;
        }
        for i in 0..cases.len() {
            per[i].push(t[i]);
            ratio[i].push(t[i] / t[0]);
            vs_memory[i].push(t[i] / t[1]);
        }
    }
    println!(
        "| case | median per request | vs. bare: median of {rounds} rounds | p25–p75 | vs. memory stores, same round: median | p25–p75 |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (i, (name, _)) in cases.iter().enumerate() {
        let t = median(&mut per[i].clone());
        let mut r = ratio[i].clone();
        let m = median(&mut r);
        let mut v = vs_memory[i].clone();
        let vm = median(&mut v);
        println!(
            "| {name} | {t:.0} ns | {m:.2}× | {:.2}–{:.2} | {vm:.3}× | {:.3}–{:.3} |",
            r[r.len() / 4],
            r[r.len() * 3 / 4],
            v[v.len() / 4],
            v[v.len() * 3 / 4]
        );
    }
}

/// `total_commands_processed` from `INFO stats`: the server's command counter.
async fn commands_processed(url: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO stats has total_commands_processed")
}

fn main() {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!(
            "redis_stores: REDIS_URL is not set (e.g. redis://127.0.0.1:6379/): nothing measured"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let prefix = format!(
        "bench-{}:",
        ClientRegistry::generate_secret()[..12].to_owned()
    );
    let store = rt
        .block_on(RedisStore::connect(
            &url,
            RedisOptions::new().prefix(&prefix),
        ))
        .expect("connect to REDIS_URL");

    let memory = rt.block_on(stack(
        ClientRegistry::new(),
        TokenState::new(),
        Arc::new(InMemoryGrantStore::new()),
    ));
    let redis = rt.block_on(stack(
        ClientRegistry::redis(&store),
        TokenState::redis(&store),
        Arc::new(RedisGrantStore::new(&store)),
    ));
    let memory_bearer = rt.block_on(bearer(&memory));
    let redis_bearer = rt.block_on(bearer(&redis));
    let bare = Router::new().route("/orders", get(|| async { "ok" }));

    let rounds = std::env::var("REDIS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let cases: Vec<(&str, Run)> = vec![
        ("bare", warm(&rt, bare, None)),
        (
            "memory stores, warm",
            warm(&rt, memory.app.clone(), Some(memory_bearer)),
        ),
        (
            "redis stores, warm",
            warm(&rt, redis.app.clone(), Some(redis_bearer)),
        ),
    ];
    println!(
        "\nWarm: the same opaque token again (a verified-credential cache hit, revalidated)\n"
    );
    ratios(&rt, &cases, rounds);

    // Cold: a token this node has never seen (issued on another node, i.e. on a second store
    // that shares the Redis), so its record is read from Redis: one round trip, beside a raw
    // GET on the same connection kind.
    let other = rt
        .block_on(RedisStore::connect(
            &url,
            RedisOptions::new().prefix(&prefix),
        ))
        .unwrap();
    let issuing = rt.block_on(stack(
        ClientRegistry::redis(&other),
        TokenState::redis(&other),
        Arc::new(RedisGrantStore::new(&other)),
    ));
    let n = 2_000;
    let fresh: Vec<HeaderValue> = (0..n).map(|_| rt.block_on(bearer(&issuing))).collect();
    let raw = rt.block_on(async {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let key = format!("{prefix}bench-raw");
        let start = Instant::now();
        for _ in 0..n {
            let _: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        start.elapsed() / n as u32
    });
    let commands_before = rt.block_on(commands_processed(&url));
    let cold = rt.block_on(async {
        let start = Instant::now();
        for value in &fresh {
            call(&redis.app, Some(value)).await;
        }
        start.elapsed() / n as u32
    });
    let cold_commands = rt.block_on(commands_processed(&url)) - commands_before;
    let warm_once = rt.block_on(async {
        let start = Instant::now();
        for value in &fresh {
            call(&redis.app, Some(value)).await;
        }
        start.elapsed() / n as u32
    });
    println!("\nCold: {n} tokens issued on another node, each sent once, then once more\n");
    println!("| what | per request |");
    println!("| --- | --- |");
    println!("| raw Redis GET (one round trip) | {raw:?} |");
    println!("| first request with a token this node never saw | {cold:?} |");
    println!("| the same tokens again (warm) | {warm_once:?} |");
    println!(
        "\nRedis commands during the cold pass: {cold_commands} for {n} requests ({:.2} per request; \
         this node's heartbeats and the server's other clients included)",
        cold_commands as f64 / n as f64
    );

    // Leave nothing behind.
    rt.block_on(async {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    });
}
