//! User names and passwords (RFC 7617) against argon2 hashes.

use std::fmt;
use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};

use super::hashing::{HashingBusy, HashingPool};
use super::{
    ReusableVerification, Reuse, Revalidation, Verification, Verified, Verifier, VerifyError,
};
use crate::accounts::canonical_password;
use crate::extract::{Credential, Scheme};
use crate::impersonate::canonical_login;
use crate::impersonate::user_store::{UserRecord, UserTables};
use crate::maybe_ready::MaybeReady;
use crate::principal::{Identity, Principal, PrincipalKind};
use crate::store::table::{Change, decode_json, encode_json};
use crate::store::{Record, StoreError, Table};
use serde::{Deserialize, Serialize};

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

/// Checks that `phc` is an argon2 PHC string with a hash (any other is refused when stored).
pub(crate) fn check_phc(phc: &str) -> Result<(), argon2::password_hash::Error> {
    let hash = PasswordHash::new(phc)?;
    let argon2 = ["argon2id", "argon2i", "argon2d"].contains(&hash.algorithm.as_str());
    if !argon2 {
        return Err(argon2::password_hash::Error::Algorithm);
    }
    if hash.hash.is_none() {
        return Err(argon2::password_hash::Error::PhcStringField);
    }
    Ok(())
}

/// One Basic login of a [`BasicUsers`] set.
struct Login {
    phc: Box<str>,
    identity: Arc<Identity>,
    disabled: bool,
    /// Unique to this record: a new password, or a disabled flag, makes a new one (a kept
    /// verification of the old record is then stale).
    generation: u64,
}

// The stored form: `BasicUsers` is memory-only today (shared Basic logins live in a
// `UserRegistry`), so nothing writes it yet; it is kept complete for a shared mode.
#[allow(dead_code)]
#[derive(Serialize)]
struct LoginOut<'a> {
    phc: &'a str,
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    scopes: &'a [String],
    roles: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<(&'a str, Option<&'a str>)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<&'a serde_json::Map<String, serde_json::Value>>,
    disabled: bool,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct LoginIn {
    phc: String,
    subject: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    tenant: Option<(String, Option<String>)>,
    #[serde(default)]
    claims: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    disabled: bool,
}

impl Record for Login {
    const KIND: &'static str = "basic";

    fn encode(&self) -> Vec<u8> {
        let i = &*self.identity;
        encode_json(&LoginOut {
            phc: &self.phc,
            subject: i.subject(),
            client_id: i.client_id(),
            scopes: i.scopes(),
            roles: i.roles(),
            tenant: i.tenant().map(|t| (t.id.as_str(), t.code.as_deref())),
            claims: i.claims(),
            disabled: self.disabled,
        })
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let d: LoginIn = decode_json(Self::KIND, bytes)?;
        let mut identity = Identity::new(d.subject)
            .with_kind(PrincipalKind::User)
            .with_scopes(d.scopes)
            .with_roles(d.roles);
        if let Some(client_id) = d.client_id {
            identity = identity.with_client_id(client_id);
        }
        if let Some((id, code)) = d.tenant {
            identity = identity.with_tenant(crate::principal::Tenant::new(id, code));
        }
        if let Some(claims) = d.claims {
            identity = identity.with_claims(claims);
        }
        Ok(Self {
            phc: d.phc.into(),
            identity: Arc::new(identity),
            disabled: d.disabled,
            generation: crate::store::next_record_stamp(),
        })
    }
}

/// The process-wide decoy: checked for unknown user names, so they cost what a wrong
/// password costs (default argon2 parameters, as [`hash_password`] uses).
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that matches nothing").unwrap_or_default())
}

