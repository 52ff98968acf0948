use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use super::TokenFormat;
use crate::maybe_ready::MaybeReady;
use crate::store::table::{Change, Lookup, decode_json, encode_json};
use crate::store::{Record, StoreError, Table};
use crate::verify::{HexDigest, digest, hash_password, parse_hex_digest, password_matches};

/// The longest client id registered, in bytes. RFC 6749 sets no bound; 255 is more than any
/// client id seen in the wild (UUIDs are 36, Azure's application ids 36, Okta's 20) and keeps
/// ids fit for a log line, a store key and a Basic header.
pub const MAX_CLIENT_ID_LEN: usize = 255;

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
/// The id is 1 to [`MAX_CLIENT_ID_LEN`] bytes of printable ASCII and spaces (RFC 6749
/// Appendix A.1's `VSCHAR`, `%x20-7E`); any other is refused when the client is registered
/// ([`RegisterError::EmptyId`], [`RegisterError::IdTooLong`], [`RegisterError::InvalidId`]).
///
/// ```
/// use tower_gatekeeper::issuer::{Client, ClientRegistry, SecretKind};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let clients = ClientRegistry::new();
/// clients.register(Client::new("person-app", "a secret someone chose")).await.unwrap();
/// let generated = ClientRegistry::generate_secret();
/// clients.register(Client::with_generated_secret("machine-app", &generated)).await.unwrap();
/// assert_eq!(clients.secret_kind("person-app").await.unwrap(), Some(SecretKind::Argon2));
/// assert_eq!(clients.secret_kind("machine-app").await.unwrap(), Some(SecretKind::Sha256));
/// assert!(clients.authenticate("machine-app", &generated).await.unwrap().is_some());
/// # });
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
    /// The client id holds a character outside RFC 6749 Appendix A.1's `VSCHAR` (`%x20-7E`:
    /// printable ASCII and the space): a control character, DEL or anything non-ASCII.
    InvalidId,
    /// The client id is longer than [`MAX_CLIENT_ID_LEN`] bytes.
    IdTooLong,
    /// A scope is not an RFC 6749 §3.3 scope-token (empty, or with a space, `"` or `\`).
    InvalidScope(String),
    /// A default scope is not among the allowed scopes.
    DefaultScopeNotAllowed(String),
    /// The secret could not be hashed.
    Hashing,
    /// A client with this id exists (from [`ClientRegistry::create`]); in redis mode also when
    /// a user holds the id.
    Exists,
    /// A secret given to [`Client::with_generated_secret`] is shorter than 32 bytes: too short
    /// to carry 256 random bits.
    WeakGeneratedSecret,
    /// A hash given to [`Client::with_secret_hash`] is not an argon2 PHC string (with salt
    /// and hash, parameters that parse, and at most 256 MiB of memory).
    InvalidSecretHash,
    /// The shared store could not take the write (answer 503 and try again).
    Store(StoreError),
}

impl From<StoreError> for RegisterError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyId => f.write_str("the client id is empty"),
            // The id is not repeated: it may hold a line break or anything else a log or an
            // answer should not carry.
            Self::InvalidId => f.write_str(
                "the client id may hold only printable ASCII characters and spaces \
                 (RFC 6749 Appendix A.1: %x20-7E)",
            ),
            Self::IdTooLong => write!(f, "the client id is longer than {MAX_CLIENT_ID_LEN} bytes"),
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
            Self::Store(e) => write!(f, "the client could not be stored: {e}"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// RFC 6749 Appendix A.1: `client-id = *VSCHAR`, `VSCHAR = %x20-7E`; not empty here (a
/// client needs a name), and at most [`MAX_CLIENT_ID_LEN`] bytes.
pub(crate) fn check_client_id(id: &str) -> Result<(), RegisterError> {
    if id.is_empty() {
        return Err(RegisterError::EmptyId);
    }
    if id.len() > MAX_CLIENT_ID_LEN {
        return Err(RegisterError::IdTooLong);
    }
    if !id.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
        return Err(RegisterError::InvalidId);
    }
    Ok(())
}

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

impl ClientRecord {
    fn is_argon2(&self) -> bool {
        self.secret.kind() == SecretKind::Argon2
    }
}

