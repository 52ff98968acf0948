//! The grant lifecycle rules, each boundary, through `GrantManager` and a manual clock.

use std::sync::Arc;
use std::time::Duration;

use tower_gatekeeper::clock::ManualClock;
use tower_gatekeeper::grant::{
    Access, Grant, GrantError, GrantManager, GrantState, GrantStore, Grantee, InMemoryGrantStore,
};

const APP1: Grantee<'static> = Grantee::client("app-1");
const APP2: Grantee<'static> = Grantee::client("app-2");

const T0: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn setup() -> (GrantManager, InMemoryGrantStore, ManualClock) {
    let clock = ManualClock::at_unix(T0);
    let store = InMemoryGrantStore::new();
    let manager = GrantManager::builder(store.clone())
        .apis(["orders", "reports"])
        .grantees([APP1, APP2])
        .clock(clock.clone())
        .build();
    (manager, store, clock)
}

async fn access(m: &GrantManager) -> Access {
    m.access("orders", APP1).await.unwrap()
}

fn snapshot(store: &InMemoryGrantStore) -> Option<Grant> {
    store.get_now("orders", APP1).map(|g| (*g).clone())
}

#[tokio::test]
async fn no_grant_no_access() {
    let (m, _, _) = setup();
    assert_eq!(access(&m).await, Access::Missing);
}

#[tokio::test]
async fn authorize_is_immediate_and_ends_to_the_second() {
    let (m, _, clock) = setup();
    let g = m.authorize("orders", APP1, T0 + 100).await.unwrap();
    assert_eq!(g.state, GrantState::Active);
    assert_eq!(g.starts_at, Some(T0));
    assert_eq!(access(&m).await, Access::Allowed);
    clock.set_unix(T0 + 99);
    assert_eq!(
        access(&m).await,
        Access::Allowed,
        "one second before the end"
    );
    clock.set_unix(T0 + 100);
    assert_eq!(access(&m).await, Access::Expired, "exactly at the end");
}

#[tokio::test]
async fn end_in_the_past_or_now_is_refused_and_changes_nothing() {
    let (m, store, _) = setup();
    assert_eq!(
        m.authorize("orders", APP1, T0).await.unwrap_err(),
        GrantError::EndInPast
    );
    assert_eq!(
        m.authorize("orders", APP1, T0 - 1).await.unwrap_err(),
        GrantError::EndInPast
    );
    assert_eq!(
        m.apply("orders", APP1, T0).await.unwrap_err(),
        GrantError::EndInPast
    );
    assert!(snapshot(&store).is_none());
}

#[tokio::test]
async fn unknown_api_or_app_is_refused() {
    let (m, store, _) = setup();
    assert_eq!(
        m.authorize("nope", APP1, T0 + 10).await.unwrap_err(),
        GrantError::UnknownApi
    );
    assert_eq!(
        m.authorize("orders", Grantee::client("stranger"), T0 + 10)
            .await
            .unwrap_err(),
        GrantError::UnknownGrantee
    );
    assert!(snapshot(&store).is_none());
    assert!(store.get_now("nope", APP1).is_none());
}

#[tokio::test]
async fn provider_renew_only_extends() {
    let (m, store, _) = setup();
    m.authorize("orders", APP1, T0 + 1000).await.unwrap();
    let before = snapshot(&store);
    assert_eq!(
        m.authorize("orders", APP1, T0 + 1000).await.unwrap_err(),
        GrantError::RenewMustExtend {
            current_end: T0 + 1000
        },
        "renew to the same time"
    );
    assert_eq!(
        m.authorize("orders", APP1, T0 + 999).await.unwrap_err(),
        GrantError::RenewMustExtend {
            current_end: T0 + 1000
        }
    );
    assert_eq!(
        snapshot(&store),
        before,
        "a refused renewal changes nothing"
    );
    let g = m.authorize("orders", APP1, T0 + 1001).await.unwrap();
    assert_eq!(g.ends_at, T0 + 1001);
    assert_eq!(g.starts_at, Some(T0), "renewal keeps the start");
}

