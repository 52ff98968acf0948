use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use subtle::ConstantTimeEq as _;

use super::TokenFormat;
use crate::verify::{digest, hash_password, password_matches};

/// The shortest secret [`Client::with_generated_secret`] accepts: 32 bytes, room for 256
/// random bits (43 characters of base64url carry them).
const GENERATED_SECRET_MIN_LEN: usize = 32;

/// A secret as given when a client is registered.
#[derive(Clone)]
enum SecretInput {
    /// Chosen by a person: kept as an argon2 hash.
    Chosen(String),
    /// Generated with at least 256 random bits: kept as a SHA-256 digest.
    Generated(String),
    /// An argon2 PHC string computed elsewhere.
    Phc(String),
    /// A SHA-256 digest computed elsewhere.
    Digest([u8; 32]),
}

/// How a client's secret is kept.
///
/// A secret a person chose can be guessed, so it is kept as an argon2 hash, slow to check on
/// purpose (and checked under a [`HashingPool`](crate::verify::HashingPool)). A secret the
/// issuer generated carries at least 256 random bits: no guessing or offline search can find
/// it, so its SHA-256 digest is as safe and costs a microsecond to check, like API keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretKind {
    /// An argon2 PHC hash (a secret a person chose).
    Argon2,
    /// A SHA-256 digest (a secret with at least 256 random bits).
    Sha256,
}

/// A secret as stored.
#[derive(Clone)]
enum StoredSecret {
    Argon2(Arc<str>),
    Sha256([u8; 32]),
}

impl StoredSecret {
    fn kind(&self) -> SecretKind {
        match self {
            Self::Argon2(_) => SecretKind::Argon2,
            Self::Sha256(_) => SecretKind::Sha256,
        }
    }
}

/// An argon2 PHC string with a salt and a hash, whose parameters parse and stay within the
/// memory bound of one check (256 MiB).
fn is_argon2_phc(phc: &str) -> bool {
    argon2::password_hash::PasswordHash::new(phc).is_ok_and(|hash| {
        ["argon2id", "argon2i", "argon2d"].contains(&hash.algorithm.as_str())
            && hash.hash.is_some()
            && hash.salt.is_some()
            && argon2::Params::try_from(&hash)
                .is_ok_and(|p| p.block_count() <= crate::verify::MAX_ARGON2_BLOCKS)
    })
}