/// The stored form of a client (`client:<id>`): the secret as its argon2 PHC string or its
/// SHA-256 digest in hex, never the secret.
#[derive(Serialize, Deserialize)]
struct StoredClient {
    id: String,
    secret: StoredSecretForm,
    allowed_scopes: Vec<String>,
    default_scopes: Vec<String>,
    disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_format: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredSecretForm {
    Argon2(String),
    Sha256(String),
}

impl Record for ClientRecord {
    const KIND: &'static str = "client";

    fn encode(&self) -> Vec<u8> {
        encode_json(&StoredClient {
            id: self.id.clone(),
            secret: match &self.secret {
                StoredSecret::Argon2(phc) => StoredSecretForm::Argon2(phc.to_string()),
                StoredSecret::Sha256(d) => {
                    StoredSecretForm::Sha256(HexDigest::of(d).as_str().to_owned())
                }
            },
            allowed_scopes: self.allowed_scopes.clone(),
            default_scopes: self.default_scopes.clone(),
            disabled: self.disabled,
            token_format: self.token_format.map(|f| f.as_str().to_owned()),
        })
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let s: StoredClient = decode_json(Self::KIND, bytes)?;
        let damaged = || StoreError::format("a client record is damaged");
        let secret = match s.secret {
            // The same checks as at registration: a PHC beyond the memory bound is refused.
            StoredSecretForm::Argon2(phc) if is_argon2_phc(&phc) => {
                StoredSecret::Argon2(phc.into())
            }
            StoredSecretForm::Argon2(_) => return Err(damaged()),
            StoredSecretForm::Sha256(hex) => {
                StoredSecret::Sha256(parse_hex_digest(&hex).ok_or_else(damaged)?)
            }
        };
        let token_format = s
            .token_format
            .map(|f| TokenFormat::parse(&f).ok_or_else(damaged))
            .transpose()?;
        Ok(Self {
            id: s.id,
            secret,
            allowed_scopes: s.allowed_scopes,
            default_scopes: s.default_scopes,
            disabled: s.disabled,
            token_format,
        })
    }
}

/// Redis mode: the deployment-wide mark (`clientmeta:argon2`) that some client was ever
/// registered with an argon2 secret. Written with every such client, never removed.
#[cfg(feature = "redis")]
pub(crate) struct Argon2Mark;

#[cfg(feature = "redis")]
impl Record for Argon2Mark {
    const KIND: &'static str = "clientmeta";

    fn encode(&self) -> Vec<u8> {
        encode_json(&true)
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        decode_json::<bool>(Self::KIND, bytes).map(|_| Self)
    }
}

#[cfg(feature = "redis")]
const ARGON2_MARK: &str = "argon2";

/// The kind of user records in the shared store (see the key layout): a client's id must not
/// be a user's uid.
#[cfg(feature = "redis")]
const USER_KIND: &str = "user";

/// How many times a compare-and-set is tried against concurrent writers.
#[cfg(feature = "redis")]
const CAS_ATTEMPTS: usize = 16;

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
    table: Arc<Table<ClientRecord>>,
    /// Memory mode: how many clients have an argon2 secret (unknown ids cost an argon2 check
    /// while any do). Raised before such a client becomes visible and lowered after it is
    /// gone, so it is never below the true count.
    argon2: AtomicUsize,
    /// Redis mode: the deployment's [`Argon2Mark`].
    #[cfg(feature = "redis")]
    mark: Option<Arc<Table<Argon2Mark>>>,
    /// Redis mode: this node has seen an argon2 client or the mark (which is never removed).
    seen_argon2: AtomicBool,
    decoy: Arc<str>,
    decoy_digest: [u8; 32],
}

