use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::TokenFormat;
use crate::verify::{hash_password, password_matches};

/// A client (app) to register: id, secret, and the scopes it may ask for.
#[derive(Clone)]
pub struct Client {
    id: String,
    secret: String,
    allowed_scopes: Vec<String>,
    default_scopes: Option<Vec<String>>,
    disabled: bool,
    token_format: Option<TokenFormat>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("allowed_scopes", &self.allowed_scopes)
            .field("default_scopes", &self.default_scopes)
            .field("disabled", &self.disabled)
            .finish()
    }
}

impl Client {
    /// A client with an id and a secret (hashed when registered), allowed no scopes.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret: secret.into(),
            allowed_scopes: Vec::new(),
            default_scopes: None,
            disabled: false,
            token_format: None,
        }
    }

    /// The format of this client's tokens (default: the issuer's).
    pub fn token_format(mut self, format: TokenFormat) -> Self {
        self.token_format = Some(format);
        self
    }

    /// The scopes the client may be granted.
    pub fn allowed_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.allowed_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The scopes granted when the request names none (default: all allowed scopes).
    pub fn default_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.default_scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Registers the client disabled.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }
}

/// Why a client could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// The client id is empty.
    EmptyId,
    /// A scope is not an RFC 6749 §3.3 scope-token (empty, or with a space, `"` or `\`).
    InvalidScope(String),
    /// A default scope is not among the allowed scopes.
    DefaultScopeNotAllowed(String),
    /// The secret could not be hashed.
    Hashing,
    /// A client with this id exists (from [`ClientRegistry::create`]).
    Exists,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyId => f.write_str("the client id is empty"),
            Self::InvalidScope(s) => write!(f, "{s:?} is not a valid scope"),
            Self::DefaultScopeNotAllowed(s) => {
                write!(f, "default scope {s:?} is not an allowed scope")
            }
            Self::Hashing => f.write_str("the client secret could not be hashed"),
            Self::Exists => f.write_str("the client already exists"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

#[derive(Clone)]
pub(crate) struct ClientRecord {
    pub(crate) id: String,
    secret_hash: String,
    pub(crate) allowed_scopes: Vec<String>,
    pub(crate) default_scopes: Vec<String>,
    pub(crate) disabled: bool,
    pub(crate) token_format: Option<TokenFormat>,
}

struct Registry {
    by_id: ArcSwap<HashMap<String, Arc<ClientRecord>>>,
    decoy: String,
    /// Serialises writers (readers never take it), so a read-modify-write loses no update.
    writer: std::sync::Mutex<()>,
}

/// The registered clients; secrets are kept as argon2 hashes only.
///
/// ```
/// use tower_gatekeeper::issuer::{Client, ClientRegistry};
///
/// let clients = ClientRegistry::new();
/// clients.register(Client::new("app", "secret-1").allowed_scopes(["read"])).unwrap();
/// assert!(clients.authenticate("app", "secret-1").is_some());
/// assert!(clients.authenticate("app", "secret-2").is_none());
/// clients.set_disabled("app", true);
/// assert!(clients.authenticate("app", "secret-1").is_none());
/// ```
#[derive(Clone)]
pub struct ClientRegistry {
    inner: Arc<Registry>,
}

impl fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ClientRegistry({} clients)",
            self.inner.by_id.load().len()
        )
    }
}

