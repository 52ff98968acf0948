//! `ApiKeyStore` / `ApiKeyVerifier`, `BasicUsers` / `BasicVerifier`, `FirstMatch` and
//! `hash_password`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};
use tower_gatekeeper::MaybeReady;
use tower_gatekeeper::Principal;
use tower_gatekeeper::extract::{Credential, Scheme, Source};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{
    ApiKeyStore, ApiKeyVerifier, BasicUsers, BasicVerifier, FirstMatch, JwtVerifier, Verifier,
    VerifyError, hash_password,
};

/// Answers of in-memory verifiers must be ready at once.
#[track_caller]
fn ready(answer: MaybeReady<Result<Principal, VerifyError>>) -> Result<Principal, VerifyError> {
    match answer {
        MaybeReady::Ready(result) => result,
        MaybeReady::Pending(_) => panic!("expected an answer without waiting"),
    }
}

#[track_caller]
fn assert_invalid(result: Result<Principal, VerifyError>) -> VerifyError {
    match result {
        Err(e @ VerifyError::Invalid(_)) => e,
        Err(other) => panic!("expected Invalid, got {other:?}"),
        Ok(p) => panic!("expected a refusal, got {:?}", p.subject()),
    }
}

fn api_key(key: &str) -> Credential<'_> {
    Credential::api_key(key, Source::Header)
}

fn bearer(token: &str) -> Credential<'_> {
    Credential::bearer(token, Source::Header)
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_known_api_key_yields_its_owner() {
    let store = ApiKeyStore::new();
    store
        .insert(
            "key-reporting-123",
            Identity::new("reporting-service")
                .with_client_id("reporting")
                .with_scopes(["reports:read"]),
        )
        .await
        .unwrap();
    let verifier = ApiKeyVerifier::new(store);
    let p = ready(verifier.verify(&api_key("key-reporting-123"))).unwrap();
    assert_eq!(p.subject(), "reporting-service");
    assert_eq!(p.client_id(), Some("reporting"));
    assert_eq!(p.scopes(), ["reports:read"]);

    // A key verifies as an API key.
    assert_eq!(p.credential().map(|c| c.scheme), Some(Scheme::ApiKey));

    // A key carried as a bearer token is not looked up by default...
    assert_eq!(
        ready(verifier.verify(&bearer("key-reporting-123"))).unwrap_err(),
        VerifyError::NotApplicable
    );
    // ...and when opted in, it is still an API key, not a token.
    let opted_in = verifier.clone().accept_bearer(true);
    let p = ready(opted_in.verify(&bearer("key-reporting-123"))).unwrap();
    assert_eq!(p.subject(), "reporting-service");
    assert_eq!(p.credential().map(|c| c.scheme), Some(Scheme::ApiKey));

    // Keys are matched exactly.
    for near in [
        "key-reporting-12",
        "key-reporting-1234",
        "KEY-REPORTING-123",
        " key-reporting-123",
        "",
    ] {
        assert_invalid(ready(verifier.verify(&api_key(near))));
    }
}

#[test]
fn an_unknown_key_is_invalid() {
    let verifier = ApiKeyVerifier::new(ApiKeyStore::new()).accept_bearer(true);
    let err = assert_invalid(ready(verifier.verify(&api_key("nope"))));
    assert!(!err.to_string().contains("nope"), "{err}");
    assert_invalid(ready(verifier.verify(&bearer("nope"))));
}

#[tokio::test]
async fn a_removed_key_is_invalid() {
    let store = ApiKeyStore::new();
    store.insert("k-1", Identity::new("svc-1")).await.unwrap();
    store.insert("k-2", Identity::new("svc-2")).await.unwrap();
    // The verifier shares the store: later changes are seen at once.
    let verifier = ApiKeyVerifier::new(store.clone());
    assert!(ready(verifier.verify(&api_key("k-1"))).is_ok());

    assert!(store.remove("k-1").await.unwrap());
    assert!(
        !store.remove("k-1").await.unwrap(),
        "a second removal finds nothing"
    );
    assert!(!store.remove("never-there").await.unwrap());
    assert_invalid(ready(verifier.verify(&api_key("k-1"))));
    assert!(store.lookup("k-1").await.unwrap().is_none());
    assert_eq!(
        ready(verifier.verify(&api_key("k-2"))).unwrap().subject(),
        "svc-2"
    );

    // Inserting after the verifier was made, and replacing an owner, also show at once.
    store.insert("k-3", Identity::new("svc-3")).await.unwrap();
    assert_eq!(
        ready(verifier.verify(&api_key("k-3"))).unwrap().subject(),
        "svc-3"
    );
    store.insert("k-3", Identity::new("svc-3b")).await.unwrap();
    assert_eq!(
        ready(verifier.verify(&api_key("k-3"))).unwrap().subject(),
        "svc-3b"
    );
}

