//! API keys, kept as SHA-256 digests, in memory or in Redis.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{
    ReusableVerification, Reuse, Revalidation, Verification, Verified, Verifier, VerifyError,
};
use crate::extract::{Credential, Scheme};
use crate::maybe_ready::MaybeReady;
use crate::principal::{Actor, CredentialInfo, Identity, Principal, PrincipalKind, Tenant};
use crate::store::table::{decode_json, encode_json};
use crate::store::{Record, StoreError, Table};

type Digest32 = [u8; 32];

/// The SHA-256 digest of a key, as stored.
pub(crate) fn digest(secret: impl AsRef<[u8]>) -> Digest32 {
    Sha256::digest(secret.as_ref()).into()
}

/// A digest in lower-case hex, on the stack: the key of a record in a [`Table`].
pub(crate) struct HexDigest([u8; 64]);

impl HexDigest {
    pub(crate) fn of(digest: &Digest32) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, b) in digest.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        Self(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex is ASCII")
    }
}

/// Reads the hex form back.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn parse_hex_digest(hex: &str) -> Option<Digest32> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// One stored key: its digest (compared again in constant time on every lookup) and its owner.
pub(crate) struct KeyRecord {
    digest: Digest32,
    owner: Arc<Identity>,
}

/// The stored form of an owner: every field of its [`Identity`], so nothing is lost on the way
/// through Redis.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    digest: String,
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<(String, Option<String>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor: Option<(String, Option<String>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claims: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Record for KeyRecord {
    const KIND: &'static str = "apikey";

    fn encode(&self) -> Vec<u8> {
        let o = &self.owner;
        encode_json(&StoredKey {
            digest: HexDigest::of(&self.digest).as_str().to_owned(),
            sub: o.subject().to_owned(),
            kind: o.has_explicit_kind().then(|| o.kind().as_str().to_owned()),
            client_id: o.client_id().map(str::to_owned),
            scopes: o.scopes().to_vec(),
            roles: o.roles().to_vec(),
            tenant: o.tenant().map(|t| (t.id.clone(), t.code.clone())),
            actor: o.actor().map(|a| (a.subject.clone(), a.client_id.clone())),
            exp: o.expires_at(),
            jti: o.token_id().map(str::to_owned),
            claims: o.claims().cloned(),
        })
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let s: StoredKey = decode_json(Self::KIND, bytes)?;
        let damaged = || StoreError::format("an apikey record is damaged");
        let digest = parse_hex_digest(&s.digest).ok_or_else(damaged)?;
        let mut owner = Identity::new(s.sub)
            .with_scopes(s.scopes)
            .with_roles(s.roles);
        if let Some(kind) = s.kind {
            owner = owner.with_kind(PrincipalKind::parse(&kind).ok_or_else(damaged)?);
        }
        if let Some(client_id) = s.client_id {
            owner = owner.with_client_id(client_id);
        }
        if let Some((id, code)) = s.tenant {
            owner = owner.with_tenant(Tenant::new(id, code));
        }
        if let Some((subject, client_id)) = s.actor {
            owner = owner.with_actor(Actor { subject, client_id });
        }
        if let Some(exp) = s.exp {
            owner = owner.with_expires_at(exp);
        }
        if let Some(jti) = s.jti {
            owner = owner.with_token_id(jti);
        }
        if let Some(claims) = s.claims {
            owner = owner.with_claims(claims);
        }
        Ok(Self {
            digest,
            owner: Arc::new(owner),
        })
    }
}

/// How many keys one Redis write of a bulk load carries.
#[cfg(feature = "redis")]
const BULK_BATCH: usize = 256;

/// API keys by their SHA-256 digest. The plain key is never kept.
///
/// In memory ([`ApiKeyStore::new`]) a lookup reads a lock-free concurrent map and never
/// waits; a write costs O(1) amortised (loading n keys costs O(n)) and never copies the store.
/// With the `redis` feature, `ApiKeyStore::redis` keeps the keys in Redis (as `apikey:<hex
/// digest>`), shared by every node: each node answers warm lookups from its cache, and every
/// write reaches every node's cache through the store's change notices.
///
/// Writes are `async` (in memory they complete at once); lookups answer a
/// [`MaybeReady`]: `Ready` from memory, `Pending` for a cold read from Redis.
///
/// ```
/// use tower_gatekeeper::verify::ApiKeyStore;
/// use tower_gatekeeper::principal::Identity;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = ApiKeyStore::new();
/// store.insert("k-123", Identity::new("reporting-service").with_scopes(["read"])).await.unwrap();
/// // In memory, a lookup is answered at once.
/// let found = store.lookup("k-123");
/// assert!(found.is_ready());
/// assert!(found.await.unwrap().is_some());
/// assert!(store.lookup("k-124").await.unwrap().is_none());
/// assert!(!format!("{store:?}").contains("k-123"));
/// # });
/// ```
#[derive(Clone)]
pub struct ApiKeyStore {
    table: Arc<Table<KeyRecord>>,
}

impl fmt::Debug for ApiKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.table.is_remote() {
            write!(f, "ApiKeyStore(redis, {} cached)", self.table.len())
        } else {
            write!(f, "ApiKeyStore({} keys)", self.table.len())
        }
    }
}

