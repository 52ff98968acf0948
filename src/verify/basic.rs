//! User names and passwords (RFC 7617) against argon2 hashes.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};

use super::hashing::{HashingBusy, HashingPool};
use super::{Verification, Verifier, VerifyError};
use crate::accounts::canonical_password;
use crate::extract::{Credential, Scheme};
use crate::impersonate::canonical_login;
use crate::maybe_ready::MaybeReady;
use crate::principal::{Identity, Principal, PrincipalKind};

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
///
/// The same computation as `argon2`'s `PasswordVerifier`, with the argon2 memory taken from
/// the reusable stash of [`hashing`](super::hashing) and the outputs compared in constant time.
/// A hash that asks for more than 256 MiB of memory never matches.
/// Slow on purpose: run it under a [`HashingPool`](super::HashingPool).
pub(crate) fn password_matches(phc: &str, password: &str) -> bool {
    use argon2::{Algorithm, Params, Version};
    use subtle::ConstantTimeEq as _;

    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut computed = [0u8; argon2::password_hash::Output::MAX_LENGTH];
    let Some(computed) = computed.get_mut(..expected.len()) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > super::hashing::MAX_ARGON2_BLOCKS {
        return false;
    }
    let argon2 = Argon2::new(algorithm, version, params);
    let hashed = super::hashing::with_argon2_memory(blocks, |memory| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, computed, memory)
            .is_ok()
    });
    hashed && bool::from(computed.ct_eq(expected.as_bytes()))
}

struct User {
    phc: String,
    identity: Arc<Identity>,
    disabled: bool,
}

struct Users {
    /// Keyed by [`canonical_login`]: `Alice`, `alice` and `ａｌｉｃｅ` are one login.
    by_name: ArcSwap<HashMap<String, Arc<User>>>,
    /// Checked for unknown user names, so they cost what a wrong password costs.
    decoy: String,
}

/// Users who may authenticate with Basic credentials.
///
/// User names are compared after [`canonical_login`] (RFC 8265 UsernameCaseMapped: width
/// mapping, lower case, NFC), and passwords are prepared with [`canonical_password`] (RFC 8265
/// OpaqueString: non-ASCII spaces to U+0020, NFC) before hashing and before verifying, so the
/// NFC and NFD spellings of one name or password are the same (RFC 7617 §2.1). Every identity
/// stored here is a [`PrincipalKind::User`].
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
        let phc = hash_password(&canonical_password(password))?;
        self.insert_hash(name, &phc, identity)
    }

    /// Adds (or replaces) `name` with an argon2 PHC hash computed elsewhere, of the password
    /// prepared with [`canonical_password`].
    pub fn insert_hash(
        &self,
        name: &str,
        phc: &str,
        identity: Identity,
    ) -> Result<(), argon2::password_hash::Error> {
        self.insert_hash_disabled(name, phc, identity, false)
    }

    /// Like [`insert_hash`](Self::insert_hash), stored disabled or not in one step: a user
    /// inserted disabled is never visible enabled.
    pub fn insert_hash_disabled(
        &self,
        name: &str,
        phc: &str,
        identity: Identity,
        disabled: bool,
    ) -> Result<(), argon2::password_hash::Error> {
        let hash = PasswordHash::new(phc)?;
        let argon2 = ["argon2id", "argon2i", "argon2d"].contains(&hash.algorithm.as_str());
        if !argon2 {
            return Err(argon2::password_hash::Error::Algorithm);
        }
        if hash.hash.is_none() {
            return Err(argon2::password_hash::Error::PhcStringField);
        }
        let user = Arc::new(User {
            phc: phc.to_owned(),
            identity: Arc::new(identity.with_kind(PrincipalKind::User)),
            disabled,
        });
        let key = canonical_login(name);
        self.inner.by_name.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(key.clone(), user.clone());
            map
        });
        Ok(())
    }

    /// Disables or re-enables `name`; returns whether the user exists.
    ///
    /// One compare-and-swap step: the flag is applied to the user as stored at that moment,
    /// so a password changed meanwhile is never put back.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> bool {
        let key = canonical_login(name);
        let mut found = false;
        self.inner.by_name.rcu(|map| {
            let mut map = HashMap::clone(map);
            found = match map.get_mut(&key) {
                Some(user) => {
                    if user.disabled != disabled {
                        *user = Arc::new(User {
                            phc: user.phc.clone(),
                            identity: user.identity.clone(),
                            disabled,
                        });
                    }
                    true
                }
                None => false,
            };
            map
        });
        found
    }

    /// Whether `name` is disabled; `None` when it is not known.
    pub fn is_disabled(&self, name: &str) -> Option<bool> {
        let key = canonical_login(name);
        self.inner.by_name.load().get(&key).map(|u| u.disabled)
    }

    /// Removes `name`; returns whether it was there.
    pub fn remove(&self, name: &str) -> bool {
        let key = canonical_login(name);
        let mut removed = false;
        self.inner.by_name.rcu(|map| {
            let mut map = HashMap::clone(map);
            removed = map.remove(&key).is_some();
            map
        });
        removed
    }

    /// Whether `name` is known.
    pub fn contains(&self, name: &str) -> bool {
        self.inner
            .by_name
            .load()
            .contains_key(&canonical_login(name))
    }

    fn check(&self, name: &str, password: &str) -> Result<Arc<Identity>, VerifyError> {
        // RFC 7617 §2.1 / RFC 8265: the prepared forms are compared, not the octets sent.
        let password = &*canonical_password(password);
        let user = self
            .inner
            .by_name
            .load()
            .get(&canonical_login(name))
            .cloned();
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
                Ok(user.identity.clone())
            }
        }
    }
}