#[tokio::test]
async fn a_digest_computed_elsewhere_is_accepted() {
    let store = ApiKeyStore::new();
    let digest: [u8; 32] = Sha256::digest(b"precomputed-key").into();
    store
        .insert_digest(digest, Identity::new("svc"))
        .await
        .unwrap();
    assert_eq!(
        store
            .lookup("precomputed-key")
            .await
            .unwrap()
            .unwrap()
            .subject(),
        "svc"
    );
    assert!(store.lookup("precomputed-key2").await.unwrap().is_none());
    assert!(!format!("{store:?}").contains("precomputed"));
}

#[tokio::test]
async fn a_jwt_looking_bearer_is_not_applicable() {
    let store = ApiKeyStore::new();
    let jwt_like = "aaaa.bbbb.cccc";
    store.insert(jwt_like, Identity::new("svc")).await.unwrap();
    let verifier = ApiKeyVerifier::new(store).accept_bearer(true);
    assert_eq!(
        ready(verifier.verify(&bearer(jwt_like))).unwrap_err(),
        VerifyError::NotApplicable
    );
    // As an API key (a named header), the same value is looked up.
    assert_eq!(
        ready(verifier.verify(&api_key(jwt_like)))
            .unwrap()
            .subject(),
        "svc"
    );
    // Two dots but an empty part: not a JWT, so it is looked up (and unknown).
    assert_invalid(ready(verifier.verify(&bearer("aaaa..cccc"))));
}

#[tokio::test]
async fn accept_bearer_false_ignores_bearer_tokens() {
    let store = ApiKeyStore::new();
    store.insert("k-1", Identity::new("svc")).await.unwrap();
    let verifier = ApiKeyVerifier::new(store).accept_bearer(false);
    assert_eq!(
        ready(verifier.verify(&bearer("k-1"))).unwrap_err(),
        VerifyError::NotApplicable
    );
    assert_eq!(
        ready(verifier.verify(&bearer("unknown"))).unwrap_err(),
        VerifyError::NotApplicable
    );
    assert!(ready(verifier.verify(&api_key("k-1"))).is_ok());
    assert_invalid(ready(verifier.verify(&api_key("unknown"))));
}

#[tokio::test]
async fn basic_credentials_are_not_applicable_to_api_keys() {
    let store = ApiKeyStore::new();
    store.insert("k-1", Identity::new("svc")).await.unwrap();
    let verifier = ApiKeyVerifier::new(store);
    for c in [
        Credential::basic("k-1", "k-1", Source::Header),
        Credential::basic("user", "k-1", Source::Header),
    ] {
        assert_eq!(
            ready(verifier.verify(&c)).unwrap_err(),
            VerifyError::NotApplicable
        );
    }
}

#[tokio::test]
async fn store_debug_never_shows_keys() {
    let store = ApiKeyStore::new();
    store
        .insert("very-secret-key", Identity::new("svc"))
        .await
        .unwrap();
    let shown = format!("{store:?} {:?}", ApiKeyVerifier::new(store.clone()));
    assert!(!shown.contains("very-secret-key"), "{shown}");
    assert!(shown.contains('1'), "shows the count: {shown}");
}

// ---------------------------------------------------------------------------------------------
// Basic users
// ---------------------------------------------------------------------------------------------

fn users() -> BasicUsers {
    let users = BasicUsers::new();
    users
        .insert_password(
            "alice",
            "correct horse battery",
            Identity::new("u-alice").with_roles(["admin"]),
        )
        .unwrap();
    users
        .insert_password("bob", "bob's password", Identity::new("u-bob"))
        .unwrap();
    users
}

async fn basic(
    verifier: &BasicVerifier,
    user: &str,
    password: &str,
) -> Result<Principal, VerifyError> {
    let answer = verifier.verify(&Credential::basic(user, password, Source::Header));
    assert!(
        !answer.is_ready(),
        "inside a runtime, the hash check goes to the blocking pool"
    );
    answer.await
}

