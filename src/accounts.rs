//! The provider's users, in one place: Basic login, the sudo/tenant directory, and the
//! disabled flag that every credential of the user obeys.
//!
//! ```
//! use tower_gatekeeper::accounts::{UserAccount, UserRegistry};
//!
//! let users = UserRegistry::new();
//! users.insert(UserAccount::new("1001", "alice").password("alice-password")).unwrap();
//! assert!(!users.is_disabled("1001"));
//! users.set_disabled("1001", true);
//! assert!(users.is_disabled("1001"));
//! ```

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::impersonate::{DirectoryUser, InMemoryDirectory, canonical_login};
use crate::principal::{Identity, PrincipalKind};
use crate::verify::{BasicUsers, BasicVerifier};

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

/// Why a user could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserError {
    /// The uid or login name is empty.
    Empty,
    /// Another user already has this login name (compared after [`canonical_login`]).
    LoginNameTaken,
    /// The login name holds control or compatibility characters
    /// ([`is_valid_login`](crate::impersonate::is_valid_login)).
    LoginNameInvalid,
    /// The password hash is not an argon2 PHC string, or hashing failed.
    Password,
    /// A user with this uid exists (from [`UserRegistry::create`]).
    Exists,
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "the uid and the login name must not be empty",
            Self::LoginNameTaken => "another user has this login name",
            Self::LoginNameInvalid => {
                "the login name holds control or compatibility characters (RFC 8265)"
            }
            Self::Password => "the password could not be stored",
            Self::Exists => "the user already exists",
        })
    }
}

impl std::error::Error for UserError {}

/// The provider's users: keeps [`BasicUsers`] (login), an [`InMemoryDirectory`] (sudo and
/// tenants) and a disabled set in step, so that disabling a user stops every way in at once.
#[derive(Clone, Default)]
pub struct UserRegistry {
    basic: BasicUsers,
    directory: InMemoryDirectory,
    disabled: Arc<ArcSwap<HashSet<String>>>,
    /// Serialises writers; readers never take it.
    writer: Arc<std::sync::Mutex<()>>,
}

impl fmt::Debug for UserRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRegistry")
            .field("directory", &self.directory)
            .finish_non_exhaustive()
    }
}

impl UserRegistry {
    /// No users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates or replaces a user (by uid). A replaced user's old login name stops working,
    /// and so does its password when the new account has none.
    pub fn insert(&self, account: UserAccount) -> Result<(), UserError> {
        self.store(account, false)
    }

    /// Creates a new user; [`UserError::Exists`] if the uid is taken, decided atomically.
    pub fn create(&self, account: UserAccount) -> Result<(), UserError> {
        self.store(account, true)
    }

    fn store(&self, account: UserAccount, only_new: bool) -> Result<(), UserError> {
        self.store_checked(account, only_new, |_| true)
    }

    /// Like [`create`](Self::create), also refusing (with [`UserError::Exists`]) a uid that
    /// `uid_free` says is taken elsewhere — a client id, say. `uid_free` runs under this
    /// registry's writer lock, so it is decided atomically with respect to other user writes.
    pub fn create_if(
        &self,
        account: UserAccount,
        uid_free: impl Fn(&str) -> bool,
    ) -> Result<(), UserError> {
        self.store_checked(account, true, uid_free)
    }

    /// Runs `f` under the writer lock: no user is created, replaced or disabled meanwhile.
    pub fn with_writer_lock<T>(&self, f: impl FnOnce() -> T) -> T {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f()
    }

