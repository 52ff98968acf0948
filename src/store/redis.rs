//! Redis as the system of record (feature `redis`): the connection, the change channel, the
//! freshness of this node's caches, and atomic writes.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};

use super::StoreError;
use super::table::{Lookup, Record, Slot, Table};
use crate::maybe_ready::MaybeReady;

/// How a [`RedisStore`] behaves.
///
/// ```
/// use std::time::Duration;
/// use tower_gatekeeper::store::RedisOptions;
///
/// let options = RedisOptions::new()
///     .prefix("orders-gateway:")
///     .staleness(Duration::from_secs(2));
/// assert_eq!(options.key_prefix(), "orders-gateway:");
/// ```
#[derive(Debug, Clone)]
pub struct RedisOptions {
    prefix: String,
    staleness: Duration,
    heartbeat: Duration,
    command_timeout: Duration,
    cache_capacity: usize,
    negative_ttl: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl RedisOptions {
    /// Keys under `tg:`; a 5 s staleness bound; a heartbeat every 500 ms; 1 s per command;
    /// 100 000 cached records per table; unknown keys remembered for 2 s.
    pub fn new() -> Self {
        Self {
            prefix: "tg:".to_owned(),
            staleness: Duration::from_secs(5),
            heartbeat: Duration::from_millis(500),
            command_timeout: Duration::from_secs(1),
            cache_capacity: 100_000,
            negative_ttl: Duration::from_secs(2),
        }
    }

    /// Every key (and the change channel) starts with `prefix`, so several deployments can
    /// share one Redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// How long after its last confirmed contact with Redis a node still answers from its
    /// cache. Past it, every decision that needs the store is a 503 until contact returns.
    pub fn staleness(mut self, bound: Duration) -> Self {
        self.staleness = bound;
        self
    }

    /// How often a node confirms that its change channel works.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// The longest one Redis command may take before it counts as a failure.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The most records (and remembered absences) one table caches on this node.
    pub fn cache_capacity(mut self, records: usize) -> Self {
        self.cache_capacity = records.max(16);
        self
    }

    /// How long a key found absent is remembered (change notices end it sooner).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// How long a key found absent is remembered.
    pub fn negative_ttl_value(&self) -> Duration {
        self.negative_ttl
    }
}

/// A table that wants to hear about changes.
pub(crate) trait Subscriber: Send + Sync {
    /// A change notice for `key`.
    fn changed(self: Arc<Self>, key: &str);
    fn forget_all(&self);
}

impl<V: Record> Subscriber for Table<V> {
    /// Drops this node's copy of `key`; when that copy was a record (one in use on this node),
    /// reads the new one at once, in the background, so the next request finds it in memory
    /// instead of paying the round trip itself — and, for a Basic login whose record changed,
    /// instead of a full password check where the record alone now answers (a disabled
    /// user). Nothing stale is ever served meanwhile: the old copy is gone first.
    fn changed(self: Arc<Self>, key: &str) {
        if self.forget_held(key) {
            refetch(self, key);
        }
    }
    fn forget_all(&self) {
        Table::forget_all(self);
    }
}

/// Reads `key` into `table` in the background (only while this node is fresh: otherwise
/// nothing would be cached).
fn refetch<V: Record>(table: Arc<Table<V>>, key: &str) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let Some(remote) = table.remote_ref() else {
        return;
    };
    if !remote.store.is_fresh_at(remote.store.now_ms()) {
        return;
    }
    if let MaybeReady::Pending(read) = remote.get(&table, key) {
        runtime.spawn(async move {
            // A failure leaves no copy: the next request reads for itself.
            let _ = read.await;
        });
    }
}

struct Inner {
    conn: ConnectionManager,
    options: RedisOptions,
    channel: String,
    node: u64,
    start: Instant,
    /// The send time (ms since `start`) of the newest own heartbeat seen back on the channel:
    /// every change published before it has been applied here.
    confirmed_ms: AtomicU64,
    /// Set once the change channel is subscribed and the caches were emptied.
    synced: AtomicBool,
    fills: AtomicU64,
    resyncs: AtomicU64,
    tables: Mutex<Vec<(&'static str, Weak<dyn Subscriber>)>>,
    script: Script,
}

/// A connection to Redis (or Valkey) that the crate's stores share: one per node.
///
/// It keeps a command connection (reconnecting by itself) and a subscription to the change
/// channel `<prefix>changes`. Every write a store makes is announced there, and every node
/// drops its cached copy of what changed; a heartbeat that each node publishes and sees come
/// back confirms that the channel works. After a reconnect a node empties its caches before it
/// answers from them again.
///
/// ```no_run
/// use tower_gatekeeper::store::{RedisOptions, RedisStore};
///
/// # async fn run() -> Result<(), tower_gatekeeper::store::StoreError> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379/", RedisOptions::new()).await?;
/// assert!(store.is_fresh());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.options.prefix)
            .field("fresh", &self.is_fresh())
            .finish_non_exhaustive()
    }
}