#[tokio::test]
async fn the_right_password_is_accepted() {
    let verifier = BasicVerifier::new(users());
    let p = basic(&verifier, "alice", "correct horse battery")
        .await
        .unwrap();
    assert_eq!(p.subject(), "u-alice");
    assert!(p.identity().has_role("admin"));
    let p = basic(&verifier, "bob", "bob's password").await.unwrap();
    assert_eq!(p.subject(), "u-bob");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_give_the_same_error() {
    let verifier = BasicVerifier::new(users());
    let wrong = basic(&verifier, "alice", "wrong").await.unwrap_err();
    let unknown = basic(&verifier, "mallory", "correct horse battery")
        .await
        .unwrap_err();
    let others_password = basic(&verifier, "alice", "bob's password")
        .await
        .unwrap_err();
    let empty = basic(&verifier, "", "").await.unwrap_err();
    assert!(matches!(wrong, VerifyError::Invalid(_)), "{wrong:?}");
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, others_password);
    assert_eq!(wrong, empty);
    assert_eq!(wrong.to_string(), unknown.to_string());
    // User names are compared after canonical_login (RFC 8265: lower case, NFC), so "Alice"
    // is alice — with alice's password only.
    assert_eq!(
        basic(&verifier, "Alice", "not the password")
            .await
            .unwrap_err(),
        wrong
    );
    assert_eq!(
        basic(&verifier, "ALICE", "correct horse battery")
            .await
            .unwrap()
            .subject(),
        "u-alice"
    );
    // Nothing of the credential is echoed.
    assert!(!wrong.to_string().contains("alice"));
    assert!(!wrong.to_string().contains("wrong"));
}

#[tokio::test]
async fn a_disabled_user_is_refused() {
    let users = users();
    let verifier = BasicVerifier::new(users.clone());
    assert!(users.set_disabled("alice", true));
    assert!(users.contains("alice"));
    assert_invalid(basic(&verifier, "alice", "correct horse battery").await);
    // A wrong password for a disabled user gives the generic error, revealing nothing more.
    let generic = basic(&verifier, "mallory", "x").await.unwrap_err();
    assert_eq!(basic(&verifier, "alice", "x").await.unwrap_err(), generic);
    // Others are unaffected; re-enabling restores access.
    assert!(basic(&verifier, "bob", "bob's password").await.is_ok());
    assert!(users.set_disabled("alice", false));
    assert!(
        basic(&verifier, "alice", "correct horse battery")
            .await
            .is_ok()
    );
    assert!(!users.set_disabled("nobody", true));
    assert!(!users.contains("nobody"));
}

#[tokio::test]
async fn insert_hash_checks_the_phc_string() {
    let users = BasicUsers::new();
    for bad in [
        "",
        "not a phc string",
        "$argon2id$",
        "plain-password",
        "argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
        "$argon2id$v=19$m=19456,t=2,p=1$!!!$aGFzaA",
    ] {
        assert!(
            users
                .insert_hash("carol", bad, Identity::new("u-carol"))
                .is_err(),
            "{bad:?} accepted"
        );
    }
    assert!(!users.contains("carol"), "a failed insert stores nothing");

    let phc = hash_password("carol's password").unwrap();
    users
        .insert_hash("carol", &phc, Identity::new("u-carol"))
        .unwrap();
    assert!(users.contains("carol"));
    let verifier = BasicVerifier::new(users.clone());
    assert_eq!(
        basic(&verifier, "carol", "carol's password")
            .await
            .unwrap()
            .subject(),
        "u-carol"
    );
    assert_invalid(basic(&verifier, "carol", "Carol's password").await);

    // Replacing the user replaces the password.
    users
        .insert_password("carol", "new password", Identity::new("u-carol"))
        .unwrap();
    assert_invalid(basic(&verifier, "carol", "carol's password").await);
    assert!(basic(&verifier, "carol", "new password").await.is_ok());
}

#[test]
fn insert_hash_refuses_phc_strings_that_are_not_argon2_hashes() {
    let users = BasicUsers::new();
    let not_argon2 = [
        // argon2id parameters and salt, but no hash output
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0",
        // another algorithm
        "$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$made-up$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
    ];
    let accepted: Vec<&str> = not_argon2
        .into_iter()
        .filter(|phc| {
            users
                .insert_hash("dave", phc, Identity::new("u-dave"))
                .is_ok()
        })
        .collect();
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
    assert!(!users.contains("dave"));
}