#[tokio::test]
async fn an_expired_grant_can_be_renewed() {
    let (m, _, clock) = setup();
    m.authorize("orders", APP1, T0 + 10).await.unwrap();
    clock.set_unix(T0 + 20);
    assert_eq!(access(&m).await, Access::Expired);
    m.authorize("orders", APP1, T0 + 30).await.unwrap();
    assert_eq!(access(&m).await, Access::Allowed);
}

#[tokio::test]
async fn provider_revoke_waits_for_the_notice_period() {
    let (m, _, clock) = setup();
    m.authorize("orders", APP1, T0 + 30 * DAY).await.unwrap();
    let g = m.provider_revoke("orders", APP1, None).await.unwrap();
    assert_eq!(g.state, GrantState::Revoking);
    assert_eq!(g.revoke_at, Some(T0 + 2 * DAY));
    clock.set_unix(T0 + DAY);
    assert_eq!(
        access(&m).await,
        Access::Allowed,
        "inside the notice period"
    );
    clock.set_unix(T0 + 2 * DAY - 1);
    assert_eq!(access(&m).await, Access::Allowed);
    clock.set_unix(T0 + 2 * DAY);
    assert_eq!(
        access(&m).await,
        Access::Ended,
        "exactly at the effective time"
    );
}

#[tokio::test]
async fn provider_revoke_sooner_than_notice_is_refused() {
    let (m, store, _) = setup();
    m.authorize("orders", APP1, T0 + 30 * DAY).await.unwrap();
    let before = snapshot(&store);
    let err = m
        .provider_revoke("orders", APP1, Some(T0 + 2 * DAY - 1))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GrantError::NoticeTooShort {
            earliest: T0 + 2 * DAY
        }
    );
    assert_eq!(snapshot(&store), before);
    // A later effective time is fine.
    let g = m
        .provider_revoke("orders", APP1, Some(T0 + 5 * DAY))
        .await
        .unwrap();
    assert_eq!(g.revoke_at, Some(T0 + 5 * DAY));
    // Revoking twice is a wrong-state error.
    assert!(matches!(
        m.provider_revoke("orders", APP1, None).await.unwrap_err(),
        GrantError::WrongState {
            state: GrantState::Revoking,
            ..
        }
    ));
    // And a revoking grant cannot be renewed by the provider.
    assert!(matches!(
        m.authorize("orders", APP1, T0 + 60 * DAY)
            .await
            .unwrap_err(),
        GrantError::WrongState { .. }
    ));
}

#[tokio::test]
async fn configurable_notice_period() {
    let clock = ManualClock::at_unix(T0);
    let m = GrantManager::builder(InMemoryGrantStore::new())
        .apis(["orders"])
        .grantees([APP1])
        .notice(Duration::from_secs(3600))
        .clock(clock.clone())
        .build();
    m.authorize("orders", APP1, T0 + DAY).await.unwrap();
    assert_eq!(
        m.provider_revoke("orders", APP1, None)
            .await
            .unwrap()
            .revoke_at,
        Some(T0 + 3600)
    );
}

#[tokio::test]
async fn app_revoke_is_immediate_even_during_notice() {
    let (m, _, _) = setup();
    m.authorize("orders", APP1, T0 + 30 * DAY).await.unwrap();
    m.provider_revoke("orders", APP1, None).await.unwrap();
    let g = m.app_revoke("orders", APP1).await.unwrap();
    assert_eq!(g.state, GrantState::Ended);
    assert_eq!(access(&m).await, Access::Ended);
    // Nothing left to revoke.
    assert!(matches!(
        m.app_revoke("orders", APP1).await.unwrap_err(),
        GrantError::WrongState { .. }
    ));
    // But it can apply again, or be authorized again.
    m.authorize("orders", APP1, T0 + DAY).await.unwrap();
    assert_eq!(access(&m).await, Access::Allowed);
}

