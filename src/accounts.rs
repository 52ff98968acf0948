//! The provider's users, in one place: Basic login, the sudo/tenant directory, and the
//! disabled flag that every credential of the user obeys.
//!
//! ```
//! use tower_gatekeeper::accounts::{UserAccount, UserRegistry};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let users = UserRegistry::new();
//! users.insert(UserAccount::new("1001", "alice").password("alice-password")).await.unwrap();
//! assert!(!users.disabled("1001").await.unwrap());
//! users.set_disabled("1001", true).await.unwrap();
//! assert!(users.disabled("1001").await.unwrap());
//! # });
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::impersonate::user_store::{Step, UserRecord};
use crate::impersonate::{DirectoryUser, InMemoryDirectory};
use crate::maybe_ready::MaybeReady;
use crate::store::StoreError;
use crate::verify::BasicVerifier;

/// A password prepared by RFC 8265 §4.2's OpaqueString profile (RFC 7617 §2.1 asks for it):
/// non-ASCII spaces become U+0020, then NFC. Passwords are hashed and verified in this form,
/// so a password typed in NFD matches the one registered in NFC. Case and width are kept.
///
/// ```
/// use tower_gatekeeper::accounts::canonical_password;
/// assert_eq!(canonical_password("pa\u{A0}sse\u{301}"), "pa ss\u{E9}");
/// assert_eq!(canonical_password("Plain ASCII"), "Plain ASCII");
/// ```
pub fn canonical_password(password: &str) -> Cow<'_, str> {
    use unicode_normalization::UnicodeNormalization;
    if password.is_ascii() {
        return Cow::Borrowed(password);
    }
    let spaced = password.chars().map(|c| match c {
        // The Zs (space separator) characters other than U+0020 (RFC 8265 §4.2.1).
        '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => {
            ' '
        }
        c => c,
    });
    Cow::Owned(spaced.nfc().collect())
}

/// A user to create: the directory fields plus a password (hashed here) or a PHC hash.
#[derive(Clone, Default)]
pub struct UserAccount {
    user: DirectoryUser,
    password: Option<String>,
    password_hash: Option<String>,
}

impl fmt::Debug for UserAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAccount")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl UserAccount {
    /// A user with a uid and a login name, no password (cannot log in with Basic).
    pub fn new(uid: impl Into<String>, login_name: impl Into<String>) -> Self {
        Self {
            user: DirectoryUser::new(uid, login_name),
            ..Self::default()
        }
    }
    /// The password, prepared with [`canonical_password`] and hashed with argon2id when
    /// inserted.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }
    /// An argon2 PHC hash computed elsewhere, of the password prepared with
    /// [`canonical_password`].
    pub fn password_hash(mut self, phc: impl Into<String>) -> Self {
        self.password_hash = Some(phc.into());
        self
    }
    /// The e-mail address.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.user.email = Some(email.into());
        self
    }
    /// The mobile number.
    pub fn mobile(mut self, mobile: impl Into<String>) -> Self {
        self.user.mobile = Some(mobile.into());
        self
    }
    /// The tenant ids the user belongs to.
    pub fn tenants<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tenants: I) -> Self {
        self.user.tenants = tenants.into_iter().map(Into::into).collect();
        self
    }
    /// The user's scopes.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.user.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
    /// The user's roles.
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.user.roles = roles.into_iter().map(Into::into).collect();
        self
    }
    /// Creates the user disabled.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.user.disabled = disabled;
        self
    }
}

pub use crate::impersonate::UserError;

/// The provider's users: one record per user (directory fields, password hash, disabled flag)
/// behind the Basic verifier ([`basic_verifier`](Self::basic_verifier)), the sudo/tenant
/// directory ([`directory`](Self::directory)) and the issuer's disabled check, so disabling a
/// user stops every way in at once, and no change to the flag can undo a password change.
///
/// In memory by default ([`new`](Self::new)); with [`redis`](Self::redis) (feature `redis`)
/// the records live in Redis, shared by every node, and each node caches what it reads.
/// Writes are `async` (in memory mode they complete at once, without waiting); reads on the
/// request path return [`MaybeReady`], ready from memory.
#[derive(Clone, Default)]
pub struct UserRegistry {
    directory: InMemoryDirectory,
}