#[tokio::test]
async fn non_basic_credentials_are_not_applicable_to_basic_users() {
    let verifier = BasicVerifier::new(users());
    for c in [bearer("alice:correct horse battery"), api_key("alice")] {
        let answer = verifier.verify(&c);
        assert!(answer.is_ready());
        assert_eq!(answer.await.unwrap_err(), VerifyError::NotApplicable);
    }
}

#[test]
fn outside_a_runtime_basic_answers_at_once() {
    let verifier = BasicVerifier::new(users());
    let ok = ready(verifier.verify(&Credential::basic(
        "alice",
        "correct horse battery",
        Source::Header,
    )));
    assert_eq!(ok.unwrap().subject(), "u-alice");
    assert_invalid(ready(verifier.verify(&Credential::basic(
        "alice",
        "nope",
        Source::Header,
    ))));
}

#[test]
fn users_debug_never_shows_passwords_or_hashes() {
    let users = users();
    let shown = format!("{users:?} {:?}", BasicVerifier::new(users.clone()));
    assert!(!shown.contains("correct horse"), "{shown}");
    assert!(!shown.contains("argon2"), "{shown}");
    assert!(!shown.contains("alice"), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// hash_password
// ---------------------------------------------------------------------------------------------

#[test]
fn hash_password_output_verifies() {
    let a = hash_password("s3cret pass").unwrap();
    let b = hash_password("s3cret pass").unwrap();
    assert!(a.starts_with("$argon2id$"), "{a}");
    assert_ne!(a, b, "a fresh salt each time");
    assert!(!a.contains("s3cret"));

    let users = BasicUsers::new();
    users.insert_hash("u", &a, Identity::new("u")).unwrap();
    users.insert_hash("v", &b, Identity::new("v")).unwrap();
    let verifier = BasicVerifier::new(users);
    let check = |user: &str, password: &str| {
        ready(verifier.verify(&Credential::basic(user, password, Source::Header)))
    };
    assert!(check("u", "s3cret pass").is_ok());
    assert!(check("v", "s3cret pass").is_ok());
    assert_invalid(check("u", "s3cret pass "));
    assert_invalid(check("u", ""));

    // Unicode and empty passwords hash and verify too.
    let users = BasicUsers::new();
    users
        .insert_hash(
            "w",
            &hash_password("pässwörd ✓").unwrap(),
            Identity::new("w"),
        )
        .unwrap();
    users
        .insert_hash("e", &hash_password("").unwrap(), Identity::new("e"))
        .unwrap();
    let verifier = BasicVerifier::new(users);
    let check = |user: &str, password: &str| {
        ready(verifier.verify(&Credential::basic(user, password, Source::Header)))
    };
    assert!(check("w", "pässwörd ✓").is_ok());
    assert_invalid(check("w", "passwort"));
    assert!(check("e", "").is_ok());
    assert_invalid(check("e", " "));
}

// ---------------------------------------------------------------------------------------------
// FirstMatch
// ---------------------------------------------------------------------------------------------

/// A verifier that counts its calls and always answers `answer`, at once.
#[derive(Clone)]
struct Fixed {
    calls: Arc<AtomicUsize>,
    answer: Result<&'static str, VerifyError>,
}

impl Fixed {
    fn new(answer: Result<&'static str, VerifyError>) -> Self {
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            answer,
        }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Verifier for Fixed {
    fn verify(&self, _: &Credential<'_>) -> MaybeReady<Result<Principal, VerifyError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        MaybeReady::Ready(
            self.answer
                .clone()
                .map(|s| Principal::new(Identity::new(s))),
        )
    }
}

#[tokio::test]
async fn an_empty_chain_accepts_nothing() {
    let chain = FirstMatch::new();
    assert_eq!(
        chain.verify(&bearer("anything")).await.unwrap_err(),
        VerifyError::NotApplicable
    );
}

#[tokio::test]
async fn not_applicable_falls_through() {
    let first = Fixed::new(Err(VerifyError::NotApplicable));
    let second = Fixed::new(Err(VerifyError::NotApplicable));
    let third = Fixed::new(Ok("third"));
    let fourth = Fixed::new(Ok("fourth"));
    let chain = FirstMatch::new()
        .or(first.clone())
        .or(second.clone())
        .or(third.clone())
        .or(fourth.clone());
    let answer = chain.verify(&bearer("t"));
    assert!(answer.is_ready(), "a chain of ready verifiers stays ready");
    assert_eq!(answer.await.unwrap().subject(), "third");
    assert_eq!(
        (first.calls(), second.calls(), third.calls(), fourth.calls()),
        (1, 1, 1, 0)
    );
}

#[tokio::test]
async fn invalid_stops_the_chain() {
    let first = Fixed::new(Err(VerifyError::invalid("revoked")));
    let second = Fixed::new(Ok("second"));
    let chain = FirstMatch::new().or(first.clone()).or(second.clone());
    assert_eq!(
        chain.verify(&bearer("t")).await.unwrap_err(),
        VerifyError::invalid("revoked")
    );
    assert_eq!((first.calls(), second.calls()), (1, 0));

    // Unavailable stops it too.
    let down = Fixed::new(Err(VerifyError::unavailable("backend down")));
    let chain = FirstMatch::new().or(down).or(second.clone());
    assert!(matches!(
        chain.verify(&bearer("t")).await,
        Err(VerifyError::Unavailable(_))
    ));
    assert_eq!(second.calls(), 0);
}

#[tokio::test]
async fn an_async_verifier_in_the_middle() {
    let async_calls = Arc::new(AtomicUsize::new(0));
    let seen = async_calls.clone();
    // Recognises tokens starting with "async-", passes on the others, after an await.
    let middle = move |c: Credential<'static>| {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            match c.token() {
                Some(t) if t.starts_with("async-bad") => Err(VerifyError::invalid("bad")),
                Some(t) if t.starts_with("async-") => {
                    Ok(Principal::new(Identity::new(format!("async:{t}"))))
                }
                _ => Err(VerifyError::NotApplicable),
            }
        }
    };
    let first = Fixed::new(Err(VerifyError::NotApplicable));
    let last = Fixed::new(Ok("last"));
    let chain = FirstMatch::new()
        .or(first.clone())
        .or(middle)
        .or(last.clone());

    // The async verifier answers: the last is never asked.
    let answer = chain.verify(&bearer("async-1"));
    assert!(!answer.is_ready());
    assert_eq!(answer.await.unwrap().subject(), "async:async-1");
    assert_eq!(last.calls(), 0);

    // It passes: the chain continues after the await.
    assert_eq!(
        chain.verify(&bearer("other")).await.unwrap().subject(),
        "last"
    );
    assert_eq!(last.calls(), 1);

    // It refuses: the chain stops.
    assert_eq!(
        chain.verify(&bearer("async-bad")).await.unwrap_err(),
        VerifyError::invalid("bad")
    );
    assert_eq!(last.calls(), 1);
    assert_eq!(first.calls(), 3);
    assert_eq!(async_calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn real_verifiers_chained() {
    let keys = ApiKeyStore::new();
    keys.insert("k-123", Identity::new("svc")).await.unwrap();
    let users = BasicUsers::new();
    users
        .insert_password("alice", "pw-alice", Identity::new("u-alice"))
        .unwrap();
    let chain = FirstMatch::new()
        .or(JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap())
        .or(BasicVerifier::new(users))
        .or(ApiKeyVerifier::new(keys).accept_bearer(true));

    assert_eq!(
        chain.verify(&api_key("k-123")).await.unwrap().subject(),
        "svc"
    );
    assert_eq!(
        chain.verify(&bearer("k-123")).await.unwrap().subject(),
        "svc"
    );
    assert_eq!(
        chain
            .verify(&Credential::basic("alice", "pw-alice", Source::Header))
            .await
            .unwrap()
            .subject(),
        "u-alice"
    );
    assert_invalid(
        chain
            .verify(&Credential::basic("alice", "nope", Source::Header))
            .await,
    );
    // A JWT-shaped bearer is decided by the JWT verifier: refused, not passed to the key store.
    assert_invalid(chain.verify(&bearer("aaaa.bbbb.cccc")).await);
    assert_invalid(chain.verify(&bearer("unknown-key")).await);
    assert!(format!("{chain:?}").contains('3'));
}