/// A client (app) to register: id, secret, and the scopes it may ask for.
///
/// How the secret is kept depends on who chose it (see [`SecretKind`]):
/// [`Client::new`] takes a secret a person chose (argon2),
/// [`Client::with_generated_secret`] one with at least 256 random bits (SHA-256 digest), and
/// [`Client::with_secret_hash`] / [`Client::with_secret_digest`] take the stored form computed
/// elsewhere, so that plain secrets never reach the process.
///
/// ```
/// use tower_gatekeeper::issuer::{Client, ClientRegistry, SecretKind};
///
/// let clients = ClientRegistry::new();
/// clients.register(Client::new("person-app", "a secret someone chose")).unwrap();
/// let generated = ClientRegistry::generate_secret();
/// clients.register(Client::with_generated_secret("machine-app", &generated)).unwrap();
/// assert_eq!(clients.secret_kind("person-app"), Some(SecretKind::Argon2));
/// assert_eq!(clients.secret_kind("machine-app"), Some(SecretKind::Sha256));
/// assert!(clients.authenticate("machine-app", &generated).is_some());
/// ```
#[derive(Clone)]
pub struct Client {
    id: String,
    secret: SecretInput,
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
    /// A client with an id and a secret a person chose (kept as an argon2 hash, computed when
    /// registered), allowed no scopes.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self::with(id.into(), SecretInput::Chosen(secret.into()))
    }

    /// A client whose secret was generated with at least 256 random bits (as
    /// [`ClientRegistry::generate_secret`] and [`ClientRegistry::rotate_secret`] make them):
    /// kept as a SHA-256 digest and checked in constant time, without argon2. A secret shorter
    /// than 32 bytes is refused when registered ([`RegisterError::WeakGeneratedSecret`]);
    /// never pass a secret a person chose here.
    pub fn with_generated_secret(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self::with(id.into(), SecretInput::Generated(secret.into()))
    }

    /// A client whose secret is given as an argon2 PHC string computed elsewhere (see
    /// [`hash_password`](crate::verify::hash_password)).
    pub fn with_secret_hash(id: impl Into<String>, phc: impl Into<String>) -> Self {
        Self::with(id.into(), SecretInput::Phc(phc.into()))
    }

    /// A client whose generated secret (at least 256 random bits) is given as its SHA-256
    /// digest, computed elsewhere.
    pub fn with_secret_digest(id: impl Into<String>, sha256: [u8; 32]) -> Self {
        Self::with(id.into(), SecretInput::Digest(sha256))
    }

    fn with(id: String, secret: SecretInput) -> Self {
        Self {
            id,
            secret,
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
    /// A secret given to [`Client::with_generated_secret`] is shorter than 32 bytes: too short
    /// to carry 256 random bits.
    WeakGeneratedSecret,
    /// A hash given to [`Client::with_secret_hash`] is not an argon2 PHC string (with salt
    /// and hash, parameters that parse, and at most 256 MiB of memory).
    InvalidSecretHash,
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
            Self::WeakGeneratedSecret => {
                f.write_str("a generated client secret must be at least 32 bytes long")
            }
            Self::InvalidSecretHash => f.write_str("the secret hash is not an argon2 PHC string"),
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
    secret: StoredSecret,
    pub(crate) allowed_scopes: Vec<String>,
    pub(crate) default_scopes: Vec<String>,
    pub(crate) disabled: bool,
    pub(crate) token_format: Option<TokenFormat>,
}

/// One immutable state of the registry.
#[derive(Clone, Default)]
struct Snapshot {
    by_id: HashMap<String, Arc<ClientRecord>>,
    /// How many clients have an argon2 secret: unknown ids cost an argon2 check while any do.
    argon2: usize,
}

impl Snapshot {
    fn insert(&mut self, record: Arc<ClientRecord>) {
        let is_argon2 = |r: &ClientRecord| r.secret.kind() == SecretKind::Argon2;
        let added = usize::from(is_argon2(&record));
        if let Some(old) = self.by_id.insert(record.id.clone(), record) {
            self.argon2 -= usize::from(is_argon2(&old));
        }
        self.argon2 += added;
    }
}

/// What checking a client's secret takes, decided without waiting.
pub(crate) enum SecretCheck {
    /// Decided already (a digest comparison): the client, or `None`.
    Done(Option<Arc<ClientRecord>>),
    /// An argon2 check of the secret against `phc` decides; on a match, `record` (if enabled)
    /// is the client. `record` is `None` for an unknown id (`phc` is the decoy then).
    Argon2 {
        phc: Arc<str>,
        record: Option<Arc<ClientRecord>>,
    },
}

impl SecretCheck {
    /// The answer once the argon2 check (if any) said `matched`.
    pub(crate) fn finish(
        record: Option<Arc<ClientRecord>>,
        matched: bool,
    ) -> Option<Arc<ClientRecord>> {
        record.filter(|r| matched && !r.disabled)
    }
}

struct Registry {
    by_id: ArcSwap<Snapshot>,
    decoy: Arc<str>,
    decoy_digest: [u8; 32],
    /// Serialises writers (readers never take it), so a read-modify-write loses no update.
    writer: std::sync::Mutex<()>,
}

/// The registered clients; secrets are kept as argon2 hashes or SHA-256 digests (see
/// [`SecretKind`]), never in plain text.
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
            self.inner.by_id.load().by_id.len()
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
                decoy: hash_password("decoy client secret")
                    .unwrap_or_default()
                    .into(),
                decoy_digest: digest(&super::random_secret()),
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
        let secret = match client.secret {
            SecretInput::Chosen(secret) => StoredSecret::Argon2(
                hash_password(&secret)
                    .map_err(|_| RegisterError::Hashing)?
                    .into(),
            ),
            SecretInput::Generated(secret) if secret.len() < GENERATED_SECRET_MIN_LEN => {
                return Err(RegisterError::WeakGeneratedSecret);
            }
            SecretInput::Generated(secret) => StoredSecret::Sha256(digest(&secret)),
            SecretInput::Phc(phc) if is_argon2_phc(&phc) => StoredSecret::Argon2(phc.into()),
            SecretInput::Phc(_) => return Err(RegisterError::InvalidSecretHash),
            SecretInput::Digest(sha256) => StoredSecret::Sha256(sha256),
        };
        let default_scopes = client
            .default_scopes
            .unwrap_or_else(|| client.allowed_scopes.clone());
        let record = Arc::new(ClientRecord {
            id: client.id.clone(),
            secret,
            allowed_scopes: client.allowed_scopes,
            default_scopes,
            disabled: client.disabled,
            token_format: client.token_format,
        });
        let _writer = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.inner.by_id.load_full();
        if only_new && current.by_id.contains_key(&client.id) {
            return Err(RegisterError::Exists);
        }
        let mut next = Snapshot::clone(&current);
        next.insert(record);
        self.inner.by_id.store(Arc::new(next));
        Ok(())
    }

    /// Changes one client under the writer lock: concurrent changes apply one after the other.
    fn replace(&self, id: &str, change: impl Fn(&mut ClientRecord)) -> bool {
        let _writer = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.inner.by_id.load_full();
        let Some(old) = current.by_id.get(id) else {
            return false;
        };
        let mut record = ClientRecord::clone(old);
        change(&mut record);
        let mut next = Snapshot::clone(&current);
        next.insert(Arc::new(record));
        self.inner.by_id.store(Arc::new(next));
        true
    }

    /// Disables or re-enables a client; returns whether it exists. A disabled client gets no
    /// new tokens and its tokens are refused; re-enabled, its unexpired, unrevoked tokens work
    /// again.
    pub fn set_disabled(&self, id: &str, disabled: bool) -> bool {
        self.replace(id, |r| r.disabled = disabled)
    }

    /// A new client secret: 256 random bits from the operating system, base64url (43
    /// characters). Register it with [`Client::with_generated_secret`].
    pub fn generate_secret() -> String {
        super::random_secret()
    }

    /// Gives a client a new random secret ([`generate_secret`](Self::generate_secret),
    /// returned once, stored as a SHA-256 digest whatever the old secret's kind); the old one
    /// stops working at once. `None` when the client does not exist.
    pub fn rotate_secret(&self, id: &str) -> Option<String> {
        let secret = super::random_secret();
        let stored = StoredSecret::Sha256(digest(&secret));
        self.replace(id, |r| r.secret = stored.clone())
            .then_some(secret)
    }

    /// Whether `id` is registered.
    pub fn contains(&self, id: &str) -> bool {
        self.inner.by_id.load().by_id.contains_key(id)
    }

    /// How the secret of `id` is kept; `None` when the client does not exist.
    pub fn secret_kind(&self, id: &str) -> Option<SecretKind> {
        self.inner
            .by_id
            .load()
            .by_id
            .get(id)
            .map(|c| c.secret.kind())
    }

    pub(crate) fn token_format(&self, id: &str) -> Option<TokenFormat> {
        self.inner
            .by_id
            .load()
            .by_id
            .get(id)
            .and_then(|c| c.token_format)
    }

    /// Whether `id` is registered and enabled.
    pub fn is_active(&self, id: &str) -> bool {
        self.inner
            .by_id
            .load()
            .by_id
            .get(id)
            .is_some_and(|c| !c.disabled)
    }

    /// Starts checking a client's id and secret: a digest secret is compared here (constant
    /// time); an argon2 secret is left to the caller, to run under its hashing bound.
    ///
    /// Timing: a digest client costs a SHA-256 either way. An unknown id costs what the
    /// slowest kind in the registry costs: an argon2 check (against a decoy) while any client
    /// has an argon2 secret, so that the ids of clients with guessable secrets cannot be told
    /// from unknown ones; a SHA-256 comparison (against a decoy) when every secret is a digest.
    /// Only digest clients, whose secrets cannot be guessed, can be told from unknown ids.
    pub(crate) fn begin_authenticate(&self, id: &str, secret: &str) -> SecretCheck {
        let snapshot = self.inner.by_id.load();
        match snapshot.by_id.get(id) {
            Some(record) => match &record.secret {
                StoredSecret::Sha256(stored) => {
                    let matched = bool::from(digest(secret).ct_eq(stored));
                    SecretCheck::Done(SecretCheck::finish(Some(record.clone()), matched))
                }
                StoredSecret::Argon2(phc) => SecretCheck::Argon2 {
                    phc: phc.clone(),
                    record: Some(record.clone()),
                },
            },
            None if snapshot.argon2 > 0 => SecretCheck::Argon2 {
                phc: self.inner.decoy.clone(),
                record: None,
            },
            None => {
                // Same work as a digest client, same answer.
                std::hint::black_box(bool::from(digest(secret).ct_eq(&self.inner.decoy_digest)));
                SecretCheck::Done(None)
            }
        }
    }

    /// Checks a client's id and secret; returns the client id when they match and the client
    /// is enabled. Unknown ids cost what known ones do (see [`SecretKind`]); disabled clients
    /// fail.
    ///
    /// An argon2 secret is checked on this thread, without a bound: slow on purpose, so call it
    /// off the async executor. The token, introspection and revocation endpoints check
    /// secrets under their [`HashingPool`](crate::verify::HashingPool) instead.
    pub fn authenticate(&self, id: &str, secret: &str) -> Option<String> {
        let record = match self.begin_authenticate(id, secret) {
            SecretCheck::Done(record) => record,
            SecretCheck::Argon2 { phc, record } => {
                SecretCheck::finish(record, password_matches(&phc, secret))
            }
        };
        record.map(|r| r.id.clone())
    }
}
