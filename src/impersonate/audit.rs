//! The audit trail: sudo and tenant decisions, and the admin services' grant and account
//! changes, all through one [`AuditSink`].

use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditKind {
    /// A sudo (impersonation) request.
    Sudo,
    /// A tenant selection.
    Tenant,
    /// A grant change through [`GrantAdmin`](crate::grant::GrantAdmin): authorize, revoke,
    /// apply, renew, approve, reject ([`AuditEvent::action`] says which).
    Grant,
    /// An account change through the issuer's `AccountAdmin` (feature `issuer`): clients and
    /// users created, disabled, enabled, secrets rotated ([`AuditEvent::action`] says which).
    Account,
}

impl AuditKind {
    /// `sudo`, `tenant`, `grant` or `account`, as in the JSON form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sudo => "sudo",
            Self::Tenant => "tenant",
            Self::Grant => "grant",
            Self::Account => "account",
        }
    }
}

/// Allowed, denied, or allowed but not done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// The request goes on with the new identity or tenant; the admin change was made.
    Allowed,
    /// The request was refused: the caller may not do this.
    Denied,
    /// An admin change the caller may make, which was not made: an unknown account, a taken
    /// id, a broken grant lifecycle rule, a store that is down. [`AuditEvent::reason`] says
    /// which.
    Failed,
}

impl AuditOutcome {
    /// `allowed`, `denied` or `failed`, as in the JSON form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// One audited decision: a sudo or tenant decision of the
/// [`Impersonation`](super::Impersonation) stage, or an admin service's change. Holds no
/// credential, no password and no client secret; a denied sudo or tenant target's value is
/// masked.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    /// When it was decided.
    #[serde(serialize_with = "unix_seconds")]
    pub time: SystemTime,
    /// The request's `x-request-id`, if present.
    pub request_id: Option<String>,
    /// Sudo, tenant, grant or account.
    pub kind: AuditKind,
    /// What was asked, for admin changes (`None` for sudo and tenant): for
    /// [`AuditKind::Grant`] `authorize`, `provider_revoke`, `app_revoke`, `apply`, `renew`,
    /// `approve`, `reject`; for [`AuditKind::Account`] `create_client`, `disable_client`,
    /// `enable_client`, `rotate_client_secret`, `create_user`, `disable_user`, `enable_user`.
    pub action: Option<&'static str>,
    /// The caller's subject (who holds the credential; under sudo, the actor, not the
    /// impersonated user). For admin changes, the administrator (or the grantee acting on its
    /// own grant).
    pub actor: String,
    /// The caller's client id, if an app.
    pub actor_client_id: Option<String>,
    /// For admin changes made under sudo or with a delegated token (RFC 8693 `act`): the
    /// effective subject, whose scopes authorized the change; `None` when the caller acted as
    /// itself (and for sudo and tenant records, whose `target` says it).
    pub on_behalf_of: Option<String>,
    /// For sudo, the selector used (`uid`, `loginName`, `email`, `mobile`); for a grant, the
    /// grantee's kind (`client`, `user`, `api_key_owner`); for an account, `client` or `user`.
    pub target_kind: Option<&'static str>,
    /// For sudo, the effective user's uid when allowed and the masked value asked for when
    /// denied; for a grant, the grantee's id; for an account, the client id or uid.
    pub target: Option<String>,
    /// The API of a grant change.
    pub api: Option<String>,
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

    /// Whether an event of this kind and outcome would be kept: when `false`, the
    /// [`Impersonation`](super::Impersonation) stage builds no such event and calls no
    /// [`record`](Self::record) for it. The default keeps everything; [`TracingAudit`] answers
    /// whether a `tracing` subscriber wants the event's level at [`AUDIT_TARGET`], so a service
    /// whose subscriber filters the audit target out pays nothing for the trail (before any
    /// subscriber is set it keeps everything, which may still reach `log`).
    ///
    /// ```
    /// use tower_gatekeeper::impersonate::{AuditEvent, AuditKind, AuditOutcome, AuditSink};
    ///
    /// /// Keeps refusals only.
    /// struct Denials;
    /// impl AuditSink for Denials {
    ///     fn record(&self, event: &AuditEvent) {
    ///         assert_ne!(event.outcome, AuditOutcome::Allowed);
    ///     }
    ///     fn records(&self, _kind: AuditKind, outcome: AuditOutcome) -> bool {
    ///         outcome != AuditOutcome::Allowed
    ///     }
    /// }
    /// assert!(!Denials.records(AuditKind::Sudo, AuditOutcome::Allowed));
    /// ```
    fn records(&self, kind: AuditKind, outcome: AuditOutcome) -> bool {
        let _ = (kind, outcome);
        true
    }
}

