//! The verified-credential cache: see [`CachedVerifier`].

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use aws_lc_rs::hmac;

use super::{Verification, Verifier, VerifyError};
use crate::extract::{Credential, Grammar, Scheme, Source};
use crate::maybe_ready::MaybeReady;
use crate::principal::Principal;

/// A verified answer, and whether it may be reused for the same credential.
#[derive(Debug)]
pub struct Verified {
    /// Who the credential belongs to.
    pub principal: Principal,
    /// How long, and under which checks, the answer may be served again; `None`: never.
    pub reuse: Option<Reuse>,
}

impl Verified {
    /// An answer for this request only.
    pub fn once(principal: Principal) -> Self {
        Self {
            principal,
            reuse: None,
        }
    }

    /// An answer that may be served again within `reuse`.
    pub fn reusable(principal: Principal, reuse: Reuse) -> Self {
        Self {
            principal,
            reuse: Some(reuse),
        }
    }
}

/// How a verified answer may be reused: until a deadline, with a stamp handed back to
/// [`Verifier::revalidate`] on every hit.
///
/// Times are Unix seconds by the clock of the verifier that answered
/// ([`Verifier::clock`]).
///
/// ```
/// use tower_gatekeeper::verify::Reuse;
///
/// // A JWT accepted at 1_700_000_000 with exp 1_700_003_600 and nbf 1_699_999_990:
/// let reuse = Reuse::until(1_700_003_600).not_before(1_699_999_990).with_stamp(7);
/// assert_eq!(reuse.deadline(), 1_700_003_600);
/// assert_eq!(reuse.stamp(), 7);
/// ```
#[derive(Clone)]
pub struct Reuse {
    pub(crate) until: u64,
    pub(crate) not_before: u64,
    pub(crate) stamp: u64,
    pub(crate) answered_by: Option<Arc<dyn Verifier>>,
}

impl fmt::Debug for Reuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reuse")
            .field("until", &self.until)
            .field("not_before", &self.not_before)
            .field("stamp", &self.stamp)
            .field("answered_by", &self.answered_by.is_some())
            .finish()
    }
}

impl Reuse {
    /// Reusable while the time is before `unix_seconds` (exclusive): e.g. a token's `exp`.
    pub fn until(unix_seconds: u64) -> Self {
        Self {
            until: unix_seconds,
            not_before: 0,
            stamp: 0,
            answered_by: None,
        }
    }

    /// Reusable with no deadline of its own: the cache's
    /// [`max_ttl`](CacheConfig::max_ttl) bounds it.
    pub fn unlimited() -> Self {
        Self::until(u64::MAX)
    }

    /// Not reusable before `unix_seconds` (a token's `nbf`, less the leeway).
    pub fn not_before(mut self, unix_seconds: u64) -> Self {
        self.not_before = unix_seconds;
        self
    }

    /// A value handed back to [`Verifier::revalidate`] on every hit: e.g. the generation of
    /// the store the answer came from.
    pub fn with_stamp(mut self, stamp: u64) -> Self {
        self.stamp = stamp;
        self
    }

    /// Names the verifier that answered, so that hits are revalidated (and timed) by it:
    /// composite verifiers such as [`FirstMatch`](super::FirstMatch) set it for the verifier
    /// of theirs that answered. Kept when already set by an inner composite.
    pub fn answered_by(mut self, verifier: Arc<dyn Verifier>) -> Self {
        if self.answered_by.is_none() {
            self.answered_by = Some(verifier);
        }
        self
    }

    /// The deadline (exclusive).
    pub fn deadline(&self) -> u64 {
        self.until
    }

    /// The stamp.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }
}

/// What a verifier says of an answer it gave before, when the same credential comes again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revalidation {
    /// Still good: serve it.
    Valid,
    /// Possibly out of date (e.g. the store changed): verify the credential afresh.
    Stale,
    /// No longer good (revoked, disabled): refuse with this error.
    Invalid(VerifyError),
}

/// Ways per set: a credential can sit in one of four slots.
const WAYS: usize = 4;