/// Users who may authenticate with Basic credentials, in this process's memory.
///
/// User names are compared after [`canonical_login`] (RFC 8265 UsernameCaseMapped: width
/// mapping, lower case, NFC), and passwords are prepared with [`canonical_password`] (RFC 8265
/// OpaqueString: non-ASCII spaces to U+0020, NFC) before hashing and before verifying, so the
/// NFC and NFD spellings of one name or password are the same (RFC 7617 §2.1). Every identity
/// stored here is a [`PrincipalKind::User`].
///
/// Readers never take a lock, and each write changes one entry (O(1), never a copy of the
/// set). For users shared by several nodes (in Redis), use
/// [`UserRegistry`](crate::accounts::UserRegistry) and its
/// [`basic_verifier`](crate::accounts::UserRegistry::basic_verifier).
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
    /// Keyed by [`canonical_login`]: `Alice`, `alice` and `ａｌｉｃｅ` are one login.
    logins: Arc<Table<Login>>,
}

impl fmt::Debug for BasicUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BasicUsers({} users)", self.logins.len())
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
        Self {
            logins: Table::memory(),
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
        check_phc(phc)?;
        self.logins.insert(
            &canonical_login(name),
            Login {
                phc: phc.into(),
                identity: Arc::new(identity.with_kind(PrincipalKind::User)),
                disabled,
                generation: crate::store::next_record_stamp(),
            },
        );
        Ok(())
    }

    /// Disables or re-enables `name`; returns whether the user exists.
    ///
    /// One atomic step on the entry as stored at that moment, so a password changed meanwhile
    /// is never put back.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> bool {
        self.logins
            .update(&canonical_login(name), |current| match current {
                Some(user) if user.disabled != disabled => Change::Set(
                    Login {
                        phc: user.phc.clone(),
                        identity: user.identity.clone(),
                        disabled,
                        generation: crate::store::next_record_stamp(),
                    },
                    true,
                ),
                Some(_) => Change::Keep(true),
                None => Change::Keep(false),
            })
    }

    /// Whether `name` is disabled; `None` when it is not known.
    pub fn is_disabled(&self, name: &str) -> Option<bool> {
        self.logins.peek(&canonical_login(name)).map(|u| u.disabled)
    }

    /// Removes `name`; returns whether it was there.
    pub fn remove(&self, name: &str) -> bool {
        self.logins.remove(&canonical_login(name)).is_some()
    }

    /// Whether `name` is known.
    pub fn contains(&self, name: &str) -> bool {
        self.logins.peek(&canonical_login(name)).is_some()
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.logins.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a login name stands for: a [`BasicUsers`] entry or a registry user.
enum Found {
    Login(Arc<Login>),
    User(Arc<UserRecord>),
}

impl Found {
    fn phc(&self) -> Option<&str> {
        match self {
            Self::Login(l) => Some(&l.phc),
            Self::User(u) => u.password.as_deref(),
        }
    }
    fn identity(&self) -> &Arc<Identity> {
        match self {
            Self::Login(l) => &l.identity,
            Self::User(u) => &u.identity,
        }
    }
    fn disabled(&self) -> bool {
        match self {
            Self::Login(l) => l.disabled,
            Self::User(u) => u.user.disabled,
        }
    }
    /// Unique to this record: a kept verification of another record of the name is stale.
    fn stamp(&self) -> u64 {
        match self {
            Self::Login(l) => l.generation,
            Self::User(u) => u.stamp,
        }
    }
}

/// Where a [`BasicVerifier`] looks names up.
#[derive(Clone)]
enum Logins {
    Basic(BasicUsers),
    Registry(Arc<UserTables>),
}

impl fmt::Debug for Logins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic(users) => users.fmt(f),
            Self::Registry(tables) => write!(f, "UserRegistry({tables:?})"),
        }
    }
}

impl Logins {
    fn lookup(&self, name: &str) -> MaybeReady<Result<Option<Found>, StoreError>> {
        match self {
            Self::Basic(users) => MaybeReady::Ready(Ok(users
                .logins
                .peek(&canonical_login(name))
                .map(Found::Login))),
            Self::Registry(tables) => tables.by_login(name).map(|r| r.map(|u| u.map(Found::User))),
        }
    }
}

