//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! The crate records into whatever recorder the application installs (a Prometheus exporter,
//! StatsD, OpenTelemetry...); with none installed, recording costs a few atomic loads. The
//! names are constants here, so dashboards and tests can refer to them:
//!
//! | name | kind | labels | moves when |
//! | --- | --- | --- | --- |
//! | [`gatekeeper_requests_allowed_total`](REQUESTS_ALLOWED) | counter | | the layer admits a request with a principal |
//! | [`gatekeeper_requests_anonymous_total`](REQUESTS_ANONYMOUS) | counter | | the layer passes a request on without one (optional mode, CORS preflight) |
//! | [`gatekeeper_requests_refused_total`](REQUESTS_REFUSED) | counter | `reason` | the layer refuses a request; `reason` is one of [`REASONS`] |
//! | [`gatekeeper_verification_duration_seconds`](VERIFICATION_SECONDS) | histogram | | a presented credential has been verified (or refused) by the layer's verifier, cache included |
//! | [`gatekeeper_cache_hits_total`](CACHE_HITS) | counter | | the verified-credential cache answers |
//! | [`gatekeeper_cache_misses_total`](CACHE_MISSES) | counter | | the cache is asked and the verifier must answer |
//! | [`gatekeeper_backend_errors_total`](BACKEND_ERRORS) | counter | `kind` | a store fails: `unavailable`, `format` (a record it cannot read) or `conflict` |
//! | [`gatekeeper_tokens_issued_total`](TOKENS_ISSUED) | counter | `format` | the issuer issues a token: `jwt` or `opaque` (feature `issuer`) |
//! | [`gatekeeper_tokens_revoked_total`](TOKENS_REVOKED) | counter | | the issuer revokes a live token (feature `issuer`) |
//!
//! Refusals made further in (an [`AuthorizeLayer`](crate::layer::AuthorizeLayer), a handler's
//! `AuthError`) are not counted: these counters describe the [`GatekeeperLayer`](crate::GatekeeperLayer)'s
//! own decisions.
//!
//! ```
//! use tower_gatekeeper::metrics;
//! assert_eq!(metrics::REQUESTS_REFUSED, "gatekeeper_requests_refused_total");
//! assert!(metrics::REASONS.contains(&"invalid_token"));
//! ```
//!
//! To serve them to Prometheus, install an exporter before building the layers, for example
//! `metrics_exporter_prometheus::PrometheusBuilder::new().with_http_listener(addr).install()`
//! (see `docs/observability.md`).

/// Counter: requests the layer admitted with a principal.
pub const REQUESTS_ALLOWED: &str = "gatekeeper_requests_allowed_total";
/// Counter: requests the layer passed on without a principal (optional mode, CORS preflight).
pub const REQUESTS_ANONYMOUS: &str = "gatekeeper_requests_anonymous_total";
/// Counter: requests the layer refused, labelled `reason` (one of [`REASONS`]).
pub const REQUESTS_REFUSED: &str = "gatekeeper_requests_refused_total";
/// Histogram, in seconds: how long the layer's verifier took to answer for a presented
/// credential (verified-credential cache included; body reads excluded).
pub const VERIFICATION_SECONDS: &str = "gatekeeper_verification_duration_seconds";
/// Counter: answers served by the verified-credential cache.
pub const CACHE_HITS: &str = "gatekeeper_cache_hits_total";
/// Counter: cache look-ups the verifier had to answer.
pub const CACHE_MISSES: &str = "gatekeeper_cache_misses_total";
/// Counter: store failures, labelled `kind` (`unavailable`, `format`, `conflict`).
pub const BACKEND_ERRORS: &str = "gatekeeper_backend_errors_total";
/// Counter: tokens issued, labelled `format` (`jwt`, `opaque`).
pub const TOKENS_ISSUED: &str = "gatekeeper_tokens_issued_total";
/// Counter: live tokens revoked.
pub const TOKENS_REVOKED: &str = "gatekeeper_tokens_revoked_total";

/// The values of the `reason` label of [`REQUESTS_REFUSED`], one per
/// [`ErrorKind`](crate::ErrorKind); the decision span's `reason` field uses the same names.
pub const REASONS: &[&str] = &[
    "missing_credential",
    "invalid_request",
    "invalid_token",
    "insufficient_scope",
    "forbidden",
    "payload_too_large",
    "request_timeout",
    "unavailable",
];