/// The registered clients; secrets are kept as argon2 hashes or SHA-256 digests (see
/// [`SecretKind`]), never in plain text.
///
/// In memory ([`ClientRegistry::new`]) readers never lock and a write costs O(1) amortised,
/// never a copy of the registry. With the `redis` feature, `ClientRegistry::redis` keeps
/// the clients in Redis (`client:<id>`), shared by every node, each node caching what it
/// read: creation is atomic across nodes (exactly one of two concurrent creations of an id
/// wins, and none wins while a user holds the id), disabling and rotating a secret are
/// compare-and-sets, and every node drops its cached copy when a client changes.
///
/// Writes are `async` (in memory they complete at once). Reads answer a [`MaybeReady`]:
/// `Ready` from memory, `Pending` for a cold read from Redis; a store that cannot answer is a
/// [`StoreError`], never a guess.
///
/// ```
/// use tower_gatekeeper::issuer::{Client, ClientRegistry};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let clients = ClientRegistry::new();
/// clients.register(Client::new("app", "secret-1").allowed_scopes(["read"])).await.unwrap();
/// assert!(clients.authenticate("app", "secret-1").await.unwrap().is_some());
/// assert!(clients.authenticate("app", "secret-2").await.unwrap().is_none());
/// assert!(clients.set_disabled("app", true).await.unwrap());
/// assert!(clients.authenticate("app", "secret-1").await.unwrap().is_none());
/// // In memory, reads are answered at once.
/// assert!(clients.is_active("app").is_ready());
/// # });
/// ```
#[derive(Clone)]
pub struct ClientRegistry {
    inner: Arc<Registry>,
}

impl fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inner.table.is_remote() {
            write!(
                f,
                "ClientRegistry(redis, {} cached)",
                self.inner.table.len()
            )
        } else {
            write!(f, "ClientRegistry({} clients)", self.inner.table.len())
        }
    }
}

impl Default for ClientRegistry {
    fn default() -> Self {
        Self::new()
    }
}

/// Validates a client and computes its stored secret (argon2 for a chosen secret: slow).
fn prepare(client: Client) -> Result<ClientRecord, RegisterError> {
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
    check_client_id(&client.id)?;
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
    Ok(ClientRecord {
        id: client.id,
        secret,
        allowed_scopes: client.allowed_scopes,
        default_scopes,
        disabled: client.disabled,
        token_format: client.token_format,
    })
}

impl ClientRegistry {
    /// An empty registry in this process's memory.
    pub fn new() -> Self {
        Self::with_table(Table::memory(), false)
    }

    /// The clients kept in Redis through `store` (feature `redis`), cached on this node.
    ///
    /// Timing of unknown ids: an unknown id costs an argon2 check (against a decoy) on every
    /// node as soon as any client of the deployment was ever registered with an argon2 secret
    /// (a mark written with that client and never removed, since no node can count the
    /// others' clients cheaply); while none ever was, a SHA-256 comparison, as in memory.
    #[cfg(feature = "redis")]
    pub fn redis(store: &crate::store::RedisStore) -> Self {
        Self::with_table(Table::redis(store), true)
    }

    fn with_table(table: Arc<Table<ClientRecord>>, _shared: bool) -> Self {
        #[cfg(feature = "redis")]
        let mark = _shared.then(|| Table::redis(table_store(&table)));
        Self {
            inner: Arc::new(Registry {
                table,
                argon2: AtomicUsize::new(0),
                #[cfg(feature = "redis")]
                mark,
                seen_argon2: AtomicBool::new(false),
                decoy: hash_password("decoy client secret")
                    .unwrap_or_default()
                    .into(),
                decoy_digest: digest(super::random_secret()),
            }),
        }
    }

    /// Whether the clients live in a shared store (redis mode).
    pub(crate) fn is_shared(&self) -> bool {
        self.inner.table.is_remote()
    }

    /// Registers (or replaces) a client, hashing its secret.
    ///
    /// A secret a person chose is hashed with argon2 on the calling thread (tens of
    /// milliseconds, on purpose): register such clients at start-up, or from blocking code.
    pub async fn register(&self, client: Client) -> Result<(), RegisterError> {
        let record = prepare(client)?;
        self.store(record, false).await
    }

    /// Registers a new client; [`RegisterError::Exists`] if the id is taken, decided atomically
    /// (of two concurrent creations of one id, exactly one succeeds, on one node or many). In
    /// redis mode the id must not be a user's uid either (`user:<id>` absent, checked in the
    /// same atomic write).
    pub async fn create(&self, client: Client) -> Result<(), RegisterError> {
        let record = prepare(client)?;
        self.store(record, true).await
    }

