//! The audit trail of sudo and tenant decisions.

use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A sudo (impersonation) request.
    Sudo,
    /// A tenant selection.
    Tenant,
}

/// Allowed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// The request goes on with the new identity or tenant.
    Allowed,
    /// The request was refused.
    Denied,
}

/// One sudo or tenant decision. Holds no credential; a denied target's value is masked.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    /// When it was decided.
    #[serde(serialize_with = "unix_seconds")]
    pub time: SystemTime,
    /// The request's `x-request-id`, if present.
    pub request_id: Option<String>,
    /// Sudo or tenant.
    pub kind: AuditKind,
    /// The caller's subject (who holds the credential).
    pub actor: String,
    /// The caller's client id, if an app.
    pub actor_client_id: Option<String>,
    /// The selector used (`uid`, `loginName`, `email`, `mobile`), for sudo.
    pub target_kind: Option<&'static str>,
    /// The effective user's uid when allowed; the masked value asked for when denied.
    pub target: Option<String>,
    /// The tenant id (allowed) or the masked value asked for (denied).
    pub tenant: Option<String>,
    /// The request method.
    pub method: String,
    /// The request path (without the query).
    pub path: String,
    /// Allowed or denied.
    pub outcome: AuditOutcome,
    /// Why.
    pub reason: &'static str,
}

fn unix_seconds<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(
        time.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// Receives audit events. The default, [`TracingAudit`], emits them as `tracing` events.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tower_gatekeeper::impersonate::{AuditEvent, AuditSink};
///
/// #[derive(Default)]
/// struct Collect(Mutex<Vec<AuditEvent>>);
/// impl AuditSink for Collect {
///     fn record(&self, event: &AuditEvent) {
///         self.0.lock().unwrap().push(event.clone());
///     }
/// }
/// ```
pub trait AuditSink: Send + Sync + 'static {
    /// Records one decision; called before the handler runs.
    fn record(&self, event: &AuditEvent);
}

impl<S: AuditSink + ?Sized> AuditSink for std::sync::Arc<S> {
    fn record(&self, event: &AuditEvent) {
        (**self).record(event)
    }
}

/// Emits each decision as one `tracing` event at target `tower_gatekeeper::audit`
/// (level INFO when allowed, WARN when denied).
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAudit;

/// The `tracing` target of audit events.
pub const AUDIT_TARGET: &str = "tower_gatekeeper::audit";

impl AuditSink for TracingAudit {
    fn record(&self, e: &AuditEvent) {
        let time = e
            .time
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        macro_rules! emit {
            ($level:ident) => {
                tracing::$level!(
                    target: "tower_gatekeeper::audit",
                    time,
                    request_id = e.request_id.as_deref(),
                    kind = ?e.kind,
                    actor = %e.actor,
                    actor_client_id = e.actor_client_id.as_deref(),
                    target_kind = e.target_kind,
                    target = e.target.as_deref(),
                    tenant = e.tenant.as_deref(),
                    method = %e.method,
                    path = %e.path,
                    outcome = ?e.outcome,
                    reason = e.reason,
                    "{} {}",
                    match e.kind { AuditKind::Sudo => "sudo", AuditKind::Tenant => "tenant" },
                    match e.outcome { AuditOutcome::Allowed => "allowed", AuditOutcome::Denied => "denied" },
                )
            };
        }
        match e.outcome {
            AuditOutcome::Allowed => emit!(info),
            AuditOutcome::Denied => emit!(warn),
        }
    }
}

/// Masks a value for logs: its first character, `***`, and an e-mail's domain.
///
/// ```
/// use tower_gatekeeper::impersonate::mask;
/// assert_eq!(mask("alice@example.com"), "a***@example.com");
/// assert_eq!(mask("13800138000"), "1***");
/// assert_eq!(mask(""), "***");
/// ```
pub fn mask(value: &str) -> String {
    let first: String = value.chars().take(1).collect();
    match value.rsplit_once('@') {
        Some((_, domain)) => format!("{first}***@{domain}"),
        None => format!("{first}***"),
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", serde_json::to_string(self).unwrap_or_default())
    }
}
