//! Who the users and tenants are: the [`UserDirectory`] abstraction and the default store.

use std::fmt;
use std::sync::Arc;

use super::user_store::{Outcome, Step, UserRecord, UserTables};
use crate::maybe_ready::MaybeReady;
use crate::principal::Tenant;
use crate::store::StoreError;

/// Why a user (or tenant) could not be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserError {
    /// The uid or login name is empty (or a tenant's id or code).
    Empty,
    /// Another user already has this login name (compared after
    /// [`canonical_login`](crate::impersonate::canonical_login)).
    LoginNameTaken,
    /// Another user already has this e-mail address (compared after
    /// [`canonical_email`](crate::impersonate::canonical_email)).
    EmailTaken,
    /// Another user already has this mobile number (compared after
    /// [`canonical_mobile`](crate::impersonate::canonical_mobile)).
    MobileTaken,
    /// Another tenant already has this tenant code.
    TenantCodeTaken,
    /// The login name holds control or compatibility characters
    /// ([`is_valid_login`](crate::impersonate::is_valid_login)).
    LoginNameInvalid,
    /// The uid holds a control character (a line break, a tab, DEL, a C1 control) or is
    /// longer than [`MAX_UID_LEN`] bytes: it would reach sudo selectors, grants and audit
    /// records.
    UidInvalid,
    /// The password hash is not an argon2 PHC string, or hashing failed.
    Password,
    /// A user with this uid exists, or (in redis mode) a client holds it (from
    /// `UserRegistry::create`).
    Exists,
    /// The store could not be read or written (Redis down, a record in an unknown format, or
    /// concurrent writers that kept winning): nothing was changed. Answer 503.
    Store(StoreError),
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "the uid and the login name must not be empty",
            Self::LoginNameTaken => "another user has this login name",
            Self::EmailTaken => "another user has this e-mail address",
            Self::MobileTaken => "another user has this mobile number",
            Self::TenantCodeTaken => "another tenant has this tenant code",
            Self::LoginNameInvalid => {
                "the login name holds control or compatibility characters (RFC 8265)"
            }
            Self::UidInvalid => "the uid holds a control character or is longer than 255 bytes",
            Self::Password => "the password could not be stored",
            Self::Exists => "the user already exists",
            Self::Store(e) => return write!(f, "the user store failed: {e}"),
        })
    }
}

impl std::error::Error for UserError {}

/// A user that can be the target of sudo, or select a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectoryUser {
    /// The user id (the `sub` of the effective principal).
    pub uid: String,
    /// The login name.
    pub login_name: String,
    /// The e-mail address, if any.
    pub email: Option<String>,
    /// The mobile number, if any.
    pub mobile: Option<String>,
    /// The ids of the tenants the user belongs to.
    pub tenants: Vec<String>,
    /// What the user may do: a sudo caller's scopes are narrowed to these.
    pub scopes: Vec<String>,
    /// The user's roles.
    pub roles: Vec<String>,
    /// A disabled user cannot be impersonated.
    pub disabled: bool,
}

impl DirectoryUser {
    /// A user with a uid and a login name.
    pub fn new(uid: impl Into<String>, login_name: impl Into<String>) -> Self {
        Self {
            uid: uid.into(),
            login_name: login_name.into(),
            ..Self::default()
        }
    }

    /// Whether the user belongs to tenant `id`.
    pub fn in_tenant(&self, id: &str) -> bool {
        self.tenants.iter().any(|t| t == id)
    }
}

/// How a sudo request names its target.
#[derive(Clone, PartialEq, Eq)]
pub enum UserSelector {
    /// `uid:<id>`: exact.
    Uid(String),
    /// `loginName:<name>` (and the deprecated `username:<name>`): compared after
    /// [`canonical_login`].
    LoginName(String),
    /// `email:<addr>`: compared after [`canonical_email`].
    Email(String),
    /// `mobile:<number>`: compared after [`canonical_mobile`].
    Mobile(String),
}

impl UserSelector {
    /// The selector's name as written in requests.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Uid(_) => "uid",
            Self::LoginName(_) => "loginName",
            Self::Email(_) => "email",
            Self::Mobile(_) => "mobile",
        }
    }

    /// The value.
    pub fn value(&self) -> &str {
        match self {
            Self::Uid(v) | Self::LoginName(v) | Self::Email(v) | Self::Mobile(v) => v,
        }
    }
}