    /// Memory mode: [`create`](Self::create) without waiting, for callers that must decide
    /// under a lock of their own (the account admin, under the user registry's writer lock).
    pub(crate) fn create_in_memory(&self, client: Client) -> Result<(), RegisterError> {
        debug_assert!(!self.is_shared());
        let record = prepare(client)?;
        self.store_in_memory(record, true)
    }

    async fn store(&self, record: ClientRecord, only_new: bool) -> Result<(), RegisterError> {
        #[cfg(feature = "redis")]
        if let Some(store) = self.inner.table.remote_store() {
            return self.store_remote(store, record, only_new).await;
        }
        self.store_in_memory(record, only_new)
    }

    fn store_in_memory(&self, record: ClientRecord, only_new: bool) -> Result<(), RegisterError> {
        let i = &self.inner;
        let new_argon2 = record.is_argon2();
        if new_argon2 {
            i.argon2.fetch_add(1, Ordering::AcqRel);
        }
        let id = record.id.clone();
        let outcome = i.table.update(&id, |current| match current {
            Some(_) if only_new => Change::Keep(Err(RegisterError::Exists)),
            current => Change::Set(record.clone(), Ok(current.is_some_and(|c| c.is_argon2()))),
        });
        match outcome {
            Ok(old_argon2) => {
                if old_argon2 {
                    i.argon2.fetch_sub(1, Ordering::AcqRel);
                }
                Ok(())
            }
            Err(e) => {
                if new_argon2 {
                    i.argon2.fetch_sub(1, Ordering::AcqRel);
                }
                Err(e)
            }
        }
    }

    #[cfg(feature = "redis")]
    async fn store_remote(
        &self,
        store: &crate::store::RedisStore,
        record: ClientRecord,
        only_new: bool,
    ) -> Result<(), RegisterError> {
        use crate::store::{Applied, Expect, Op, Write};
        let id = record.id.clone();
        let full = store.key(ClientRecord::KIND, &id);
        let mut ops = vec![Op::Set {
            key: full.clone(),
            value: record.encode(),
            expire_at_ms: None,
        }];
        let mut notices = vec![format!("{}:{id}", ClientRecord::KIND)];
        if record.is_argon2() {
            ops.push(Op::Set {
                key: store.key(Argon2Mark::KIND, ARGON2_MARK),
                value: Argon2Mark.encode(),
                expire_at_ms: None,
            });
            notices.push(format!("{}:{ARGON2_MARK}", Argon2Mark::KIND));
        }
        let (expect, guards) = if only_new {
            (
                Expect::Absent,
                vec![(store.key(USER_KIND, &id), Expect::Absent)],
            )
        } else {
            (Expect::Any, vec![])
        };
        let write = Write {
            key: full,
            expect,
            guards,
            ops,
            notices,
        };
        match store.apply(write).await? {
            Applied::Done => {
                if record.is_argon2() {
                    self.inner.seen_argon2.store(true, Ordering::Release);
                }
                self.inner.table.forget(&id);
                Ok(())
            }
            Applied::Conflict | Applied::Guard(_) => Err(RegisterError::Exists),
        }
    }

    /// Changes one client atomically; answers the new record, or `None` when it does not
    /// exist. `change` may run more than once.
    async fn change(
        &self,
        id: &str,
        change: impl Fn(&ClientRecord) -> ClientRecord,
    ) -> Result<Option<ClientRecord>, StoreError> {
        #[cfg(feature = "redis")]
        if let Some(store) = self.inner.table.remote_store() {
            return self.change_remote(store, id, change).await;
        }
        let i = &self.inner;
        let outcome = i.table.update(id, |current| match current {
            None => Change::Keep(None),
            Some(old) => {
                let next = change(old);
                Change::Set(next.clone(), Some((old.is_argon2(), next)))
            }
        });
        Ok(outcome.map(|(old_argon2, next)| {
            if old_argon2 && !next.is_argon2() {
                i.argon2.fetch_sub(1, Ordering::AcqRel);
            }
            next
        }))
    }

