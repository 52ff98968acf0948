//! The issuer-side stores in memory mode: writes cost O(1) (or O(log n)) and never copy the
//! store, bulk loads cost O(n), reads never wait, and what expires is removed by later writes a
//! little at a time, never by a scan on the request path.
//!
//! Speed is shown by the `stores` benchmark; these tests show the behaviour: loads that a
//! copy-on-write store could not finish, counts that fall as writes sweep, reads that answer
//! at once and change nothing, and the argon2 decoy decided by an exact count of argon2
//! clients under concurrent writers.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::header::CONTENT_TYPE;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use tower_gatekeeper::clock::ManualClock;
use tower_gatekeeper::extract::{Credential, Source};
use tower_gatekeeper::issuer::{
    Client, ClientRegistry, RegisterError, SigningKey, TokenFormat, TokenIssuer, TokenState,
};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{
    ApiKeyStore, ApiKeyVerifier, HashingBusy, HashingPool, Verifier, VerifyError, hash_password,
};

const NOW: u64 = 1_700_000_000;

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

/// 100 000 keys one by one, then 100 000 more in one bulk load: a store that copied itself on
/// every write (as it once did) would copy ~10^10 entries here and never finish.
#[tokio::test]
async fn a_hundred_thousand_keys_load_one_by_one_and_in_bulk_and_all_are_found() {
    const N: usize = 100_000;
    let store = ApiKeyStore::new();
    for i in 0..N {
        store
            .insert(&format!("key-{i}"), Identity::new(format!("svc-{i}")))
            .await
            .unwrap();
    }
    assert_eq!(store.len(), N);
    let bulk = (0..N).map(|i| {
        (
            ApiKeyStore::digest_of(&format!("bulk-{i}")),
            Identity::new(format!("bulk-svc-{i}")),
        )
    });
    assert_eq!(store.insert_digests(bulk).await.unwrap(), N);
    assert_eq!(store.len(), 2 * N);

    let verifier = ApiKeyVerifier::new(store.clone());
    for i in (0..N).step_by(997) {
        for (key, owner) in [
            (format!("key-{i}"), format!("svc-{i}")),
            (format!("bulk-{i}"), format!("bulk-svc-{i}")),
        ] {
            // Answered at once, from memory.
            let answer = verifier.verify(&Credential::api_key(&key, Source::Header));
            assert!(answer.is_ready());
            assert_eq!(answer.await.unwrap().subject(), owner);
        }
    }
    // A key one character off, an empty key and a digest-looking key are unknown.
    for wrong in ["key-100000", "", "key-1 ", "KEY-1"] {
        let answer = verifier.verify(&Credential::api_key(wrong, Source::Header));
        assert!(answer.is_ready());
        assert!(
            matches!(answer.await, Err(VerifyError::Invalid(_))),
            "{wrong:?}"
        );
    }
    let hex: String = ApiKeyStore::digest_of("key-1")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(store.lookup(&hex).await.unwrap().is_none());
}

#[tokio::test]
async fn removal_and_replacement_change_one_key_only() {
    let store = ApiKeyStore::new();
    let keys = (0..1000).map(|i| {
        (
            ApiKeyStore::digest_of(&format!("k{i}")),
            Identity::new(format!("o{i}")),
        )
    });
    store.insert_digests(keys).await.unwrap();
    let before = store.lookup("k1").await.unwrap().unwrap();
    assert!(store.remove("k500").await.unwrap());
    assert!(!store.remove("k500").await.unwrap());
    store.insert("k2", Identity::new("replaced")).await.unwrap();
    assert_eq!(store.len(), 999);
    assert!(store.lookup("k500").await.unwrap().is_none());
    assert_eq!(
        store.lookup("k2").await.unwrap().unwrap().subject(),
        "replaced"
    );
    // An untouched key is the very record it was: writes do not rebuild the store.
    let after = store.lookup("k1").await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&before, &after));
}

/// Readers and writers at once, from many threads: every reader sees each key either absent
/// or whole, and keys written before the readers started are always found.
#[test]
fn concurrent_writers_never_hide_other_keys_from_readers() {
    let store = ApiKeyStore::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        for i in 0..1000 {
            store
                .insert(&format!("stable-{i}"), Identity::new(format!("s{i}")))
                .await
                .unwrap();
        }
    });
    std::thread::scope(|scope| {
        for w in 0..4 {
            let store = store.clone();
            scope.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    for i in 0..5000 {
                        let key = format!("churn-{w}-{}", i % 50);
                        // Passes of 50 keys: inserted, then removed; the last pass removes.
                        if (i / 50) % 2 == 0 {
                            store
                                .insert(&key, Identity::new(key.clone()))
                                .await
                                .unwrap();
                        } else {
                            store.remove(&key).await.unwrap();
                        }
                    }
                });
            });
        }
        for _ in 0..2 {
            let store = store.clone();
            scope.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    for round in 0..20_000 {
                        let i = round % 1000;
                        let found = store.lookup(&format!("stable-{i}"));
                        assert!(found.is_ready());
                        assert_eq!(found.await.unwrap().unwrap().subject(), format!("s{i}"));
                    }
                });
            });
        }
    });
    assert_eq!(store.len(), 1000);
}