impl fmt::Debug for UserSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), super::audit::mask(self.value()))
    }
}

/// How a request names its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSelector {
    /// `tenantId=<id>`.
    Id(String),
    /// `tenantCode=<code>`.
    Code(String),
}

/// The directory could not be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryError(pub String);

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the user directory is unavailable: {}", self.0)
    }
}

impl std::error::Error for DirectoryError {}

/// The answer of a directory lookup.
pub type Lookup<T> = MaybeReady<Result<Option<Arc<T>>, DirectoryError>>;

/// Resolves sudo targets and tenants. Answer [`MaybeReady::Ready`] from memory when possible.
///
/// What the [`Impersonation`](super::Impersonation) stage asks, per request:
/// - with `sudo=…`: the target, by the request's selector;
/// - with `tenantId` / `tenantCode`: each tenant named, then the effective user's record by
///   [`UserSelector::Uid`] for its memberships ([`DirectoryUser::tenants`]). Under
///   `sudo=uid:<id>`, when the sudo lookup answered the record of `<id>` itself, that record
///   is the membership record and is not asked for again (the decision reads the directory as
///   it was at that lookup); under the other selectors, or when the answer was another user's
///   record, it is, so a directory may answer lookups by login name, e-mail or mobile with a
///   thinner record (without memberships) than by uid.
pub trait UserDirectory: Send + Sync + 'static {
    /// The user `selector` names, if any (disabled users included: the caller refuses them).
    fn find_user(&self, selector: &UserSelector) -> Lookup<DirectoryUser>;

    /// The tenant `selector` names, if any.
    fn find_tenant(&self, selector: &TenantSelector) -> Lookup<Tenant>;
}

/// Canonical login name, after RFC 8265 §3.4.1 (the UsernameCaseMapped profile's mapping):
/// fullwidth and halfwidth characters are mapped to their decompositions (`ａｌｉｃｅ` is
/// `alice`), then Unicode lower case (`Alice` and `alice` are one user), then NFC (the
/// precomposed `é` and `e` + U+0301 are one user). Idempotent:
/// `canonical_login(&canonical_login(x)) == canonical_login(x)`.
///
/// Applied wherever a login name is compared: registration
/// ([`UserRegistry`](crate::accounts::UserRegistry)), Basic login
/// ([`BasicUsers`](crate::verify::BasicUsers)) and `sudo=loginName:`. Other compatibility
/// characters (ligatures such as `ﬁ`, `ℌ`, superscripts) are not folded: the profile
/// disallows them, and [`UserRegistry`](crate::accounts::UserRegistry) refuses such names
/// ([`is_valid_login`]), so they can match nobody.
///
/// ```
/// use tower_gatekeeper::impersonate::canonical_login;
/// assert_eq!(canonical_login("ÅLice"), "ålice");
/// assert_eq!(canonical_login("Jose\u{301}"), canonical_login("José"));
/// assert_eq!(canonical_login("ＡＬＩＣＥ"), "alice");
/// ```
pub fn canonical_login(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    // The common case: ASCII is only lower-cased (width mapping and NFC change nothing).
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    let mut mapped = String::with_capacity(name.len());
    for c in name.chars() {
        if is_width_variant(c) {
            mapped.extend(std::iter::once(c).nfkd());
        } else {
            mapped.push(c);
        }
    }
    let once: String = mapped.to_lowercase().nfc().collect();
    // Lower-casing an NFC string can, in rare cases, leave something NFC composes further:
    // repeat until nothing changes (at most a few rounds), which makes the mapping idempotent.
    let mut current = once;
    for _ in 0..4 {
        let next: String = current.to_lowercase().nfc().collect();
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// Whether `c` is a fullwidth or halfwidth form (its decomposition is tagged `<wide>` or
/// `<narrow>`: the Halfwidth and Fullwidth Forms block and the ideographic space).
fn is_width_variant(c: char) -> bool {
    matches!(c, '\u{3000}' | '\u{FF01}'..='\u{FFEE}')
}

/// Whether a login name may be registered: not empty, no control characters, and no
/// compatibility characters left after [`canonical_login`] (RFC 8265 §3.3's
/// IdentifierClass disallows them: `ﬁle` would otherwise be a second `file`).
///
/// ```
/// use tower_gatekeeper::impersonate::is_valid_login;
/// assert!(is_valid_login("José"));
/// assert!(is_valid_login("ａｌｉｃｅ")); // width-mapped to alice
/// assert!(!is_valid_login("ﬁle"));
/// assert!(!is_valid_login("a\u{0}b"));
/// ```
pub fn is_valid_login(name: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let canonical = canonical_login(name);
    !canonical.is_empty()
        && !canonical.chars().any(char::is_control)
        && canonical.nfkc().eq(canonical.chars())
}

/// Canonical e-mail: the local part as written, the domain in lower case (RFC 5321 §2.4:
/// domains are case-insensitive, local parts may not be).
///
/// ```
/// use tower_gatekeeper::impersonate::canonical_email;
/// assert_eq!(canonical_email("Alice+ops@Example.COM"), "Alice+ops@example.com");
/// ```
pub fn canonical_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => email.to_owned(),
    }
}

