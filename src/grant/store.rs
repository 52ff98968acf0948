//! Where grants live: the [`GrantStore`] abstraction and the in-memory default (the Redis
//! store is in `redis_store.rs`).

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use super::model::{Access, Grant, GrantError, Grantee};
use crate::maybe_ready::{BoxFuture, MaybeReady};
use crate::principal::PrincipalKind;

/// A change to one grant, computed from the current one: `Err` leaves the store unchanged.
pub type GrantUpdate = Arc<dyn Fn(Option<&Grant>) -> Result<Grant, GrantError> + Send + Sync>;

/// Stores grants by (API id, grantee kind, grantee id): client `1001` and user `1001` hold
/// separate grants.
///
/// `get` is on every request's path: answer [`MaybeReady::Ready`] from memory whenever
/// possible. `update` must be atomic per grant: the function sees the current grant and its
/// result replaces it, or nothing changes (a shared store may call it again after a conflict).
pub trait GrantStore: Send + Sync + 'static {
    /// The grant of `grantee` for `api_id`, if any.
    fn get(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
    ) -> MaybeReady<Result<Option<Arc<Grant>>, GrantError>>;

    /// Whether `grantee` may call `api_id` at `now` (Unix seconds). The default reads the
    /// grant with [`get`](Self::get); stores can answer without copying it.
    fn check(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        now: u64,
    ) -> MaybeReady<Result<Access, GrantError>> {
        self.get(api_id, grantee).map(move |found| {
            found.map(|grant| grant.map_or(Access::Missing, |g| g.access_at(now)))
        })
    }

    /// Atomically replaces the grant of `grantee` for `api_id` with `update(current)`.
    fn update(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        update: GrantUpdate,
    ) -> BoxFuture<Result<Arc<Grant>, GrantError>>;

    /// Every grant for `api_id`.
    fn list_by_api(&self, api_id: &str) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>>;

    /// Every grant held by `grantee` (of its kind only).
    fn list_by_grantee(
        &self,
        grantee: Grantee<'_>,
    ) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>>;
}

// foldhash with a per-map random seed: a few ns per short key, where SipHash takes tens.
type Hasher = foldhash::fast::RandomState;

/// A grant's key, owned: (API id, grantee kind, grantee id).
#[derive(Clone, PartialEq, Eq)]
struct GrantKey {
    api: Arc<str>,
    kind: PrincipalKind,
    id: Arc<str>,
}

/// The same key, borrowed: what a check looks up with, allocating nothing.
#[derive(Hash)]
struct GrantKeyRef<'a> {
    api: &'a str,
    kind: PrincipalKind,
    id: &'a str,
}

impl Hash for GrantKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Exactly as the borrowed form hashes, so either finds the entry.
        GrantKeyRef {
            api: &self.api,
            kind: self.kind,
            id: &self.id,
        }
        .hash(state);
    }
}

impl papaya::Equivalent<GrantKey> for GrantKeyRef<'_> {
    fn equivalent(&self, key: &GrantKey) -> bool {
        *key.api == *self.api && key.kind == self.kind && *key.id == *self.id
    }
}

impl<'a> GrantKeyRef<'a> {
    fn new(api: &'a str, grantee: Grantee<'a>) -> Self {
        Self {
            api,
            kind: grantee.kind,
            id: grantee.id,
        }
    }
}

/// Who holds a grant for an API, and which APIs a grantee holds grants for: written only when a
/// grant is created, read only when grants are listed (never on the request path).
#[derive(Default)]
struct Indexes {
    by_api: HashMap<Arc<str>, Vec<Holder>, Hasher>,
    by_grantee: HashMap<Holder, Vec<Arc<str>>, Hasher>,
}

/// A grantee, owned: its kind and id.
type Holder = (PrincipalKind, Arc<str>);

/// Grants in this process's memory.
///
/// Readers never take a lock: a check is one lookup in a concurrent map (`papaya`) by the
/// borrowed (API id, grantee kind, grantee id), and allocates nothing. A change to one grant
/// is one atomic compare-and-swap on that grant's entry (O(1), never a copy of the store), so
/// a reader sees a grant entirely before or entirely after a change, and two concurrent
/// changes of one grant are applied one after the other. Listing follows indexes that are
/// kept as grants are created, so it does not scan the store.
///
/// ```
/// use tower_gatekeeper::grant::{GrantStore, InMemoryGrantStore};
///
/// let store = InMemoryGrantStore::new();
/// let answer = store.get("orders", tower_gatekeeper::grant::Grantee::client("app-1"));
/// assert!(answer.is_ready());
/// ```
#[derive(Clone, Default)]
pub struct InMemoryGrantStore {
    inner: Arc<Inner>,
}