    /// Compare-and-set against Redis: read the stored bytes, change, write if unchanged.
    #[cfg(feature = "redis")]
    async fn change_remote(
        &self,
        store: &crate::store::RedisStore,
        id: &str,
        change: impl Fn(&ClientRecord) -> ClientRecord,
    ) -> Result<Option<ClientRecord>, StoreError> {
        use crate::store::{Applied, Expect, Op, Write};
        let full = store.key(ClientRecord::KIND, id);
        for _ in 0..CAS_ATTEMPTS {
            let Some(bytes) = store.read(&full).await? else {
                return Ok(None);
            };
            let next = change(&ClientRecord::decode(&bytes)?);
            let write = Write {
                key: full.clone(),
                expect: Expect::unchanged(Some(&bytes)),
                guards: vec![],
                ops: vec![Op::Set {
                    key: full.clone(),
                    value: next.encode(),
                    expire_at_ms: None,
                }],
                notices: vec![format!("{}:{id}", ClientRecord::KIND)],
            };
            match store.apply(write).await? {
                Applied::Done => {
                    self.inner.table.forget(id);
                    return Ok(Some(next));
                }
                Applied::Conflict | Applied::Guard(_) => continue,
            }
        }
        Err(StoreError::new(
            crate::store::StoreErrorKind::Conflict,
            "a client kept changing under a compare-and-set",
        ))
    }

    /// Disables or re-enables a client; answers whether it exists. A disabled client gets no
    /// new tokens and its tokens are refused; re-enabled, its unexpired, unrevoked tokens work
    /// again.
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> Result<bool, StoreError> {
        let changed = self
            .change(id, |r| ClientRecord {
                disabled,
                ..r.clone()
            })
            .await?;
        Ok(changed.is_some())
    }

    /// A new client secret: 256 random bits from the operating system, base64url (43
    /// characters). Register it with [`Client::with_generated_secret`].
    pub fn generate_secret() -> String {
        super::random_secret()
    }

    /// Gives a client a new random secret ([`generate_secret`](Self::generate_secret),
    /// returned once, stored as a SHA-256 digest whatever the old secret's kind); the old one
    /// stops working at once (a compare-and-set in redis mode: a concurrent change is not
    /// lost). `None` when the client does not exist.
    pub async fn rotate_secret(&self, id: &str) -> Result<Option<String>, StoreError> {
        let secret = super::random_secret();
        let stored = StoredSecret::Sha256(digest(&secret));
        let changed = self
            .change(id, |r| ClientRecord {
                secret: stored.clone(),
                ..r.clone()
            })
            .await?;
        Ok(changed.map(|_| secret))
    }

    fn lookup(&self, id: &str) -> Lookup<ClientRecord> {
        self.inner.table.get(id)
    }

    /// Whether `id` is registered.
    pub fn contains(&self, id: &str) -> MaybeReady<Result<bool, StoreError>> {
        self.lookup(id).map(|found| found.map(|c| c.is_some()))
    }

    /// Whether this node holds client `id` in memory (exact in memory mode; in redis mode
    /// only what this node caches, and the store's atomic writes decide).
    pub(crate) fn contains_in_memory(&self, id: &str) -> bool {
        self.inner.table.peek(id).is_some()
    }

    /// How the secret of `id` is kept; `None` when the client does not exist.
    pub fn secret_kind(&self, id: &str) -> MaybeReady<Result<Option<SecretKind>, StoreError>> {
        self.lookup(id)
            .map(|found| found.map(|c| c.map(|c| c.secret.kind())))
    }

    pub(crate) fn token_format(
        &self,
        id: &str,
    ) -> MaybeReady<Result<Option<TokenFormat>, StoreError>> {
        self.lookup(id)
            .map(|found| found.map(|c| c.and_then(|c| c.token_format)))
    }

    /// Whether `id` is registered and enabled: the check every request with one of this
    /// issuer's tokens pays. `Ready` from memory.
    pub fn is_active(&self, id: &str) -> MaybeReady<Result<bool, StoreError>> {
        self.lookup(id)
            .map(|found| found.map(|c| c.is_some_and(|c| !c.disabled)))
    }

    /// How many clients the registry holds (in redis mode: how many records and remembered
    /// absences this node caches).
    pub fn len(&self) -> usize {
        self.inner.table.len()
    }