impl Default for ApiKeyStore {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiKeyStore {
    /// An empty store in this process's memory.
    pub fn new() -> Self {
        Self {
            table: Table::memory(),
        }
    }

    /// The keys kept in Redis through `store` (feature `redis`), cached on this node.
    #[cfg(feature = "redis")]
    pub fn redis(store: &crate::store::RedisStore) -> Self {
        Self {
            table: Table::redis(store),
        }
    }

    /// Stores the digest of `key` for `owner`.
    pub async fn insert(&self, key: &str, owner: Identity) -> Result<(), StoreError> {
        self.insert_digest(digest(key), owner).await
    }

    /// Stores a digest computed elsewhere (so plain keys never reach this process).
    ///
    /// The owner is an [`ApiKeyOwner`](crate::principal::PrincipalKind::ApiKeyOwner) unless its
    /// identity names another kind with [`Identity::with_kind`] (a key that belongs to a client
    /// or a user).
    pub async fn insert_digest(&self, digest: [u8; 32], owner: Identity) -> Result<(), StoreError> {
        self.insert_digests([(digest, owner)]).await.map(|_| ())
    }

    /// Stores many digests at once, and answers how many. Costs O(n): in memory, n inserts of
    /// O(1) each; in Redis, one atomic write per batch of 256 keys.
    ///
    /// ```
    /// use tower_gatekeeper::verify::ApiKeyStore;
    /// use tower_gatekeeper::principal::Identity;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = ApiKeyStore::new();
    /// let keys = (0..1000).map(|i| {
    ///     let digest = ApiKeyStore::digest_of(&format!("key-{i}"));
    ///     (digest, Identity::new(format!("svc-{i}")))
    /// });
    /// assert_eq!(store.insert_digests(keys).await.unwrap(), 1000);
    /// assert_eq!(store.len(), 1000);
    /// # });
    /// ```
    pub async fn insert_digests(
        &self,
        entries: impl IntoIterator<Item = ([u8; 32], Identity)>,
    ) -> Result<usize, StoreError> {
        let records = entries.into_iter().map(|(digest, mut owner)| {
            if !owner.has_explicit_kind() {
                owner = owner.with_kind(PrincipalKind::ApiKeyOwner);
            }
            KeyRecord {
                digest,
                owner: Arc::new(owner),
            }
        });
        #[cfg(feature = "redis")]
        if let Some(store) = self.table.remote_store() {
            return self.insert_remote(store, records).await;
        }
        let mut n = 0;
        for record in records {
            self.table
                .insert(HexDigest::of(&record.digest).as_str(), record);
            n += 1;
        }
        Ok(n)
    }

    #[cfg(feature = "redis")]
    async fn insert_remote(
        &self,
        store: &crate::store::RedisStore,
        records: impl Iterator<Item = KeyRecord>,
    ) -> Result<usize, StoreError> {
        use crate::store::{Expect, Op, Write};
        let mut n = 0;
        let mut records = records.peekable();
        while records.peek().is_some() {
            let batch: Vec<KeyRecord> = records.by_ref().take(BULK_BATCH).collect();
            let keys: Vec<String> = batch
                .iter()
                .map(|r| HexDigest::of(&r.digest).as_str().to_owned())
                .collect();
            let write = Write {
                key: store.key(KeyRecord::KIND, &keys[0]),
                expect: Expect::Any,
                guards: vec![],
                ops: batch
                    .iter()
                    .zip(&keys)
                    .map(|(r, k)| Op::Set {
                        key: store.key(KeyRecord::KIND, k),
                        value: r.encode(),
                        expire_at_ms: None,
                    })
                    .collect(),
                notices: keys
                    .iter()
                    .map(|k| format!("{}:{k}", KeyRecord::KIND))
                    .collect(),
            };
            store.apply(write).await?;
            // This node's own cache need not wait for the notice to come back.
            for k in &keys {
                self.table.forget(k);
            }
            n += batch.len();
        }
        Ok(n)
    }