#[tokio::test]
async fn app_revoke_without_grant() {
    let (m, _, _) = setup();
    assert_eq!(
        m.app_revoke("orders", APP1).await.unwrap_err(),
        GrantError::NoGrant
    );
}

#[tokio::test]
async fn apply_never_grants_until_approved() {
    let (m, _, _) = setup();
    let g = m.apply("orders", APP1, T0 + DAY).await.unwrap();
    assert_eq!(g.state, GrantState::Pending);
    assert_eq!(access(&m).await, Access::Pending);
    assert_eq!(
        m.apply("orders", APP1, T0 + DAY).await.unwrap_err(),
        GrantError::AlreadyPending
    );
    assert!(matches!(
        m.authorize("orders", APP1, T0 + DAY).await.unwrap_err(),
        GrantError::WrongState {
            state: GrantState::Pending,
            ..
        }
    ));
    let g = m.approve("orders", APP1).await.unwrap();
    assert_eq!(g.state, GrantState::Active);
    assert_eq!(g.ends_at, T0 + DAY);
    assert_eq!(access(&m).await, Access::Allowed);
    assert_eq!(
        m.approve("orders", APP1).await.unwrap_err(),
        GrantError::NothingPending
    );
}

#[tokio::test]
async fn rejected_application_grants_nothing() {
    let (m, _, _) = setup();
    m.apply("orders", APP1, T0 + DAY).await.unwrap();
    let g = m.reject("orders", APP1).await.unwrap();
    assert_eq!(g.state, GrantState::Ended);
    assert_eq!(access(&m).await, Access::Ended);
    assert_eq!(
        m.approve("orders", APP1).await.unwrap_err(),
        GrantError::NothingPending
    );
    // It may apply again.
    m.apply("orders", APP1, T0 + DAY).await.unwrap();
    assert_eq!(access(&m).await, Access::Pending);
}

#[tokio::test]
async fn an_application_whose_end_passed_cannot_be_approved() {
    let (m, store, clock) = setup();
    m.apply("orders", APP1, T0 + 10).await.unwrap();
    clock.set_unix(T0 + 10);
    let before = snapshot(&store);
    assert_eq!(
        m.approve("orders", APP1).await.unwrap_err(),
        GrantError::EndInPast
    );
    assert_eq!(snapshot(&store), before);
}

#[tokio::test]
async fn apply_renew_waits_for_approval_and_never_shortens() {
    let (m, store, _) = setup();
    assert_eq!(
        m.apply_renew("orders", APP1, T0 + DAY).await.unwrap_err(),
        GrantError::NoGrant
    );
    m.authorize("orders", APP1, T0 + DAY).await.unwrap();
    assert_eq!(
        m.apply_renew("orders", APP1, T0 + DAY).await.unwrap_err(),
        GrantError::RenewMustExtend {
            current_end: T0 + DAY
        }
    );
    let g = m.apply_renew("orders", APP1, T0 + 3 * DAY).await.unwrap();
    assert_eq!(g.ends_at, T0 + DAY, "nothing changes before approval");
    assert_eq!(g.renewal, Some(T0 + 3 * DAY));
    assert_eq!(
        m.apply_renew("orders", APP1, T0 + 4 * DAY)
            .await
            .unwrap_err(),
        GrantError::AlreadyPending
    );
    let g = m.approve("orders", APP1).await.unwrap();
    assert_eq!(g.ends_at, T0 + 3 * DAY);
    assert_eq!(g.renewal, None);

    // A rejected renewal keeps the grant as it was.
    m.apply_renew("orders", APP1, T0 + 5 * DAY).await.unwrap();
    let g = m.reject("orders", APP1).await.unwrap();
    assert_eq!(
        (g.ends_at, g.renewal, g.state),
        (T0 + 3 * DAY, None, GrantState::Active)
    );

    // A renewal overtaken by a longer provider renewal can no longer shorten the grant.
    m.apply_renew("orders", APP1, T0 + 6 * DAY).await.unwrap();
    m.authorize("orders", APP1, T0 + 7 * DAY).await.unwrap();
    assert_eq!(
        snapshot(&store).unwrap().renewal,
        None,
        "the provider's renewal settled it"
    );
    assert_eq!(
        m.approve("orders", APP1).await.unwrap_err(),
        GrantError::NothingPending
    );
    assert_eq!(snapshot(&store).unwrap().ends_at, T0 + 7 * DAY);
}

