//! Who the users and tenants are: the [`UserDirectory`] abstraction and the in-memory default.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::maybe_ready::MaybeReady;
use crate::principal::Tenant;

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

#[derive(Default)]
struct Index {
    by_uid: HashMap<String, Arc<DirectoryUser>>,
    by_login: HashMap<String, Arc<DirectoryUser>>,
    by_email: HashMap<String, Arc<DirectoryUser>>,
    by_mobile: HashMap<String, Arc<DirectoryUser>>,
    tenants_by_id: HashMap<String, Arc<Tenant>>,
    tenants_by_code: HashMap<String, Arc<Tenant>>,
}

impl Index {
    fn add(&mut self, user: Arc<DirectoryUser>) {
        self.by_login
            .insert(canonical_login(&user.login_name), user.clone());
        if let Some(email) = &user.email {
            self.by_email.insert(canonical_email(email), user.clone());
        }
        if let Some(mobile) = user.mobile.as_deref().and_then(canonical_mobile) {
            self.by_mobile.insert(mobile, user.clone());
        }
        self.by_uid.insert(user.uid.clone(), user);
    }

    fn rebuilt(&self, replace: Arc<DirectoryUser>) -> Self {
        let mut next = Index {
            tenants_by_id: self.tenants_by_id.clone(),
            tenants_by_code: self.tenants_by_code.clone(),
            ..Index::default()
        };
        for user in self.by_uid.values().filter(|u| u.uid != replace.uid) {
            next.add(user.clone());
        }
        next.add(replace);
        next
    }
}

/// Users and tenants in memory; lookups read a snapshot without locking.
///
/// ```
/// use tower_gatekeeper::impersonate::{DirectoryUser, InMemoryDirectory, UserSelector, UserDirectory};
/// use tower_gatekeeper::principal::Tenant;
///
/// let dir = InMemoryDirectory::new();
/// dir.insert_tenant(Tenant::new("t-1", Some("acme")));
/// let mut alice = DirectoryUser::new("1001", "alice");
/// alice.email = Some("alice@example.com".into());
/// alice.tenants = vec!["t-1".into()];
/// dir.insert_user(alice);
///
/// let found = dir.find_user(&UserSelector::Email("alice@EXAMPLE.com".into()));
/// assert!(matches!(found, tower_gatekeeper::MaybeReady::Ready(Ok(Some(u))) if u.uid == "1001"));
/// ```
#[derive(Clone, Default)]
pub struct InMemoryDirectory {
    index: Arc<ArcSwap<Index>>,
}

impl fmt::Debug for InMemoryDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = self.index.load();
        write!(
            f,
            "InMemoryDirectory({} users, {} tenants)",
            index.by_uid.len(),
            index.tenants_by_id.len()
        )
    }
}

impl InMemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a user (by uid).
    pub fn insert_user(&self, user: DirectoryUser) {
        let user = Arc::new(user);
        self.index.rcu(|index| index.rebuilt(user.clone()));
    }

    /// Adds or replaces a tenant.
    pub fn insert_tenant(&self, tenant: Tenant) {
        let tenant = Arc::new(tenant);
        self.index.rcu(|index| {
            let mut next = index.rebuilt_tenants();
            // A replaced tenant's old code no longer names it.
            if let Some(old) = next.tenants_by_id.get(&tenant.id).cloned()
                && let Some(old_code) = &old.code
                && next
                    .tenants_by_code
                    .get(old_code)
                    .is_some_and(|t| t.id == old.id)
            {
                next.tenants_by_code.remove(old_code);
            }
            if let Some(code) = &tenant.code {
                next.tenants_by_code.insert(code.clone(), tenant.clone());
            }
            next.tenants_by_id.insert(tenant.id.clone(), tenant.clone());
            next
        });
    }

    /// Disables or re-enables a user; returns whether the user exists.
    ///
    /// One compare-and-swap step on the user as stored at that moment: a concurrent
    /// replacement of the user is never undone.
    pub fn set_disabled(&self, uid: &str, disabled: bool) -> bool {
        let mut found = false;
        self.index.rcu(|index| {
            let Some(user) = index.by_uid.get(uid) else {
                found = false;
                return Arc::clone(index);
            };
            found = true;
            let mut user = DirectoryUser::clone(user);
            user.disabled = disabled;
            Arc::new(index.rebuilt(Arc::new(user)))
        });
        found
    }

    /// The user with `uid`.
    pub fn user(&self, uid: &str) -> Option<Arc<DirectoryUser>> {
        self.index.load().by_uid.get(uid).cloned()
    }
}

impl Index {
    fn rebuilt_tenants(&self) -> Self {
        let mut next = Index {
            tenants_by_id: self.tenants_by_id.clone(),
            tenants_by_code: self.tenants_by_code.clone(),
            ..Index::default()
        };
        for user in self.by_uid.values() {
            next.add(user.clone());
        }
        next
    }
}

impl UserDirectory for InMemoryDirectory {
    fn find_user(&self, selector: &UserSelector) -> Lookup<DirectoryUser> {
        let index = self.index.load();
        let found = match selector {
            UserSelector::Uid(uid) => index.by_uid.get(uid),
            UserSelector::LoginName(name) => index.by_login.get(&canonical_login(name)),
            UserSelector::Email(email) => index.by_email.get(&canonical_email(email)),
            UserSelector::Mobile(mobile) => {
                canonical_mobile(mobile).and_then(|m| index.by_mobile.get(&m))
            }
        };
        MaybeReady::Ready(Ok(found.cloned()))
    }

    fn find_tenant(&self, selector: &TenantSelector) -> Lookup<Tenant> {
        let index = self.index.load();
        let found = match selector {
            TenantSelector::Id(id) => index.tenants_by_id.get(id),
            TenantSelector::Code(code) => index.tenants_by_code.get(code),
        };
        MaybeReady::Ready(Ok(found.cloned()))
    }
}
