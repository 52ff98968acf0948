//! User names and passwords (RFC 7617) against argon2 hashes.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

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
