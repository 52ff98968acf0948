//! [`Table`]: records by key, in a lock-free concurrent map that is either the system of
//! record (memory mode) or this node's cache of Redis (redis mode).

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{FORMAT_VERSION, StoreError};
use crate::maybe_ready::MaybeReady;

type Hasher = foldhash::fast::RandomState;

/// A record kept in a [`Table`]: how it is named in Redis and in change notices, and how it is
/// written down.
pub(crate) trait Record: Send + Sync + Sized + 'static {
    /// The namespace of this record's keys (`client`, `user`, …). No `:` in it.
    const KIND: &'static str;

    /// The stored form.
    fn encode(&self) -> Vec<u8>;

    /// Reads the stored form; refuses a format version this node does not know.
    fn decode(bytes: &[u8]) -> Result<Self, StoreError>;
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    v: u32,
    d: &'a T,
}

#[derive(serde::Deserialize)]
struct Version {
    v: u32,
}

#[derive(serde::Deserialize)]
struct EnvelopeIn<T> {
    d: T,
}

/// `{"v":1,"d":<value>}`.
pub(crate) fn encode_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(&EnvelopeOut {
        v: FORMAT_VERSION,
        d: value,
    })
    .expect("records serialize")
}

/// Reads `{"v":…,"d":…}`, refusing any version but ours.
pub(crate) fn decode_json<T: DeserializeOwned>(kind: &str, bytes: &[u8]) -> Result<T, StoreError> {
    let version: Version = serde_json::from_slice(bytes)
        .map_err(|_| StoreError::format(format!("a {kind} record has no format version")))?;
    if version.v != FORMAT_VERSION {
        return Err(StoreError::format(format!(
            "a {kind} record has format version {}, this node reads version {FORMAT_VERSION}",
            version.v
        )));
    }
    serde_json::from_slice::<EnvelopeIn<T>>(bytes)
        .map(|e| e.d)
        .map_err(|_| StoreError::format(format!("a {kind} record is damaged")))
}

/// What a slot of the map holds.
pub(crate) enum Slot<V> {
    /// The record.
    Present(Arc<V>),
    /// Redis mode: known to be absent until this time (the store's milliseconds).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Absent { until_ms: u64 },
    /// Redis mode: a read is on its way; only the read that placed this marker may replace it.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Filling(u64),
}

impl<V> Clone for Slot<V> {
    fn clone(&self) -> Self {
        match self {
            Self::Present(v) => Self::Present(v.clone()),
            Self::Absent { until_ms } => Self::Absent {
                until_ms: *until_ms,
            },
            Self::Filling(f) => Self::Filling(*f),
        }
    }
}

/// The answer of a [`Table::get`].
pub(crate) type Lookup<V> = MaybeReady<Result<Option<Arc<V>>, StoreError>>;

/// How [`Table::update`] changes one record.
pub(crate) enum Change<V, T> {
    /// Store this record; answer `T`.
    Set(V, T),
    /// Remove the record; answer `T`.
    Remove(T),
    /// Leave it as it is; answer `T`.
    Keep(T),
}

/// Records of one kind, by key.
pub(crate) struct Table<V: Record> {
    map: papaya::HashMap<Box<str>, Slot<V>, Hasher>,
    /// Bumped by every change this node makes or hears of: a derived cache that saw the same
    /// generation knows nothing changed since.
    generation: std::sync::atomic::AtomicU64,
    #[cfg(feature = "redis")]
    remote: Option<super::redis::Remote>,
}

impl<V: Record> Table<V> {
    /// A table that is its own system of record.
    pub(crate) fn memory() -> Arc<Self> {
        Arc::new(Self {
            map: papaya::HashMap::builder().hasher(Hasher::default()).build(),
            generation: Default::default(),
            #[cfg(feature = "redis")]
            remote: None,
        })
    }

    /// A cache of the records of `V::KIND` in Redis, kept fresh by the store's change notices.
    #[cfg(feature = "redis")]
    pub(crate) fn redis(store: &super::RedisStore) -> Arc<Self> {
        let table = Arc::new(Self {
            map: papaya::HashMap::builder().hasher(Hasher::default()).build(),
            generation: Default::default(),
            remote: Some(super::redis::Remote::new(store)),
        });
        store.register(V::KIND, Arc::downgrade(&table) as _);
        table
    }

    /// Like [`Table::redis`], remembering a key found absent for `negative_ttl` instead of the
    /// store's [`RedisOptions::negative_ttl`](super::RedisOptions::negative_ttl): for keys whose
    /// absence is the common answer and whose every creation is announced (revoked `jti`s),
    /// so that the common answer costs no round trip.
    #[cfg(feature = "redis")]
    pub(crate) fn redis_with_negative_ttl(
        store: &super::RedisStore,
        negative_ttl: std::time::Duration,
    ) -> Arc<Self> {
        let table = Arc::new(Self {
            map: papaya::HashMap::builder().hasher(Hasher::default()).build(),
            generation: Default::default(),
            remote: Some(super::redis::Remote::with_negative_ttl(store, negative_ttl)),
        });
        store.register(V::KIND, Arc::downgrade(&table) as _);
        table
    }

