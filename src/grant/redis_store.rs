//! Grants in Redis (feature `redis`), shared by every node, with this node's cache in front.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::model::{Access, Grant, GrantError, GrantState, Grantee};
use super::store::{GrantStore, GrantUpdate, sort};
use crate::maybe_ready::{BoxFuture, MaybeReady};
use crate::principal::PrincipalKind;
use crate::store::redis::{Applied, Expect, Op, Write};
use crate::store::table::{decode_json, encode_json};
use crate::store::{Record, RedisStore, StoreError, Table};

/// Separates the parts of a grant's key (`<api>\u{1f}<kind>\u{1f}<id>`): a control character
/// that API ids and grantee ids do not hold in practice, and that cannot make two different
/// (api, kind, id) triples one key as long as the API id does not contain it.
const SEP: char = '\u{1f}';

/// How many times a grant change is tried against concurrent writers.
const CAS_ATTEMPTS: usize = 16;

const BY_API: &str = "grants-api";
const BY_GRANTEE: &str = "grants-grantee";

#[derive(Serialize)]
struct GrantOut<'a> {
    api_id: &'a str,
    grantee: &'a str,
    grantee_kind: &'static str,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    starts_at: Option<u64>,
    ends_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoke_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    renewal: Option<u64>,
}

#[derive(Deserialize)]
struct GrantIn {
    api_id: String,
    grantee: String,
    grantee_kind: String,
    state: String,
    #[serde(default)]
    starts_at: Option<u64>,
    ends_at: u64,
    #[serde(default)]
    revoke_at: Option<u64>,
    #[serde(default)]
    renewal: Option<u64>,
}

fn state_name(state: GrantState) -> &'static str {
    match state {
        GrantState::Pending => "pending",
        GrantState::Active => "active",
        GrantState::Revoking => "revoking",
        GrantState::Ended => "ended",
    }
}

impl Record for Grant {
    const KIND: &'static str = "grant";

    fn encode(&self) -> Vec<u8> {
        encode_json(&GrantOut {
            api_id: &self.api_id,
            grantee: &self.grantee,
            grantee_kind: self.grantee_kind.as_str(),
            state: state_name(self.state),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            revoke_at: self.revoke_at,
            renewal: self.renewal,
        })
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let d: GrantIn = decode_json(Self::KIND, bytes)?;
        let damaged = || StoreError::format("a grant record is damaged");
        let state = match d.state.as_str() {
            "pending" => GrantState::Pending,
            "active" => GrantState::Active,
            "revoking" => GrantState::Revoking,
            "ended" => GrantState::Ended,
            _ => return Err(damaged()),
        };
        Ok(Grant {
            api_id: Arc::from(d.api_id),
            grantee: Arc::from(d.grantee),
            grantee_kind: PrincipalKind::parse(&d.grantee_kind).ok_or_else(damaged)?,
            state,
            starts_at: d.starts_at,
            ends_at: d.ends_at,
            revoke_at: d.revoke_at,
            renewal: d.renewal,
        })
    }
}

/// `<api>\u{1f}<kind>\u{1f}<id>`.
fn grant_key(api_id: &str, grantee: Grantee<'_>) -> String {
    let kind = grantee.kind.as_str();
    let mut key = String::with_capacity(api_id.len() + kind.len() + grantee.id.len() + 2);
    key.push_str(api_id);
    key.push(SEP);
    key.push_str(kind);
    key.push(SEP);
    key.push_str(grantee.id);
    key
}

/// Calls `f` with the grant's key, built on the stack when it is short (the request path
/// allocates nothing for it).
fn with_grant_key<T>(api_id: &str, grantee: Grantee<'_>, f: impl FnOnce(&str) -> T) -> T {
    let kind = grantee.kind.as_str().as_bytes();
    let parts: [&[u8]; 5] = [
        api_id.as_bytes(),
        &[0x1f],
        kind,
        &[0x1f],
        grantee.id.as_bytes(),
    ];
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut buf = [0u8; 256];
    if len > buf.len() {
        return f(&grant_key(api_id, grantee));
    }
    let mut at = 0;
    for part in parts {
        buf[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    match std::str::from_utf8(&buf[..len]) {
        Ok(key) => f(key),
        // Unreachable: the parts are strings and the separator is ASCII.
        Err(_) => f(&grant_key(api_id, grantee)),
    }
}

fn unavailable(e: StoreError) -> GrantError {
    GrantError::Unavailable(e.to_string())
}

/// Grants kept in Redis, shared by every node: `grant:<api>\u{1f}<kind>\u{1f}<id>` under
/// the store's prefix (with `{"v":1,…}` format versions), and the index sets
/// `grants-api:<api>` and `grants-grantee:<kind>\u{1f}<id>` for listing.
///
/// A check is answered from this node's cache while its view of Redis is fresh (no network
/// round trip, no allocation), else after one read; when Redis cannot be reached, or this
/// node's view is older than the staleness bound, the answer is
/// [`GrantError::Unavailable`] (503), never a pass. A change is a compare-and-set: read the
/// grant, apply the lifecycle rule ([`transition`](super::transition), through
/// [`GrantManager`](super::GrantManager)), write it only if nobody changed it meanwhile, and
/// retry otherwise — so two nodes approving or renewing one grant at once give one
/// consistent result (a renewal never shortens a grant). Every change is announced, and every
/// node drops its cached copy.
///
/// ```no_run
/// use tower_gatekeeper::grant::{GrantManager, RedisGrantStore};
/// use tower_gatekeeper::store::{RedisOptions, RedisStore};
///
/// # async fn run() -> Result<(), tower_gatekeeper::store::StoreError> {
/// let redis = RedisStore::connect("redis://127.0.0.1:6379/", RedisOptions::new()).await?;
/// let grants = GrantManager::builder(RedisGrantStore::new(&redis)).apis(["orders"]).build();
/// # let _ = grants;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisGrantStore {
    store: RedisStore,
    grants: Arc<Table<Grant>>,
}

impl fmt::Debug for RedisGrantStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisGrantStore")
            .field("store", &self.store)
            .field("cached", &self.grants.len())
            .finish()
    }
}

