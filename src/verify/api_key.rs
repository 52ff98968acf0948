//! API keys, kept as SHA-256 digests.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Verification, Verifier, VerifyError};
use crate::extract::{Credential, Scheme};
use crate::maybe_ready::MaybeReady;
use crate::principal::{CredentialInfo, Identity, Principal};

type Digest32 = [u8; 32];

/// The SHA-256 digest of a key, as stored.
pub(crate) fn digest(secret: &str) -> Digest32 {
    Sha256::digest(secret.as_bytes()).into()
}

/// API keys (and opaque tokens) by their SHA-256 digest.
///
/// Readers never wait for writers: lookups read an immutable snapshot, and each write installs
/// a new one (keys change rarely; requests read them constantly). The plain key is never kept.
///
/// ```
/// use tower_gatekeeper::verify::ApiKeyStore;
/// use tower_gatekeeper::principal::Identity;
///
/// let store = ApiKeyStore::new();
/// store.insert("k-123", Identity::new("reporting-service").with_scopes(["read"]));
/// assert!(store.lookup("k-123").is_some());
/// assert!(store.lookup("k-124").is_none());
/// assert!(!format!("{store:?}").contains("k-123"));
/// ```
#[derive(Clone, Default)]
pub struct ApiKeyStore {
    keys: Arc<ArcSwap<HashMap<Digest32, Arc<Identity>>>>,
}

impl fmt::Debug for ApiKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyStore({} keys)", self.keys.load().len())
    }
}

impl ApiKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores the digest of `key` for `owner`.
    pub fn insert(&self, key: &str, owner: Identity) {
        self.insert_digest(digest(key), owner);
    }

    /// Stores a digest computed elsewhere (so plain keys never reach this process).
    ///
    /// The owner is an [`ApiKeyOwner`](crate::principal::PrincipalKind::ApiKeyOwner) unless its
    /// identity names another kind with [`Identity::with_kind`] (a key that belongs to a client
    /// or a user).
    pub fn insert_digest(&self, digest: [u8; 32], mut owner: Identity) {
        if !owner.has_explicit_kind() {
            owner = owner.with_kind(crate::principal::PrincipalKind::ApiKeyOwner);
        }
        let owner = Arc::new(owner);
        self.keys.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(digest, owner.clone());
            map
        });
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&self, key: &str) -> bool {
        let d = digest(key);
        let mut removed = false;
        self.keys.rcu(|map| {
            let mut map = HashMap::clone(map);
            removed = map.remove(&d).is_some();
            map
        });
        removed
    }

    /// The owner of `key`, if it is stored. The stored digest is compared in constant time.
    pub fn lookup(&self, key: &str) -> Option<Arc<Identity>> {
        let d = digest(key);
        let map = self.keys.load();
        let (stored, owner) = map.get_key_value(&d)?;
        bool::from(stored.ct_eq(&d)).then(|| owner.clone())
    }
}

/// Verifies API keys against an [`ApiKeyStore`], and, when asked to, keys carried as bearer
/// tokens (`Authorization: Bearer`, a token header, the query or the body).
///
/// Whatever carried it, what it verifies is an API key: the principal it answers records
/// [`Scheme::ApiKey`] (see [`Principal::credential`]), so an API that takes bearer tokens
/// only can tell a key from a token ([`RequireScheme`](crate::layer::RequireScheme)).
///
/// ```
/// use tower_gatekeeper::extract::{Credential, Scheme, Source};
/// use tower_gatekeeper::principal::Identity;
/// use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, Verifier, VerifyError};
///
/// let keys = ApiKeyStore::new();
/// keys.insert("k-123", Identity::new("svc"));
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # let check = |v: &ApiKeyVerifier, c: &Credential<'_>| {
/// #     let answer = v.verify(c);
/// #     rt.block_on(async { answer.await })
/// # };
/// // By default a key is taken from API key sources only.
/// let verifier = ApiKeyVerifier::new(keys.clone());
/// let as_bearer = Credential::bearer("k-123", Source::Header);
/// assert_eq!(check(&verifier, &as_bearer).unwrap_err(), VerifyError::NotApplicable);
///
/// // Opted in, a key carried as a bearer token is still an API key.
/// let verifier = ApiKeyVerifier::new(keys).accept_bearer(true);
/// let p = check(&verifier, &as_bearer).unwrap();
/// assert_eq!(p.credential().unwrap().scheme, Scheme::ApiKey);
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

impl Verifier for ApiKeyVerifier {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        let key = match (credential.scheme(), credential.token()) {
            (Scheme::ApiKey, Some(key)) => key,
            (Scheme::Bearer, Some(token))
                if self.accept_bearer && !super::jwt::looks_like_jwt(token) =>
            {
                token
            }
            _ => return MaybeReady::Ready(Err(VerifyError::NotApplicable)),
        };
        MaybeReady::Ready(match self.store.lookup(key) {
            // An API key, however it was carried; the layer records where.
            Some(owner) => Ok(Principal::new(owner).with_credential(CredentialInfo {
                scheme: Scheme::ApiKey,
                source: credential.source(),
            })),
            None => Err(VerifyError::invalid("the key is unknown or revoked")),
        })
    }
}