/// Verifies Basic credentials against [`BasicUsers`].
///
/// Hashing is deliberately slow, so it runs on tokio's blocking pool when a runtime is present
/// and never stalls the request executor, under a [`HashingPool`] (by default the
/// process-wide [`HashingPool::shared`]): when the pool is saturated the answer is
/// [`VerifyError::Unavailable`], which the layer renders as 503, so a flood of unknown user
/// names cannot grow memory or threads without bound.
///
/// ```
/// use tower_gatekeeper::verify::{BasicUsers, BasicVerifier, HashingPool};
///
/// let verifier = BasicVerifier::new(BasicUsers::new())
///     .hashing(HashingPool::builder().permits(2).build());
/// # let _ = verifier;
/// ```
#[derive(Debug, Clone)]
pub struct BasicVerifier {
    users: BasicUsers,
    hashing: HashingPool,
}

impl BasicVerifier {
    /// A verifier for `users`, bounded by the process-wide [`HashingPool::shared`].
    pub fn new(users: BasicUsers) -> Self {
        Self {
            users,
            hashing: HashingPool::shared(),
        }
    }

    /// Bounds password checks with `pool` instead of the process-wide pool.
    pub fn hashing(mut self, pool: HashingPool) -> Self {
        self.hashing = pool;
        self
    }
}

fn busy(refused: HashingBusy) -> VerifyError {
    match refused {
        HashingBusy::Failed => VerifyError::unavailable("the password check failed"),
        _ => VerifyError::unavailable("too many password checks at once; try again shortly"),
    }
}

impl Verifier for BasicVerifier {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        let (Scheme::Basic, Some((name, password))) =
            (credential.scheme(), credential.basic_parts())
        else {
            return MaybeReady::Ready(Err(VerifyError::NotApplicable));
        };
        let users = self.users.clone();
        let (name, password) = (name.to_owned(), password.to_owned());
        let run = move || users.check(&name, &password).map(Principal::new);
        if tokio::runtime::Handle::try_current().is_err() {
            // No runtime to wait on: run here if a permit is free, else refuse.
            return MaybeReady::Ready(
                self.hashing
                    .try_run_now(run)
                    .unwrap_or_else(|e| Err(busy(e))),
            );
        }
        let pool = self.hashing.clone();
        MaybeReady::pending(async move { pool.run(run).await.unwrap_or_else(|e| Err(busy(e))) })
    }
}
