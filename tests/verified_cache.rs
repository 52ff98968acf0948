//! The verified-credential cache: a credential seen before is answered from memory, but never
//! past its deadline, never across a revocation, a disabled account, a removed key or a changed
//! password, never for a credential that differs in any byte, and never beyond its bounds.
//!
//! Everything here runs through the layer (`GatekeeperLayer`, where the cache is on by
//! default) or through `CachedVerifier` directly; time is a `ManualClock`. By default an
//! answer verified at once is kept on its credential's second sighting: the first request of a
//! credential is verified, the second verified and kept, the third a hit.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use http::{Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_gatekeeper::clock::ManualClock;
use tower_gatekeeper::extract::{Credential, CredentialSources, Source};
use tower_gatekeeper::issuer::{Client, ClientRegistry, SigningKey, TokenFormat, TokenIssuer};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{
    ApiKeyStore, ApiKeyVerifier, BasicUsers, BasicVerifier, CacheConfig, CacheStats,
    CachedVerifier, FirstMatch, JwtVerifier, Verifier, VerifyError,
};
use tower_gatekeeper::{GatekeeperLayer, MaybeReady, Principal};

const NOW: u64 = 1_700_000_000;
const SECRET: &[u8] = b"test-only verified-cache secret 0123456789";

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn jwt_verifier(clock: &ManualClock, leeway: u64) -> JwtVerifier {
    JwtVerifier::builder()
        .hs256(SECRET)
        .leeway(leeway)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn app(layer: GatekeeperLayer) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(layer)
}

/// Sends `Authorization: <authorization>` and returns the status and body.
async fn call(app: &Router, authorization: &str) -> (StatusCode, String) {
    call_with(app, "authorization", authorization).await
}