    /// Whether Redis is the system of record.
    pub(crate) fn is_remote(&self) -> bool {
        #[cfg(feature = "redis")]
        {
            self.remote.is_some()
        }
        #[cfg(not(feature = "redis"))]
        {
            false
        }
    }

    #[cfg(feature = "redis")]
    pub(super) fn remote_ref(&self) -> Option<&super::redis::Remote> {
        self.remote.as_ref()
    }

    /// Whether this node's copy may be trusted without asking anyone: always in memory mode;
    /// in redis mode while the node is within the staleness bound.
    pub(crate) fn is_fresh(&self) -> bool {
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.remote {
            return remote.store.is_fresh();
        }
        true
    }

    /// The shared store behind this table, in redis mode.
    #[cfg(feature = "redis")]
    pub(crate) fn remote_store(&self) -> Option<&super::RedisStore> {
        self.remote.as_ref().map(|r| &r.store)
    }

    /// The record at `key`: answered from memory when it is there (and, in redis mode, while
    /// this node's view is fresh), else after one read from Redis.
    pub(crate) fn get(self: &Arc<Self>, key: &str) -> Lookup<V> {
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.remote {
            return remote.get(self, key);
        }
        MaybeReady::Ready(Ok(self.peek(key)))
    }

    /// The record at `key` if this node holds it, without asking anyone.
    pub(crate) fn peek(&self, key: &str) -> Option<Arc<V>> {
        match self.map.pin().get(key) {
            Some(Slot::Present(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// Memory mode: stores `value` at `key`, returning the record it replaces.
    pub(crate) fn insert(&self, key: &str, value: V) -> Option<Arc<V>> {
        debug_assert!(
            !self.is_remote(),
            "redis tables are written through the store"
        );
        let old = match self
            .map
            .pin()
            .insert(key.into(), Slot::Present(Arc::new(value)))
        {
            Some(Slot::Present(old)) => Some(old.clone()),
            _ => None,
        };
        self.bump();
        old
    }

    /// Memory mode: removes the record at `key`.
    pub(crate) fn remove(&self, key: &str) -> Option<Arc<V>> {
        debug_assert!(
            !self.is_remote(),
            "redis tables are written through the store"
        );
        let old = match self.map.pin().remove(key) {
            Some(Slot::Present(old)) => Some(old.clone()),
            _ => None,
        };
        if old.is_some() {
            self.bump();
        }
        old
    }

    /// Memory mode: changes the record at `key` atomically. `change` sees the current record
    /// (it may run more than once under contention, so it must have no side effects).
    pub(crate) fn update<T>(
        &self,
        key: &str,
        mut change: impl FnMut(Option<&V>) -> Change<V, T>,
    ) -> T {
        debug_assert!(
            !self.is_remote(),
            "redis tables are written through the store"
        );
        use papaya::Operation;
        let mut answer = None;
        let map = self.map.pin();
        map.compute(key.into(), |entry| {
            let current = match entry {
                Some((_, Slot::Present(v))) => Some(&**v),
                _ => None,
            };
            match change(current) {
                Change::Set(v, t) => {
                    answer = Some(t);
                    Operation::Insert(Slot::Present(Arc::new(v)))
                }
                Change::Remove(t) => {
                    answer = Some(t);
                    if current.is_some() {
                        Operation::Remove
                    } else {
                        Operation::Abort(())
                    }
                }
                Change::Keep(t) => {
                    answer = Some(t);
                    Operation::Abort(())
                }
            }
        });
        self.bump();
        answer.expect("compute runs the change at least once")
    }

    /// Drops this node's copy of `key` (a change notice arrived).
    pub(crate) fn forget(&self, key: &str) {
        self.map.pin().remove(key);
        self.bump();
    }

    /// Drops this node's copy of `key`; whether it was a record (not an absence, not a read
    /// under way).
    #[cfg(feature = "redis")]
    pub(crate) fn forget_held(&self, key: &str) -> bool {
        let held = matches!(self.map.pin().remove(key), Some(Slot::Present(_)));
        self.bump();
        held
    }

    /// Drops every cached record (this node lost contact and resynchronises).
    pub(crate) fn forget_all(&self) {
        self.map.pin().clear();
        self.bump();
    }

    fn bump(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// Changes seen so far. A derived cache reads it *before* computing from the table and
    /// keeps its answer only while it is unchanged; every change bumps it *after* it is
    /// visible, so a stale answer is never kept.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// How many slots the map holds (records, and in redis mode cached absences).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Every record held in memory, with its key.
    #[allow(dead_code)] // for the user-side stores (listing)
    pub(crate) fn entries(&self) -> Vec<(Box<str>, Arc<V>)> {
        self.map
            .pin()
            .iter()
            .filter_map(|(k, slot)| match slot {
                Slot::Present(v) => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn map(&self) -> &papaya::HashMap<Box<str>, Slot<V>, Hasher> {
        &self.map
    }
}