#[tokio::test]
async fn apply_on_an_active_grant_is_a_wrong_state() {
    let (m, _, _) = setup();
    m.authorize("orders", APP1, T0 + DAY).await.unwrap();
    assert!(matches!(
        m.apply("orders", APP1, T0 + 2 * DAY).await.unwrap_err(),
        GrantError::WrongState {
            state: GrantState::Active,
            ..
        }
    ));
}

#[tokio::test]
async fn listing_by_api_and_by_grantee() {
    let (m, _, _) = setup();
    m.authorize("orders", APP1, T0 + DAY).await.unwrap();
    m.authorize("reports", APP1, T0 + DAY).await.unwrap();
    m.apply("orders", APP2, T0 + DAY).await.unwrap();
    let by_api: Vec<_> = m
        .list_by_api("orders")
        .await
        .unwrap()
        .iter()
        .map(|g| g.grantee.to_string())
        .collect();
    assert_eq!(by_api, ["app-1", "app-2"]);
    let by_app: Vec<_> = m
        .list_by_grantee(APP1)
        .await
        .unwrap()
        .iter()
        .map(|g| g.api_id.to_string())
        .collect();
    assert_eq!(by_app, ["orders", "reports"]);
}

/// Many readers check while writers change grants: every read sees a whole grant, before or
/// after a change, never a mix (a torn read would pair one write's end with another's state).
#[test]
fn concurrent_checks_never_see_a_torn_grant() {
    let clock = ManualClock::at_unix(T0);
    let store = InMemoryGrantStore::new();
    let m = GrantManager::builder(store.clone())
        .apis(["orders"])
        .grantees([APP1])
        .clock(clock.clone())
        .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(m.authorize("orders", APP1, T0 + 10)).unwrap();

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let store = store.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut last_end = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let g = store.get("orders", APP1);
                    let tower_gatekeeper::MaybeReady::Ready(Ok(Some(g))) = g else {
                        panic!("the in-memory store answers at once");
                    };
                    // Writers only ever extend: every end is T0 + 10 * k and never goes back.
                    assert_eq!((g.ends_at - T0) % 10, 0, "torn end time");
                    assert!(
                        g.ends_at >= last_end,
                        "time went backwards: {} < {last_end}",
                        g.ends_at
                    );
                    assert_eq!(g.state, GrantState::Active);
                    assert_eq!(&*g.api_id, "orders");
                    assert_eq!(&*g.grantee, "app-1");
                    last_end = g.ends_at;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for k in 2..=2000u64 {
        rt.block_on(m.authorize("orders", APP1, T0 + 10 * k))
            .unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);
    assert_eq!(store.get_now("orders", APP1).unwrap().ends_at, T0 + 20_000);
}

/// Concurrent writers are serialised: of many racing renewals to the same end, exactly one wins.
#[test]
fn concurrent_renewals_to_the_same_end_admit_exactly_one() {
    let store = InMemoryGrantStore::new();
    let m = GrantManager::builder(store.clone())
        .apis(["orders"])
        .grantees([APP1])
        .clock(ManualClock::at_unix(T0))
        .build();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(m.authorize("orders", APP1, T0 + 10)).unwrap();
    let wins: usize = rt.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let m = m.clone();
                tokio::spawn(async move { m.authorize("orders", APP1, T0 + 20).await.is_ok() })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        wins
    });
    assert_eq!(wins, 1);
}