impl Default for ClientRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Registry {
                by_id: ArcSwap::default(),
                decoy: hash_password("decoy client secret").unwrap_or_default(),
                writer: std::sync::Mutex::new(()),
            }),
        }
    }

    /// Registers (or replaces) a client, hashing its secret.
    pub fn register(&self, client: Client) -> Result<(), RegisterError> {
        self.store(client, false)
    }

    /// Registers a new client; [`RegisterError::Exists`] if the id is taken, decided atomically
    /// (of two concurrent creations of one id, exactly one succeeds).
    pub fn create(&self, client: Client) -> Result<(), RegisterError> {
        self.store(client, true)
    }

    fn store(&self, client: Client, only_new: bool) -> Result<(), RegisterError> {
        let scopes = client
            .allowed_scopes
            .iter()
            .chain(client.default_scopes.iter().flatten());
        if let Some(bad) = scopes.clone().find(|s| !is_scope_token(s)) {
            return Err(RegisterError::InvalidScope(bad.clone()));
        }
        if let Some(extra) = client
            .default_scopes
            .iter()
            .flatten()
            .find(|s| !client.allowed_scopes.contains(s))
        {
            return Err(RegisterError::DefaultScopeNotAllowed(extra.clone()));
        }
        if client.id.is_empty() {
            return Err(RegisterError::EmptyId);
        }
        let secret_hash = hash_password(&client.secret).map_err(|_| RegisterError::Hashing)?;
        let default_scopes = client
            .default_scopes
            .unwrap_or_else(|| client.allowed_scopes.clone());
        let record = Arc::new(ClientRecord {
            id: client.id.clone(),
            secret_hash,
            allowed_scopes: client.allowed_scopes,
            default_scopes,
            disabled: client.disabled,
            token_format: client.token_format,
        });
        let _writer = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.inner.by_id.load_full();
        if only_new && current.contains_key(&client.id) {
            return Err(RegisterError::Exists);
        }
        let mut map = HashMap::clone(&current);
        map.insert(client.id.clone(), record);
        self.inner.by_id.store(Arc::new(map));
        Ok(())
    }

    /// Changes one client under the writer lock: concurrent changes apply one after the other.
    fn replace(&self, id: &str, change: impl Fn(&mut ClientRecord)) -> bool {
        let _writer = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.inner.by_id.load_full();
        let Some(old) = current.get(id) else {
            return false;
        };
        let mut record = ClientRecord::clone(old);
        change(&mut record);
        let mut map = HashMap::clone(&current);
        map.insert(id.to_owned(), Arc::new(record));
        self.inner.by_id.store(Arc::new(map));
        true
    }

    /// Disables or re-enables a client; returns whether it exists. A disabled client gets no
    /// new tokens and its tokens are refused; re-enabled, its unexpired, unrevoked tokens work
    /// again.
    pub fn set_disabled(&self, id: &str, disabled: bool) -> bool {
        self.replace(id, |r| r.disabled = disabled)
    }

    /// Gives a client a new random secret (returned once, stored hashed); the old one stops
    /// working at once. `None` when the client does not exist.
    pub fn rotate_secret(&self, id: &str) -> Option<String> {
        let secret = super::random_secret();
        let hash = hash_password(&secret).ok()?;
        self.replace(id, |r| r.secret_hash = hash.clone())
            .then_some(secret)
    }

    /// Whether `id` is registered.
    pub fn contains(&self, id: &str) -> bool {
        self.inner.by_id.load().contains_key(id)
    }

    pub(crate) fn token_format(&self, id: &str) -> Option<TokenFormat> {
        self.inner.by_id.load().get(id).and_then(|c| c.token_format)
    }

    /// Whether `id` is registered and enabled.
    pub fn is_active(&self, id: &str) -> bool {
        self.inner.by_id.load().get(id).is_some_and(|c| !c.disabled)
    }

    /// Checks a client's id and secret. Unknown ids cost the same as wrong secrets; disabled
    /// clients fail. Slow on purpose (argon2): call it off the async executor.
    pub(crate) fn authenticate_record(&self, id: &str, secret: &str) -> Option<Arc<ClientRecord>> {
        match self.inner.by_id.load().get(id).cloned() {
            None => {
                let _ = password_matches(&self.inner.decoy, secret);
                None
            }
            Some(record) => (password_matches(&record.secret_hash, secret) && !record.disabled)
                .then_some(record),
        }
    }

    /// Checks a client's id and secret; returns the client id when they match and the client
    /// is enabled.
    pub fn authenticate(&self, id: &str, secret: &str) -> Option<String> {
        self.authenticate_record(id, secret).map(|r| r.id.clone())
    }
}