impl<S: AuditSink + ?Sized> AuditSink for std::sync::Arc<S> {
    fn record(&self, event: &AuditEvent) {
        (**self).record(event)
    }

    fn records(&self, kind: AuditKind, outcome: AuditOutcome) -> bool {
        (**self).records(kind, outcome)
    }
}

/// Emits each decision as one `tracing` event at target `tower_gatekeeper::audit` (level INFO
/// when allowed, WARN when denied or failed), with the event's fields and a message such as
/// `sudo allowed` or `grant approve denied`.
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
                    action = e.action,
                    actor = %e.actor,
                    actor_client_id = e.actor_client_id.as_deref(),
                    on_behalf_of = e.on_behalf_of.as_deref(),
                    target_kind = e.target_kind,
                    target = e.target.as_deref(),
                    api = e.api.as_deref(),
                    tenant = e.tenant.as_deref(),
                    method = %e.method,
                    path = %e.path,
                    outcome = ?e.outcome,
                    reason = e.reason,
                    "{} {}{}{}",
                    e.kind.as_str(),
                    e.action.unwrap_or(""),
                    if e.action.is_some() { " " } else { "" },
                    e.outcome.as_str(),
                )
            };
        }
        match e.outcome {
            AuditOutcome::Allowed => emit!(info),
            AuditOutcome::Denied | AuditOutcome::Failed => emit!(warn),
        }
    }

    fn records(&self, _kind: AuditKind, outcome: AuditOutcome) -> bool {
        // Before any subscriber is set, events may still reach `log` (tracing's `log`
        // feature): keep them.
        if !tracing::dispatcher::has_been_set() {
            return true;
        }
        match outcome {
            AuditOutcome::Allowed => {
                tracing::enabled!(target: "tower_gatekeeper::audit", tracing::Level::INFO)
            }
            AuditOutcome::Denied | AuditOutcome::Failed => {
                tracing::enabled!(target: "tower_gatekeeper::audit", tracing::Level::WARN)
            }
        }
    }
}

/// One admin change on its way to the sink: who asks, what, on which target. Built when the
/// change is known, recorded once with its outcome.
#[cfg(feature = "issuer")]
pub(crate) struct AdminAudit {
    event: AuditEvent,
}

#[cfg(feature = "issuer")]
impl AdminAudit {
    /// A change of `kind` (`action`) asked by `principal`'s caller in the request `parts`.
    pub(crate) fn new(
        kind: AuditKind,
        action: &'static str,
        principal: &crate::principal::Principal,
        parts: &http::request::Parts,
    ) -> Self {
        // Under sudo the actor is the caller; with a delegated token, its `act` party. Either
        // way the change used the effective subject's scopes: say so.
        let (actor, actor_client_id, on_behalf_of) = match principal.actor() {
            Some(actor) => (
                actor.subject,
                actor.client_id,
                Some(principal.subject().to_owned()),
            ),
            None => {
                let caller = principal.caller();
                (
                    caller.subject().to_owned(),
                    caller.client_id().map(str::to_owned),
                    None,
                )
            }
        };
        Self {
            event: AuditEvent {
                time: SystemTime::now(),
                request_id: parts
                    .headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                kind,
                action: Some(action),
                actor,
                actor_client_id,
                on_behalf_of,
                target_kind: None,
                target: None,
                api: None,
                tenant: principal.tenant().map(|t| t.id.clone()),
                method: parts.method.as_str().to_owned(),
                path: parts.uri.path().to_owned(),
                outcome: AuditOutcome::Denied,
                reason: "",
            },
        }
    }

    /// The account or grantee changed.
    pub(crate) fn target(mut self, kind: &'static str, id: &str) -> Self {
        self.event.target_kind = Some(kind);
        self.event.target = Some(id.to_owned());
        self
    }

    /// The API of a grant.
    pub(crate) fn api(mut self, api: &str) -> Self {
        self.event.api = Some(api.to_owned());
        self
    }

    /// Sends the record, with its outcome and why.
    pub(crate) fn record(
        mut self,
        sink: &dyn AuditSink,
        outcome: AuditOutcome,
        reason: &'static str,
    ) {
        self.event.outcome = outcome;
        self.event.reason = reason;
        sink.record(&self.event);
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
