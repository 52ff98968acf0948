//! The disabled flag under concurrency: every change is one atomic step, so a user created
//! disabled is never visible enabled anywhere, and toggling the flag never puts back a password
//! that was just replaced.
//!
//! Plain threads hammer the stores (no runtime: `BasicVerifier` then answers synchronously,
//! and the registry's memory-mode writes complete on their first poll); the assertions are
//! about states, never about timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use tower_gatekeeper::MaybeReady;
use tower_gatekeeper::accounts::{UserAccount, UserRegistry, canonical_password};
use tower_gatekeeper::extract::{Credential, Source};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{BasicUsers, BasicVerifier, HashingPool, Verifier, VerifyError};

fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"races-salt-16by!").unwrap();
    argon
        .hash_password(canonical_password(password).as_bytes(), &salt)
        .unwrap()
        .to_string()
}

/// Runs a memory-mode write, which completes without waiting: it must be ready at once.
fn now<F: std::future::Future>(write: F) -> F::Output {
    let mut write = std::pin::pin!(write);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match write.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("a memory-mode write waited"),
    }
}

fn ready<T>(read: MaybeReady<T>) -> T {
    match read {
        MaybeReady::Ready(value) => value,
        MaybeReady::Pending(_) => panic!("a memory-mode read waited"),
    }
}

fn login(verifier: &BasicVerifier, name: &str, password: &str) -> Result<String, VerifyError> {
    match verifier.verify(&Credential::basic(name, password, Source::Header)) {
        MaybeReady::Ready(result) => result.map(|p| p.subject().to_owned()),
        MaybeReady::Pending(_) => panic!("no runtime: the check must be synchronous"),
    }
}

const PASSWORDS: [&str; 4] = ["first pw", "second pw", "third pw", "final pw"];

#[test]
fn basic_users_set_disabled_never_puts_back_a_replaced_password() {
    let hashes: Vec<String> = PASSWORDS.iter().map(|p| cheap_hash(p)).collect();
    for round in 0..40 {
        let users = BasicUsers::new();
        users
            .insert_hash("alice", &hashes[0], Identity::new("1001"))
            .unwrap();
        let changer = {
            let (users, hashes) = (users.clone(), hashes.clone());
            thread::spawn(move || {
                for i in 0..200 {
                    let h = &hashes[1 + i % 2];
                    users
                        .insert_hash("alice", h, Identity::new("1001"))
                        .unwrap();
                }
                users
                    .insert_hash("alice", &hashes[3], Identity::new("1001"))
                    .unwrap();
            })
        };
        let toggler = {
            let users = users.clone();
            thread::spawn(move || {
                for i in 0..400 {
                    assert!(users.set_disabled("alice", i % 2 == 0));
                }
            })
        };
        changer.join().unwrap();
        toggler.join().unwrap();
        users.set_disabled("alice", false);
        // Its own bound: the other tests of this binary hash at the same time.
        let verifier = BasicVerifier::new(users).hashing(HashingPool::builder().permits(1).build());
        assert_eq!(
            login(&verifier, "alice", "final pw").as_deref(),
            Ok("1001"),
            "round {round}: the last password change was lost"
        );
        for old in &PASSWORDS[..3] {
            assert!(
                login(&verifier, "alice", old).is_err(),
                "round {round}: {old}"
            );
        }
    }
}

#[test]
fn a_user_created_disabled_is_never_visible_enabled() {
    let hash = cheap_hash("pw");
    let users = UserRegistry::new();
    let verifier = users
        .basic_verifier()
        .hashing(HashingPool::builder().permits(1).build());
    let done = Arc::new(AtomicBool::new(false));
    const N: usize = 300;
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (users, verifier, done) = (users.clone(), verifier.clone(), done.clone());
            thread::spawn(move || {
                let mut seen = 0usize;
                // Passes while the users are inserted, and one more once they all are (a busy
                // machine may not run a reader before the writer is done).
                loop {
                    let last = done.load(Ordering::SeqCst);
                    for i in (0..N).step_by(7) {
                        let uid = format!("u{i}");
                        if let Some(user) = ready(users.get(&uid)).unwrap() {
                            seen += 1;
                            assert!(user.disabled, "{uid} visible enabled in the directory");
                            assert!(ready(users.disabled(&uid)).unwrap(), "{uid} not disabled");
                            assert!(users.is_disabled(&uid), "{uid} not disabled (sync)");
                        }
                        // Basic login never succeeds, at any moment.
                        if let Ok(who) = login(&verifier, &format!("login-{i}"), "pw") {
                            panic!("{who} logged in while created disabled");
                        }
                    }
                    if last {
                        break;
                    }
                }
                seen
            })
        })
        .collect();
    for i in 0..N {
        now(users.insert(
            UserAccount::new(format!("u{i}"), format!("login-{i}"))
                .password_hash(&hash)
                .disabled(true),
        ))
        .unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(seen > 0, "the readers never saw a user");
    // And afterwards: every one of them is disabled everywhere; enabling works.
    for i in 0..N {
        let uid = format!("u{i}");
        assert!(users.peek(&uid).unwrap().disabled);
        assert!(users.is_disabled(&uid));
    }
    assert!(now(users.set_disabled("u0", false)).unwrap());
    assert_eq!(login(&verifier, "login-0", "pw").as_deref(), Ok("u0"));
}

#[test]
fn registry_set_disabled_never_undoes_a_password_change() {
    let hashes: Vec<String> = PASSWORDS.iter().map(|p| cheap_hash(p)).collect();
    for round in 0..20 {
        let users = UserRegistry::new();
        now(users.insert(UserAccount::new("1001", "alice").password_hash(&hashes[0]))).unwrap();
        let changer = {
            let (users, hashes) = (users.clone(), hashes.clone());
            thread::spawn(move || {
                for i in 0..100 {
                    now(users.insert(
                        UserAccount::new("1001", "alice").password_hash(&hashes[1 + i % 2]),
                    ))
                    .unwrap();
                }
                now(users.insert(UserAccount::new("1001", "alice").password_hash(&hashes[3])))
                    .unwrap();
            })
        };
        let toggler = {
            let users = users.clone();
            thread::spawn(move || {
                for i in 0..200 {
                    assert!(now(users.set_disabled("1001", i % 2 == 0)).unwrap());
                }
            })
        };
        changer.join().unwrap();
        toggler.join().unwrap();
        assert!(now(users.set_disabled("1001", false)).unwrap());
        let verifier = users
            .basic_verifier()
            .hashing(HashingPool::builder().permits(1).build());
        assert_eq!(
            login(&verifier, "alice", "final pw").as_deref(),
            Ok("1001"),
            "round {round}: the last password change was lost"
        );
        // The three views agree.
        assert!(!users.is_disabled("1001"));
        assert!(!users.peek("1001").unwrap().disabled);
        assert!(now(users.set_disabled("1001", true)).unwrap());
        assert!(login(&verifier, "alice", "final pw").is_err());
        assert!(users.peek("1001").unwrap().disabled);
        assert!(users.is_disabled("1001"));
    }
}
