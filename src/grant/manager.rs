use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use super::DEFAULT_NOTICE_SECS;
use super::model::{Access, Grant, GrantAction, GrantError, Grantee, transition};
use super::store::GrantStore;
use crate::clock::{Clock, SharedClock};

type GranteeCheck = Arc<dyn Fn(Grantee<'_>) -> bool + Send + Sync>;

struct Inner {
    store: Arc<dyn GrantStore>,
    apis: HashSet<Arc<str>>,
    grantees: GranteeCheck,
    notice: u64,
    clock: SharedClock,
}

/// Runs the grant lifecycle against a [`GrantStore`]: each action is checked against the
/// rules (see [`transition`]) and the catalogue of known APIs and grantees, and applied
/// atomically, or not at all.
#[derive(Clone)]
pub struct GrantManager {
    inner: Arc<Inner>,
}

impl fmt::Debug for GrantManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantManager")
            .field("apis", &self.inner.apis.len())
            .field("notice_secs", &self.inner.notice)
            .finish_non_exhaustive()
    }
}

/// Builds a [`GrantManager`].
#[must_use]
pub struct GrantManagerBuilder {
    store: Arc<dyn GrantStore>,
    apis: HashSet<Arc<str>>,
    grantees: GranteeCheck,
    notice: u64,
    clock: SharedClock,
}

impl fmt::Debug for GrantManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantManagerBuilder")
            .field("apis", &self.apis.len())
            .finish_non_exhaustive()
    }
}

impl GrantManagerBuilder {
    /// The API ids that may be granted.
    pub fn apis<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, apis: I) -> Self {
        self.apis
            .extend(apis.into_iter().map(|a| Arc::from(a.as_ref())));
        self
    }

    /// The apps, users and key owners that may hold grants, as a fixed list (each of its
    /// kind: `Grantee::client("1001")` does not make user `1001` known).
    pub fn grantees<'a, I: IntoIterator<Item = Grantee<'a>>>(self, grantees: I) -> Self {
        let known: HashSet<(crate::principal::PrincipalKind, String)> = grantees
            .into_iter()
            .map(|g| (g.kind, g.id.to_owned()))
            .collect();
        self.grantee_check(move |g| known.contains(&(g.kind, g.id.to_owned())))
    }

    /// Whether a grantee (of its kind) exists, asked of your own registries.
    pub fn grantee_check(
        mut self,
        check: impl Fn(Grantee<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.grantees = Arc::new(check);
        self
    }

    /// The notice period of provider revocations (default two days).
    pub fn notice(mut self, notice: std::time::Duration) -> Self {
        self.notice = notice.as_secs();
        self
    }

    /// The clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Shares an existing clock.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the manager.
    pub fn build(self) -> GrantManager {
        GrantManager {
            inner: Arc::new(Inner {
                store: self.store,
                apis: self.apis,
                grantees: self.grantees,
                notice: self.notice,
                clock: self.clock,
            }),
        }
    }
}

impl GrantManager {
    /// Starts a manager over `store`. It knows no API and no grantee until told.
    pub fn builder(store: impl GrantStore) -> GrantManagerBuilder {
        Self::builder_shared(Arc::new(store))
    }

    /// Starts a manager over a shared store (the same one a [`GrantCheck`](super::GrantCheck) reads).
    pub fn builder_shared(store: Arc<dyn GrantStore>) -> GrantManagerBuilder {
        GrantManagerBuilder {
            store,
            apis: HashSet::new(),
            grantees: Arc::new(|_| false),
            notice: DEFAULT_NOTICE_SECS,
            clock: crate::clock::system(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn GrantStore> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// Whether `api_id` is a known API.
    pub fn knows_api(&self, api_id: &str) -> bool {
        self.inner.apis.contains(api_id)
    }

    /// Whether `grantee` is a known app, user or key owner (of its kind).
    pub fn knows_grantee(&self, grantee: Grantee<'_>) -> bool {
        (self.inner.grantees)(grantee)
    }

    /// Performs `action` on the grant of `grantee` for `api_id`.
    pub async fn perform(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        action: GrantAction,
    ) -> Result<Arc<Grant>, GrantError> {
        let api: Arc<str> = self
            .inner
            .apis
            .get(api_id)
            .cloned()
            .ok_or(GrantError::UnknownApi)?;
        if !self.knows_grantee(grantee) {
            return Err(GrantError::UnknownGrantee);
        }
        let grantee_kind = grantee.kind;
        let grantee_id: Arc<str> = Arc::from(grantee.id);
        let clock = self.inner.clock.clone();
        let notice = self.inner.notice;
        let update = Arc::new(move |current: Option<&Grant>| {
            transition(
                &api,
                grantee_kind,
                &grantee_id,
                current,
                action,
                clock.unix_seconds(),
                notice,
            )
        });
        self.inner.store.update(api_id, grantee, update).await
    }

    /// Provider: grant `grantee` access to `api_id` until `ends_at` (Unix seconds); on an
    /// existing grant, renew it (only to a later end).
    pub async fn authorize(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        ends_at: u64,
    ) -> Result<Arc<Grant>, GrantError> {
        self.perform(api_id, grantee, GrantAction::Authorize { ends_at })
            .await
    }

    /// Provider: revoke, effective at `effective_at` or, by default, after the notice period.
    pub async fn provider_revoke(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        effective_at: Option<u64>,
    ) -> Result<Arc<Grant>, GrantError> {
        self.perform(
            api_id,
            grantee,
            GrantAction::ProviderRevoke { effective_at },
        )
        .await
    }

    /// App: revoke its own grant, at once.
    pub async fn app_revoke(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
    ) -> Result<Arc<Grant>, GrantError> {
        self.perform(api_id, grantee, GrantAction::AppRevoke).await
    }

    /// App: apply for access until `ends_at`.
    pub async fn apply(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        ends_at: u64,
    ) -> Result<Arc<Grant>, GrantError> {
        self.perform(api_id, grantee, GrantAction::Apply { ends_at })
            .await
    }

    /// App: apply to extend its grant to `ends_at`.
    pub async fn apply_renew(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        ends_at: u64,
    ) -> Result<Arc<Grant>, GrantError> {
        self.perform(api_id, grantee, GrantAction::ApplyRenew { ends_at })
            .await
    }

    /// Provider: approve the pending application or renewal.
    pub async fn approve(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
    ) -> Result<Arc<Grant>, GrantError> {
        self.perform(api_id, grantee, GrantAction::Approve).await
    }

    /// Provider: reject the pending application or renewal.
    pub async fn reject(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
    ) -> Result<Arc<Grant>, GrantError> {
        self.perform(api_id, grantee, GrantAction::Reject).await
    }

    /// Whether `grantee` may call `api_id` now.
    pub async fn access(&self, api_id: &str, grantee: Grantee<'_>) -> Result<Access, GrantError> {
        let now = self.inner.clock.unix_seconds();
        Ok(match self.inner.store.get(api_id, grantee).await? {
            Some(grant) => grant.access_at(now),
            None => Access::Missing,
        })
    }

    /// Every grant for `api_id`.
    pub async fn list_by_api(&self, api_id: &str) -> Result<Vec<Arc<Grant>>, GrantError> {
        self.inner.store.list_by_api(api_id).await
    }

    /// Every grant held by `grantee`.
    pub async fn list_by_grantee(
        &self,
        grantee: Grantee<'_>,
    ) -> Result<Vec<Arc<Grant>>, GrantError> {
        self.inner.store.list_by_grantee(grantee).await
    }
}
