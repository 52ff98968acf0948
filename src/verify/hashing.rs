//! A bound on expensive password work (argon2): how many run at once, how many may wait, and
//! for how long.
//!
//! Every argon2 check costs about 19 MiB of memory and tens of milliseconds of a core, on
//! purpose. Unbounded, a flood of bad credentials (random client ids, unknown user names) runs
//! one check per request at once and grows the process by gigabytes. A [`HashingPool`] lets
//! `permits` checks run at once (one per core by default), lets a short queue wait for a
//! permit, and refuses everyone else at once ([`HashingBusy`]); callers answer 503.
//!
//! The memory each check needs is taken from a small stash of reusable buffers, so peak and
//! retained memory stay near `permits × argon2 memory` however long a flood lasts.

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::Block;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why password work was refused: the pool is saturated (answer 503 and ask the caller to try
/// again later), or the work itself failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashingBusy {
    /// Every permit is taken and the queue is full: refused without waiting.
    QueueFull,
    /// The caller waited for a permit for the pool's maximum wait, and none came free.
    WaitedTooLong,
    /// The work panicked or its thread was lost.
    Failed,
}

impl fmt::Display for HashingBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::QueueFull => "too many password checks are running; try again shortly",
            Self::WaitedTooLong => "the password check waited too long; try again shortly",
            Self::Failed => "the password check failed",
        })
    }
}

impl std::error::Error for HashingBusy {}

struct PoolInner {
    semaphore: Arc<Semaphore>,
    permits: usize,
    queue: usize,
    max_wait: Duration,
    waiting: AtomicUsize,
}

/// Bounds expensive password work (argon2 checks and hashes): at most `permits` run at once
/// (on tokio's blocking pool), at most `queue` more wait for a permit, none waits longer than
/// `max_wait`; past that, [`HashingBusy`].
///
/// Clones share one bound. [`HashingPool::shared`] is the process-wide default that the token
/// endpoint and [`BasicVerifier`](super::BasicVerifier) use unless given another, so that all
/// password work of a process shares one bound sized to its cores.
///
/// A permit is held by the work itself, not by the waiting request: a caller that goes away
/// mid-check does not free its permit before the check ends, so the bound holds when a flood's
/// clients disconnect.
///
/// The maximum wait needs a tokio runtime with timers (`#[tokio::main]`, `Runtime::new` and
/// `#[tokio::test]` have them). Outside a tokio runtime, work runs on the caller's thread and
/// waits for a permit without a deadline (the queue is still bounded).
///
/// ```
/// use std::time::Duration;
/// use tower_gatekeeper::verify::{HashingBusy, HashingPool};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let pool = HashingPool::builder()
///     .permits(2)
///     .queue(4)
///     .max_wait(Duration::from_millis(500))
///     .build();
/// let answer: Result<u32, HashingBusy> = pool.run(|| 6 * 7).await;
/// assert_eq!(answer, Ok(42));
/// # });
/// ```
#[derive(Clone)]
pub struct HashingPool {
    inner: Arc<PoolInner>,
}

impl fmt::Debug for HashingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashingPool")
            .field("permits", &self.inner.permits)
            .field("queue", &self.inner.queue)
            .field("max_wait", &self.inner.max_wait)
            .field("available", &self.available())
            .finish()
    }
}

impl Default for HashingPool {
    /// A new pool with the default bounds (see [`HashingPoolBuilder`]); it does not share the
    /// bound of [`HashingPool::shared`].
    fn default() -> Self {
        Self::builder().build()
    }
}

/// Builds a [`HashingPool`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HashingPoolBuilder {
    permits: usize,
    queue: Option<usize>,
    max_wait: Duration,
}

impl HashingPoolBuilder {
    /// How many checks run at once (default: the number of cores,
    /// `std::thread::available_parallelism`); at least 1. Peak memory is about
    /// `permits × 19 MiB` with argon2's default parameters.
    pub fn permits(mut self, permits: usize) -> Self {
        self.permits = permits.max(1);
        self
    }

    /// How many callers may wait for a permit (default: 4 × permits); one more is refused at
    /// once. 0 refuses whenever every permit is taken.
    pub fn queue(mut self, waiting: usize) -> Self {
        self.queue = Some(waiting);
        self
    }