/// The password check, on the hashing pool: a name without a usable hash costs what a wrong
/// password costs. Answers the identity and the stamp of the record that matched.
fn check(found: Option<Found>, password: &str) -> Result<(Arc<Identity>, u64), VerifyError> {
    // RFC 7617 §2.1 / RFC 8265: the prepared forms are compared, not the octets sent.
    let password = &*canonical_password(password);
    let bad = || VerifyError::invalid("invalid user name or password");
    match found.as_ref().and_then(|f| f.phc().map(|phc| (f, phc))) {
        None => {
            // Same work, same answer, as a wrong password.
            let _ = password_matches(decoy(), password);
            Err(bad())
        }
        Some((user, phc)) => {
            if !password_matches(phc, password) {
                return Err(bad());
            }
            if user.disabled() {
                return Err(VerifyError::invalid("the account is disabled"));
            }
            Ok((user.identity().clone(), user.stamp()))
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
    logins: Logins,
    hashing: HashingPool,
}

impl BasicVerifier {
    /// A verifier for `users`, bounded by the process-wide [`HashingPool::shared`].
    pub fn new(users: BasicUsers) -> Self {
        Self {
            logins: Logins::Basic(users),
            hashing: HashingPool::shared(),
        }
    }

    /// A verifier for a [`UserRegistry`](crate::accounts::UserRegistry)'s users.
    pub(crate) fn for_registry(tables: Arc<UserTables>) -> Self {
        Self {
            logins: Logins::Registry(tables),
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

impl BasicVerifier {
    /// Checks the password under the hashing bound, then makes the answer with `answer`.
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
        // The lookup may have to read the store (redis mode, not cached): it is awaited inside
        // the one future the password check needs anyway.
        let lookup = self.logins.lookup(name);
        let password = password.to_owned();
        if tokio::runtime::Handle::try_current().is_err() {
            // No runtime to wait on: run here if the record is at hand and a permit is free,
            // else refuse.
            let MaybeReady::Ready(found) = lookup else {
                return MaybeReady::Ready(Err(VerifyError::unavailable(
                    "the user store cannot be read without a runtime",
                )));
            };
            return MaybeReady::Ready(match found {
                Ok(found) => self
                    .hashing
                    .try_run_now(move || check(found, &password).map(|(i, s)| answer(i, s)))
                    .unwrap_or_else(|e| Err(busy(e))),
                Err(e) => Err(e.into()),
            });
        }
        let pool = self.hashing.clone();
        MaybeReady::pending(async move {
            // A store that cannot answer is a 503, never a pass (and never a guess).
            let found = lookup.await?;
            pool.run(move || check(found, &password).map(|(i, s)| answer(i, s)))
                .await
                .unwrap_or_else(|e| Err(busy(e)))
        })
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

    /// From memory only: the record that matched must still be the name's record (same stamp)
    /// and enabled. A user this node cannot answer for at once (redis mode: not cached, or its
    /// view older than the staleness bound) makes the answer stale: the credential is checked
    /// afresh, which reads Redis, and a Redis that cannot answer is a 503.
    fn revalidate(&self, credential: &Credential<'_>, _: &Principal, stamp: u64) -> Revalidation {
        let Some((name, _)) = credential.basic_parts() else {
            return Revalidation::Stale;
        };
        let found = match self.logins.lookup(name) {
            MaybeReady::Ready(Ok(found)) => found,
            MaybeReady::Ready(Err(e)) => return Revalidation::Invalid(e.into()),
            MaybeReady::Pending(_) => return Revalidation::Stale,
        };
        match found {
            None => Revalidation::Invalid(VerifyError::invalid("invalid user name or password")),
            Some(user) if user.disabled() => {
                Revalidation::Invalid(VerifyError::invalid("the account is disabled"))
            }
            Some(user) if user.stamp() != stamp => Revalidation::Stale,
            Some(_) => Revalidation::Valid,
        }
    }
}