    /// Removes `key`; answers whether it was stored.
    pub async fn remove(&self, key: &str) -> Result<bool, StoreError> {
        let d = digest(key);
        let hex = HexDigest::of(&d);
        #[cfg(feature = "redis")]
        if let Some(store) = self.table.remote_store() {
            use crate::store::{Applied, Expect, Op, Write};
            let full = store.key(KeyRecord::KIND, hex.as_str());
            let write = Write {
                key: full.clone(),
                expect: Expect::Present,
                guards: vec![],
                ops: vec![Op::Del(full)],
                notices: vec![format!("{}:{}", KeyRecord::KIND, hex.as_str())],
            };
            let applied = store.apply(write).await?;
            self.table.forget(hex.as_str());
            return Ok(applied == Applied::Done);
        }
        Ok(self.table.remove(hex.as_str()).is_some())
    }

    /// The owner of `key`, if it is stored. The stored digest is compared in constant time.
    ///
    /// `Ready` when answered from memory (always, in memory mode); in redis mode a key this
    /// node has not seen (or not within the staleness bound) costs one read, and an unknown
    /// key is then remembered as unknown for a short while
    /// (`RedisOptions::negative_ttl`).
    pub fn lookup(&self, key: &str) -> MaybeReady<Result<Option<Arc<Identity>>, StoreError>> {
        let d = digest(key);
        self.table
            .get(HexDigest::of(&d).as_str())
            .map(move |found| {
                found.map(|record| {
                    record.and_then(|r| bool::from(r.digest.ct_eq(&d)).then(|| r.owner.clone()))
                })
            })
    }

    /// The SHA-256 digest of `key`, as [`insert_digest`](Self::insert_digest) takes it.
    pub fn digest_of(key: &str) -> [u8; 32] {
        digest(key)
    }

    /// How many keys the store holds (in redis mode: how many records and remembered
    /// absences this node caches).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A number that changes with every insert and removal (in redis mode also with every
    /// change notice and resynchronisation this node hears of): an answer taken from the store
    /// at one generation still holds while the generation is the same.
    pub fn generation(&self) -> u64 {
        self.table.generation()
    }

    /// Whether this node's copy may be trusted without asking Redis (always in memory mode;
    /// in redis mode within the staleness bound).
    pub(crate) fn is_fresh(&self) -> bool {
        self.table.is_fresh()
    }
}

/// Verifies API keys against an [`ApiKeyStore`], and, when asked to, keys carried as bearer
/// tokens (`Authorization: Bearer`, a token header, the query or the body).
///
/// Whatever carried it, what it verifies is an API key: the principal it answers records
/// [`Scheme::ApiKey`] (see [`Principal::credential`]), so an API that takes bearer tokens
/// only can tell a key from a token ([`RequireScheme`](crate::layer::RequireScheme)).
///
/// A store that cannot answer (Redis unreachable, or this node's view older than the
/// staleness bound) makes the verifier answer [`VerifyError::Unavailable`]: 503, never a pass.
///
/// ```
/// use tower_gatekeeper::extract::{Credential, Scheme, Source};
/// use tower_gatekeeper::principal::Identity;
/// use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, Verifier, VerifyError};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let keys = ApiKeyStore::new();
/// keys.insert("k-123", Identity::new("svc")).await.unwrap();
/// // By default a key is taken from API key sources only.
/// let verifier = ApiKeyVerifier::new(keys.clone());
/// let as_bearer = Credential::bearer("k-123", Source::Header);
/// assert_eq!(verifier.verify(&as_bearer).await.unwrap_err(), VerifyError::NotApplicable);
///
/// // Opted in, a key carried as a bearer token is still an API key.
/// let verifier = ApiKeyVerifier::new(keys).accept_bearer(true);
/// let p = verifier.verify(&as_bearer).await.unwrap();
/// assert_eq!(p.credential().unwrap().scheme, Scheme::ApiKey);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ApiKeyVerifier {
    store: ApiKeyStore,
    accept_bearer: bool,
}

impl ApiKeyVerifier {
    /// Accepts API keys found in `store`, from API key sources
    /// ([`CredentialSources::api_key_header`](crate::extract::CredentialSources::api_key_header)).
    pub fn new(store: ApiKeyStore) -> Self {
        Self {
            store,
            accept_bearer: false,
        }
    }

    /// Whether keys carried as bearer tokens that are not JWTs are looked up too (default:
    /// no). They still verify as API keys, not as tokens.
    pub fn accept_bearer(mut self, on: bool) -> Self {
        self.accept_bearer = on;
        self
    }
}

impl ApiKeyVerifier {
    fn key<'c>(&self, credential: &'c Credential<'_>) -> Option<&'c str> {
        match (credential.scheme(), credential.token()) {
            (Scheme::ApiKey, Some(key)) => Some(key),
            (Scheme::Bearer, Some(token))
                if self.accept_bearer && !super::jwt::looks_like_jwt(token) =>
            {
                Some(token)
            }
            _ => None,
        }
    }
}