impl fmt::Debug for UserRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRegistry")
            .field("directory", &self.directory)
            .finish_non_exhaustive()
    }
}

impl UserRegistry {
    /// No users, in this process's memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The users kept in Redis (see [`InMemoryDirectory::redis`] for the keys), with this
    /// node's cache in front. Creating a user also checks, in the same atomic write, that no
    /// client holds its uid (`client:<uid>` absent).
    #[cfg(feature = "redis")]
    pub fn redis(store: &crate::store::RedisStore) -> Self {
        Self {
            directory: InMemoryDirectory::redis(store),
        }
    }

    /// Creates or replaces a user (by uid). A replaced user's old login name, e-mail and
    /// mobile stop naming it, and so does its password when the new account has none.
    ///
    /// A password given with [`UserAccount::password`] is hashed here, on the calling thread
    /// (slow on purpose): on a request path, hash under a
    /// [`HashingPool`](crate::verify::HashingPool) and pass
    /// [`UserAccount::password_hash`].
    pub async fn insert(&self, account: UserAccount) -> Result<(), UserError> {
        self.store(account, false, &|_| true).await
    }

    /// Creates a new user; [`UserError::Exists`] if the uid is taken, decided atomically (in
    /// redis mode, across every node: of two nodes creating the same uid, exactly one wins).
    pub async fn create(&self, account: UserAccount) -> Result<(), UserError> {
        self.store(account, true, &|_| true).await
    }

    /// Like [`create`](Self::create), also refusing (with [`UserError::Exists`]) a uid that
    /// `uid_free` says is taken elsewhere — a client id, say. In memory mode `uid_free` runs
    /// under this registry's writer lock, so it is decided atomically with respect to other
    /// user writes (and to work done under [`with_writer_lock`](Self::with_writer_lock)). In
    /// redis mode it runs before the write, and the write itself checks `client:<uid>`.
    pub async fn create_if(
        &self,
        account: UserAccount,
        uid_free: impl Fn(&str) -> bool + Send + Sync,
    ) -> Result<(), UserError> {
        self.store(account, true, &uid_free).await
    }

    /// Runs `f` under the memory-mode writer lock: no user is created, replaced or disabled
    /// through this process's memory-mode registry meanwhile. (In redis mode writes do not
    /// take it: they are atomic in Redis.)
    pub fn with_writer_lock<T>(&self, f: impl FnOnce() -> T) -> T {
        self.directory.tables().with_writer_lock(f)
    }

