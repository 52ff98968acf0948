//! Where the crate's state lives: in this process's memory, or in Redis, shared by every node.
//!
//! Every store of the crate (clients, users and tenants, API keys, opaque tokens and
//! revocations, grants) keeps its records in a table: a concurrent map that readers use
//! without a lock. A table has one of two modes:
//!
//! - **memory**: the map is the system of record. Writes cost O(1) amortised and never copy
//!   the store; readers never wait.
//! - **redis** (feature `redis`): Redis is the system of record and the map is this node's
//!   cache of what it has read. A warm read is answered from the map with no network round
//!   trip; a cold read costs one round trip. Every write goes to Redis first, atomically, and
//!   is announced on a pub/sub channel that every node applies to its cache. A node keeps
//!   using its cache only while it has confirmed contact with Redis within the staleness
//!   bound; after that, and for anything not cached, the answer is an error that the request
//!   path turns into 503 — never a pass.
//!
//! Records are stored as JSON documents that carry a format version (`{"v":1,…}`): a node
//! that meets a version it does not know refuses to read it rather than misread it.

// Without Redis, records are never encoded, decoded or announced; without the issuer,
// nothing expires.
#![cfg_attr(not(all(feature = "redis", feature = "issuer")), allow(dead_code))]

pub(crate) mod expiry;
pub(crate) mod table;

#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::borrow::Cow;
use std::fmt;

#[cfg(feature = "redis")]
pub(crate) use redis::{Applied, Expect, Op, Write};
#[cfg(feature = "redis")]
pub use redis::{RedisOptions, RedisStore};

pub(crate) use table::{Record, Table};

/// The version written into every stored record.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// A number no other in-memory record of this process has: a record built (or read back from
/// Redis) gets a new one, so a verification kept for one record can tell it was replaced.
pub(crate) fn next_record_stamp() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STAMPS: AtomicU64 = AtomicU64::new(1);
    STAMPS.fetch_add(1, Ordering::Relaxed)
}

/// What went wrong with a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The shared store cannot be reached, or this node's view of it is older than the
    /// staleness bound.
    Unavailable,
    /// A record is in a format this node does not know (a newer version, or damaged).
    Format,
    /// An optimistic update kept losing to concurrent writers.
    Conflict,
}

/// A store failure. Its description names the operation, never a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: Cow<'static, str>,
}

impl StoreError {
    pub(crate) fn new(kind: StoreErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        // Every store failure is made here: counted once (`gatekeeper_backend_errors_total`).
        crate::observe::backend_error(kind);
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StoreErrorKind::Unavailable, message)
    }

    pub(crate) fn format(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StoreErrorKind::Format, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// What failed.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreError({:?}: {})", self.kind, self.message)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            StoreErrorKind::Unavailable => write!(f, "the store is unavailable: {}", self.message),
            StoreErrorKind::Format => write!(f, "a stored record is unreadable: {}", self.message),
            StoreErrorKind::Conflict => {
                write!(f, "concurrent updates conflicted: {}", self.message)
            }
        }
    }
}

impl std::error::Error for StoreError {}

impl From<StoreError> for crate::verify::VerifyError {
    fn from(e: StoreError) -> Self {
        // Whatever the store's trouble, the credential cannot be judged: 503, never a pass.
        crate::verify::VerifyError::unavailable(e.to_string())
    }
}
