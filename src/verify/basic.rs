//! User names and passwords (RFC 7617) against argon2 hashes.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::{
    ReusableVerification, Reuse, Revalidation, Verification, Verified, Verifier, VerifyError,
};
use crate::extract::{Credential, Scheme};
use crate::maybe_ready::MaybeReady;
use crate::principal::{Identity, Principal};

/// Hashes `password` with argon2id (default parameters, random salt) into a PHC string.
///
/// ```
/// let phc = tower_gatekeeper::verify::hash_password("correct horse").unwrap();
/// assert!(phc.starts_with("$argon2id$"));
/// ```
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| argon2::password_hash::Error::Crypto)?;
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Checks `password` against a PHC string; any parse error is a mismatch.
pub(crate) fn password_matches(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

struct User {
    phc: String,
    identity: Arc<Identity>,
    disabled: bool,
    /// Unique to this record: a new password, or a disabled flag, makes a new one.
    generation: u64,
}

/// Numbers user records, process-wide.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

struct Users {
    by_name: ArcSwap<HashMap<String, Arc<User>>>,
    /// Checked for unknown user names, so they cost what a wrong password costs.
    decoy: String,
}

/// Users who may authenticate with Basic credentials.
///
/// ```
/// use tower_gatekeeper::verify::BasicUsers;
/// use tower_gatekeeper::principal::Identity;
///
/// let users = BasicUsers::new();
/// users.insert_password("alice", "s3cret-pass", Identity::new("u-1")).unwrap();
/// assert!(users.contains("alice"));
/// ```
#[derive(Clone)]
pub struct BasicUsers {
    inner: Arc<Users>,
}

impl fmt::Debug for BasicUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BasicUsers({} users)", self.inner.by_name.load().len())
    }
}

impl Default for BasicUsers {
    fn default() -> Self {
        Self::new()
    }
}

impl BasicUsers {
    /// An empty user set.
    pub fn new() -> Self {
        let decoy = hash_password("decoy password that matches nothing").unwrap_or_default();
        Self {
            inner: Arc::new(Users {
                by_name: ArcSwap::default(),
                decoy,
            }),
        }
    }

    /// Adds (or replaces) `name` with a password, hashed here.
    pub fn insert_password(
        &self,
        name: &str,
        password: &str,
        identity: Identity,
    ) -> Result<(), argon2::password_hash::Error> {
        let phc = hash_password(password)?;
        self.insert_hash(name, &phc, identity)
    }

    /// Adds (or replaces) `name` with an argon2 PHC hash computed elsewhere.
    pub fn insert_hash(
        &self,
        name: &str,
        phc: &str,
        identity: Identity,
    ) -> Result<(), argon2::password_hash::Error> {
        let hash = PasswordHash::new(phc)?;
        let argon2 = ["argon2id", "argon2i", "argon2d"].contains(&hash.algorithm.as_str());
        if !argon2 {
            return Err(argon2::password_hash::Error::Algorithm);
        }
        if hash.hash.is_none() {
            return Err(argon2::password_hash::Error::PhcStringField);
        }
        self.store(
            name,
            User {
                phc: phc.to_owned(),
                identity: Arc::new(identity),
                disabled: false,
                generation: 0,
            },
        );
        Ok(())
    }

    fn store(&self, name: &str, mut user: User) {
        user.generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
        let user = Arc::new(user);
        self.inner.by_name.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(name.to_owned(), user.clone());
            map
        });
    }

    /// Disables or re-enables `name`; returns whether the user exists.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> bool {
        let Some(user) = self.inner.by_name.load().get(name).cloned() else {
            return false;
        };
        self.store(
            name,
            User {
                phc: user.phc.clone(),
                identity: user.identity.clone(),
                disabled,
                generation: 0,
            },
        );
        true
    }

    /// Removes `name`; returns whether it was there.
    pub fn remove(&self, name: &str) -> bool {
        let mut removed = false;
        self.inner.by_name.rcu(|map| {
            let mut map = HashMap::clone(map);
            removed = map.remove(name).is_some();
            map
        });
        removed
    }

    /// Whether `name` is known.
    pub fn contains(&self, name: &str) -> bool {
        self.inner.by_name.load().contains_key(name)
    }

    /// The identity of `name` if `password` is theirs, and the generation of the record that
    /// said so.
    fn check(&self, name: &str, password: &str) -> Result<(Arc<Identity>, u64), VerifyError> {
        let user = self.inner.by_name.load().get(name).cloned();
        let bad = || VerifyError::invalid("invalid user name or password");
        match user {
            None => {
                // Same work, same answer, as a wrong password.
                let _ = password_matches(&self.inner.decoy, password);
                Err(bad())
            }
            Some(user) => {
                if !password_matches(&user.phc, password) {
                    return Err(bad());
                }
                if user.disabled {
                    return Err(VerifyError::invalid("the account is disabled"));
                }
                Ok((user.identity.clone(), user.generation))
            }
        }
    }
}

/// Verifies Basic credentials against [`BasicUsers`].
///
/// Hashing is deliberately slow, so it runs on tokio's blocking pool when a runtime is present
/// and never stalls the request executor.
#[derive(Debug, Clone)]
pub struct BasicVerifier {
    users: BasicUsers,
}

impl BasicVerifier {
    /// A verifier for `users`.
    pub fn new(users: BasicUsers) -> Self {
        Self { users }
    }
}

impl BasicVerifier {
    fn run<T: Send + 'static>(
        &self,
        credential: &Credential<'_>,
        answer: fn(Arc<Identity>, u64) -> T,
    ) -> MaybeReady<Result<T, VerifyError>> {
        let (Scheme::Basic, Some((name, password))) =
            (credential.scheme(), credential.basic_parts())
        else {
            return MaybeReady::Ready(Err(VerifyError::NotApplicable));
        };
        let users = self.users.clone();
        let (name, password) = (name.to_owned(), password.to_owned());
        let run = move || {
            users
                .check(&name, &password)
                .map(|(identity, generation)| answer(identity, generation))
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => MaybeReady::pending(async move {
                handle
                    .spawn_blocking(run)
                    .await
                    .unwrap_or_else(|_| Err(VerifyError::unavailable("password check failed")))
            }),
            Err(_) => MaybeReady::Ready(run()),
        }
    }
}

impl Verifier for BasicVerifier {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        self.run(credential, |identity, _| Principal::new(identity))
    }

    /// A verified password holds while the user's record is the one that matched it: a new
    /// password makes the kept answer stale (the password is checked again), a disabled or
    /// removed user is refused at once.
    fn verify_reusable(&self, credential: &Credential<'_>) -> ReusableVerification {
        self.run(credential, |identity, generation| {
            Verified::reusable(
                Principal::new(identity),
                Reuse::unlimited().with_stamp(generation),
            )
        })
    }

    fn revalidate(&self, credential: &Credential<'_>, _: &Principal, stamp: u64) -> Revalidation {
        let Some((name, _)) = credential.basic_parts() else {
            return Revalidation::Stale;
        };
        let users = self.users.inner.by_name.load();
        match users.get(name) {
            None => Revalidation::Invalid(VerifyError::invalid("invalid user name or password")),
            Some(user) if user.disabled => {
                Revalidation::Invalid(VerifyError::invalid("the account is disabled"))
            }
            Some(user) if user.generation != stamp => Revalidation::Stale,
            Some(_) => Revalidation::Valid,
        }
    }
}
