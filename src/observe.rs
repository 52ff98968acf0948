//! What the crate tells the outside about its decisions: metrics (feature `metrics`) and the
//! verified-credential cache's answer for the decision span. Without the feature every
//! recording function is empty and inlined away.

use std::cell::Cell;

use crate::error::ErrorKind;

/// The name of a refusal kind: the `reason` of the decision span, the refusal event and the
/// `gatekeeper_requests_refused_total` counter (see `crate::metrics::REASONS`).
pub(crate) fn reason(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::MissingCredential => "missing_credential",
        ErrorKind::InvalidRequest => "invalid_request",
        ErrorKind::InvalidToken => "invalid_token",
        ErrorKind::InsufficientScope => "insufficient_scope",
        ErrorKind::Forbidden => "forbidden",
        ErrorKind::PayloadTooLarge => "payload_too_large",
        ErrorKind::RequestTimeout => "request_timeout",
        ErrorKind::Unavailable => "unavailable",
    }
}

/// What the verified-credential cache did for the credential verified last on this thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheUse {
    /// No cache was asked (none configured, switched off, or a credential it does not keep).
    None,
    /// The cache answered.
    Hit,
    /// The cache was asked and the verifier answered.
    Miss,
    /// The cache held the credential and its verifier's revalidation refused it (revoked,
    /// disabled, removed): neither a hit (nothing was admitted from the cache) nor a miss
    /// (the verifier was not asked again).
    Refused,
}

impl CacheUse {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Refused => "refused",
        }
    }
}

thread_local! {
    // Written by the cache while `Verifier::verify` runs, read by the layer right after that
    // synchronous call returns (a hit or a miss is decided before any waiting): no lock, no
    // allocation, and nothing shared between requests.
    static CACHE_USE: Cell<CacheUse> = const { Cell::new(CacheUse::None) };
}

/// Forgets the last cache answer (the layer, before it calls its verifier).
#[inline]
pub(crate) fn reset_cache_use() {
    CACHE_USE.with(|c| c.set(CacheUse::None));
}

/// What the cache did since [`reset_cache_use`].
#[inline]
pub(crate) fn take_cache_use() -> CacheUse {
    CACHE_USE.with(|c| c.replace(CacheUse::None))
}

/// A cache hit: remembered for the decision span, counted.
#[inline]
pub(crate) fn cache_hit() {
    CACHE_USE.with(|c| c.set(CacheUse::Hit));
    #[cfg(feature = "metrics")]
    ::metrics::counter!(crate::metrics::CACHE_HITS).increment(1);
}

/// A cache miss: remembered for the decision span, counted.
#[inline]
pub(crate) fn cache_miss() {
    CACHE_USE.with(|c| c.set(CacheUse::Miss));
    #[cfg(feature = "metrics")]
    ::metrics::counter!(crate::metrics::CACHE_MISSES).increment(1);
}

/// A kept answer refused on revalidation: remembered for the decision span (the refusal
/// itself is counted with the refused requests).
#[inline]
pub(crate) fn cache_refused() {
    CACHE_USE.with(|c| c.set(CacheUse::Refused));
}

/// The layer admitted a request with a principal.
#[inline]
pub(crate) fn allowed() {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(crate::metrics::REQUESTS_ALLOWED).increment(1);
}

/// The layer passed a request on without a principal.
#[inline]
pub(crate) fn anonymous() {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(crate::metrics::REQUESTS_ANONYMOUS).increment(1);
}

/// The layer refused a request.
#[inline]
pub(crate) fn refused(kind: ErrorKind) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(crate::metrics::REQUESTS_REFUSED, "reason" => reason(kind)).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = kind;
}

/// A store failed.
#[inline]
pub(crate) fn backend_error(kind: crate::store::StoreErrorKind) {
    #[cfg(feature = "metrics")]
    {
        use crate::store::StoreErrorKind;
        let kind = match kind {
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Format => "format",
            StoreErrorKind::Conflict => "conflict",
        };
        ::metrics::counter!(crate::metrics::BACKEND_ERRORS, "kind" => kind).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = kind;
}

/// The issuer issued a token in `format` (`jwt` or `opaque`).
#[cfg(feature = "issuer")]
#[inline]
pub(crate) fn token_issued(format: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(crate::metrics::TOKENS_ISSUED, "format" => format).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = format;
}

/// The issuer revoked a live token.
#[cfg(feature = "issuer")]
#[inline]
pub(crate) fn token_revoked() {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(crate::metrics::TOKENS_REVOKED).increment(1);
}

/// Times one verification for `gatekeeper_verification_duration_seconds`; empty (and free)
/// without the `metrics` feature.
#[derive(Clone, Copy)]
pub(crate) struct VerifyTimer {
    #[cfg(feature = "metrics")]
    start: std::time::Instant,
}

impl VerifyTimer {
    #[inline]
    pub(crate) fn start() -> Self {
        Self {
            #[cfg(feature = "metrics")]
            start: std::time::Instant::now(),
        }
    }

    /// The verifier answered.
    #[inline]
    pub(crate) fn done(self) {
        #[cfg(feature = "metrics")]
        ::metrics::histogram!(crate::metrics::VERIFICATION_SECONDS)
            .record(self.start.elapsed().as_secs_f64());
    }
}
