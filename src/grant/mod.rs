//! Stage 4: per-API grants and their lifecycle.
//!
//! Each protected API has an id. An app (OAuth client), user or API-key owner may call it only
//! while it holds a grant for that API whose validity has not ended: no grant, no access. A
//! grant is keyed by (API id, grantee kind, grantee id) — a [`Grantee`] — so client `1001`
//! and user `1001` never share one. Grants follow the
//! lifecycle of Huawei DataArts' "API authorize action":
//!
//! | action | who | effect |
//! | --- | --- | --- |
//! | authorize | provider | active at once until the given end; on an existing grant, renews — only to a later end |
//! | provider revoke | provider | takes effect no sooner than now + the notice period (2 days by default); works until then |
//! | app revoke | the app | ends at once |
//! | apply / apply to renew | the app | a request; nothing changes until the provider approves (or rejects) it |
//!
//! ```
//! use std::time::Duration;
//! use tower_gatekeeper::grant::{Access, GrantManager, Grantee, InMemoryGrantStore};
//! use tower_gatekeeper::clock::ManualClock;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = ManualClock::at_unix(1_700_000_000);
//! let grants = GrantManager::builder(InMemoryGrantStore::new())
//!     .apis(["orders"])
//!     .grantees([Grantee::client("app-1")])
//!     .clock(clock.clone())
//!     .build();
//!
//! let app = Grantee::client("app-1");
//! grants.authorize("orders", app, 1_700_000_000 + 30 * 86_400).await.unwrap();
//! assert_eq!(grants.access("orders", app).await.unwrap(), Access::Allowed);
//! // User `app-1` is another grantee: it holds nothing.
//! assert_eq!(grants.access("orders", Grantee::user("app-1")).await.unwrap(), Access::Missing);
//!
//! // The provider revokes: the app keeps access through the two days' notice.
//! grants.provider_revoke("orders", app, None).await.unwrap();
//! clock.advance(Duration::from_secs(2 * 86_400 - 1));
//! assert_eq!(grants.access("orders", app).await.unwrap(), Access::Allowed);
//! clock.advance(Duration::from_secs(1));
//! assert_eq!(grants.access("orders", app).await.unwrap(), Access::Ended);
//! # });
//! ```

mod check;
mod manager;
mod model;
#[cfg(feature = "redis")]
mod redis_store;
mod store;

#[cfg(feature = "issuer")]
mod admin;

pub use check::{ApiRoute, ApiTable, GrantCheck, MatchedApi, is_canonical_path};
pub use manager::{GrantManager, GrantManagerBuilder};
pub use model::{Access, Grant, GrantAction, GrantError, GrantState, Grantee, transition};
pub use store::{GrantStore, GrantUpdate, InMemoryGrantStore};

#[cfg(feature = "redis")]
pub use redis_store::RedisGrantStore;

#[cfg(feature = "issuer")]
pub use admin::GrantAdmin;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The default notice period of a provider revocation: two days.
pub const DEFAULT_NOTICE_SECS: u64 = 2 * 24 * 3600;

/// Formats Unix seconds as RFC 3339 (UTC).
pub fn format_time(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix_seconds.to_string())
}

/// Parses an RFC 3339 time (any offset) into Unix seconds; `None` when malformed or before 1970.
///
/// ```
/// use tower_gatekeeper::grant::parse_time;
/// assert_eq!(parse_time("2030-01-01T08:00:00+08:00"), Some(1_893_456_000));
/// assert_eq!(parse_time("tomorrow"), None);
/// ```
pub fn parse_time(text: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}