    /// How long a caller waits for a permit before it is refused (default 2 s).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Builds the pool.
    pub fn build(self) -> HashingPool {
        HashingPool {
            inner: Arc::new(PoolInner {
                semaphore: Arc::new(Semaphore::new(self.permits)),
                permits: self.permits,
                queue: self.queue.unwrap_or(self.permits * 4),
                max_wait: self.max_wait,
                waiting: AtomicUsize::new(0),
            }),
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Counts a waiting caller for as long as it waits (also when its future is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashingPool {
    /// Starts a pool with the default bounds: one permit per core, a queue of 4 × permits, a
    /// maximum wait of 2 s.
    pub fn builder() -> HashingPoolBuilder {
        HashingPoolBuilder {
            permits: cores(),
            queue: None,
            max_wait: Duration::from_secs(2),
        }
    }

    /// The process-wide pool (default bounds), shared by every verifier and endpoint that was
    /// not given a pool of its own.
    pub fn shared() -> HashingPool {
        static SHARED: OnceLock<HashingPool> = OnceLock::new();
        SHARED.get_or_init(HashingPool::default).clone()
    }

    /// How many checks may run at once.
    pub fn permits(&self) -> usize {
        self.inner.permits
    }

    /// How many callers may wait for a permit.
    pub fn queue(&self) -> usize {
        self.inner.queue
    }

    /// How long a caller waits for a permit at most.
    pub fn max_wait(&self) -> Duration {
        self.inner.max_wait
    }

    /// How many permits are free now.
    pub fn available(&self) -> usize {
        self.inner.semaphore.available_permits()
    }

    /// How many callers are waiting for a permit now.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::Acquire)
    }

    async fn acquire(&self) -> Result<OwnedSemaphorePermit, HashingBusy> {
        let inner = &self.inner;
        if let Ok(permit) = inner.semaphore.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = inner.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&inner.waiting);
        if ahead >= inner.queue {
            return Err(HashingBusy::QueueFull);
        }
        let acquire = inner.semaphore.clone().acquire_owned();
        match with_deadline(acquire, inner.max_wait).await {
            Some(Ok(permit)) => Ok(permit),
            // The semaphore is never closed.
            Some(Err(_)) => Err(HashingBusy::Failed),
            None => Err(HashingBusy::WaitedTooLong),
        }
    }

    /// Runs `work` under the bound, on tokio's blocking pool (on this thread outside a tokio
    /// runtime). The permit is released when `work` returns, even if the caller stopped
    /// waiting for it.
    pub async fn run<T, F>(&self, work: F) -> Result<T, HashingBusy>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.acquire().await?;
        let job = move || {
            let _permit = permit;
            work()
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(job)
                .await
                .map_err(|_| HashingBusy::Failed),
            Err(_) => Ok(job()),
        }
    }

    /// Runs `work` now on this thread if a permit is free, without waiting: for callers that
    /// cannot wait (no async context).
    pub fn try_run_now<T>(&self, work: impl FnOnce() -> T) -> Result<T, HashingBusy> {
        let _permit = self
            .inner
            .semaphore
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashingBusy::QueueFull)?;
        Ok(work())
    }

    /// Checks `password` against an argon2 PHC string under the bound; `Ok(false)` for a
    /// mismatch or a string that does not parse.
    ///
    /// ```
    /// use tower_gatekeeper::verify::{HashingPool, hash_password};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let phc = hash_password("correct horse").unwrap();
    /// let pool = HashingPool::shared();
    /// assert_eq!(pool.verify_password(&phc, "correct horse").await, Ok(true));
    /// assert_eq!(pool.verify_password(&phc, "wrong horse").await, Ok(false));
    /// # });
    /// ```
    pub async fn verify_password(
        &self,
        phc: impl AsRef<str>,
        password: impl Into<String>,
    ) -> Result<bool, HashingBusy> {
        let (phc, password): (Arc<str>, String) = (Arc::from(phc.as_ref()), password.into());
        self.run(move || super::basic::password_matches(&phc, &password))
            .await
    }
}

/// `future`, or `None` once `deadline` has passed (no deadline outside a tokio runtime).
pub(crate) async fn with_deadline<F: Future>(future: F, deadline: Duration) -> Option<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::time::timeout(deadline, future).await.ok()
    } else {
        Some(future.await)
    }
}

/// The most memory one argon2 check may take: 256 MiB (argon2's default takes 19 MiB). A PHC
/// string asking for more never matches, so no stored hash can make one check exhaust memory.
pub(crate) const MAX_ARGON2_BLOCKS: usize = 256 * 1024;

/// Reusable argon2 memory: at most this many buffers are kept between checks.
fn stash_limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| cores() * 2)
}

static STASH: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Runs `f` with `blocks` argon2 memory blocks taken from the stash (allocated when the stash
/// is empty) and puts them back after, so that repeated checks reuse a few buffers instead of
/// leaving freed 19 MiB chunks in every allocator arena of every thread they ran on.
pub(crate) fn with_argon2_memory<R>(blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    let taken = STASH.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut buffer = taken.unwrap_or_default();
    if buffer.len() < blocks {
        buffer.resize(blocks, Block::default());
    }
    let result = f(&mut buffer[..blocks]);
    let mut stash = STASH.lock().unwrap_or_else(|p| p.into_inner());
    if stash.len() < stash_limit() {
        stash.push(buffer);
    }
    result
}
