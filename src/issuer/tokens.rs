//! What the issuer remembers about the tokens it issued: opaque tokens (by digest) and
//! revoked JWTs (by `jti`), each only until the token's own expiry.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::maybe_ready::MaybeReady;
use crate::store::expiry::ExpiryQueue;
use crate::store::table::{Change, decode_json, encode_json};
use crate::store::{Record, StoreError, Table};
use crate::verify::HexDigest;

/// How the issuer's access tokens look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenFormat {
    /// RFC 9068 JWTs: resource servers verify them with the issuer's key alone; revocation
    /// reaches them only through a shared revocation list.
    #[default]
    Jwt,
    /// Random 256-bit strings, stored as SHA-256 digests: every check asks the issuer's store,
    /// so revocation is immediate everywhere the store is.
    Opaque,
}

impl TokenFormat {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Opaque => "opaque",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "jwt" => Some(Self::Jwt),
            "opaque" => Some(Self::Opaque),
            _ => None,
        }
    }
}

/// An opaque token's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpaqueToken {
    /// The client it was issued to.
    pub client_id: String,
    /// Its subject.
    pub subject: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// Issued at (Unix seconds).
    pub issued_at: u64,
    /// Expires at (Unix seconds).
    pub expires_at: u64,
    /// Its id.
    pub token_id: String,
}

impl Record for OpaqueToken {
    const KIND: &'static str = "opaque";

    fn encode(&self) -> Vec<u8> {
        encode_json(self)
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        decode_json(Self::KIND, bytes)
    }
}

/// A revoked JWT: when it would have expired anyway (Unix seconds).
pub(crate) struct Revoked {
    expires_at: u64,
}

impl Record for Revoked {
    const KIND: &'static str = "revoked";

    fn encode(&self) -> Vec<u8> {
        encode_json(&self.expires_at)
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        decode_json(Self::KIND, bytes).map(|expires_at| Self { expires_at })
    }
}

/// Redis mode: how long a `jti` found not revoked is remembered at least.
#[cfg(feature = "redis")]
const REVOKED_ABSENCE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

struct Inner {
    opaque: Arc<Table<OpaqueToken>>,
    revoked: Arc<Table<Revoked>>,
    /// Memory mode: when each opaque token and revocation expires, so that writes remove what
    /// has expired a little at a time, without a scan. Redis mode uses key TTLs instead.
    opaque_expiry: ExpiryQueue,
    revoked_expiry: ExpiryQueue,
}

/// The issuer's token memory: opaque tokens (by SHA-256 digest) and revoked JWT ids.
///
/// In memory ([`TokenState::new`], the default) reads never lock; a write costs O(log n)
/// and also removes up to a few entries that have expired, so the sets stay as small as the
/// number of live tokens without a scan. With the `redis` feature,
/// `TokenState::redis` keeps them in Redis (`opaque:<hex digest>`, `revoked:<jti>`), each
/// key with a TTL equal to the token's remaining life: a token issued on one node is usable
/// on every node at once, a revocation reaches every node's cache through the store's change
/// notices.
///
/// ```
/// use tower_gatekeeper::issuer::TokenState;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let tokens = TokenState::new();
/// assert!(tokens.revoke_jti("jti-1", 2_000, 1_000).await.unwrap());
/// assert!(!tokens.revoke_jti("jti-1", 2_000, 1_000).await.unwrap(), "already revoked");
/// assert!(tokens.is_revoked("jti-1").await.unwrap());
/// // Later writes forget revocations whose token has expired.
/// tokens.revoke_jti("jti-2", 9_000, 3_000).await.unwrap();
/// assert!(!tokens.is_revoked("jti-1").await.unwrap());
/// assert_eq!(tokens.revoked_len(), 1);
/// # });
/// ```
#[derive(Clone)]
pub struct TokenState {
    inner: Arc<Inner>,
}

impl Default for TokenState {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenState")
            .field("redis", &self.inner.opaque.is_remote())
            .field("opaque", &self.inner.opaque.len())
            .field("revoked", &self.inner.revoked.len())
            .field(
                "expiry_queued",
                &(self.inner.opaque_expiry.len() + self.inner.revoked_expiry.len()),
            )
            .finish()
    }
}

impl TokenState {
    /// Nothing remembered, in this process's memory.
    pub fn new() -> Self {
        Self::with_tables(Table::memory(), Table::memory())
    }

    /// Opaque tokens and revocations kept in Redis through `store` (feature `redis`).
    ///
    /// An unknown opaque token is remembered as unknown for the store's
    /// `RedisOptions::negative_ttl` only (junk tokens cost one
    /// read each per window, never more). A `jti` found not revoked — the answer for nearly
    /// every JWT — is remembered for at least a minute: every revocation is announced to
    /// every node, which then forgets that answer at once, so a JWT request pays one read per
    /// node per minute at most.
    #[cfg(feature = "redis")]
    pub fn redis(store: &crate::store::RedisStore) -> Self {
        let absence = store
            .options()
            .negative_ttl_value()
            .max(REVOKED_ABSENCE_TTL);
        Self::with_tables(
            Table::redis(store),
            Table::redis_with_negative_ttl(store, absence),
        )
    }