/// How a [`CachedVerifier`] is bounded.
///
/// ```
/// use std::time::Duration;
/// use tower_gatekeeper::verify::CacheConfig;
///
/// let config = CacheConfig::new()
///     .entries(4096)
///     .max_bytes(4 << 20)
///     .max_ttl(Duration::from_secs(60));
/// assert_eq!(config.capacity(), 4096);
/// ```
#[derive(Debug, Clone)]
pub struct CacheConfig {
    enabled: bool,
    sets: usize,
    max_bytes: usize,
    max_ttl: u64,
    max_key_len: usize,
    basic: bool,
    admit_first_seen: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl CacheConfig {
    /// 16,384 entries, 16 MiB, answers without a deadline kept 5 minutes, credentials up to
    /// 4 KiB, Basic credentials included.
    pub fn new() -> Self {
        Self {
            enabled: true,
            sets: 16_384 / WAYS,
            max_bytes: 16 << 20,
            max_ttl: 300,
            max_key_len: 4096,
            basic: true,
            admit_first_seen: false,
        }
    }

    /// No cache: every request is verified from scratch.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// Whether the cache is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The number of entries, rounded up to a power of two (at least 4).
    pub fn entries(mut self, entries: usize) -> Self {
        self.sets = (entries.max(WAYS) / WAYS).next_power_of_two();
        self
    }

    /// The entries the table holds.
    pub fn capacity(&self) -> usize {
        self.sets * WAYS
    }

    /// The most memory the entries may hold, in bytes (the table itself, 16 bytes per entry,
    /// comes on top).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The longest an answer without a deadline of its own (an API key, a Basic password, a
    /// JWT without `exp`) is kept before it is verified again (default 5 minutes). Answers
    /// with a deadline are kept until the earlier of the two.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl.as_secs();
        self
    }

    /// Credentials longer than this are verified every time, never kept (default 4 KiB).
    pub fn max_key_len(mut self, bytes: usize) -> Self {
        self.max_key_len = bytes;
        self
    }

    /// Whether an answer verified at once (a signature, a lookup) is kept the first time its
    /// credential is seen (default: no, only the second time).
    ///
    /// Credentials that clients reuse are kept from their second request on; a stream of
    /// credentials seen once (one-shot tokens, a flood) then costs no insertion and evicts
    /// nothing. A one-slot-per-entry "doorkeeper" of hashes remembers what was seen once.
    /// Answers that took waiting (a password hash, a network call) are always kept at once.
    pub fn admit_first_seen(mut self, on: bool) -> Self {
        self.admit_first_seen = on;
        self
    }

    /// Whether Basic credentials are kept (default yes; see the module documentation for what
    /// is stored).
    pub fn cache_basic(mut self, on: bool) -> Self {
        self.basic = on;
        self
    }
}

/// What the cache did so far, and what it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests that went to the verifier (cacheable credentials only).
    pub misses: u64,
    /// Answers stored.
    pub inserts: u64,
    /// Live entries replaced by newer ones in a full set.
    pub evictions: u64,
    /// Entries found past their deadline (and dropped).
    pub expired: u64,
    /// Entries the verifier asked to check again (and that were verified afresh).
    pub stale: u64,
    /// Hits refused on revalidation: revoked tokens, disabled accounts, removed keys.
    pub refused: u64,
    /// Answers not stored: not reusable, too long a credential, over the byte budget.
    pub not_stored: u64,
    /// Answers not stored because their credential was seen for the first time (see
    /// [`CacheConfig::admit_first_seen`]).
    pub first_seen: u64,
    /// Entries held now.
    pub entries: usize,
    /// Bytes the entries hold now (an estimate from their sizes, never below the truth for
    /// what this crate allocates).
    pub bytes: usize,
    /// The most entries.
    pub capacity: usize,
    /// The byte budget.
    pub max_bytes: usize,
}

/// A counter bumped on every request: one cache line per stripe, so threads on different
/// cores do not fight over one.
#[repr(align(64))]
#[derive(Default)]
struct Stripe(AtomicU64);

const STRIPES: usize = 8;

#[derive(Default)]
struct Striped([Stripe; STRIPES]);

impl Striped {
    fn bump(&self) {
        thread_local! {
            static INDEX: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
            };
        }
        let i = INDEX.with(|i| *i);
        self.0[i].0.fetch_add(1, Ordering::Relaxed);
    }

    fn sum(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

#[derive(Default)]
struct Counters {
    hits: Striped,
    misses: Striped,
    inserts: AtomicU64,
    evictions: AtomicU64,
    expired: AtomicU64,
    stale: AtomicU64,
    refused: AtomicU64,
    not_stored: AtomicU64,
    first_seen: AtomicU64,
}

/// One kept answer.
struct Entry {
    hash: u64,
    kind: u8,
    key: Box<[u8]>,
    principal: Principal,
    not_before: u64,
    until: u64,
    stamp: u64,
    answered_by: Option<Arc<dyn Verifier>>,
    size: usize,
    ledger: Arc<AtomicUsize>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        // The credential does not outlive its entry in this process's memory.
        zeroize::Zeroize::zeroize(&mut *self.key);
        self.ledger.fetch_sub(self.size, Ordering::AcqRel);
    }
}