struct Inner {
    grants: papaya::HashMap<GrantKey, Arc<Grant>, Hasher>,
    indexes: Mutex<Indexes>,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            grants: papaya::HashMap::builder().hasher(Hasher::default()).build(),
            indexes: Mutex::default(),
        }
    }
}

impl fmt::Debug for InMemoryGrantStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let apis = self.indexes().by_api.len();
        write!(f, "InMemoryGrantStore({apis} APIs, {} grants)", self.len())
    }
}

impl InMemoryGrantStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn indexes(&self) -> std::sync::MutexGuard<'_, Indexes> {
        self.inner
            .indexes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many grants (of any state) the store holds.
    pub fn len(&self) -> usize {
        self.inner.grants.len()
    }

    /// Whether the store holds no grant.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grant, read synchronously.
    pub fn get_now(&self, api_id: &str, grantee: Grantee<'_>) -> Option<Arc<Grant>> {
        self.inner
            .grants
            .pin()
            .get(&GrantKeyRef::new(api_id, grantee))
            .cloned()
    }

    /// Applies `update` atomically (see [`GrantStore::update`]), synchronously. `update` may
    /// run more than once when another writer changes the same grant meanwhile; the grant it
    /// returns the last time is the one stored.
    pub fn update_now(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        update: impl Fn(Option<&Grant>) -> Result<Grant, GrantError>,
    ) -> Result<Arc<Grant>, GrantError> {
        let key = GrantKey {
            api: Arc::from(api_id),
            kind: grantee.kind,
            id: Arc::from(grantee.id),
        };
        let grants = self.inner.grants.pin();
        let mut answer = None;
        let computed = grants.compute(key.clone(), |entry| {
            match update(entry.map(|(_, g)| &**g)) {
                Ok(next) => {
                    let next = Arc::new(next);
                    answer = Some(Ok(next.clone()));
                    papaya::Operation::Insert(next)
                }
                Err(e) => {
                    answer = Some(Err(e));
                    papaya::Operation::Abort(())
                }
            }
        });
        if matches!(computed, papaya::Compute::Inserted(..)) {
            // A new grant: index it (the only writers of the indexes, one per new grant).
            let mut indexes = self.indexes();
            indexes
                .by_api
                .entry(key.api.clone())
                .or_default()
                .push((key.kind, key.id.clone()));
            indexes
                .by_grantee
                .entry((key.kind, key.id))
                .or_default()
                .push(key.api);
        }
        answer.expect("compute runs the update at least once")
    }

    fn api_grants(&self, api_id: &str) -> Vec<Arc<Grant>> {
        let holders = self
            .indexes()
            .by_api
            .get(api_id)
            .cloned()
            .unwrap_or_default();
        let mut grants: Vec<Arc<Grant>> = holders
            .iter()
            .filter_map(|(kind, id)| self.get_now(api_id, Grantee::new(*kind, id)))
            .collect();
        sort(&mut grants);
        grants
    }

    fn grantee_grants(&self, grantee: Grantee<'_>) -> Vec<Arc<Grant>> {
        let apis = self
            .indexes()
            .by_grantee
            .get(&(grantee.kind, Arc::from(grantee.id)))
            .cloned()
            .unwrap_or_default();
        let mut grants: Vec<Arc<Grant>> = apis
            .iter()
            .filter_map(|api| self.get_now(api, grantee))
            .collect();
        sort(&mut grants);
        grants
    }
}

pub(crate) fn sort(grants: &mut [Arc<Grant>]) {
    grants.sort_by(|a, b| (&a.api_id, a.holder()).cmp(&(&b.api_id, b.holder())));
}

impl GrantStore for InMemoryGrantStore {
    fn check(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        now: u64,
    ) -> MaybeReady<Result<Access, GrantError>> {
        let grants = self.inner.grants.pin();
        let access = grants
            .get(&GrantKeyRef::new(api_id, grantee))
            .map_or(Access::Missing, |g| g.access_at(now));
        MaybeReady::Ready(Ok(access))
    }

    fn get(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
    ) -> MaybeReady<Result<Option<Arc<Grant>>, GrantError>> {
        MaybeReady::Ready(Ok(self.get_now(api_id, grantee)))
    }

    fn update(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        update: GrantUpdate,
    ) -> BoxFuture<Result<Arc<Grant>, GrantError>> {
        let result = self.update_now(api_id, grantee, |g| update(g));
        Box::pin(std::future::ready(result))
    }

    fn list_by_api(&self, api_id: &str) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>> {
        Box::pin(std::future::ready(Ok(self.api_grants(api_id))))
    }

    fn list_by_grantee(
        &self,
        grantee: Grantee<'_>,
    ) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>> {
        Box::pin(std::future::ready(Ok(self.grantee_grants(grantee))))
    }
}
