//! The issuer-side stores in memory mode at 1 000, 100 000 and 1 000 000 entries: API keys
//! (lookup, insert, remove), opaque tokens (verify, issue, revoke: the store's lookup, insert
//! and remove through the issuer), and the request path with the API key verifier.
//!
//! cargo bench --bench stores
//! (abbreviated: cargo bench --bench stores -- --warm-up-time 1 --measurement-time 3)
//!
//! Inserts and removals are timed in chunks of at most a tenth of the store (and at least
//! 100), each undone untimed before the next, so the store stays within 10% of its size.

use std::future::{Future, IntoFuture};
use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::Request;
use tower::ServiceExt;
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::extract::{Credential, CredentialSources, Source};
use tower_gatekeeper::issuer::{Client, ClientRegistry, SigningKey, TokenFormat, TokenIssuer};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, Verifier};

const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

/// Memory-mode store operations complete at once: poll one without a runtime.
fn at_once<F: IntoFuture>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future.into_future());
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("an in-memory store operation waited"),
    }
}

fn key(i: usize) -> String {
    format!("bench-api-key-{i:08}-0123456789abcdef")
}

fn api_keys(n: usize) -> ApiKeyStore {
    let store = ApiKeyStore::new();
    let entries = (0..n).map(|i| {
        (
            ApiKeyStore::digest_of(&key(i)),
            Identity::new(format!("svc-{i}")).with_scopes(["orders:read"]),
        )
    });
    assert_eq!(at_once(store.insert_digests(entries)).unwrap(), n);
    store
}

/// Times `timed` over chunks of fresh items, running `undo` untimed after each chunk.
fn chunked<T>(
    iters: u64,
    size: usize,
    mut make: impl FnMut() -> T,
    mut setup: impl FnMut(&[T]),
    mut timed: impl FnMut(&T),
    mut undo: impl FnMut(&[T]),
) -> Duration {
    let chunk = (size / 10).max(100) as u64;
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = chunk.min(iters - done);
        let items: Vec<T> = (0..n).map(|_| make()).collect();
        setup(&items);
        let start = Instant::now();
        for item in &items {
            timed(item);
        }
        total += start.elapsed();
        undo(&items);
        done += n;
    }
    total
}

fn api_key_store(c: &mut Criterion) {
    let mut group = c.benchmark_group("api_key_store");
    for size in SIZES {
        let store = api_keys(size);
        let keys: Vec<String> = (0..size.min(100_000)).map(key).collect();
        let owner = Identity::new("new-svc");
        let mut next = 0usize;
        group.bench_with_input(BenchmarkId::new("lookup", size), &size, |b, _| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 7919) % keys.len();
                let found = at_once(store.lookup(black_box(&keys[i]))).unwrap();
                black_box(found.is_some())
            })
        });
        group.bench_with_input(BenchmarkId::new("lookup_unknown", size), &size, |b, _| {
            b.iter(|| {
                black_box(
                    at_once(store.lookup(black_box("no-such-key")))
                        .unwrap()
                        .is_none(),
                )
            })
        });
        group.bench_with_input(BenchmarkId::new("insert", size), &size, |b, _| {
            b.iter_custom(|iters| {
                chunked(
                    iters,
                    size,
                    || {
                        next += 1;
                        format!("fresh-{next}")
                    },
                    |_| {},
                    |k| at_once(store.insert(k, owner.clone())).unwrap(),
                    |ks| {
                        for k in ks {
                            at_once(store.remove(k)).unwrap();
                        }
                    },
                )
            })
        });
        group.bench_with_input(BenchmarkId::new("remove", size), &size, |b, _| {
            b.iter_custom(|iters| {
                chunked(
                    iters,
                    size,
                    || {
                        next += 1;
                        format!("fresh-{next}")
                    },
                    |ks| {
                        for k in ks {
                            at_once(store.insert(k, owner.clone())).unwrap();
                        }
                    },
                    |k| assert!(at_once(store.remove(k)).unwrap()),
                    |_| {},
                )
            })
        });
        assert_eq!(store.len(), size);
    }
    group.finish();
}

fn opaque_issuer() -> TokenIssuer {
    let clients = ClientRegistry::new();
    at_once(
        clients.register(
            Client::with_generated_secret("app", ClientRegistry::generate_secret())
                .allowed_scopes(["orders:read"])
                .token_format(TokenFormat::Opaque),
        ),
    )
    .unwrap();
    TokenIssuer::builder(SigningKey::hs256(&[7u8; 32]).unwrap())
        .clients(clients)
        .lifetime(Duration::from_secs(3600))
        .build()
}

fn opaque_token_store(c: &mut Criterion) {
    let mut group = c.benchmark_group("opaque_token_store");
    let scopes = ["orders:read".to_owned()];
    for size in SIZES {
        let issuer = opaque_issuer();
        let tokens: Vec<String> = (0..size)
            .map(|_| at_once(issuer.issue("app", &scopes)).unwrap().access_token)
            .collect();
        assert_eq!(issuer.tokens().opaque_len(), size);
        let verifier = issuer.verifier();
        group.bench_with_input(BenchmarkId::new("verify", size), &size, |b, _| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 7919) % tokens.len();
                let credential = Credential::bearer(&tokens[i], Source::Header);
                let answer = verifier.verify(black_box(&credential));
                black_box(at_once(answer).is_ok())
            })
        });
        group.bench_with_input(BenchmarkId::new("issue", size), &size, |b, _| {
            b.iter_custom(|iters| {
                let mut issued = Vec::new();
                let mut total = Duration::ZERO;
                let mut done = 0;
                let chunk = (size / 10).max(100) as u64;
                while done < iters {
                    let n = chunk.min(iters - done);
                    let start = Instant::now();
                    for _ in 0..n {
                        issued.push(at_once(issuer.issue("app", &scopes)).unwrap().access_token);
                    }
                    total += start.elapsed();
                    for token in issued.drain(..) {
                        at_once(issuer.revoke(&token, None)).unwrap();
                    }
                    done += n;
                }
                total
            })
        });
        group.bench_with_input(BenchmarkId::new("revoke", size), &size, |b, _| {
            b.iter_custom(|iters| {
                chunked(
                    iters,
                    size,
                    || at_once(issuer.issue("app", &scopes)).unwrap().access_token,
                    |_| {},
                    |token| assert!(at_once(issuer.revoke(token, None)).unwrap()),
                    |_| {},
                )
            })
        });
        assert_eq!(issuer.tokens().opaque_len(), size);
    }
    group.finish();
}

fn request_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("request_path_api_key");
    for size in SIZES {
        let store = api_keys(size);
        let app = Router::new()
            .route("/orders", get(|| async { "ok" }))
            .layer(
                GatekeeperLayer::builder(ApiKeyVerifier::new(store))
                    .sources(CredentialSources::new().api_key_header("x-api-key"))
                    .build(),
            );
        let keys: Vec<String> = (0..size.min(100_000)).map(key).collect();
        group.bench_with_input(BenchmarkId::new("api_key_header", size), &size, |b, _| {
            let mut i = 0usize;
            b.to_async(&rt).iter(|| {
                i = (i + 7919) % keys.len();
                let request = Request::get("/orders")
                    .header("x-api-key", keys[i].as_str())
                    .body(Body::empty())
                    .unwrap();
                let app = app.clone();
                async move { assert!(app.oneshot(request).await.unwrap().status().is_success()) }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, api_key_store, opaque_token_store, request_path);
criterion_main!(benches);