/// Canonical mobile number: a leading `+` and the digits; spaces, `-`, `.`, `(` and `)` are
/// dropped. Anything else makes the number invalid (`None`).
///
/// ```
/// use tower_gatekeeper::impersonate::canonical_mobile;
/// assert_eq!(canonical_mobile("+86 (138) 0013-8000").as_deref(), Some("+8613800138000"));
/// assert_eq!(canonical_mobile("call me"), None);
/// ```
pub fn canonical_mobile(mobile: &str) -> Option<String> {
    let mut out = String::with_capacity(mobile.len());
    for (i, c) in mobile.trim().chars().enumerate() {
        match c {
            '+' if i == 0 => out.push('+'),
            '0'..='9' => out.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    out.bytes().any(|b| b.is_ascii_digit()).then_some(out)
}

/// Users and tenants, shared by every clone: in this process's memory, or (with
/// [`redis`](Self::redis), feature `redis`) in Redis with this node's cache in front.
///
/// Lookups never take a lock: by uid, one map read; by login name, e-mail or mobile, an index
/// read and then the user's record (which must still hold that login, e-mail or mobile, so an
/// index entry a concurrent rename has not yet cleared names nobody). Writes cost a few
/// O(1) map operations in memory mode, never a copy of the directory; in redis mode each is
/// one atomic script (the record with its index entries), announced to every node.
///
/// A login name, e-mail or mobile (compared in canonical form) belongs to one user at a time,
/// and a tenant code to one tenant: a write that would give it to a second is refused.
///
/// ```
/// use tower_gatekeeper::impersonate::{DirectoryUser, InMemoryDirectory, UserSelector, UserDirectory};
/// use tower_gatekeeper::principal::Tenant;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = InMemoryDirectory::new();
/// dir.insert_tenant(Tenant::new("t-1", Some("acme"))).await.unwrap();
/// let mut alice = DirectoryUser::new("1001", "alice");
/// alice.email = Some("alice@example.com".into());
/// alice.tenants = vec!["t-1".into()];
/// dir.insert_user(alice).await.unwrap();
///
/// let found = dir.find_user(&UserSelector::Email("alice@EXAMPLE.com".into()));
/// assert!(matches!(found, tower_gatekeeper::MaybeReady::Ready(Ok(Some(u))) if u.uid == "1001"));
/// # });
/// ```
#[derive(Clone)]
pub struct InMemoryDirectory {
    tables: Arc<UserTables>,
}

impl Default for InMemoryDirectory {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for InMemoryDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InMemoryDirectory({:?})", self.tables)
    }
}

fn unavailable(e: StoreError) -> DirectoryError {
    DirectoryError(e.to_string())
}

impl InMemoryDirectory {
    /// An empty directory in this process's memory.
    pub fn new() -> Self {
        Self {
            tables: Arc::new(UserTables::memory()),
        }
    }

    /// The directory kept in Redis (keys `user:`, `login:`, `email:`, `mobile:`, `tenant:`,
    /// `tenantcode:` under the store's prefix), with this node's cache in front. A warm lookup
    /// is answered from memory; a cold one, or any lookup once this node has lost contact for
    /// longer than the staleness bound, reads Redis or fails with [`DirectoryError`] (503).
    #[cfg(feature = "redis")]
    pub fn redis(store: &crate::store::RedisStore) -> Self {
        Self {
            tables: Arc::new(UserTables::redis(store)),
        }
    }

    #[cfg_attr(not(feature = "basic"), allow(dead_code))] // for the user registry
    pub(crate) fn tables(&self) -> &Arc<UserTables> {
        &self.tables
    }

    /// Adds or replaces a user (by uid). A replaced user keeps its password (the directory
    /// does not manage passwords: see [`UserRegistry`](crate::accounts::UserRegistry)); its
    /// old login name, e-mail and mobile stop naming it.
    ///
    /// Refused when the uid or login name is empty or the login name invalid
    /// ([`is_valid_login`]), when another user holds the login name, e-mail or mobile, and
    /// ([`UserError::Store`]) when the store cannot be written.
    pub async fn insert_user(&self, user: DirectoryUser) -> Result<(), UserError> {
        check_names(&user)?;
        let uid = user.uid.clone();
        self.tables
            .change_user(&uid, false, &|_| true, |previous| {
                let password = previous.and_then(|p| p.password.clone());
                Ok(Step::Put(UserRecord::new(user.clone(), password)))
            })
            .await
            .map(|_| ())
    }

    /// Adds or replaces a tenant. A replaced tenant's old code no longer names it; a code
    /// another tenant holds is refused ([`UserError::TenantCodeTaken`]).
    pub async fn insert_tenant(&self, tenant: Tenant) -> Result<(), UserError> {
        self.tables.put_tenant(tenant).await
    }

    /// Disables or re-enables a user; `Ok(false)` when the user does not exist.
    ///
    /// One atomic step on the user as stored at that moment: a concurrent password change or
    /// replacement of the user is never undone.
    pub async fn set_disabled(&self, uid: &str, disabled: bool) -> Result<bool, UserError> {
        set_disabled_in(&self.tables, uid, disabled).await
    }

    /// The user with `uid` if this node holds it, without asking anyone: every user in memory
    /// mode; in redis mode only what this node has cached (use
    /// [`find_user`](UserDirectory::find_user) on a request path).
    pub fn user(&self, uid: &str) -> Option<Arc<DirectoryUser>> {
        self.tables.users.peek(uid).map(|r| r.user.clone())
    }
}

/// The longest uid a directory stores, in bytes.
pub const MAX_UID_LEN: usize = 255;

/// The checks every user write makes first.
pub(crate) fn check_names(user: &DirectoryUser) -> Result<(), UserError> {
    if user.uid.is_empty() || user.login_name.is_empty() {
        return Err(UserError::Empty);
    }
    if user.uid.len() > MAX_UID_LEN || user.uid.chars().any(char::is_control) {
        return Err(UserError::UidInvalid);
    }
    if !is_valid_login(&user.login_name) {
        return Err(UserError::LoginNameInvalid);
    }
    Ok(())
}

pub(crate) async fn set_disabled_in(
    tables: &UserTables,
    uid: &str,
    disabled: bool,
) -> Result<bool, UserError> {
    let outcome = tables
        .change_user(uid, false, &|_| true, |current| {
            Ok(match current {
                None => Step::Missing,
                Some(u) if u.user.disabled == disabled => Step::Keep,
                Some(u) => Step::Put(u.with_disabled(disabled)),
            })
        })
        .await?;
    Ok(outcome != Outcome::Missing)
}

impl UserDirectory for InMemoryDirectory {
    fn find_user(&self, selector: &UserSelector) -> Lookup<DirectoryUser> {
        let found = match selector {
            UserSelector::Uid(uid) => self.tables.user(uid),
            UserSelector::LoginName(name) => self.tables.by_login(name),
            UserSelector::Email(email) => self.tables.by_email(email),
            UserSelector::Mobile(mobile) => self.tables.by_mobile(mobile),
        };
        found.map(|r| r.map(|u| u.map(|u| u.user.clone())).map_err(unavailable))
    }

    fn find_tenant(&self, selector: &TenantSelector) -> Lookup<Tenant> {
        let found = match selector {
            TenantSelector::Id(id) => self.tables.tenant(id),
            TenantSelector::Code(code) => self.tables.tenant_by_code(code),
        };
        found.map(|r| r.map(|t| t.map(|t| t.tenant.clone())).map_err(unavailable))
    }
}
