//! Where grants live: the [`GrantStore`] abstraction and the in-memory default (the Redis
//! store is in `redis_store.rs`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
type Map<K, V> = papaya::HashMap<K, V, Hasher>;
type Set<K> = papaya::HashSet<K, Hasher>;

fn map<K, V>() -> Map<K, V> {
    papaya::HashMap::builder().hasher(Hasher::default()).build()
}

pub(crate) fn slot(kind: PrincipalKind) -> usize {
    match kind {
        PrincipalKind::Client => 0,
        PrincipalKind::User => 1,
        PrincipalKind::ApiKeyOwner => 2,
    }
}

/// The grants for one API: one map per [`PrincipalKind`], so a lookup by (kind, `&str`)
/// allocates nothing.
struct ApiGrants {
    by_kind: [Map<Arc<str>, Arc<Grant>>; 3],
}

impl Default for ApiGrants {
    fn default() -> Self {
        Self {
            by_kind: [map(), map(), map()],
        }
    }
}

/// Grants in this process's memory.
///
/// Readers never take a lock: a check does two lookups by `&str` in concurrent maps
/// (`papaya`: the API's grants, then the grantee's kind picks one of three maps) and
/// allocates nothing. A change to one grant is one atomic compare-and-swap on that grant's
/// entry (O(1), never a copy of the store), so a reader sees a grant entirely before or
/// entirely after a change, and two concurrent changes of one grant are applied one after
/// the other. Listing by grantee follows an index kept with the grants, so it does not scan
/// the store.
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
    apis: Map<Arc<str>, Arc<ApiGrants>>,
    /// Grantee id → the APIs it holds a grant for, one map per kind.
    by_grantee: [Map<Arc<str>, Arc<Set<Arc<str>>>>; 3],
    grants: AtomicUsize,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            apis: map(),
            by_grantee: [map(), map(), map()],
            grants: AtomicUsize::new(0),
        }
    }
}

impl fmt::Debug for InMemoryGrantStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "InMemoryGrantStore({} APIs, {} grants)",
            self.inner.apis.len(),
            self.len()
        )
    }
}

impl InMemoryGrantStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many grants (of any state) the store holds.
    pub fn len(&self) -> usize {
        self.inner.grants.load(Ordering::Relaxed)
    }

    /// Whether the store holds no grant.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grant, read synchronously.
    pub fn get_now(&self, api_id: &str, grantee: Grantee<'_>) -> Option<Arc<Grant>> {
        let apis = self.inner.apis.pin();
        let grants = apis.get(api_id)?.by_kind[slot(grantee.kind)].pin();
        grants.get(grantee.id).cloned()
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
        let apis = self.inner.apis.pin();
        let api = match apis.get(api_id) {
            Some(api) => api.clone(),
            None => apis
                .get_or_insert_with(Arc::from(api_id), Default::default)
                .clone(),
        };
        let grants = api.by_kind[slot(grantee.kind)].pin();
        let mut answer = None;
        let mut created = false;
        grants.compute(Arc::from(grantee.id), |entry| {
            let current = entry.map(|(_, g)| &**g);
            match update(current) {
                Ok(next) => {
                    let next = Arc::new(next);
                    answer = Some(Ok(next.clone()));
                    created = current.is_none();
                    papaya::Operation::Insert(next)
                }
                Err(e) => {
                    answer = Some(Err(e));
                    papaya::Operation::Abort(())
                }
            }
        });
        let answer = answer.expect("compute runs the update at least once");
        if created && answer.is_ok() {
            self.inner.grants.fetch_add(1, Ordering::Relaxed);
            let holders = self.inner.by_grantee[slot(grantee.kind)].pin();
            let held = match holders.get(grantee.id) {
                Some(held) => held.clone(),
                None => holders
                    .get_or_insert_with(Arc::from(grantee.id), Default::default)
                    .clone(),
            };
            held.pin().insert(Arc::from(api_id));
        }
        answer
    }

    fn api_grants(&self, api_id: &str) -> Vec<Arc<Grant>> {
        let Some(api) = self.inner.apis.pin().get(api_id).cloned() else {
            return Vec::new();
        };
        let mut grants: Vec<Arc<Grant>> = api
            .by_kind
            .iter()
            .flat_map(|m| m.pin().values().cloned().collect::<Vec<_>>())
            .collect();
        sort(&mut grants);
        grants
    }

    fn grantee_grants(&self, grantee: Grantee<'_>) -> Vec<Arc<Grant>> {
        let Some(held) = self.inner.by_grantee[slot(grantee.kind)]
            .pin()
            .get(grantee.id)
            .cloned()
        else {
            return Vec::new();
        };
        let mut grants: Vec<Arc<Grant>> = held
            .pin()
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
        let apis = self.inner.apis.pin();
        let access = match apis.get(api_id) {
            Some(api) => api.by_kind[slot(grantee.kind)]
                .pin()
                .get(grantee.id)
                .map_or(Access::Missing, |g| g.access_at(now)),
            None => Access::Missing,
        };
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