async fn call_with(app: &Router, header: &str, value: &str) -> (StatusCode, String) {
    let req = Request::get("/whoami")
        .header(header, value)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn stats(layer: &GatekeeperLayer) -> CacheStats {
    layer.verified_cache().expect("the cache is on").stats()
}

/// Runs a verifier that answers at once.
fn now(verifier: &impl Verifier, credential: &Credential<'_>) -> Result<Principal, VerifyError> {
    match verifier.verify(credential) {
        MaybeReady::Ready(result) => result,
        MaybeReady::Pending(_) => panic!("expected an answer without waiting"),
    }
}

// ---------------------------------------------------------------------------------------------
// Hits, misses and what is kept
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_seen_before_is_a_hit_and_counted() {
    let clock = ManualClock::at_unix(NOW);
    let layer = GatekeeperLayer::builder(jwt_verifier(&clock, 30)).build();
    let app = app(layer.clone());
    let token = hs256(&json!({"sub": "u-1", "exp": NOW + 600}));
    let bearer = format!("Bearer {token}");

    assert_eq!(call(&app, &bearer).await, (StatusCode::OK, "u-1".into()));
    let first = stats(&layer);
    assert_eq!((first.hits, first.misses, first.inserts), (0, 1, 0));
    assert_eq!((first.first_seen, first.entries), (1, 0));
    assert_eq!(call(&app, &bearer).await, (StatusCode::OK, "u-1".into()));
    let second = stats(&layer);
    assert_eq!((second.hits, second.misses, second.inserts), (0, 2, 1));
    assert_eq!(second.entries, 1);
    assert!(second.bytes > token.len(), "{second:?}");

    for _ in 0..3 {
        assert_eq!(call(&app, &bearer).await, (StatusCode::OK, "u-1".into()));
    }
    let later = stats(&layer);
    assert_eq!((later.hits, later.misses, later.inserts), (3, 2, 1));

    // Another token is another entry.
    let other = hs256(&json!({"sub": "u-2", "exp": NOW + 600}));
    for _ in 0..2 {
        assert_eq!(
            call(&app, &format!("Bearer {other}")).await,
            (StatusCode::OK, "u-2".into())
        );
    }
    assert_eq!(stats(&layer).entries, 2);
    layer.verified_cache().unwrap().clear();
    assert_eq!(stats(&layer).entries, 0);
    assert_eq!(stats(&layer).bytes, 0);
}

#[tokio::test]
async fn refusals_are_never_kept() {
    let clock = ManualClock::at_unix(NOW);
    let layer = GatekeeperLayer::builder(jwt_verifier(&clock, 0)).build();
    let app = app(layer.clone());
    let expired = hs256(&json!({"sub": "u-1", "exp": NOW - 1}));
    for _ in 0..3 {
        assert_eq!(
            call(&app, &format!("Bearer {expired}")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let s = stats(&layer);
    assert_eq!((s.hits, s.misses, s.inserts, s.entries), (0, 3, 0, 0));
}

#[tokio::test]
async fn a_credential_differing_in_one_byte_is_not_a_hit() {
    let clock = ManualClock::at_unix(NOW);
    let layer = GatekeeperLayer::builder(jwt_verifier(&clock, 30)).build();
    let app = app(layer.clone());
    let token = hs256(&json!({"sub": "u-1", "exp": NOW + 600}));
    for _ in 0..2 {
        assert_eq!(
            call(&app, &format!("Bearer {token}")).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(stats(&layer).entries, 1);

    // Same length, last character changed; a prefix; the token with one more character.
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for bad in [
        tampered,
        token[..token.len() - 1].to_owned(),
        format!("{token}A"),
    ] {
        assert_eq!(
            call(&app, &format!("Bearer {bad}")).await.0,
            StatusCode::UNAUTHORIZED,
            "{bad}"
        );
    }
    assert_eq!(stats(&layer).hits, 0);
    assert_eq!(
        call(&app, &format!("Bearer {token}")).await.0,
        StatusCode::OK
    );
    assert_eq!(stats(&layer).hits, 1);
}

#[tokio::test]
async fn a_key_and_a_bearer_token_with_the_same_bytes_do_not_share_an_entry() {
    let keys = ApiKeyStore::new();
    keys.insert("shared-bytes-0123456789", Identity::new("svc"))
        .await
        .unwrap();
    // Keys only from the API key header: the same string as a bearer token is not a key.
    let verifier = CachedVerifier::new(ApiKeyVerifier::new(keys).accept_bearer(false));
    let key = Credential::api_key("shared-bytes-0123456789", Source::Header);
    for _ in 0..3 {
        assert!(now(&verifier, &key).is_ok());
    }
    assert_eq!(verifier.cache().stats().hits, 1);
    let bearer = Credential::bearer("shared-bytes-0123456789", Source::Header);
    assert_eq!(
        now(&verifier, &bearer).unwrap_err(),
        VerifyError::NotApplicable
    );
    // The same key from the query is its own entry too (a verifier may judge sources apart).
    let from_query = Credential::api_key("shared-bytes-0123456789", Source::Query);
    assert!(now(&verifier, &from_query).is_ok());
    assert!(now(&verifier, &from_query).is_ok());
    assert_eq!(verifier.cache().stats().hits, 1);
    assert_eq!(verifier.cache().stats().entries, 2);
}

#[test]
fn verifiers_that_do_not_opt_in_are_never_cached() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let closure = move |_: Credential<'static>| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Ok(Principal::new(Identity::new("anyone"))) }
    };
    let verifier = CachedVerifier::new(closure);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for _ in 0..3 {
        let answer = verifier.verify(&Credential::bearer("t", Source::Header));
        assert!(rt.block_on(async { answer.await }).is_ok());
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    let s = verifier.cache().stats();
    assert_eq!((s.hits, s.inserts, s.not_stored), (0, 0, 3));
}

#[tokio::test]
async fn the_cache_can_be_switched_off() {
    let clock = ManualClock::at_unix(NOW);
    let layer = GatekeeperLayer::builder(jwt_verifier(&clock, 30))
        .verified_cache(CacheConfig::disabled())
        .build();
    assert!(layer.verified_cache().is_none());
    let app = app(layer);
    let token = hs256(&json!({"sub": "u-1", "exp": NOW + 600}));
    assert_eq!(
        call(&app, &format!("Bearer {token}")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn debug_output_shows_counters_not_credentials() {
    let keys = ApiKeyStore::new();
    keys.insert("k-secret-value-0123456789", Identity::new("svc"))
        .await
        .unwrap();
    let verifier = CachedVerifier::new(ApiKeyVerifier::new(keys));
    for _ in 0..2 {
        let key = Credential::api_key("k-secret-value-0123456789", Source::Header);
        assert!(now(&verifier, &key).is_ok());
    }
    let shown = format!("{verifier:?} {:?}", verifier.cache());
    assert!(shown.contains("inserts: 1"), "{shown}");
    assert!(!shown.contains("k-secret-value"), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_kept_token_is_never_served_past_its_exp() {
    let clock = ManualClock::at_unix(NOW);
    // No leeway: once exp passes, the token is refused, cached or not.
    let strict = GatekeeperLayer::builder(jwt_verifier(&clock, 0)).build();
    let strict_app = app(strict.clone());
    // 30 s of leeway: past exp the verifier still accepts it (clock skew), the cache does not.
    let lenient = GatekeeperLayer::builder(jwt_verifier(&clock, 30)).build();
    let lenient_app = app(lenient.clone());
    let bearer = format!("Bearer {}", hs256(&json!({"sub": "u-1", "exp": NOW + 60})));

    for app in [&strict_app, &lenient_app] {
        for _ in 0..3 {
            assert_eq!(call(app, &bearer).await.0, StatusCode::OK);
        }
    }
    clock.set_unix(NOW + 59);
    for app in [&strict_app, &lenient_app] {
        assert_eq!(call(app, &bearer).await.0, StatusCode::OK);
    }
    assert_eq!(stats(&strict).hits, 2);
    assert_eq!(stats(&lenient).hits, 2);

    clock.set_unix(NOW + 60);
    assert_eq!(call(&strict_app, &bearer).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(stats(&strict).hits, 2);
    assert_eq!(stats(&strict).expired, 1);
    // Accepted by the verifier within its leeway, but not from the cache, and not kept again.
    assert_eq!(call(&lenient_app, &bearer).await.0, StatusCode::OK);
    assert_eq!(call(&lenient_app, &bearer).await.0, StatusCode::OK);
    let s = stats(&lenient);
    assert_eq!((s.hits, s.expired, s.inserts), (2, 1, 1), "{s:?}");
    clock.set_unix(NOW + 90);
    assert_eq!(
        call(&lenient_app, &bearer).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_clock_set_back_before_nbf_is_not_served_from_the_cache() {
    let clock = ManualClock::at_unix(NOW);
    let layer = GatekeeperLayer::builder(jwt_verifier(&clock, 30)).build();
    let app = app(layer.clone());
    // Valid from NOW + 10, accepted from NOW - 20 with the leeway.
    let bearer = format!(
        "Bearer {}",
        hs256(&json!({"sub": "u-1", "exp": NOW + 600, "nbf": NOW + 10}))
    );
    assert_eq!(call(&app, &bearer).await.0, StatusCode::OK);
    assert_eq!(call(&app, &bearer).await.0, StatusCode::OK);
    assert_eq!(stats(&layer).entries, 1);
    clock.set_unix(NOW - 25);
    assert_eq!(call(&app, &bearer).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(stats(&layer).hits, 0);
}

#[tokio::test]
async fn answers_without_a_deadline_are_kept_for_the_ttl_at_most() {
    // API keys have no expiry; the TTL (by the system clock, the key verifier's) bounds them.
    let keys = ApiKeyStore::new();
    keys.insert("k-ttl-0123456789", Identity::new("svc"))
        .await
        .unwrap();
    let verifier = CachedVerifier::with_config(
        ApiKeyVerifier::new(keys),
        CacheConfig::new().max_ttl(Duration::ZERO),
    );
    let key = Credential::api_key("k-ttl-0123456789", Source::Header);
    for _ in 0..3 {
        assert!(now(&verifier, &key).is_ok());
    }
    let s = verifier.cache().stats();
    assert_eq!(
        (s.hits, s.inserts, s.not_stored, s.first_seen),
        (0, 0, 2, 1)
    );
}

// ---------------------------------------------------------------------------------------------
// Revalidation: the issuer's revocations, clients and users
// ---------------------------------------------------------------------------------------------

struct Issuer {
    issuer: TokenIssuer,
    clients: ClientRegistry,
    users: tower_gatekeeper::accounts::UserRegistry,
    layer: GatekeeperLayer,
    app: Router,
}

async fn issuer(format: TokenFormat) -> Issuer {
    let clock = ManualClock::at_unix(NOW);
    let clients = ClientRegistry::new();
    clients
        .register(Client::new("app-1", "app-1 test secret 0123456789").allowed_scopes(["read"]))
        .await
        .unwrap();
    clients
        .register(Client::new("app-2", "app-2 test secret 0123456789").allowed_scopes(["read"]))
        .await
        .unwrap();
    // A user whose uid is a client id: a separate account, which the client's tokens never name.
    let users = tower_gatekeeper::accounts::UserRegistry::new();
    users
        .insert(tower_gatekeeper::accounts::UserAccount::new("app-2", "bob"))
        .await
        .unwrap();
    let issuer = TokenIssuer::builder(SigningKey::hs256(SECRET).unwrap())
        .clients(clients.clone())
        .users(users.clone())
        .token_format(format)
        .clock(clock)
        .build();
    let layer = GatekeeperLayer::builder(issuer.verifier()).build();
    Issuer {
        app: app(layer.clone()),
        issuer,
        clients,
        users,
        layer,
    }
}

impl Issuer {
    async fn bearer(&self, client: &str) -> String {
        let token = self.issuer.issue(client, &["read".into()]).await.unwrap();
        format!("Bearer {}", token.access_token)
    }

    /// Sends the token until it is a hit (the third time), and checks it was one.
    async fn warm(&self, bearer: &str) {
        for _ in 0..2 {
            assert_eq!(call(&self.app, bearer).await.0, StatusCode::OK);
        }
        let hits = stats(&self.layer).hits;
        assert_eq!(call(&self.app, bearer).await.0, StatusCode::OK);
        assert_eq!(stats(&self.layer).hits, hits + 1);
    }
}

#[tokio::test]
async fn a_revoked_token_is_refused_on_a_hit() {
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let env = issuer(format).await;
        let bearer = env.bearer("app-1").await;
        let bystander = env.bearer("app-1").await;
        env.warm(&bearer).await;
        env.warm(&bystander).await;
        let token = bearer.strip_prefix("Bearer ").unwrap();
        assert_eq!(env.issuer.revoke(token, None).await, Ok(true), "{format:?}");
        let (status, body) = call(&env.app, &bearer).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{format:?}");
        assert!(
            body.contains("revoked") || body.contains("unknown"),
            "{format:?}: {body}"
        );
        assert_eq!(stats(&env.layer).refused, 1, "{format:?}");
        // Refused again (the entry is gone; the verifier refuses it too).
        assert_eq!(call(&env.app, &bearer).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(call(&env.app, &bystander).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_disabled_client_is_refused_on_a_hit_and_welcome_back_after() {
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let env = issuer(format).await;
        let bearer = env.bearer("app-1").await;
        env.warm(&bearer).await;
        assert!(env.clients.set_disabled("app-1", true).await.unwrap());
        let (status, body) = call(&env.app, &bearer).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{format:?}");
        assert!(body.contains("the client is disabled"), "{body}");
        assert!(env.clients.set_disabled("app-1", false).await.unwrap());
        assert_eq!(
            call(&env.app, &bearer).await.0,
            StatusCode::OK,
            "{format:?}"
        );
    }
}

#[tokio::test]
async fn a_disabled_user_sharing_a_clients_id_does_not_refuse_the_clients_cached_token() {
    // Client and user ids are separate namespaces: the issuer's tokens name clients, so the
    // user `app-2` being disabled must neither refuse client `app-2`'s token on a hit nor
    // make the cache drop it.
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let env = issuer(format).await;
        let bearer = env.bearer("app-2").await;
        env.warm(&bearer).await;
        let before = stats(&env.layer);
        assert!(env.users.set_disabled("app-2", true).await.unwrap());
        let (status, body) = call(&env.app, &bearer).await;
        assert_eq!(status, StatusCode::OK, "{format:?}: {body}");
        let after = stats(&env.layer);
        assert_eq!(after.refused, before.refused, "{format:?}");
        assert_eq!(after.hits, before.hits + 1, "{format:?}");
    }
}

#[tokio::test]
async fn a_chain_revalidates_with_the_verifier_that_answered() {
    // The issuer's tokens and API keys behind one FirstMatch: hits happen for both, and each is
    // revalidated by its own verifier (a chain that revalidated nothing would serve revoked
    // tokens; one that revalidated by re-verifying would never hit).
    let env = issuer(TokenFormat::Jwt).await;
    let keys = ApiKeyStore::new();
    keys.insert("chain-key-0123456789", Identity::new("svc"))
        .await
        .unwrap();
    let chain = FirstMatch::new()
        .or(env.issuer.verifier())
        .or(ApiKeyVerifier::new(keys.clone()).accept_bearer(true));
    let layer = GatekeeperLayer::builder(chain).build();
    let app = app(layer.clone());
    let bearer = env.bearer("app-1").await;
    let key = "Bearer chain-key-0123456789";
    for _ in 0..3 {
        assert_eq!(call(&app, &bearer).await.0, StatusCode::OK);
        assert_eq!(call(&app, key).await.0, StatusCode::OK);
    }
    assert_eq!(stats(&layer).hits, 2);

    let token = bearer.strip_prefix("Bearer ").unwrap();
    assert_eq!(env.issuer.revoke(token, None).await, Ok(true));
    assert_eq!(call(&app, &bearer).await.0, StatusCode::UNAUTHORIZED);
    assert!(keys.remove("chain-key-0123456789").await.unwrap());
    assert_eq!(call(&app, key).await.0, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// Revalidation: API keys and Basic passwords
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_removed_api_key_is_refused_on_a_hit() {
    let keys = ApiKeyStore::new();
    keys.insert("k-live-0123456789", Identity::new("svc"))
        .await
        .unwrap();
    keys.insert("k-other-0123456789", Identity::new("other"))
        .await
        .unwrap();
    let layer = GatekeeperLayer::builder(ApiKeyVerifier::new(keys.clone()))
        .sources(CredentialSources::new().api_key_header("x-api-key"))
        .build();
    let app = app(layer.clone());
    for _ in 0..3 {
        assert_eq!(
            call_with(&app, "x-api-key", "k-live-0123456789").await,
            (StatusCode::OK, "svc".into())
        );
        assert_eq!(
            call_with(&app, "x-api-key", "k-other-0123456789").await.0,
            StatusCode::OK
        );
    }
    assert_eq!(stats(&layer).hits, 2);

    assert!(keys.remove("k-live-0123456789").await.unwrap());
    assert_eq!(
        call_with(&app, "x-api-key", "k-live-0123456789").await.0,
        StatusCode::UNAUTHORIZED
    );
    // The other key is checked again once (the store changed), then kept again.
    assert_eq!(
        call_with(&app, "x-api-key", "k-other-0123456789").await.0,
        StatusCode::OK
    );
    assert_eq!(
        call_with(&app, "x-api-key", "k-other-0123456789").await.0,
        StatusCode::OK
    );
    let s = stats(&layer);
    assert_eq!((s.hits, s.stale), (3, 2), "{s:?}");

    // A key given to someone else under the same string is the new owner's at once.
    keys.insert("k-other-0123456789", Identity::new("new-owner"))
        .await
        .unwrap();
    assert_eq!(
        call_with(&app, "x-api-key", "k-other-0123456789").await,
        (StatusCode::OK, "new-owner".into())
    );
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn a_changed_password_or_a_disabled_user_is_refused_on_a_hit() {
    let users = BasicUsers::new();
    users
        .insert_password("alice", "old password 0123", Identity::new("u-alice"))
        .unwrap();
    users
        .insert_password("carol", "carol password 0123", Identity::new("u-carol"))
        .unwrap();
    let layer = GatekeeperLayer::builder(BasicVerifier::new(users.clone()))
        .sources(CredentialSources::new().basic(true))
        .build();
    let app = app(layer.clone());
    let old = basic("alice", "old password 0123");
    assert_eq!(call(&app, &old).await, (StatusCode::OK, "u-alice".into()));
    assert_eq!(call(&app, &old).await, (StatusCode::OK, "u-alice".into()));
    assert_eq!(stats(&layer).hits, 1);
    // A wrong password is not a hit, and not kept.
    assert_eq!(
        call(&app, &basic("alice", "old password 0124")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(stats(&layer).hits, 1);

    users
        .insert_password("alice", "new password 4567", Identity::new("u-alice"))
        .unwrap();
    assert_eq!(call(&app, &old).await.0, StatusCode::UNAUTHORIZED);
    let new = basic("alice", "new password 4567");
    assert_eq!(call(&app, &new).await.0, StatusCode::OK);
    assert_eq!(call(&app, &new).await.0, StatusCode::OK);
    assert_eq!(stats(&layer).hits, 2);

    assert!(users.set_disabled("alice", true));
    let (status, body) = call(&app, &new).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("the account is disabled"), "{body}");
    assert!(users.remove("carol"));
    assert_eq!(
        call(&app, &basic("carol", "carol password 0123")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn basic_credentials_are_kept_by_a_keyed_digest_not_by_the_password() {
    // Two caches: the same credentials land on different keys (each cache keys its digests
    // with its own random key), and nothing a cache shows contains the password.
    let users = BasicUsers::new();
    users
        .insert_password("alice", "hunter2-but-longer", Identity::new("u-alice"))
        .unwrap();
    let a = CachedVerifier::new(BasicVerifier::new(users.clone()));
    let credential = Credential::basic("alice", "hunter2-but-longer", Source::Header);
    // No runtime here: the hash runs inline, so the answer counts as verified at once.
    for _ in 0..3 {
        assert!(now(&a, &credential).is_ok());
    }
    assert_eq!(a.cache().stats().hits, 1);
    assert!(!format!("{a:?}").contains("hunter2"));
    // Off for Basic: verified every time.
    let b = CachedVerifier::with_config(
        BasicVerifier::new(users),
        CacheConfig::new().cache_basic(false),
    );
    assert!(now(&b, &credential).is_ok());
    assert!(now(&b, &credential).is_ok());
    assert_eq!(b.cache().stats().hits, 0);
    assert_eq!(b.cache().stats().misses, 0);
}

// ---------------------------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------------------------

#[test]
fn a_flood_of_distinct_tokens_stays_within_the_entry_and_byte_bounds() {
    let clock = ManualClock::at_unix(NOW);
    let config = CacheConfig::new()
        .entries(256)
        .max_bytes(1 << 20)
        .admit_first_seen(true);
    let verifier = CachedVerifier::with_config(jwt_verifier(&clock, 30), config);
    let cache = verifier.cache();
    let mut max_entries = 0;
    let mut max_bytes = 0;
    for i in 0..5_000 {
        let token = hs256(&json!({"sub": format!("user-{i}"), "exp": NOW + 600, "jti": i}));
        assert!(now(&verifier, &Credential::bearer(token, Source::Header)).is_ok());
        let s = cache.stats();
        max_entries = max_entries.max(s.entries);
        max_bytes = max_bytes.max(s.bytes);
    }
    let s = cache.stats();
    assert_eq!(s.capacity, 256);
    assert!(max_entries <= 256, "{max_entries}");
    assert!(max_bytes <= 1 << 20, "{max_bytes}");
    assert_eq!(s.misses, 5_000);
    assert!(s.evictions > 4_000, "{s:?}");
    assert!(s.entries > 240, "a full table after a flood: {s:?}");
    let per_entry = s.bytes / s.entries;
    assert!(
        (300..2_000).contains(&per_entry),
        "{per_entry} bytes per entry"
    );

    // A byte budget smaller than the table: the budget wins.
    let tight = CachedVerifier::with_config(
        jwt_verifier(&clock, 30),
        CacheConfig::new()
            .entries(1024)
            .max_bytes(16 * 1024)
            .admit_first_seen(true),
    );
    for i in 0..2_000 {
        let token = hs256(&json!({"sub": format!("user-{i}"), "exp": NOW + 600}));
        assert!(now(&tight, &Credential::bearer(token, Source::Header)).is_ok());
        assert!(tight.cache().stats().bytes <= 16 * 1024);
    }
    let s = tight.cache().stats();
    // Bytes, not slots, bound it; new answers still get in (older ones make room).
    assert!(s.entries < 16 * 1024 / 300, "{s:?}");
    assert!(s.inserts > 1_900, "{s:?}");
    // Dropping the cache's last handle frees what it held (nothing leaks into the counters).
    tight.cache().clear();
    assert_eq!(tight.cache().stats().bytes, 0);
}

#[test]
fn credentials_longer_than_the_key_limit_are_verified_every_time() {
    let clock = ManualClock::at_unix(NOW);
    let verifier =
        CachedVerifier::with_config(jwt_verifier(&clock, 30), CacheConfig::new().max_key_len(64));
    let token = hs256(&json!({"sub": "u", "exp": NOW + 600}));
    assert!(token.len() > 64);
    let credential = Credential::bearer(token, Source::Header);
    assert!(now(&verifier, &credential).is_ok());
    assert!(now(&verifier, &credential).is_ok());
    let s = verifier.cache().stats();
    assert_eq!((s.hits, s.misses, s.entries), (0, 0, 0));
}

#[test]
fn entries_use_the_clock_of_the_verifier_that_answered() {
    // The verifier's clock is far in the future of the system clock: its tokens expire by it.
    let clock = ManualClock::at_unix(4_000_000_000);
    let verifier = CachedVerifier::new(jwt_verifier(&clock, 0));
    let token = hs256(&json!({"sub": "u", "exp": 4_000_000_010u64}));
    let credential = Credential::bearer(token, Source::Header);
    for _ in 0..3 {
        assert!(now(&verifier, &credential).is_ok());
    }
    assert_eq!(verifier.clock().unix_seconds(), 4_000_000_000);
    clock.advance(Duration::from_secs(10));
    assert!(now(&verifier, &credential).is_err());
    assert_eq!(verifier.cache().stats().hits, 1);
}

#[test]
fn a_flood_of_tokens_seen_once_evicts_nothing_by_default() {
    let clock = ManualClock::at_unix(NOW);
    let verifier =
        CachedVerifier::with_config(jwt_verifier(&clock, 30), CacheConfig::new().entries(64));
    let regular = Credential::bearer(
        hs256(&json!({"sub": "regular", "exp": NOW + 600})),
        Source::Header,
    );
    for _ in 0..2 {
        assert!(now(&verifier, &regular).is_ok());
    }
    for i in 0..2_000 {
        let token = hs256(&json!({"sub": format!("once-{i}"), "exp": NOW + 600}));
        assert!(now(&verifier, &Credential::bearer(token, Source::Header)).is_ok());
    }
    let s = verifier.cache().stats();
    assert_eq!((s.inserts, s.entries, s.evictions), (1, 1, 0), "{s:?}");
    assert_eq!(s.first_seen, 2_001);
    // The regular client's token is still a hit.
    assert!(now(&verifier, &regular).is_ok());
    assert_eq!(verifier.cache().stats().hits, 1);
}

#[tokio::test]
async fn a_disabled_config_passes_every_request_through() {
    let keys = ApiKeyStore::new();
    keys.insert("k-off-0123456789", Identity::new("svc"))
        .await
        .unwrap();
    let verifier = CachedVerifier::with_config(ApiKeyVerifier::new(keys), CacheConfig::disabled());
    let key = Credential::api_key("k-off-0123456789", Source::Header);
    for _ in 0..3 {
        assert!(now(&verifier, &key).is_ok());
    }
    let s = verifier.cache().stats();
    assert_eq!((s.hits, s.misses, s.entries, s.first_seen), (0, 0, 0, 0));
}