    fn with_tables(opaque: Arc<Table<OpaqueToken>>, revoked: Arc<Table<Revoked>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                opaque,
                revoked,
                opaque_expiry: ExpiryQueue::default(),
                revoked_expiry: ExpiryQueue::default(),
            }),
        }
    }

    /// Records an opaque token; fails (and the token must not be handed out) when the store
    /// cannot take it.
    pub(crate) async fn store_opaque(
        &self,
        digest: [u8; 32],
        token: OpaqueToken,
        now: u64,
    ) -> Result<(), StoreError> {
        let key = HexDigest::of(&digest);
        let i = &self.inner;
        #[cfg(feature = "redis")]
        if let Some(store) = i.opaque.remote_store() {
            use crate::store::{Applied, Expect, Op, Write};
            let full = store.key(OpaqueToken::KIND, key.as_str());
            let write = Write {
                key: full.clone(),
                // 256 random bits: a record already there is a failure of the random source.
                expect: Expect::Absent,
                guards: vec![],
                ops: vec![Op::Set {
                    key: full,
                    value: token.encode(),
                    expire_at_ms: Some(token.expires_at.saturating_mul(1000)),
                }],
                notices: vec![format!("{}:{}", OpaqueToken::KIND, key.as_str())],
            };
            let applied = store.apply(write).await?;
            i.opaque.forget(key.as_str());
            return match applied {
                Applied::Done => Ok(()),
                _ => Err(StoreError::new(
                    crate::store::StoreErrorKind::Conflict,
                    "an opaque token with this digest exists",
                )),
            };
        }
        let expires_at = token.expires_at;
        i.opaque.insert(key.as_str(), token);
        i.opaque_expiry.push(expires_at, key.as_str());
        for (_, due) in i.opaque_expiry.due(now) {
            i.opaque.update(&due, |current| match current {
                Some(t) if t.expires_at <= now => Change::Remove(()),
                _ => Change::Keep(()),
            });
        }
        Ok(())
    }

    /// The opaque token with this digest, if the store holds it (expired or not).
    pub(crate) fn opaque(
        &self,
        digest: &[u8; 32],
    ) -> MaybeReady<Result<Option<Arc<OpaqueToken>>, StoreError>> {
        self.inner.opaque.get(HexDigest::of(digest).as_str())
    }

    /// Forgets an opaque token; answers whether it was stored.
    pub(crate) async fn forget_opaque(&self, digest: &[u8; 32]) -> Result<bool, StoreError> {
        let key = HexDigest::of(digest);
        let table = &self.inner.opaque;
        #[cfg(feature = "redis")]
        if let Some(store) = table.remote_store() {
            use crate::store::{Applied, Expect, Op, Write};
            let full = store.key(OpaqueToken::KIND, key.as_str());
            let write = Write {
                key: full.clone(),
                expect: Expect::Present,
                guards: vec![],
                ops: vec![Op::Del(full)],
                notices: vec![format!("{}:{}", OpaqueToken::KIND, key.as_str())],
            };
            let applied = store.apply(write).await?;
            table.forget(key.as_str());
            return Ok(applied == Applied::Done);
        }
        Ok(table.remove(key.as_str()).is_some())
    }

    /// Revokes the JWT with id `jti`, remembered until `expires_at` (Unix seconds; `now` is
    /// the current time). Answers whether it was newly revoked (`false`: it was already).
    ///
    /// In redis mode the revocation carries a TTL equal to the token's remaining life, and
    /// every node hears of it through the store's change notices.
    pub async fn revoke_jti(
        &self,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let i = &self.inner;
        #[cfg(feature = "redis")]
        if let Some(store) = i.revoked.remote_store() {
            use crate::store::{Applied, Expect, Op, Write};
            let _ = now;
            let full = store.key(Revoked::KIND, jti);
            let write = Write {
                key: full.clone(),
                expect: Expect::Absent,
                guards: vec![],
                ops: vec![Op::Set {
                    key: full,
                    value: Revoked { expires_at }.encode(),
                    expire_at_ms: Some(expires_at.saturating_mul(1000)),
                }],
                notices: vec![format!("{}:{jti}", Revoked::KIND)],
            };
            let applied = store.apply(write).await?;
            i.revoked.forget(jti);
            return Ok(applied == Applied::Done);
        }
        if expires_at <= now {
            // Expired already: nothing to remember.
            return Ok(false);
        }
        let new = i.revoked.update(jti, |current| match current {
            Some(r) if r.expires_at > now => Change::Keep(false),
            _ => Change::Set(Revoked { expires_at }, true),
        });
        if new {
            i.revoked_expiry.push(expires_at, jti);
        }
        for (_, due) in i.revoked_expiry.due(now) {
            i.revoked.update(&due, |current| match current {
                Some(r) if r.expires_at <= now => Change::Remove(()),
                _ => Change::Keep(()),
            });
        }
        Ok(new)
    }

    /// Whether the JWT with id `jti` was revoked. `Ready` from memory; in redis mode a `jti`
    /// this node has not seen costs one read, and its absence is then remembered for a short
    /// while (a revocation anywhere ends that at once, through the change notice).
    pub fn is_revoked(&self, jti: &str) -> MaybeReady<Result<bool, StoreError>> {
        self.inner
            .revoked
            .get(jti)
            .map(|found| found.map(|r| r.is_some()))
    }

    /// How many revocations are remembered (in redis mode: how many this node caches,
    /// remembered absences included).
    pub fn revoked_len(&self) -> usize {
        self.inner.revoked.len()
    }

    /// How many opaque tokens are remembered (in redis mode: how many this node caches,
    /// remembered absences included).
    pub fn opaque_len(&self) -> usize {
        self.inner.opaque.len()
    }
}