impl RedisGrantStore {
    /// Grants in `store`, cached on this node.
    pub fn new(store: &RedisStore) -> Self {
        Self {
            store: store.clone(),
            grants: Table::redis(store),
        }
    }

    fn list(&self, index: String) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>> {
        let store = self.store.clone();
        Box::pin(async move {
            let members = store.members(&index).await.map_err(unavailable)?;
            let keys: Vec<String> = members.iter().map(|m| store.key(Grant::KIND, m)).collect();
            let mut grants = Vec::with_capacity(keys.len());
            // A key listed in the index whose grant is gone is skipped (grants are never
            // deleted by this crate; an operator may have).
            for bytes in store
                .read_many(&keys)
                .await
                .map_err(unavailable)?
                .into_iter()
                .flatten()
            {
                grants.push(Arc::new(Grant::decode(&bytes).map_err(unavailable)?));
            }
            sort(&mut grants);
            Ok(grants)
        })
    }
}

impl GrantStore for RedisGrantStore {
    fn get(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
    ) -> MaybeReady<Result<Option<Arc<Grant>>, GrantError>> {
        with_grant_key(api_id, grantee, |key| self.grants.get(key))
            .map(|found| found.map_err(unavailable))
    }

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

    fn update(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
        update: GrantUpdate,
    ) -> BoxFuture<Result<Arc<Grant>, GrantError>> {
        let store = self.store.clone();
        let grants = self.grants.clone();
        let key = grant_key(api_id, grantee);
        let full = store.key(Grant::KIND, &key);
        let by_api = store.key(BY_API, api_id);
        let by_grantee = store.key(
            BY_GRANTEE,
            &format!("{}{SEP}{}", grantee.kind.as_str(), grantee.id),
        );
        Box::pin(async move {
            for _ in 0..CAS_ATTEMPTS {
                let current = store.read(&full).await.map_err(unavailable)?;
                let grant = current
                    .as_deref()
                    .map(Grant::decode)
                    .transpose()
                    .map_err(unavailable)?;
                let next = update(grant.as_ref())?;
                let write = Write {
                    key: full.clone(),
                    expect: Expect::unchanged(current.as_deref()),
                    guards: Vec::new(),
                    ops: vec![
                        Op::Set {
                            key: full.clone(),
                            value: next.encode(),
                            expire_at_ms: None,
                        },
                        Op::SAdd(by_api.clone(), key.as_bytes().to_vec()),
                        Op::SAdd(by_grantee.clone(), key.as_bytes().to_vec()),
                    ],
                    notices: vec![format!("{}:{key}", Grant::KIND)],
                };
                match store.apply(write).await.map_err(unavailable)? {
                    Applied::Done => {
                        // This node reads its own write at once; the notice tells the others.
                        grants.forget(&key);
                        return Ok(Arc::new(next));
                    }
                    // Another node changed the grant meanwhile: apply the rule again to what it
                    // wrote.
                    Applied::Conflict | Applied::Guard(_) => continue,
                }
            }
            Err(GrantError::Unavailable(
                "the grant kept changing under this update; try again".to_owned(),
            ))
        })
    }

    fn list_by_api(&self, api_id: &str) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>> {
        self.list(self.store.key(BY_API, api_id))
    }

    fn list_by_grantee(
        &self,
        grantee: Grantee<'_>,
    ) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>> {
        self.list(self.store.key(
            BY_GRANTEE,
            &format!("{}{SEP}{}", grantee.kind.as_str(), grantee.id),
        ))
    }
}