// ---------------------------------------------------------------------------------------------
// Opaque tokens and revocations: expiry without a scan
// ---------------------------------------------------------------------------------------------

async fn opaque_issuer(clock: &ManualClock, lifetime: Duration) -> TokenIssuer {
    let clients = ClientRegistry::new();
    clients
        .register(
            Client::with_generated_secret("app", ClientRegistry::generate_secret())
                .allowed_scopes(["read"]),
        )
        .await
        .unwrap();
    TokenIssuer::builder(SigningKey::hs256(&[3u8; 32]).unwrap())
        .clients(clients)
        .clock(clock.clone())
        .lifetime(lifetime)
        .token_format(TokenFormat::Opaque)
        .build()
}

/// Expired opaque tokens leave the store as later tokens are issued, a bounded share per
/// issuance; reads in between change nothing (no scan on the request path) and refuse them.
#[tokio::test]
async fn expired_opaque_tokens_are_swept_by_later_issuance_not_by_reads() {
    let clock = ManualClock::at_unix(NOW);
    let issuer = opaque_issuer(&clock, Duration::from_secs(60)).await;
    let scopes = ["read".to_owned()];
    let mut old = Vec::new();
    for _ in 0..100 {
        old.push(issuer.issue("app", &scopes).await.unwrap().access_token);
    }
    assert_eq!(issuer.tokens().opaque_len(), 100);

    clock.advance(Duration::from_secs(61));
    let verifier = issuer.verifier();
    for token in &old {
        // Refused at once, and the read leaves the store as it was.
        let answer = verifier.verify(&Credential::bearer(token, Source::Header));
        assert!(answer.is_ready());
        assert_eq!(
            answer.await.unwrap_err(),
            VerifyError::invalid("the token has expired")
        );
        assert!(matches!(
            issuer.inspect(token).await,
            Err(VerifyError::Invalid(_))
        ));
    }
    assert_eq!(issuer.tokens().opaque_len(), 100, "reads must not sweep");

    // Each issuance removes up to a bounded share of what has expired.
    let mut fresh = Vec::new();
    let mut expired_left = Vec::new();
    for _ in 0..6 {
        fresh.push(issuer.issue("app", &scopes).await.unwrap().access_token);
        expired_left.push(issuer.tokens().opaque_len() - fresh.len());
    }
    assert!(
        expired_left.windows(2).all(|w| w[1] <= w[0]),
        "the expired count only falls: {expired_left:?}"
    );
    assert!(expired_left[0] < 100, "nothing was swept: {expired_left:?}");
    assert!(
        expired_left[0] > 0,
        "one write swept everything: {expired_left:?}"
    );
    assert_eq!(*expired_left.last().unwrap(), 0, "{expired_left:?}");
    for token in &fresh {
        assert!(issuer.inspect(token).await.is_ok());
    }
}

#[tokio::test]
async fn revocations_are_forgotten_once_their_token_has_expired() {
    let tokens = TokenState::new();
    for i in 0..100 {
        assert!(
            tokens
                .revoke_jti(&format!("short-{i}"), NOW + 60, NOW)
                .await
                .unwrap()
        );
    }
    assert!(tokens.revoke_jti("long", NOW + 3600, NOW).await.unwrap());
    // Revoking twice is answered "already revoked" and adds nothing.
    assert!(!tokens.revoke_jti("long", NOW + 3600, NOW).await.unwrap());
    assert_eq!(tokens.revoked_len(), 101);

    let later = NOW + 61;
    // Reads find what is still there and change nothing.
    for _ in 0..3 {
        assert!(tokens.is_revoked("long").is_ready());
        assert!(tokens.is_revoked("long").await.unwrap());
    }
    assert_eq!(tokens.revoked_len(), 101);

    let mut expired_left = Vec::new();
    for i in 0..6 {
        tokens
            .revoke_jti(&format!("later-{i}"), later + 60, later)
            .await
            .unwrap();
        // Less the long-lived one and the new ones.
        expired_left.push(tokens.revoked_len() - 1 - (i + 1));
    }
    assert!(
        expired_left[0] < 100 && expired_left[0] > 0,
        "{expired_left:?}"
    );
    assert!(
        expired_left.windows(2).all(|w| w[1] <= w[0]),
        "{expired_left:?}"
    );
    assert_eq!(*expired_left.last().unwrap(), 0, "{expired_left:?}");
    assert!(tokens.is_revoked("long").await.unwrap());
    assert!(tokens.is_revoked("later-0").await.unwrap());
    assert!(!tokens.is_revoked("short-0").await.unwrap());
    // A revocation for a token already expired is not kept.
    assert!(!tokens.revoke_jti("stale", later - 1, later).await.unwrap());
    assert!(!tokens.is_revoked("stale").await.unwrap());
}

