//! Time, as the pipeline sees it.
//!
//! Every time-dependent decision (token expiry, `nbf`, grant validity) reads a [`Clock`], so
//! tests can move time without sleeping and a provider can pin time in replays.
//!
//! ```
//! use std::time::Duration;
//! use tower_gatekeeper::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::at_unix(1_700_000_000);
//! clock.advance(Duration::from_secs(90));
//! assert_eq!(clock.unix_seconds(), 1_700_000_090);
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time in whole seconds since the Unix epoch (0 before 1970).
    fn unix_seconds(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// The operating system's wall clock. The default everywhere.
///
/// [`unix_seconds`](Clock::unix_seconds), the reading every expiry decision uses, is taken from
/// the kernel's coarse real-time clock where there is one (Linux `CLOCK_REALTIME_COARSE`: a few
/// nanoseconds instead of the tens a precise reading costs, and at most one timer tick — a few
/// milliseconds — behind it). While the layer decides on one request, every reader gets the
/// same second: the clock is read once per request, however many stages ask.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn unix_seconds(&self) -> u64 {
        REQUEST_SECONDS.with(|pinned| {
            let seen = pinned.get();
            if seen < NOT_READ {
                return seen;
            }
            let now = coarse_unix_seconds();
            if seen == NOT_READ {
                pinned.set(now);
            }
            now
        })
    }
}

/// Whole seconds since the epoch, from the cheapest clock that is good to the second.
#[cfg(target_os = "linux")]
fn coarse_unix_seconds() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    u64::try_from(now.tv_sec).unwrap_or(0)
}

#[cfg(not(target_os = "linux"))]
fn coarse_unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Outside a request's decision.
const OUTSIDE: u64 = u64::MAX;
/// Inside one, before anything read the clock.
const NOT_READ: u64 = u64::MAX - 1;

thread_local! {
    /// The second [`SystemClock`] answered during the current request's synchronous decision.
    static REQUEST_SECONDS: std::cell::Cell<u64> = const { std::cell::Cell::new(OUTSIDE) };
}

/// While alive, [`SystemClock::unix_seconds`] on this thread answers the second it first read:
/// the layer holds one for the synchronous part of each request's decision (no `await` happens
/// inside it, so no other request can run in between).
pub(crate) struct RequestTime {
    previous: u64,
}

impl RequestTime {
    pub(crate) fn enter() -> Self {
        Self {
            previous: REQUEST_SECONDS.with(|pinned| pinned.replace(NOT_READ)),
        }
    }
}

impl Drop for RequestTime {
    fn drop(&mut self) {
        REQUEST_SECONDS.with(|pinned| pinned.set(self.previous));
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// Meant for tests and demos: set it, advance it, and every component holding a clone sees the
/// new time at once.
#[derive(Debug, Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock showing `unix_seconds` seconds after the epoch.
    pub fn at_unix(unix_seconds: u64) -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(unix_seconds.saturating_mul(1_000_000_000))),
        }
    }

    /// A clock that starts at the current wall-clock time.
    pub fn starting_now() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            nanos: Arc::new(AtomicU64::new(now.as_nanos() as u64)),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }

    /// Sets the clock to `unix_seconds` seconds after the epoch.
    pub fn set_unix(&self, unix_seconds: u64) {
        self.nanos
            .store(unix_seconds.saturating_mul(1_000_000_000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }

    fn unix_seconds(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst) / 1_000_000_000
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }

    fn unix_seconds(&self) -> u64 {
        (**self).unix_seconds()
    }
}

/// A shared, dynamically typed clock.
pub type SharedClock = Arc<dyn Clock>;

pub(crate) fn system() -> SharedClock {
    Arc::new(SystemClock)
}