/// The table shared by a [`CachedVerifier`] and its [`VerifiedCache`] handles.
struct Table {
    slots: Box<[ArcSwapOption<Entry>]>,
    /// A hint per slot (0: empty): readers compare it before loading the slot.
    tags: Box<[AtomicU64]>,
    /// Hashes of credentials seen once and not kept yet, one per slot of the table.
    doorkeeper: Box<[AtomicU64]>,
    set_mask: usize,
    hasher: foldhash::fast::RandomState,
    /// Keys the Basic digests.
    digest_key: hmac::Key,
    bytes: Arc<AtomicUsize>,
    entries: AtomicUsize,
    /// Picks which way of a full set is replaced.
    victim: AtomicUsize,
    counters: Counters,
    config: CacheConfig,
}

/// A handle on a verified-credential cache: counters, size, and [`clear`](Self::clear).
#[derive(Clone)]
pub struct VerifiedCache {
    table: Arc<Table>,
}

impl fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl VerifiedCache {
    /// The counters and the current size.
    pub fn stats(&self) -> CacheStats {
        let t = &self.table;
        let c = &t.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: c.hits.sum(),
            misses: c.misses.sum(),
            inserts: load(&c.inserts),
            evictions: load(&c.evictions),
            expired: load(&c.expired),
            stale: load(&c.stale),
            refused: load(&c.refused),
            not_stored: load(&c.not_stored),
            first_seen: load(&c.first_seen),
            entries: t.entries.load(Ordering::Relaxed),
            bytes: t.bytes.load(Ordering::Relaxed),
            capacity: t.slots.len(),
            max_bytes: t.config.max_bytes,
        }
    }

    /// Drops every entry (the next request for each credential is verified afresh).
    pub fn clear(&self) {
        for (i, slot) in self.table.slots.iter().enumerate() {
            self.table.tags[i].store(0, Ordering::Release);
            if slot.swap(None).is_some() {
                self.table.entries.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// The bytes an entry is charged: the entry and its `Arc`, the credential, and the identity
/// it shares (counted in full even when a store shares it too).
fn entry_size(key_len: usize, principal: &Principal) -> usize {
    std::mem::size_of::<Entry>()
        + 2 * std::mem::size_of::<usize>()
        + key_len
        + principal.heap_size()
}

/// What the cache keys a credential by.
enum Key<'a> {
    Bytes(&'a [u8]),
    Digest([u8; 32]),
}

impl Key<'_> {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Bytes(b) => b,
            Key::Digest(d) => d,
        }
    }
}

fn kind(credential: &Credential<'_>) -> u8 {
    let scheme = match credential.scheme() {
        Scheme::Bearer => 0,
        Scheme::Basic => 1,
        Scheme::ApiKey => 2,
    };
    let source = match credential.source() {
        Source::Header => 0,
        Source::Query => 1,
        Source::Body => 2,
        Source::Cookie => 3,
    };
    // An `Authorization` bearer token (held to `b64token`, or about to be) is its own kind:
    // a cached answer it finds was given to bytes that passed that grammar.
    let grammar = match credential.grammar() {
        Grammar::Source => 0,
        Grammar::B64Token | Grammar::Pending => 16,
    };
    scheme * 4 + source + grammar
}

impl Table {
    fn new(mut config: CacheConfig) -> Self {
        if !config.enabled {
            config.sets = 1;
        }
        let n = config.sets * WAYS;
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the operating system's random source failed");
        let digest_key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
        zeroize::Zeroize::zeroize(&mut secret);
        Self {
            slots: (0..n).map(|_| ArcSwapOption::empty()).collect(),
            tags: (0..n).map(|_| AtomicU64::new(0)).collect(),
            doorkeeper: if config.admit_first_seen {
                Box::new([])
            } else {
                (0..n).map(|_| AtomicU64::new(0)).collect()
            },
            set_mask: config.sets - 1,
            hasher: foldhash::fast::RandomState::default(),
            digest_key,
            bytes: Arc::new(AtomicUsize::new(0)),
            entries: AtomicUsize::new(0),
            victim: AtomicUsize::new(0),
            counters: Counters::default(),
            config,
        }
    }

