//! The decision span and the refusal event of a [`Gatekeeper`](super::Gatekeeper).
//!
//! One span per request the layer decides, opened as a child of the current span (tower-http's
//! `TraceLayer` `request` span when that layer is outside this one) and closed when the
//! decision is made, before the inner service is called. Its fields are declared empty and
//! recorded as the pipeline learns them, only when the span is enabled: a subscriber that is
//! not interested costs one callsite-interest check per request, no allocation (tower-http's
//! `DefaultMakeSpan` works the same way, one `span!` callsite per level).

use tracing::field::Empty;
use tracing::{Level, Span};

use super::service::Admitted;
use crate::error::AuthError;
use crate::observe::{self, CacheUse};
use crate::principal::{CredentialInfo, Principal};

/// The `tracing` target of the decision span and of refusal events.
pub const DECISION_TARGET: &str = "tower_gatekeeper::decision";

/// The name of the decision span.
pub const DECISION_SPAN: &str = "auth_decision";

/// The levels of the decision span and of refusal events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraceLevels {
    pub(crate) span: Level,
    pub(crate) refusal: Level,
}

impl Default for TraceLevels {
    fn default() -> Self {
        Self {
            span: Level::DEBUG,
            refusal: Level::DEBUG,
        }
    }
}

macro_rules! decision_span {
    ($level:expr) => {
        tracing::span!(
            target: "tower_gatekeeper::decision",
            $level,
            "auth_decision",
            outcome = Empty,
            reason = Empty,
            scheme = Empty,
            source = Empty,
            subject = Empty,
            actor = Empty,
            tenant = Empty,
            api = Empty,
            cache = Empty,
        )
    };
}

macro_rules! refusal_event {
    ($level:expr, $error:expr) => {
        tracing::event!(
            target: "tower_gatekeeper::decision",
            $level,
            reason = observe::reason($error.kind()),
            status = $error.status().as_u16(),
            description = $error.description(),
            "request refused",
        )
    };
}

impl TraceLevels {
    /// Opens the decision span (disabled when no subscriber wants it at this level).
    ///
    /// The level is checked first, against the most verbose level any subscriber enables
    /// (one atomic load): when none wants it, no callsite is consulted. That also skips the
    /// span's `log` records, which `tracing`'s `log` feature (on wherever axum's default
    /// `tower-log` is) would otherwise build for every request when no `tracing` subscriber is
    /// installed; refusal events still reach `log`.
    #[inline]
    pub(crate) fn span(&self) -> Span {
        if self.span > tracing::level_filters::STATIC_MAX_LEVEL
            || self.span > tracing::level_filters::LevelFilter::current()
        {
            return Span::none();
        }
        match self.span {
            Level::ERROR => decision_span!(Level::ERROR),
            Level::WARN => decision_span!(Level::WARN),
            Level::INFO => decision_span!(Level::INFO),
            Level::DEBUG => decision_span!(Level::DEBUG),
            _ => decision_span!(Level::TRACE),
        }
    }
}

/// How the credential was carried and what the cache did for it.
#[inline]
pub(crate) fn credential(span: &Span, carried: CredentialInfo, cache: CacheUse) {
    if span.is_disabled() {
        return;
    }
    span.record("scheme", carried.scheme.as_str());
    span.record("source", carried.source.as_str());
    span.record("cache", cache.as_str());
}

/// The verifier's answer: who holds the credential (before sudo), and the kind it verified.
#[inline]
pub(crate) fn verified(span: &Span, principal: &Principal) {
    if span.is_disabled() {
        return;
    }
    span.record("subject", principal.subject());
    if let Some(credential) = principal.credential() {
        span.record("scheme", credential.scheme.as_str());
    }
}

/// The request was admitted: counted, and the span says by whom and as whom.
#[inline]
pub(crate) fn admitted<B>(span: &Span, admitted: &Admitted<B>) {
    if !admitted.with_principal {
        observe::anonymous();
        span.record("outcome", "anonymous");
        return;
    }
    observe::allowed();
    if span.is_disabled() {
        return;
    }
    span.record("outcome", "allowed");
    let Some(principal) = admitted.request.extensions().get::<Principal>() else {
        return;
    };
    span.record("subject", principal.subject());
    let caller = principal.caller();
    if !std::ptr::eq(caller, principal.identity()) {
        // Sudo: the caller holding the credential acts as the subject.
        span.record("actor", caller.subject());
    } else if let Some(actor) = principal.identity().actor() {
        // A delegated token (RFC 8693 `act`).
        span.record("actor", actor.subject.as_str());
    }
    if let Some(tenant) = principal.tenant() {
        span.record("tenant", tenant.id.as_str());
    }
    if let Some(api) = principal.api() {
        span.record("api", api);
    }
}

/// The request was refused: counted, recorded on the span, and logged at `level` (inside the
/// span, so a subscriber shows its fields beside the event's).
#[inline]
pub(crate) fn refused(span: &Span, level: Level, error: &AuthError) {
    observe::refused(error.kind());
    if !span.is_disabled() {
        span.record("outcome", "refused");
        span.record("reason", observe::reason(error.kind()));
    }
    let _entered = span.enter();
    match level {
        Level::ERROR => refusal_event!(Level::ERROR, error),
        Level::WARN => refusal_event!(Level::WARN, error),
        Level::INFO => refusal_event!(Level::INFO, error),
        Level::DEBUG => refusal_event!(Level::DEBUG, error),
        _ => refusal_event!(Level::TRACE, error),
    }
}