impl Verifier for ApiKeyVerifier {
    /// An answer holds while the store is unchanged: any insert or removal (on any node, in
    /// redis mode) makes kept answers stale, so a removed key is refused from the next request
    /// on.
    fn verify_reusable(&self, credential: &Credential<'_>) -> ReusableVerification {
        let Some(key) = self.key(credential) else {
            return MaybeReady::Ready(Err(VerifyError::NotApplicable));
        };
        // Read before the lookup: a change racing with it leaves a stamp that is already old.
        let generation = self.store.generation();
        let source = credential.source();
        self.store.lookup(key).map(move |found| match found {
            // An API key, however it was carried; the layer records where.
            Ok(Some(owner)) => Ok(Verified::reusable(
                Principal::new(owner).with_credential(CredentialInfo {
                    scheme: Scheme::ApiKey,
                    source,
                }),
                Reuse::unlimited().with_stamp(generation),
            )),
            Ok(None) => Err(VerifyError::invalid("the key is unknown or revoked")),
            Err(e) => Err(e.into()),
        })
    }

    /// Valid while the store's generation is the stamp's and (redis mode) this node's view is
    /// within the staleness bound; otherwise the key is looked up afresh, which past the bound
    /// asks Redis and answers 503 when it cannot.
    fn revalidate(&self, _: &Credential<'_>, _: &Principal, stamp: u64) -> Revalidation {
        if self.store.generation() == stamp && self.store.is_fresh() {
            Revalidation::Valid
        } else {
            Revalidation::Stale
        }
    }

    fn verify(&self, credential: &Credential<'_>) -> Verification {
        let Some(key) = self.key(credential) else {
            return MaybeReady::Ready(Err(VerifyError::NotApplicable));
        };
        let source = credential.source();
        self.store.lookup(key).map(move |found| match found {
            // An API key, however it was carried; the layer records where.
            Ok(Some(owner)) => Ok(Principal::new(owner).with_credential(CredentialInfo {
                scheme: Scheme::ApiKey,
                source,
            })),
            Ok(None) => Err(VerifyError::invalid("the key is unknown or revoked")),
            Err(e) => Err(e.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_write_moves_the_generation_and_reads_do_not() {
        let store = ApiKeyStore::new();
        let g0 = store.generation();
        store.insert("k", Identity::new("o")).await.unwrap();
        let g1 = store.generation();
        assert!(g1 > g0);
        assert!(store.lookup("k").await.unwrap().is_some());
        assert_eq!(store.generation(), g1);
        assert!(store.remove("k").await.unwrap());
        let g2 = store.generation();
        assert!(g2 > g1);
        // Removing nothing changes nothing.
        assert!(!store.remove("k").await.unwrap());
        assert_eq!(store.generation(), g2);
    }

    #[test]
    fn hex_digests_read_back() {
        let d = digest("some key");
        let hex = HexDigest::of(&d);
        assert_eq!(hex.as_str().len(), 64);
        assert_eq!(parse_hex_digest(hex.as_str()), Some(d));
        assert_eq!(parse_hex_digest(&hex.as_str().to_uppercase()), None);
        assert_eq!(parse_hex_digest(&hex.as_str()[1..]), None);
    }

    #[test]
    fn a_stored_owner_reads_back_whole() {
        let owner = Identity::new("svc")
            .with_kind(PrincipalKind::Client)
            .with_client_id("svc")
            .with_scopes(["a", "b"])
            .with_roles(["r"])
            .with_tenant(Tenant::new("t1", Some("T")))
            .with_expires_at(99)
            .with_token_id("j");
        let record = KeyRecord {
            digest: digest("k"),
            owner: Arc::new(owner),
        };
        let back = KeyRecord::decode(&record.encode()).unwrap();
        assert_eq!(back.digest, record.digest);
        let (a, b) = (&*record.owner, &*back.owner);
        assert_eq!(a.subject(), b.subject());
        assert_eq!(a.kind(), b.kind());
        assert!(b.has_explicit_kind());
        assert_eq!(a.client_id(), b.client_id());
        assert_eq!(a.scopes(), b.scopes());
        assert_eq!(a.roles(), b.roles());
        assert_eq!(a.tenant(), b.tenant());
        assert_eq!(a.expires_at(), b.expires_at());
        assert_eq!(a.token_id(), b.token_id());
        // Another format version is refused, not misread.
        let future = String::from_utf8(record.encode())
            .unwrap()
            .replacen("\"v\":1", "\"v\":2", 1);
        assert!(KeyRecord::decode(future.as_bytes()).is_err());
    }
}