    /// Whether [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts checking a client's id and secret: a digest secret is compared here (constant
    /// time); an argon2 secret is left to the caller, to run under its hashing bound.
    ///
    /// Timing: a digest client costs a SHA-256 either way. An unknown id costs what the
    /// slowest kind in the registry costs: an argon2 check (against a decoy) while any client
    /// has an argon2 secret, so that the ids of clients with guessable secrets cannot be told
    /// from unknown ones; a SHA-256 comparison (against a decoy) when every secret is a digest.
    /// Only digest clients, whose secrets cannot be guessed, can be told from unknown ids.
    /// (Redis mode: see `ClientRegistry::redis` for when an unknown id costs argon2.)
    pub(crate) fn begin_authenticate(
        &self,
        id: &str,
        secret: &str,
    ) -> MaybeReady<Result<SecretCheck, StoreError>> {
        // Every path pays this one SHA-256, known id or not.
        let presented = digest(secret);
        let registry = self.inner.clone();
        let asked = id.to_owned();
        self.lookup(id).and_then(move |found| match found {
            Err(e) => MaybeReady::Ready(Err(e)),
            // A record names its client: one stored under another id is damaged, and must not
            // authenticate (a token would be issued to the id the record names).
            Ok(Some(record)) if record.id != asked => MaybeReady::Ready(Err(StoreError::format(
                "a client record is stored under another id",
            ))),
            Ok(Some(record)) => MaybeReady::Ready(Ok(match &record.secret {
                StoredSecret::Sha256(stored) => {
                    let matched = bool::from(presented.ct_eq(stored));
                    SecretCheck::Done(SecretCheck::finish(Some(record.clone()), matched))
                }
                StoredSecret::Argon2(phc) => {
                    registry.seen_argon2.store(true, Ordering::Release);
                    SecretCheck::Argon2 {
                        phc: phc.clone(),
                        record: Some(record.clone()),
                    }
                }
            })),
            Ok(None) => registry.unknown_id(presented),
        })
    }

    /// Checks a client's id and secret; answers the client id when they match and the client
    /// is enabled. Unknown ids cost what known ones do (see [`SecretKind`]); disabled clients
    /// fail.
    ///
    /// An argon2 secret is checked on this thread, without a bound: slow on purpose, so call it
    /// off the async executor. The token, introspection and revocation endpoints check
    /// secrets under their [`HashingPool`](crate::verify::HashingPool) instead.
    pub async fn authenticate(&self, id: &str, secret: &str) -> Result<Option<String>, StoreError> {
        let record = match self.begin_authenticate(id, secret).await? {
            SecretCheck::Done(record) => record,
            SecretCheck::Argon2 { phc, record } => {
                SecretCheck::finish(record, password_matches(&phc, secret))
            }
        };
        Ok(record.map(|r| r.id.clone()))
    }
}

impl Registry {
    /// What an unknown id costs: an argon2 decoy while argon2 clients may exist, else a
    /// SHA-256 comparison against a decoy.
    fn unknown_id(
        self: Arc<Self>,
        presented: [u8; 32],
    ) -> MaybeReady<Result<SecretCheck, StoreError>> {
        #[cfg(feature = "redis")]
        if let Some(mark) = &self.mark {
            if self.seen_argon2.load(Ordering::Acquire) {
                return MaybeReady::Ready(Ok(self.argon2_decoy()));
            }
            return mark.get(ARGON2_MARK).map(move |found| {
                found.map(|mark| {
                    if mark.is_some() {
                        self.seen_argon2.store(true, Ordering::Release);
                        self.argon2_decoy()
                    } else {
                        self.digest_decoy(&presented)
                    }
                })
            });
        }
        MaybeReady::Ready(Ok(if self.argon2.load(Ordering::Acquire) > 0 {
            self.argon2_decoy()
        } else {
            self.digest_decoy(&presented)
        }))
    }

    fn argon2_decoy(&self) -> SecretCheck {
        SecretCheck::Argon2 {
            phc: self.decoy.clone(),
            record: None,
        }
    }

    fn digest_decoy(&self, presented: &[u8; 32]) -> SecretCheck {
        // Same work as a digest client, same answer.
        std::hint::black_box(bool::from(presented.ct_eq(&self.decoy_digest)));
        SecretCheck::Done(None)
    }
}

#[cfg(feature = "redis")]
fn table_store<V: Record>(table: &Table<V>) -> &crate::store::RedisStore {
    table.remote_store().expect("a redis table")
}