    async fn store(
        &self,
        account: UserAccount,
        only_new: bool,
        uid_free: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<(), UserError> {
        crate::impersonate::check_names(&account.user)?;
        let phc: Option<Box<str>> = match (&account.password, &account.password_hash) {
            (Some(password), _) => Some(
                crate::verify::hash_password(&canonical_password(password))
                    .map_err(|_| UserError::Password)?
                    .into(),
            ),
            (None, Some(phc)) => {
                crate::verify::check_phc(phc).map_err(|_| UserError::Password)?;
                Some(phc.as_str().into())
            }
            (None, None) => None,
        };
        let user = account.user;
        self.directory
            .tables()
            .change_user(&user.uid.clone(), only_new, uid_free, |previous| {
                if only_new && previous.is_some() {
                    return Err(UserError::Exists);
                }
                Ok(Step::Put(UserRecord::new(user.clone(), phc.clone())))
            })
            .await
            .map(|_| ())
    }

    /// Changes the user `uid` with `change` (its password is kept; its uid cannot change):
    /// a rename, new tenants, roles or scopes. `Ok(false)` when there is no such user. The
    /// change is applied to the user as stored at that moment, atomically (`change` may run
    /// more than once if another writer gets in first).
    ///
    /// ```
    /// use tower_gatekeeper::accounts::{UserAccount, UserRegistry};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let users = UserRegistry::new();
    /// users.insert(UserAccount::new("1001", "alice").tenants(["t-1"])).await.unwrap();
    /// users.update("1001", |u| u.tenants.push("t-2".into())).await.unwrap();
    /// let alice = users.get("1001").await.unwrap().unwrap();
    /// assert_eq!(alice.tenants, ["t-1", "t-2"]);
    /// # });
    /// ```
    pub async fn update(
        &self,
        uid: &str,
        change: impl Fn(&mut DirectoryUser) + Send + Sync,
    ) -> Result<bool, UserError> {
        let outcome = self
            .directory
            .tables()
            .change_user(uid, false, &|_| true, |current| {
                let Some(current) = current else {
                    return Ok(Step::Missing);
                };
                let mut user = DirectoryUser::clone(&current.user);
                change(&mut user);
                user.uid = current.user.uid.clone();
                if user == *current.user {
                    return Ok(Step::Keep);
                }
                crate::impersonate::check_names(&user)?;
                Ok(Step::Put(UserRecord::new(user, current.password.clone())))
            })
            .await?;
        Ok(outcome != crate::impersonate::user_store::Outcome::Missing)
    }

    /// Disables or re-enables a user everywhere: Basic login, sudo target, tenant selection,
    /// and (through [`disabled`](Self::disabled)) tokens naming the user. `Ok(false)` when the
    /// user does not exist. One atomic step on the user's one record, so it never undoes a
    /// concurrent password change or replacement.
    pub async fn set_disabled(&self, uid: &str, disabled: bool) -> Result<bool, UserError> {
        crate::impersonate::set_disabled_in(self.directory.tables(), uid, disabled).await
    }

    /// Whether `uid` is a disabled user (unknown uids are not): ready from memory; in redis
    /// mode one read when this node has not cached the user, and a [`StoreError`] (answer
    /// 503) when the store cannot say.
    pub fn disabled(&self, uid: &str) -> MaybeReady<Result<bool, StoreError>> {
        self.directory
            .tables()
            .user(uid)
            .map(|r| r.map(|u| u.is_some_and(|u| u.user.disabled)))
    }

    /// [`disabled`](Self::disabled), synchronously, for callers that cannot wait: exact in
    /// memory mode. In redis mode, when this node has not cached the user (or its view is
    /// stale), it answers `true` — refuse, never a pass — and starts reading the user so a
    /// later call can answer. Prefer [`disabled`](Self::disabled).
    pub fn is_disabled(&self, uid: &str) -> bool {
        match self.disabled(uid) {
            MaybeReady::Ready(Ok(disabled)) => disabled,
            MaybeReady::Ready(Err(_)) => true,
            MaybeReady::Pending(read) => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(read);
                }
                true
            }
        }
    }

    /// Whether this node holds user `uid` (exact in memory mode; in redis mode, what this
    /// node has cached).
    pub fn contains(&self, uid: &str) -> bool {
        self.directory.user(uid).is_some()
    }

    /// The user with `uid`: ready from memory; in redis mode one read when not cached.
    pub fn get(&self, uid: &str) -> MaybeReady<Result<Option<Arc<DirectoryUser>>, StoreError>> {
        self.directory
            .tables()
            .user(uid)
            .map(|r| r.map(|u| u.map(|u| u.user.clone())))
    }

    /// The user with `uid` if this node holds it, without asking anyone (every user in
    /// memory mode).
    pub fn peek(&self, uid: &str) -> Option<Arc<DirectoryUser>> {
        self.directory.user(uid)
    }

    /// How many users this node holds (all of them in memory mode).
    pub fn len(&self) -> usize {
        self.directory.tables().user_count()
    }

    /// Whether this node holds no user.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A verifier for Basic credentials of these users (by login name, compared after
    /// [`canonical_login`](crate::impersonate::canonical_login)).
    pub fn basic_verifier(&self) -> BasicVerifier {
        BasicVerifier::for_registry(self.directory.tables().clone())
    }

    /// The directory for [`Impersonation`](crate::impersonate::Impersonation): the same
    /// records.
    pub fn directory(&self) -> InMemoryDirectory {
        self.directory.clone()
    }
}