/// What a write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Every condition held; every change was made and announced.
    Done,
    /// The record was not as expected (a concurrent writer won): nothing changed.
    Conflict,
    /// Guard number `n` (from 0) did not hold: nothing changed.
    Guard(usize),
}

/// A condition on a key's current value.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    Any,
    Absent,
    /// The key exists, whatever its value.
    Present,
    Equals(Vec<u8>),
    // For the user-side stores (index claims).
    #[allow(dead_code)]
    AbsentOrEquals(Vec<u8>),
}

impl Expect {
    fn args(&self) -> (&'static str, &[u8]) {
        match self {
            Self::Any => ("any", b""),
            Self::Absent => ("absent", b""),
            Self::Present => ("present", b""),
            Self::Equals(v) => ("equals", v),
            Self::AbsentOrEquals(v) => ("absent_or_equals", v),
        }
    }

    /// The condition that the value is still `current` (absent when `None`).
    pub(crate) fn unchanged(current: Option<&[u8]>) -> Self {
        match current {
            Some(v) => Self::Equals(v.to_vec()),
            None => Self::Absent,
        }
    }
}

/// One change of a write.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Sets a key, expiring at a Unix time in milliseconds if given.
    Set {
        key: String,
        value: Vec<u8>,
        expire_at_ms: Option<u64>,
    },
    Del(String),
    // For the user-side stores (grant index sets).
    #[allow(dead_code)]
    SAdd(String, Vec<u8>),
    #[allow(dead_code)]
    SRem(String, Vec<u8>),
}

/// An atomic write: if the record and every guard are as expected, apply every op and publish
/// every notice (`kind:key`), all in one script.
#[derive(Debug, Clone)]
pub(crate) struct Write {
    pub(crate) key: String,
    pub(crate) expect: Expect,
    pub(crate) guards: Vec<(String, Expect)>,
    pub(crate) ops: Vec<Op>,
    pub(crate) notices: Vec<String>,
}

/// The write interpreter. KEYS[1] is the record; then the guards' keys; then the ops' keys.
const WRITE_SCRIPT: &str = r"
local function holds(key, mode, value)
  if mode == 'any' then return true end
  local current = redis.call('GET', key)
  if mode == 'absent' then return current == false end
  if mode == 'present' then return current ~= false end
  if mode == 'equals' then return current == value end
  if mode == 'absent_or_equals' then return current == false or current == value end
  return false
end
if not holds(KEYS[1], ARGV[1], ARGV[2]) then return 0 end
local a = 3
local nguards = tonumber(ARGV[a]); a = a + 1
for i = 1, nguards do
  if not holds(KEYS[1 + i], ARGV[a], ARGV[a + 1]) then return -i end
  a = a + 2
end
local nops = tonumber(ARGV[a]); a = a + 1
for i = 1, nops do
  local key = KEYS[1 + nguards + i]
  local op, value, expire = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  if op == 'set' then
    if expire ~= '0' then
      redis.call('SET', key, value, 'PXAT', expire)
    else
      redis.call('SET', key, value)
    end
  elseif op == 'del' then
    redis.call('DEL', key)
  elseif op == 'sadd' then
    redis.call('SADD', key, value)
  elseif op == 'srem' then
    redis.call('SREM', key, value)
  end
  a = a + 3
end
local channel = ARGV[a]; a = a + 1
while a <= #ARGV do
  redis.call('PUBLISH', channel, ARGV[a])
  a = a + 1
