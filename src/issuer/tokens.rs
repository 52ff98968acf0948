//! What the issuer remembers about the tokens it issued: opaque tokens (by digest) and
//! revoked JWTs (by `jti`), each only until the token's own expiry.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

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

/// An opaque token's record.
#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Default)]
struct Inner {
    opaque: ArcSwap<HashMap<[u8; 32], Arc<OpaqueToken>>>,
    /// Revoked JWT ids and when the token would have expired anyway.
    revoked: ArcSwap<HashMap<String, u64>>,
    writer: Mutex<()>,
}

/// The issuer's token memory. Reads never lock; writes drop entries whose token has expired,
/// so the sets stay as small as the number of live tokens.
#[derive(Clone, Default)]
pub struct TokenState {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenState")
            .field("opaque", &self.inner.opaque.load().len())
            .field("revoked", &self.inner.revoked.load().len())
            .finish()
    }
}

impl TokenState {
    /// Nothing remembered.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn store_opaque(&self, digest: [u8; 32], token: OpaqueToken, now: u64) {
        let _w = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut map: HashMap<_, _> = self
            .inner
            .opaque
            .load()
            .iter()
            .filter(|(_, t)| t.expires_at > now)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        map.insert(digest, Arc::new(token));
        self.inner.opaque.store(Arc::new(map));
    }

    pub(crate) fn opaque(&self, digest: &[u8; 32]) -> Option<Arc<OpaqueToken>> {
        self.inner.opaque.load().get(digest).cloned()
    }

    pub(crate) fn forget_opaque(&self, digest: &[u8; 32]) -> bool {
        let _w = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.inner.opaque.load_full();
        if !current.contains_key(digest) {
            return false;
        }
        let mut map = HashMap::clone(&current);
        map.remove(digest);
        self.inner.opaque.store(Arc::new(map));
        true
    }

    /// Revokes the JWT with id `jti`, remembered until `expires_at`.
    pub fn revoke_jti(&self, jti: &str, expires_at: u64, now: u64) {
        let _w = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut map: HashMap<String, u64> = self
            .inner
            .revoked
            .load()
            .iter()
            .filter(|(_, exp)| **exp > now)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        map.insert(jti.to_owned(), expires_at);
        self.inner.revoked.store(Arc::new(map));
    }

    /// Whether the JWT with id `jti` was revoked.
    pub fn is_revoked(&self, jti: &str) -> bool {
        let revoked = self.inner.revoked.load();
        !revoked.is_empty() && revoked.contains_key(jti)
    }

    /// How many revocations are remembered.
    pub fn revoked_len(&self) -> usize {
        self.inner.revoked.load().len()
    }
}