/// A revocation whose token outlives the sweep is not removed by it, even when the same id
/// was queued earlier with a shorter life.
#[tokio::test]
async fn the_sweep_checks_the_current_record_not_the_queued_time() {
    let tokens = TokenState::new();
    assert!(tokens.revoke_jti("j", NOW + 10, NOW).await.unwrap());
    // The first revocation expires; a second one of the same id lives longer.
    assert!(tokens.revoke_jti("j", NOW + 500, NOW + 20).await.unwrap());
    for i in 0..40 {
        tokens
            .revoke_jti(&format!("x{i}"), NOW + 500, NOW + 30)
            .await
            .unwrap();
    }
    assert!(tokens.is_revoked("j").await.unwrap());
}

#[tokio::test]
async fn revoking_an_opaque_token_removes_it_at_once() {
    let clock = ManualClock::at_unix(NOW);
    let issuer = opaque_issuer(&clock, Duration::from_secs(600)).await;
    let token = issuer
        .issue("app", &["read".to_owned()])
        .await
        .unwrap()
        .access_token;
    assert_eq!(issuer.tokens().opaque_len(), 1);
    assert_eq!(issuer.revoke(&token, Some("app")).await, Ok(true));
    assert_eq!(issuer.tokens().opaque_len(), 0);
    assert_eq!(issuer.revoke(&token, Some("app")).await, Ok(false));
    // No longer this issuer's: a chain may ask another verifier.
    let answer = issuer
        .verifier()
        .verify(&Credential::bearer(&token, Source::Header));
    assert!(answer.is_ready());
    assert_eq!(answer.await.unwrap_err(), VerifyError::NotApplicable);
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn twenty_thousand_clients_register_and_each_change_touches_one() {
    let clients = ClientRegistry::new();
    let secret = ClientRegistry::generate_secret();
    for i in 0..20_000 {
        clients
            .register(Client::with_generated_secret(format!("c{i}"), &secret))
            .await
            .unwrap();
    }
    assert_eq!(clients.len(), 20_000);
    assert!(clients.set_disabled("c7", true).await.unwrap());
    assert!(!clients.is_active("c7").await.unwrap());
    assert!(clients.is_active("c8").await.unwrap());
    let rotated = clients.rotate_secret("c9").await.unwrap().unwrap();
    assert_eq!(
        clients
            .authenticate("c9", &rotated)
            .await
            .unwrap()
            .as_deref(),
        Some("c9")
    );
    assert_eq!(clients.authenticate("c9", &secret).await.unwrap(), None);
    assert_eq!(
        clients
            .authenticate("c10", &secret)
            .await
            .unwrap()
            .as_deref(),
        Some("c10")
    );
    // Reads are answered at once.
    assert!(clients.is_active("c1").is_ready());
    assert!(clients.contains("nobody").is_ready());
}

#[test]
fn of_concurrent_creations_of_one_id_exactly_one_wins() {
    let clients = ClientRegistry::new();
    for round in 0..50 {
        let id = format!("race-{round}");
        let wins = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let clients = clients.clone();
                    let id = id.clone();
                    scope.spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap();
                        let secret = ClientRegistry::generate_secret();
                        rt.block_on(clients.create(Client::with_generated_secret(id, secret)))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(wins.iter().filter(|w| w.is_ok()).count(), 1, "{wins:?}");
        assert!(
            wins.iter()
                .filter(|w| w.is_err())
                .all(|w| *w == Err(RegisterError::Exists)),
            "{wins:?}"
        );
    }
}

/// Jobs that hold every permit of a pool, so that any argon2 check is refused (503) at once:
/// an unknown client id answers 503 exactly when it costs an argon2 decoy, 401 when it costs
/// a digest comparison.
struct Saturated {
    release: mpsc::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), HashingBusy>>,
}

impl Saturated {
    async fn take(pool: &HashingPool) -> Self {
        let (release, rx) = mpsc::channel::<()>();
        let held = pool.clone();
        let task = tokio::spawn(async move {
            held.run(move || {
                let _ = rx.recv();
            })
            .await
        });
        while pool.available() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Self { release, task }
    }

    async fn release(self) {
        drop(self.release);
        assert_eq!(self.task.await.unwrap(), Ok(()));
    }
}