end
return 1
";

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn unavailable(what: &str, e: impl fmt::Display) -> StoreError {
    StoreError::unavailable(format!("redis {what} failed: {e}"))
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`, `rediss://…` needs redis-rs' TLS features),
    /// subscribes to the change channel and waits until this node's view is fresh.
    ///
    /// Must be called inside a tokio runtime: the store keeps a task that follows the change
    /// channel, reconnects after failures and resynchronises.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(|e| unavailable("connect", e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.command_timeout))
            .set_response_timeout(Some(options.command_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| unavailable("connect", e))?;
        let mut node = [0u8; 8];
        getrandom::fill(&mut node).map_err(|_| StoreError::unavailable("no randomness"))?;
        let store = Self {
            inner: Arc::new(Inner {
                conn,
                channel: format!("{}changes", options.prefix),
                options,
                node: u64::from_le_bytes(node),
                start: Instant::now(),
                confirmed_ms: AtomicU64::new(0),
                synced: AtomicBool::new(false),
                fills: AtomicU64::new(0),
                resyncs: AtomicU64::new(0),
                tables: Mutex::new(Vec::new()),
                script: Script::new(WRITE_SCRIPT),
            }),
        };
        store.ping().await?;
        tokio::spawn(follow(Arc::downgrade(&store.inner), client));
        // Wait (boundedly) for the subscription and the first heartbeat to come back.
        let deadline = Instant::now() + store.inner.options.command_timeout * 5;
        while !store.is_fresh() {
            if Instant::now() > deadline {
                return Err(StoreError::unavailable(
                    "the redis change channel did not confirm in time",
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(store)
    }

    /// Whether this node's caches may be used: subscribed, and contact confirmed within the
    /// staleness bound.
    pub fn is_fresh(&self) -> bool {
        self.is_fresh_at(self.now_ms())
    }

    /// How many times this node has emptied its caches after (re)subscribing.
    pub fn resyncs(&self) -> u64 {
        self.inner.resyncs.load(Ordering::Relaxed)
    }

    /// The options it runs with.
    pub fn options(&self) -> &RedisOptions {
        &self.inner.options
    }

    /// Answers when Redis answers `PING`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.inner.conn.clone();
        let reply: Result<String, _> = self
            .timed("ping", redis::cmd("PING").query_async(&mut conn))
            .await?;
        reply.map(|_| ()).map_err(|e| unavailable("ping", e))
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.inner.start.elapsed().as_millis() as u64
    }

    pub(crate) fn is_fresh_at(&self, now_ms: u64) -> bool {
        let i = &self.inner;
        i.synced.load(Ordering::Acquire)
            && now_ms.saturating_sub(i.confirmed_ms.load(Ordering::Acquire))
                <= i.options.staleness.as_millis() as u64
    }

    pub(crate) fn register(&self, kind: &'static str, table: Weak<dyn Subscriber>) {
        let mut tables = self.inner.tables.lock().unwrap_or_else(|p| p.into_inner());
        tables.retain(|(_, t)| t.strong_count() > 0);
        tables.push((kind, table));
    }

    /// The Redis key of record `key` of `kind`.
    pub(crate) fn key(&self, kind: &str, key: &str) -> String {
        let mut full =
            String::with_capacity(self.inner.options.prefix.len() + kind.len() + 1 + key.len());
        full.push_str(&self.inner.options.prefix);
        full.push_str(kind);
        full.push(':');
        full.push_str(key);
        full
    }

    async fn timed<T>(&self, what: &str, future: impl Future<Output = T>) -> Result<T, StoreError> {
        tokio::time::timeout(self.inner.options.command_timeout, future)
            .await
            .map_err(|_| unavailable(what, "timed out"))
    }

    /// The stored bytes at a full key, straight from Redis.
    pub(crate) async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.inner.conn.clone();
        let reply: Result<Option<Vec<u8>>, _> = self
            .timed("read", redis::cmd("GET").arg(key).query_async(&mut conn))
            .await?;
        reply.map_err(|e| unavailable("read", e))
    }

    /// The stored bytes at many full keys (`MGET`, in chunks), in order.
    pub(crate) async fn read_many(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(512) {
            let mut conn = self.inner.conn.clone();
            let reply: Result<Vec<Option<Vec<u8>>>, _> = self
                .timed("read", redis::cmd("MGET").arg(chunk).query_async(&mut conn))
                .await?;
            values.extend(reply.map_err(|e| unavailable("read", e))?);
        }
        Ok(values)
    }

    /// The members of a set at a full key.
    #[allow(dead_code)] // for the user-side stores (grant indexes)
    pub(crate) async fn members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.inner.conn.clone();
        let reply: Result<Vec<String>, _> = self
            .timed(
                "read",
                redis::cmd("SMEMBERS").arg(key).query_async(&mut conn),
            )
            .await?;
        reply.map_err(|e| unavailable("read", e))
    }

    /// Applies `write` atomically.
    pub(crate) async fn apply(&self, write: Write) -> Result<Applied, StoreError> {
        let now = unix_ms();
        let mut invocation = self.inner.script.prepare_invoke();
        invocation.key(&write.key);
        let (mode, value) = write.expect.args();
        invocation.arg(mode).arg(value);
        invocation.arg(write.guards.len());
        for (key, expect) in &write.guards {
            invocation.key(key);
            let (mode, value) = expect.args();
            invocation.arg(mode).arg(value);
        }
        invocation.arg(write.ops.len());
        for op in &write.ops {
            match op {
                // A record that has already expired is deleted rather than written.
                Op::Set {
                    key,
                    expire_at_ms: Some(at),
                    ..
                } if *at <= now => {
                    invocation.key(key).arg("del").arg("").arg("0");
                }
                Op::Set {
                    key,
                    value,
                    expire_at_ms,
                } => {
                    invocation
                        .key(key)
                        .arg("set")
                        .arg(value.as_slice())
                        .arg(expire_at_ms.unwrap_or(0));
                }
                Op::Del(key) => {
                    invocation.key(key).arg("del").arg("").arg("0");
                }
                Op::SAdd(key, member) => {
                    invocation
                        .key(key)
                        .arg("sadd")
                        .arg(member.as_slice())
                        .arg("0");
                }
                Op::SRem(key, member) => {
                    invocation
                        .key(key)
                        .arg("srem")
                        .arg(member.as_slice())
                        .arg("0");
                }
            }
        }
        invocation.arg(&self.inner.channel);
        for notice in &write.notices {
            invocation.arg(notice);
        }
        let mut conn = self.inner.conn.clone();
        let reply: Result<i64, _> = self
            .timed("write", invocation.invoke_async(&mut conn))
            .await?;
        match reply.map_err(|e| unavailable("write", e))? {
            1 => Ok(Applied::Done),
            0 => Ok(Applied::Conflict),
            n if n < 0 => Ok(Applied::Guard((-n - 1) as usize)),
            n => Err(StoreError::format(format!("the write script answered {n}"))),
        }
    }

    /// Asks every node to empty its caches (after changing records behind the stores' back).
    pub async fn announce_reset(&self) -> Result<(), StoreError> {
        self.publish("~all").await
    }

    async fn publish(&self, message: &str) -> Result<(), StoreError> {
        let mut conn = self.inner.conn.clone();
        let reply: Result<i64, _> = self
            .timed(
                "publish",
                redis::cmd("PUBLISH")
                    .arg(&self.inner.channel)
                    .arg(message)
                    .query_async(&mut conn),
            )
            .await?;
        reply.map(|_| ()).map_err(|e| unavailable("publish", e))
    }

    pub(crate) fn next_fill(&self) -> u64 {
        self.inner.fills.fetch_add(1, Ordering::Relaxed)
    }
}

impl Inner {
    /// Applies one message of the change channel; answers whether it was our own heartbeat.
    fn handle(&self, payload: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(payload) else {
            return false;
        };
        if let Some(beat) = text.strip_prefix("~hb:") {
            let mine = beat
                .split_once(':')
                .and_then(|(node, ms)| Some((node.parse::<u64>().ok()?, ms.parse::<u64>().ok()?)));
            if let Some((node, sent)) = mine
                && node == self.node
            {
                self.confirmed_ms.fetch_max(sent, Ordering::AcqRel);
                return true;
            }
            return false;
        }
        let tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        if text == "~all" {
            for (_, table) in tables.iter() {
                if let Some(t) = table.upgrade() {
                    t.forget_all();
                }
            }
            return false;
        }
        if let Some((kind, key)) = text.split_once(':') {
            for (k, table) in tables.iter() {
                if *k == kind
                    && let Some(t) = table.upgrade()
                {
                    t.changed(key);
                }
            }
        }
        false
    }

    /// The change channel is (re)subscribed: whatever was missed while it was down is
    /// unknown, so every cache starts again empty.
    fn resync(&self) {
        let tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        for (_, table) in tables.iter() {
            if let Some(t) = table.upgrade() {
                t.forget_all();
            }
        }
        self.resyncs.fetch_add(1, Ordering::Relaxed);
        self.synced.store(true, Ordering::Release);
    }

    fn heartbeat_message(&self) -> String {
        format!("~hb:{}:{}", self.node, self.start.elapsed().as_millis())
    }
}

/// Follows the change channel for as long as the store lives: subscribes, resynchronises,
/// applies notices, publishes heartbeats, and starts again after any failure.
async fn follow(weak: Weak<Inner>, client: Client) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let (channel, heartbeat, timeout) = (
            inner.channel.clone(),
            inner.options.heartbeat,
            inner.options.command_timeout,
        );
        drop(inner);
        let subscribed = tokio::time::timeout(timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match subscribed {
            Ok(Ok(pubsub)) => pubsub,
            _ => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        {
            let Some(inner) = weak.upgrade() else { return };
            inner.resync();
        }
        let (_sink, mut messages) = pubsub.split();
        let mut tick = tokio::time::interval(heartbeat);
        let mut last_own = Instant::now();
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { break };
                    let Some(inner) = weak.upgrade() else { return };
                    if inner.handle(message.get_payload_bytes()) {
                        last_own = Instant::now();
                    }
                }
                _ = tick.tick() => {
                    let Some(inner) = weak.upgrade() else { return };
                    // A channel that stays silent is as good as broken: subscribe again.
                    if last_own.elapsed() > heartbeat * 4 + timeout {
                        break;
                    }
                    let store = RedisStore { inner };
                    tokio::spawn(async move {
                        let message = store.inner.heartbeat_message();
                        let _ = store.publish(&message).await;
                    });
                }
            }
        }
    }
}