    fn store_checked(
        &self,
        account: UserAccount,
        only_new: bool,
        uid_free: impl Fn(&str) -> bool,
    ) -> Result<(), UserError> {
        let user = &account.user;
        if user.uid.is_empty() || user.login_name.is_empty() {
            return Err(UserError::Empty);
        }
        if !crate::impersonate::is_valid_login(&user.login_name) {
            return Err(UserError::LoginNameInvalid);
        }
        // Hash before taking the lock: it is slow on purpose.
        let phc = match (&account.password, &account.password_hash) {
            (Some(password), _) => Some(
                crate::verify::hash_password(&canonical_password(password))
                    .map_err(|_| UserError::Password)?,
            ),
            (None, Some(phc)) => Some(phc.clone()),
            (None, None) => None,
        };
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let user = account.user;
        let taken = crate::impersonate::UserDirectory::find_user(
            &self.directory,
            &crate::impersonate::UserSelector::LoginName(user.login_name.clone()),
        );
        if let crate::MaybeReady::Ready(Ok(Some(other))) = taken
            && other.uid != user.uid
        {
            return Err(UserError::LoginNameTaken);
        }
        let previous = self.directory.user(&user.uid);
        if only_new && previous.is_some() {
            return Err(UserError::Exists);
        }
        if only_new && !uid_free(&user.uid) {
            return Err(UserError::Exists);
        }
        let identity = Identity::new(&user.uid)
            .with_kind(PrincipalKind::User)
            .with_roles(&user.roles)
            .with_scopes(&user.scopes);
        let login = canonical_login(&user.login_name);
        // A user stored disabled is never visible enabled: the disabled set is marked first,
        // and each store gets the flag in the same step that makes the user visible.
        if user.disabled {
            self.mark(&user.uid, true);
        }
        if let Some(phc) = &phc {
            self.basic
                .insert_hash_disabled(&user.login_name, phc, identity, user.disabled)
                .map_err(|_| UserError::Password)?;
        }
        // A replaced user's old login stops working; so does its password if none is given.
        if let Some(old) = previous
            && (canonical_login(&old.login_name) != login || phc.is_none())
        {
            self.basic.remove(&old.login_name);
        }
        let (uid, disabled) = (user.uid.clone(), user.disabled);
        self.directory.insert_user(user);
        if !disabled {
            self.mark(&uid, false);
        }
        Ok(())
    }

    fn mark(&self, uid: &str, disabled: bool) {
        self.disabled.rcu(|set| {
            let mut set = HashSet::clone(set);
            if disabled {
                set.insert(uid.to_owned());
            } else {
                set.remove(uid);
            }
            set
        });
    }

    /// Disables or re-enables a user everywhere: Basic login, sudo target, tenant selection,
    /// and (through [`is_disabled`](Self::is_disabled)) tokens naming the user. Returns whether
    /// the user exists. Serialised with every other write (the writer lock), so it never
    /// undoes a concurrent password change or replacement.
    pub fn set_disabled(&self, uid: &str, disabled: bool) -> bool {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(user) = self.directory.user(uid) else {
            return false;
        };
        // Disabling: the registry-wide flag first, so no reader sees the user enabled in one
        // place after it was disabled in another. Enabling: the flag last.
        if disabled {
            self.mark(uid, true);
        }
        self.basic.set_disabled(&user.login_name, disabled);
        self.directory.set_disabled(uid, disabled);
        if !disabled {
            self.mark(uid, false);
        }
        true
    }

    /// Whether `uid` is a disabled user (unknown uids are not).
    pub fn is_disabled(&self, uid: &str) -> bool {
        !self.disabled.load().is_empty() && self.disabled.load().contains(uid)
    }

    /// Whether `uid` is a known user.
    pub fn contains(&self, uid: &str) -> bool {
        self.directory.user(uid).is_some()
    }

    /// The user with `uid`.
    pub fn get(&self, uid: &str) -> Option<Arc<DirectoryUser>> {
        self.directory.user(uid)
    }

    /// A verifier for Basic credentials of these users.
    pub fn basic_verifier(&self) -> BasicVerifier {
        BasicVerifier::new(self.basic.clone())
    }

    /// The directory for [`Impersonation`](crate::impersonate::Impersonation).
    pub fn directory(&self) -> InMemoryDirectory {
        self.directory.clone()
    }
}