    fn key<'a>(&self, credential: &'a Credential<'_>) -> Option<Key<'a>> {
        let key = match credential.scheme() {
            Scheme::Bearer | Scheme::ApiKey => Key::Bytes(credential.token_bytes()?),
            Scheme::Basic if self.config.basic => {
                let (user, password) = credential.basic_parts()?;
                let mut ctx = hmac::Context::with_key(&self.digest_key);
                ctx.update(&(user.len() as u64).to_le_bytes());
                ctx.update(user.as_bytes());
                ctx.update(password.as_bytes());
                let mut digest = [0u8; 32];
                digest.copy_from_slice(ctx.sign().as_ref());
                Key::Digest(digest)
            }
            Scheme::Basic => return None,
        };
        (key.as_bytes().len() <= self.config.max_key_len).then_some(key)
    }

    fn hash(&self, kind: u8, key: &[u8]) -> u64 {
        self.hasher.hash_one((kind, key))
    }

    fn tag(hash: u64) -> u64 {
        (hash >> 32) | 1
    }

    fn set(&self, hash: u64) -> std::ops::Range<usize> {
        let base = (hash as usize & self.set_mask) * WAYS;
        base..base + WAYS
    }

    /// The slot holding this credential's entry, with the entry loaded.
    fn find(
        &self,
        kind: u8,
        key: &[u8],
        hash: u64,
    ) -> Option<(usize, arc_swap::Guard<Option<Arc<Entry>>>)> {
        let tag = Self::tag(hash);
        for i in self.set(hash) {
            if self.tags[i].load(Ordering::Acquire) != tag {
                continue;
            }
            let guard = self.slots[i].load();
            if let Some(entry) = guard.as_deref()
                && entry.hash == hash
                && entry.kind == kind
                // Constant time over the whole credential (only a length difference returns
                // early; lengths are not secret).
                && aws_lc_rs::constant_time::verify_slices_are_equal(&entry.key, key).is_ok()
            {
                return Some((i, guard));
            }
        }
        None
    }