async fn unknown_id_status(app: &Router) -> StatusCode {
    let body = "grant_type=client_credentials&client_id=nobody&client_secret=whatever";
    let request = Request::builder()
        .method(Method::POST)
        .uri("/token")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let _ = response.into_body().collect().await;
    status
}

/// The count that decides whether unknown ids pay an argon2 decoy follows every write, also
/// when many threads register, replace and rotate at once; it never falls below the true
/// count (that would let an attacker tell argon2 clients' ids from unknown ones).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_argon2_count_follows_concurrent_registrations_replacements_and_rotations() {
    let pool = HashingPool::builder()
        .permits(1)
        .queue(0)
        .max_wait(Duration::from_secs(5))
        .build();
    let clients = ClientRegistry::new();
    let issuer = TokenIssuer::builder(SigningKey::hs256(&[5u8; 32]).unwrap())
        .clients(clients.clone())
        .hashing(pool.clone())
        .build();
    let app = Router::new().route_service("/token", issuer.token_endpoint());
    let saturated = Saturated::take(&pool).await;

    // Digest clients only: an unknown id is a digest comparison (401).
    clients
        .register(Client::with_generated_secret(
            "machine",
            ClientRegistry::generate_secret(),
        ))
        .await
        .unwrap();
    assert_eq!(unknown_id_status(&app).await, StatusCode::UNAUTHORIZED);

    let phc = hash_password("a person's secret").unwrap();
    // Many writers at once: argon2 registrations, replacements by digest, rotations.
    std::thread::scope(|scope| {
        for t in 0..4 {
            let clients = clients.clone();
            let phc = phc.clone();
            scope.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    for i in 0..200 {
                        let id = format!("p{}", (t * 200 + i) % 64);
                        clients
                            .register(Client::with_secret_hash(&id, &phc))
                            .await
                            .unwrap();
                        if i % 3 == 0 {
                            clients.rotate_secret(&id).await.unwrap();
                        } else {
                            clients
                                .register(Client::with_generated_secret(
                                    &id,
                                    ClientRegistry::generate_secret(),
                                ))
                                .await
                                .unwrap();
                        }
                    }
                });
            });
        }
    });
    // Every argon2 secret was replaced: back to digest comparisons for unknown ids.
    for i in 0..64 {
        assert_eq!(
            clients.secret_kind(&format!("p{i}")).await.unwrap(),
            Some(tower_gatekeeper::issuer::SecretKind::Sha256)
        );
    }
    assert_eq!(unknown_id_status(&app).await, StatusCode::UNAUTHORIZED);

    // One argon2 client: unknown ids pay an argon2 decoy (refused by the saturated pool).
    clients
        .register(Client::with_secret_hash("person", &phc))
        .await
        .unwrap();
    assert_eq!(
        unknown_id_status(&app).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // A failed creation of an existing id changes nothing.
    assert_eq!(
        clients
            .create(Client::with_secret_hash("machine", &phc))
            .await,
        Err(RegisterError::Exists)
    );
    clients.rotate_secret("person").await.unwrap().unwrap();
    assert_eq!(unknown_id_status(&app).await, StatusCode::UNAUTHORIZED);
    // A refused creation (an argon2 one, of a taken id) left the count as it was.
    assert_eq!(
        clients
            .create(Client::with_secret_hash("person", &phc))
            .await,
        Err(RegisterError::Exists)
    );
    assert_eq!(unknown_id_status(&app).await, StatusCode::UNAUTHORIZED);
    saturated.release().await;
}

// ---------------------------------------------------------------------------------------------
// The request path answers at once in memory
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_issuer_verifier_answers_at_once_for_jwts_and_opaque_tokens() {
    let clock = ManualClock::at_unix(NOW);
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let clients = ClientRegistry::new();
        clients
            .register(
                Client::with_generated_secret("app", ClientRegistry::generate_secret())
                    .allowed_scopes(["read"]),
            )
            .await
            .unwrap();
        let issuer = TokenIssuer::builder(SigningKey::hs256(&[3u8; 32]).unwrap())
            .clients(clients.clone())
            .clock(clock.clone())
            .token_format(format)
            .build();
        let token = issuer
            .issue("app", &["read".to_owned()])
            .await
            .unwrap()
            .access_token;
        let verifier = issuer.verifier();
        let credential = Credential::bearer(&token, Source::Header);
        let answer = verifier.verify(&credential);
        assert!(answer.is_ready(), "{format:?}");
        assert_eq!(answer.await.unwrap().subject(), "app");
        assert!(issuer.inspect(&token).is_ready());

        assert!(issuer.revoke(&token, Some("app")).await.unwrap());
        let answer = verifier.verify(&credential);
        assert!(answer.is_ready(), "{format:?}");
        assert!(answer.await.is_err(), "{format:?}: a revoked token passed");
    }
}
