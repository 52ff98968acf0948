//! Where grants live: the [`GrantStore`] abstraction and the in-memory default.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

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
type ByGrantee = HashMap<Arc<str>, Arc<Grant>, Hasher>;
/// One map per [`PrincipalKind`], so a lookup by (kind, `&str`) allocates nothing.
type ByKind = [ByGrantee; 3];
type ByApi = HashMap<Arc<str>, Arc<ByKind>, Hasher>;

fn slot(kind: PrincipalKind) -> usize {
    match kind {
        PrincipalKind::Client => 0,
        PrincipalKind::User => 1,
        PrincipalKind::ApiKeyOwner => 2,
    }
}

/// Grants in this process's memory.
///
/// Readers never take a lock: a check loads the current snapshot (`arc-swap`) and does two
/// hash lookups by `&str` (the grantee's kind picks one of three maps). Writers are
/// serialised by a mutex that readers never touch, build the next snapshot (copying only the
/// changed API's maps) and publish it in one atomic swap, so a reader sees a grant entirely
/// before or entirely after a change, never half of one.
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

#[derive(Default)]
struct Inner {
    snapshot: ArcSwap<ByApi>,
    writer: Mutex<()>,
}

impl fmt::Debug for InMemoryGrantStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let apis = self.inner.snapshot.load();
        let grants: usize = apis
            .values()
            .flat_map(|kinds| kinds.iter())
            .map(|m| m.len())
            .sum();
        write!(
            f,
            "InMemoryGrantStore({} APIs, {grants} grants)",
            apis.len()
        )
    }
}

impl InMemoryGrantStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The grant, read synchronously.
    pub fn get_now(&self, api_id: &str, grantee: Grantee<'_>) -> Option<Arc<Grant>> {
        self.inner.snapshot.load().get(api_id)?[slot(grantee.kind)]
            .get(grantee.id)
            .cloned()
    }

    /// Applies `update` atomically (see [`GrantStore::update`]), synchronously.
    pub fn update_now(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        update: impl Fn(Option<&Grant>) -> Result<Grant, GrantError>,
    ) -> Result<Arc<Grant>, GrantError> {
        let _writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.inner.snapshot.load_full();
        let existing = current
            .get(api_id)
            .and_then(|m| m[slot(grantee.kind)].get(grantee.id));
        let next = Arc::new(update(existing.map(Arc::as_ref))?);
        let mut apis = ByApi::clone(&current);
        let entry = apis.entry(next.api_id.clone()).or_default();
        Arc::make_mut(entry)[slot(next.grantee_kind)].insert(next.grantee.clone(), next.clone());
        self.inner.snapshot.store(Arc::new(apis));
        Ok(next)
    }

    fn collect(&self, keep: impl Fn(&Grant) -> bool) -> Vec<Arc<Grant>> {
        let apis = self.inner.snapshot.load();
        let mut grants: Vec<Arc<Grant>> = apis
            .values()
            .flat_map(|kinds| kinds.iter().flat_map(|m| m.values()))
            .filter(|g| keep(g))
            .cloned()
            .collect();
        grants.sort_by(|a, b| (&a.api_id, a.holder()).cmp(&(&b.api_id, b.holder())));
        grants
    }
}

impl GrantStore for InMemoryGrantStore {
    fn check(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        now: u64,
    ) -> MaybeReady<Result<Access, GrantError>> {
        let snapshot = self.inner.snapshot.load();
        let access = snapshot
            .get(api_id)
            .and_then(|m| m[slot(grantee.kind)].get(grantee.id))
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
        let result = Ok(self.collect(|g| &*g.api_id == api_id));
        Box::pin(std::future::ready(result))
    }

    fn list_by_grantee(
        &self,
        grantee: Grantee<'_>,
    ) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>> {
        let result = Ok(self.collect(|g| g.holder() == grantee));
        Box::pin(std::future::ready(result))
    }
}