    /// Drops the entry in slot `i` if it is still `entry`.
    fn remove(&self, i: usize, entry: &Arc<Entry>) {
        let previous = self.slots[i].compare_and_swap(entry, None);
        if (*previous).as_ref().is_some_and(|p| Arc::ptr_eq(p, entry)) {
            self.tags[i].store(0, Ordering::Release);
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Drops one entry, found from a pseudo-random slot on (at most 1,024 slots looked at),
    /// other than slot `keep`.
    fn make_room(&self, seed: u64, keep: usize) {
        let n = self.slots.len();
        let spin = self.victim.fetch_add(1, Ordering::Relaxed);
        let start = (seed as usize ^ spin.wrapping_mul(0x9e37_79b9)) % n;
        for k in 0..n.min(1024) {
            let j = (start + k) % n;
            if j == keep || self.tags[j].load(Ordering::Acquire) == 0 {
                continue;
            }
            if let Some(old) = self.slots[j].swap(None) {
                self.tags[j].store(0, Ordering::Release);
                self.entries.fetch_sub(1, Ordering::Relaxed);
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
                drop(old);
                return;
            }
        }
    }

    /// Whether an answer verified at once is kept now: on its credential's second sighting.
    fn admit(&self, hash: u64) -> bool {
        if self.doorkeeper.is_empty() {
            return true;
        }
        let i = hash.rotate_right(24) as usize % self.doorkeeper.len();
        let mark = hash | 1;
        if self.doorkeeper[i].load(Ordering::Relaxed) == mark {
            return true;
        }
        self.doorkeeper[i].store(mark, Ordering::Relaxed);
        self.counters.first_seen.fetch_add(1, Ordering::Relaxed);
        false
    }

    fn not_stored(&self) {
        self.counters.not_stored.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps `principal` for the credential until the reuse's deadline (capped by the TTL).
    fn insert(
        &self,
        kind: u8,
        key: &[u8],
        hash: u64,
        principal: &Principal,
        reuse: Reuse,
        now: u64,
    ) {
        let until = reuse.until.min(now.saturating_add(self.config.max_ttl));
        if until <= now || reuse.not_before > now {
            return self.not_stored();
        }
        let size = entry_size(key.len(), principal);
        if size > self.config.max_bytes {
            return self.not_stored();
        }
        // The slot: this credential's own (an entry found stale), else an empty one, else a
        // rotating victim.
        let range = self.set(hash);
        let tag = Self::tag(hash);
        let mut chosen = None;
        let mut empty = None;
        for i in range.clone() {
            let t = self.tags[i].load(Ordering::Acquire);
            if t == tag {
                chosen = Some(i);
                break;
            }
            if t == 0 && empty.is_none() {
                empty = Some(i);
            }
        }
        let i = chosen
            .or(empty)
            .unwrap_or_else(|| range.start + self.victim.fetch_add(1, Ordering::Relaxed) % WAYS);
        let victim_size = (*self.slots[i].load()).as_ref().map_or(0, |e| e.size);
        // Reserve the bytes first (the victim's are released when it is dropped); over the
        // budget, make room by dropping a few entries elsewhere, then give up.
        let mut reserved = false;
        for attempt in 0..4 {
            let before = self.bytes.fetch_add(size, Ordering::AcqRel);
            if before + size <= self.config.max_bytes.saturating_add(victim_size) {
                reserved = true;
                break;
            }
            self.bytes.fetch_sub(size, Ordering::AcqRel);
            self.make_room(hash.rotate_left(17 + attempt), i);
        }
        if !reserved {
            return self.not_stored();
        }
        let entry = Arc::new(Entry {
            hash,
            kind,
            key: key.into(),
            principal: principal.clone(),
            not_before: reuse.not_before,
            until,
            stamp: reuse.stamp,
            answered_by: reuse.answered_by,
            size,
            ledger: self.bytes.clone(),
        });
        let previous = self.slots[i].swap(Some(entry));
        self.tags[i].store(tag, Ordering::Release);
        self.counters.inserts.fetch_add(1, Ordering::Relaxed);
        match previous {
            None => {
                self.entries.fetch_add(1, Ordering::Relaxed);
            }
            Some(old) if old.until > now && old.hash != hash => {
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {}
        }
    }
}

/// A verifier whose reusable answers are kept and served again for the same credential.
///
/// Clones share the cache.
///
/// The verified-credential cache: a credential seen before is answered from memory.
///
/// Clients send the same token for its whole life, so most requests carry a credential the
/// service has already verified. [`CachedVerifier`] keeps the answers a verifier allows it to
/// keep ([`Verifier::verify_reusable`]) and serves them again for the same credential:
///
/// - **keyed by the credential itself**: the exact bytes of a bearer token or API key (found
///   through a seeded hash, confirmed by a constant-time comparison of the whole credential),
///   or, for Basic credentials, a keyed digest (HMAC-SHA-256 under a random per-cache key) of
///   the user name and password — the password itself is never kept;
/// - **never past the answer's deadline**: a JWT's `exp`, an opaque token's expiry, and at
///   most [`CacheConfig::max_ttl`] for answers without one, judged by the clock of the
///   verifier that answered;
/// - **revalidated on every hit** by the verifier that answered
///   ([`Verifier::revalidate`]): revocation lists, disabled accounts, removed keys and changed
///   passwords take effect on the next request, cached or not;
/// - **bounded**: a fixed table of entries (set-associative, four ways per set: a new entry
///   replaces an old one of its set, there is no eviction thread), and a byte budget over what
///   the entries hold; a credential longer than [`CacheConfig::max_key_len`] is not kept;
/// - **kept on the second sighting** (by default): a credential verified at once is kept
///   the second time it is seen, so a stream of credentials seen once costs no insertion and
///   evicts nothing ([`CacheConfig::admit_first_seen`]); answers that took waiting (a password
///   hash, a network call) are kept at once;
/// - **lock-free for readers**: each slot is an [`arc_swap::ArcSwapOption`]; a hit loads one
///   slot and clones one `Arc`.
///
/// The layer wraps its verifier in one by default
/// ([`GatekeeperBuilder::verified_cache`](crate::GatekeeperBuilder::verified_cache));
/// [`CachedVerifier`] can also wrap a verifier used elsewhere.
///
/// ```
/// use tower_gatekeeper::extract::{Credential, Source};
/// use tower_gatekeeper::principal::Identity;
/// use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, CachedVerifier, Verifier};
///
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let keys = ApiKeyStore::new();
/// # rt.block_on(async {
/// keys.insert("k-123", Identity::new("svc")).await.unwrap();
/// # });
/// let verifier = CachedVerifier::new(ApiKeyVerifier::new(keys.clone()));
/// let key = Credential::api_key("k-123", Source::Header);
/// # let run = |v: &CachedVerifier<ApiKeyVerifier>| match v.verify(&key) {
/// #     tower_gatekeeper::MaybeReady::Ready(r) => r, _ => unreachable!() };
/// assert!(run(&verifier).is_ok()); // verified (first seen)
/// assert!(run(&verifier).is_ok()); // verified, kept
/// assert!(run(&verifier).is_ok()); // served from the cache
/// assert_eq!(verifier.cache().stats().hits, 1);
/// # rt.block_on(async {
/// keys.remove("k-123").await.unwrap();
/// # });
/// assert!(run(&verifier).is_err()); // the removal is seen at once
/// ```
pub struct CachedVerifier<V> {
    inner: Arc<V>,
    table: Arc<Table>,
}

impl<V> Clone for CachedVerifier<V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            table: self.table.clone(),
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for CachedVerifier<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cache = VerifiedCache {
            table: self.table.clone(),
        };
        f.debug_struct("CachedVerifier")
            .field("inner", &self.inner)
            .field("stats", &cache.stats())
            .finish()
    }
}

impl<V: Verifier> CachedVerifier<V> {
    /// Caches the answers of `inner` with the default bounds ([`CacheConfig::new`]).
    pub fn new(inner: V) -> Self {
        Self::with_config(inner, CacheConfig::new())
    }

    /// Caches the answers of `inner` within `config`'s bounds; with
    /// [`CacheConfig::disabled`], every request goes to `inner`.
    pub fn with_config(inner: V, config: CacheConfig) -> Self {
        Self {
            inner: Arc::new(inner),
            table: Arc::new(Table::new(config)),
        }
    }

    /// The wrapped verifier.
    pub fn inner(&self) -> &V {
        &self.inner
    }

    /// A handle on the cache: counters, size, clearing.
    pub fn cache(&self) -> VerifiedCache {
        VerifiedCache {
            table: self.table.clone(),
        }
    }

    /// Verifies with the inner verifier and keeps the answer when it may be reused.
    fn verify_and_keep(
        &self,
        credential: &Credential<'_>,
        kind: u8,
        key: Key<'_>,
        hash: u64,
    ) -> Verification {
        let table = &self.table;
        match self.inner.verify_reusable(credential) {
            MaybeReady::Ready(Ok(verified)) => {
                match verified.reuse {
                    None => table.not_stored(),
                    Some(_) if !table.admit(hash) => {}
                    Some(_) => keep(table, &*self.inner, kind, key.as_bytes(), hash, &verified),
                }
                MaybeReady::Ready(Ok(verified.principal))
            }
            MaybeReady::Ready(Err(e)) => MaybeReady::Ready(Err(e)),
            MaybeReady::Pending(pending) => {
                let table = table.clone();
                let inner = self.inner.clone();
                let key = key.as_bytes().to_vec();
                MaybeReady::pending(async move {
                    let verified = pending.await?;
                    keep(&table, &*inner, kind, &key, hash, &verified);
                    Ok(verified.principal)
                })
            }
        }
    }
}

fn keep(table: &Table, inner: &dyn Verifier, kind: u8, key: &[u8], hash: u64, verified: &Verified) {
    match &verified.reuse {
        Some(reuse) => {
            let by = reuse.answered_by.as_deref().unwrap_or(inner);
            let now = by.clock().unix_seconds();
            table.insert(kind, key, hash, &verified.principal, reuse.clone(), now);
        }
        None => table.not_stored(),
    }
}

/// What [`CachedVerifier::lookup`] found.
pub(crate) enum Lookup {
    /// The cache answered: a hit, or a kept answer refused on revalidation.
    Answered(Verification),
    /// Not answered here: verify with [`CachedVerifier::verify_missed`].
    Missed(Miss),
}

/// A miss, with what the lookup already computed.
pub(crate) struct Miss(Option<(u8, u64, Option<[u8; 32]>)>);

impl<V: Verifier> CachedVerifier<V> {
    /// Answers from the cache if it can. A credential still [pending its
    /// grammar](crate::extract::Credential::check_grammar) may be looked up: only an answer
    /// kept for the same bytes, which passed the check then, can answer it.
    pub(crate) fn lookup(&self, credential: &Credential<'_>) -> Lookup {
        let table = &*self.table;
        if !table.config.enabled {
            return Lookup::Missed(Miss(None));
        }
        let Some(key) = table.key(credential) else {
            return Lookup::Missed(Miss(None));
        };
        let kind = kind(credential);
        let hash = table.hash(kind, key.as_bytes());
        match self.answer(credential, kind, key.as_bytes(), hash) {
            Some(answer) => Lookup::Answered(answer),
            None => {
                let digest = match key {
                    Key::Bytes(_) => None,
                    Key::Digest(d) => Some(d),
                };
                Lookup::Missed(Miss(Some((kind, hash, digest))))
            }
        }
    }

    /// Verifies what [`lookup`](Self::lookup) missed, and keeps the answer when it may be
    /// reused. `credential` is the one looked up (its grammar checked since, if it was
    /// pending).
    pub(crate) fn verify_missed(&self, credential: &Credential<'_>, miss: Miss) -> Verification {
        debug_assert!(credential.grammar() != Grammar::Pending);
        let Miss(Some((kind, hash, digest))) = miss else {
            return self.inner.verify(credential);
        };
        // Counted here, not in `lookup`: a credential refused for its grammar after the
        // lookup never went to the verifier.
        self.table.counters.misses.bump();
        crate::observe::cache_miss();
        let key = match (digest, credential.token_bytes()) {
            (Some(d), _) => Key::Digest(d),
            (None, Some(bytes)) => Key::Bytes(bytes),
            (None, None) => return self.inner.verify(credential),
        };
        self.verify_and_keep(credential, kind, key, hash)
    }

    /// The kept answer for this key, revalidated; `None` when there is none that may still be
    /// used (the miss is counted by [`verify_missed`](Self::verify_missed)).
    fn answer(
        &self,
        credential: &Credential<'_>,
        kind: u8,
        key: &[u8],
        hash: u64,
    ) -> Option<Verification> {
        let table = &*self.table;
        if let Some((slot, guard)) = table.find(kind, key, hash) {
            let entry = guard.as_ref().expect("found entries are loaded");
            let by: &dyn Verifier = entry.answered_by.as_deref().unwrap_or(&*self.inner);
            let now = by.clock().unix_seconds();
            if now < entry.until && now >= entry.not_before {
                // The bytes are the entry's, which passed their grammar when kept.
                let checked;
                let credential = if credential.grammar() == Grammar::Pending {
                    checked = credential.known_checked();
                    &checked
                } else {
                    credential
                };
                match by.revalidate(credential, &entry.principal, entry.stamp) {
                    Revalidation::Valid => {
                        table.counters.hits.bump();
                        crate::observe::cache_hit();
                        return Some(MaybeReady::Ready(Ok(entry.principal.clone())));
                    }
                    Revalidation::Invalid(error) => {
                        table.counters.refused.fetch_add(1, Ordering::Relaxed);
                        crate::observe::cache_refused();
                        table.remove(slot, entry);
                        return Some(MaybeReady::Ready(Err(error)));
                    }
                    Revalidation::Stale => {
                        table.counters.stale.fetch_add(1, Ordering::Relaxed);
                        table.remove(slot, entry);
                    }
                }
            } else {
                table.counters.expired.fetch_add(1, Ordering::Relaxed);
                table.remove(slot, entry);
            }
        }
        None
    }
}

impl<V: Verifier> Verifier for CachedVerifier<V> {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        match self.lookup(credential) {
            Lookup::Answered(answer) => answer,
            Lookup::Missed(miss) => self.verify_missed(credential, miss),
        }
    }

    /// Answers are already kept here: an outer cache gets nothing to keep.
    fn verify_reusable(&self, credential: &Credential<'_>) -> super::ReusableVerification {
        self.verify(credential).map(|r| r.map(Verified::once))
    }

    fn clock(&self) -> &dyn crate::clock::Clock {
        self.inner.clock()
    }
}

/// Why a verifier refused a hit, for [`Revalidation::Invalid`] built from a [`VerifyError`].
impl From<VerifyError> for Revalidation {
    fn from(error: VerifyError) -> Self {
        Revalidation::Invalid(error)
    }
}
