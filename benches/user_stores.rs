//! The user side's stores at 1 000, 100 000 and 1 000 000 entries: directory lookups (by uid
//! and by login name), a user insert, a grant check and a grant update. The cost of each should
//! not grow with the store.
//!
//! cargo bench --bench user_stores -- --warm-up-time 1 --measurement-time 3
//!
//! Users are inserted without passwords (no argon2 in the set-up); the store is the same.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tower_gatekeeper::MaybeReady;
use tower_gatekeeper::accounts::{UserAccount, UserRegistry};
use tower_gatekeeper::grant::{
    Grant, GrantAction, GrantState, GrantStore, Grantee, InMemoryGrantStore, transition,
};
use tower_gatekeeper::impersonate::{UserDirectory, UserSelector};
use tower_gatekeeper::principal::PrincipalKind;

const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

/// A memory-mode write completes on its first poll.
fn now<F: Future>(write: F) -> F::Output {
    let mut write = std::pin::pin!(write);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match write.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("a memory-mode write waited"),
    }
}

fn account(i: usize) -> UserAccount {
    UserAccount::new(format!("u{i}"), format!("login-{i}"))
        .email(format!("user{i}@example.com"))
        .tenants([format!("t-{}", i % 100)])
        .scopes(["orders:read"])
}

fn users(n: usize) -> UserRegistry {
    let users = UserRegistry::new();
    for i in 0..n {
        now(users.insert(account(i))).unwrap();
    }
    users
}

fn grants(n: usize) -> InMemoryGrantStore {
    let store = InMemoryGrantStore::new();
    // n grants: n / 10 APIs, ten apps each.
    for i in 0..n {
        let api = format!("api-{}", i / 10);
        let id = format!("app-{}", i % 10);
        let grantee = Grantee::client(&id);
        store
            .update_now(&api, grantee, |_| {
                Ok(Grant {
                    api_id: api.as_str().into(),
                    grantee: id.as_str().into(),
                    grantee_kind: PrincipalKind::Client,
                    state: GrantState::Active,
                    starts_at: Some(1),
                    ends_at: 10,
                    revoke_at: None,
                    renewal: None,
                })
            })
            .unwrap();
    }
    store
}

fn user_stores(c: &mut Criterion) {
    // One size at a time (a million users take a few GiB), each benchmark named
    // `<what>/<size>`.
    for n in SIZES {
        let users = users(n);
        let dir = users.directory();
        let probe = n / 2;
        let by_uid = UserSelector::Uid(format!("u{probe}"));
        let by_login = UserSelector::LoginName(format!("LOGIN-{probe}"));
        c.bench_function(&format!("directory_lookup_uid/{n}"), |b| {
            b.iter(|| match dir.find_user(black_box(&by_uid)) {
                MaybeReady::Ready(Ok(Some(u))) => black_box(u),
                _ => panic!("not found"),
            })
        });
        c.bench_function(&format!("directory_lookup_login/{n}"), |b| {
            b.iter(|| match dir.find_user(black_box(&by_login)) {
                MaybeReady::Ready(Ok(Some(u))) => black_box(u),
                _ => panic!("not found"),
            })
        });
        let mut next = n;
        c.bench_function(&format!("user_insert/{n}"), |b| {
            b.iter_batched(
                || {
                    next += 1;
                    account(next)
                },
                |account| now(users.insert(account)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        drop(users);

        let store = grants(n);
        let api = format!("api-{}", n / 20);
        let grantee = Grantee::client("app-3");
        c.bench_function(&format!("grant_check/{n}"), |b| {
            b.iter(
                || match store.check(black_box(&api), black_box(grantee), 5) {
                    MaybeReady::Ready(Ok(access)) => black_box(access),
                    _ => panic!("not ready"),
                },
            )
        });
        let (api_arc, id_arc): (Arc<str>, Arc<str>) = (api.as_str().into(), "app-3".into());
        let mut ends_at = 10u64;
        c.bench_function(&format!("grant_update/{n}"), |b| {
            b.iter(|| {
                ends_at += 1;
                let end = ends_at;
                store
                    .update_now(&api, grantee, |current| {
                        transition(
                            &api_arc,
                            PrincipalKind::Client,
                            &id_arc,
                            current,
                            GrantAction::Authorize { ends_at: end },
                            5,
                            0,
                        )
                    })
                    .unwrap()
            })
        });
    }
}

criterion_group!(benches, user_stores);
criterion_main!(benches);