/// A table's link to the store: how it reads through and bounds its cache.
pub(crate) struct Remote {
    pub(crate) store: RedisStore,
    evicting: AtomicBool,
    /// How long this table remembers a key found absent.
    negative_ttl_ms: u64,
}

impl Remote {
    pub(crate) fn new(store: &RedisStore) -> Self {
        Self::with_negative_ttl(store, store.options().negative_ttl)
    }

    /// A table whose absences are remembered for `negative_ttl` rather than the store's
    /// [`RedisOptions::negative_ttl`] (change notices end them sooner either way).
    pub(crate) fn with_negative_ttl(store: &RedisStore, negative_ttl: Duration) -> Self {
        Self {
            store: store.clone(),
            evicting: AtomicBool::new(false),
            negative_ttl_ms: negative_ttl.as_millis() as u64,
        }
    }

    pub(crate) fn get<V: Record>(&self, table: &Arc<Table<V>>, key: &str) -> Lookup<V> {
        let now = self.store.now_ms();
        if !self.store.is_fresh_at(now) {
            // This node's view may be stale: ask Redis itself, and cache nothing.
            let store = self.store.clone();
            let full = store.key(V::KIND, key);
            return MaybeReady::pending(async move {
                let bytes = store.read(&full).await?;
                bytes.map(|b| V::decode(&b).map(Arc::new)).transpose()
            });
        }
        let fill = {
            let map = table.map().pin();
            match map.get(key) {
                Some(Slot::Present(v)) => return MaybeReady::Ready(Ok(Some(v.clone()))),
                Some(Slot::Absent { until_ms }) if *until_ms > now => {
                    return MaybeReady::Ready(Ok(None));
                }
                _ => {}
            }
            let fill = self.store.next_fill();
            map.insert(key.into(), Slot::Filling(fill));
            fill
        };
        let table = table.clone();
        let key = key.to_owned();
        MaybeReady::pending(async move {
            let remote = table.remote_ref().expect("a remote table");
            let store = &remote.store;
            let bytes = store.read(&store.key(V::KIND, &key)).await;
            let value = match bytes.and_then(|b| b.map(|b| V::decode(&b).map(Arc::new)).transpose())
            {
                Ok(value) => value,
                Err(e) => {
                    table
                        .map()
                        .pin()
                        .remove_if(
                            key.as_str(),
                            |_, slot| matches!(slot, Slot::Filling(f) if *f == fill),
                        )
                        .ok();
                    return Err(e);
                }
            };
            let slot = match &value {
                Some(v) => Slot::Present(v.clone()),
                None => Slot::Absent {
                    until_ms: store.now_ms() + remote.negative_ttl_ms,
                },
            };
            // Only the read that placed the marker installs its answer: a change notice or a
            // resynchronisation that came in between removed the marker.
            table
                .map()
                .pin()
                .compute(key.into_boxed_str(), |entry| match entry {
                    Some((_, Slot::Filling(f))) if *f == fill => {
                        papaya::Operation::Insert(slot.clone())
                    }
                    _ => papaya::Operation::Abort(()),
                });
            remote.bound(&table);
            Ok(value)
        })
    }

    /// Keeps the cache within its capacity: past it, remembered absences go first, then about
    /// a quarter of the records (any cached record can be read again).
    fn bound<V: Record>(&self, table: &Table<V>) {
        let capacity = self.store.options().cache_capacity;
        if table.len() <= capacity || self.evicting.swap(true, Ordering::AcqRel) {
            return;
        }
        let map = table.map().pin();
        map.retain(|_, slot| !matches!(slot, Slot::Absent { .. }));
        if map.len() > capacity * 3 / 4 {
            let mut n = 0u64;
            map.retain(|_, slot| {
                n += 1;
                matches!(slot, Slot::Filling(_)) || !n.is_multiple_of(4)
            });
        }
        self.evicting.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests;
