//! The grant record and its lifecycle, as pure functions: every store applies the same rules.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::principal::{Identity, PrincipalKind};

/// Who holds (or applies for) a grant: a kind and an id, borrowed. Client `1001` and user
/// `1001` are different grantees (see [`PrincipalKind`]).
///
/// Written `kind:id` in configuration and logs: `client:demo-app`, `user:1001`,
/// `api_key_owner:reporting-service`.
///
/// ```
/// use tower_gatekeeper::grant::Grantee;
/// use tower_gatekeeper::principal::PrincipalKind;
///
/// let g = Grantee::parse("user:1001").unwrap();
/// assert_eq!(g, Grantee::user("1001"));
/// assert_ne!(g, Grantee::client("1001"));
/// assert_eq!(g.to_string(), "user:1001");
/// assert_eq!(Grantee::parse("1001"), None); // the kind is required
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grantee<'a> {
    /// The grantee's kind.
    pub kind: PrincipalKind,
    /// The client id, uid or key owner's id.
    pub id: &'a str,
}

impl<'a> Grantee<'a> {
    /// A grantee of `kind`.
    pub const fn new(kind: PrincipalKind, id: &'a str) -> Self {
        Self { kind, id }
    }
    /// An app (OAuth client), by client id.
    pub const fn client(id: &'a str) -> Self {
        Self::new(PrincipalKind::Client, id)
    }
    /// A user, by uid.
    pub const fn user(id: &'a str) -> Self {
        Self::new(PrincipalKind::User, id)
    }
    /// An API key's owner, by its id.
    pub const fn api_key_owner(id: &'a str) -> Self {
        Self::new(PrincipalKind::ApiKeyOwner, id)
    }
    /// The grantee a verified identity is: its kind, and for a client its client id (else its
    /// subject).
    pub fn of(identity: &'a Identity) -> Self {
        let kind = identity.kind();
        let id = match kind {
            PrincipalKind::Client => identity.client_id().unwrap_or(identity.subject()),
            PrincipalKind::User | PrincipalKind::ApiKeyOwner => identity.subject(),
        };
        Self { kind, id }
    }
    /// Reads `kind:id` (`client:…`, `user:…`, `api_key_owner:…`); `None` without a known kind
    /// or with an empty id.
    pub fn parse(text: &'a str) -> Option<Self> {
        let (kind, id) = text.split_once(':')?;
        let kind = PrincipalKind::parse(kind)?;
        (!id.is_empty()).then_some(Self { kind, id })
    }
}

impl fmt::Display for Grantee<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

/// Where a grant is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    /// The app applied; nothing is granted until the provider approves.
    Pending,
    /// Granted until its end time.
    Active,
    /// The provider revoked it; it keeps working until the revocation takes effect.
    Revoking,
    /// Revoked by the app, revoked by the provider and taken effect, or rejected.
    Ended,
}

impl fmt::Display for GrantState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Revoking => "revoking",
            Self::Ended => "ended",
        })
    }
}

/// One app's (or user's) grant for one API. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The API.
    pub api_id: Arc<str>,
    /// The id of the app (client id), user (uid) or key owner holding the grant.
    pub grantee: Arc<str>,
    /// What kind of party [`grantee`](Self::grantee) names.
    pub grantee_kind: PrincipalKind,
    /// The lifecycle state.
    pub state: GrantState,
    /// When the grant became active.
    pub starts_at: Option<u64>,
    /// The end of validity (for a pending application: the end asked for). Access is allowed
    /// while `now < ends_at`.
    pub ends_at: u64,
    /// When a provider revocation takes effect.
    pub revoke_at: Option<u64>,
    /// The end asked for by a pending renewal, awaiting the provider's approval.
    pub renewal: Option<u64>,
}

/// Why a request is or is not allowed by its grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The grant is in force.
    Allowed,
    /// No grant exists.
    Missing,
    /// The application is awaiting approval.
    Pending,
    /// The grant's validity has ended.
    Expired,
    /// The grant was revoked (by the app, or by the provider with notice) or rejected.
    Ended,
}

impl Grant {
    /// The holder, as a [`Grantee`].
    pub fn holder(&self) -> Grantee<'_> {
        Grantee::new(self.grantee_kind, &self.grantee)
    }

    /// Whether the grant lets its holder call the API at `now`.
    pub fn access_at(&self, now: u64) -> Access {
        match self.state {
            GrantState::Pending => Access::Pending,
            GrantState::Ended => Access::Ended,
            GrantState::Active | GrantState::Revoking => {
                if self.revoke_at.is_some_and(|at| now >= at) {
                    Access::Ended
                } else if now >= self.ends_at {
                    Access::Expired
                } else {
                    Access::Allowed
                }
            }
        }
    }

    /// The state as seen at `now`: a revocation whose time has come reads as ended.
    pub fn state_at(&self, now: u64) -> GrantState {
        match self.state {
            GrantState::Revoking if self.revoke_at.is_some_and(|at| now >= at) => GrantState::Ended,
            state => state,
        }
    }
}

/// A lifecycle action (the `apply_type`s of Huawei DataArts' "API authorize action").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantAction {
    /// Provider: grant at once until `ends_at`; on an existing grant, renew (only extends).
    Authorize {
        /// The new end of validity.
        ends_at: u64,
    },
    /// Provider: revoke, taking effect at `effective_at` (default: now + notice), which may
    /// not be sooner than now + notice.
    ProviderRevoke {
        /// When the revocation takes effect.
        effective_at: Option<u64>,
    },
    /// App: revoke its own grant (or withdraw its application), at once.
    AppRevoke,
    /// App: apply for a grant until `ends_at`; takes effect on approval.
    Apply {
        /// The end of validity asked for.
        ends_at: u64,
    },
    /// App: apply to extend its grant to `ends_at`; takes effect on approval.
    ApplyRenew {
        /// The new end of validity asked for.
        ends_at: u64,
    },
    /// Provider: approve the pending application or renewal.
    Approve,
    /// Provider: reject the pending application or renewal.
    Reject,
}

impl GrantAction {
    /// Whether the provider performs this action (else the app does).
    pub fn is_provider_action(&self) -> bool {
        matches!(
            self,
            Self::Authorize { .. } | Self::ProviderRevoke { .. } | Self::Approve | Self::Reject
        )
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Authorize { .. } => "authorize",
            Self::ProviderRevoke { .. } => "provider revoke",
            Self::AppRevoke => "app revoke",
            Self::Apply { .. } => "apply",
            Self::ApplyRenew { .. } => "apply to renew",
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }
}

/// A lifecycle rule that an action broke, or a store that could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantError {
    /// The end time is not in the future.
    EndInPast,
    /// A renewal must end later than the current end.
    RenewMustExtend {
        /// The current end of validity.
        current_end: u64,
    },
    /// A provider revocation may not take effect before the notice period has passed.
    NoticeTooShort {
        /// The earliest allowed effective time.
        earliest: u64,
    },
    /// The action does not apply to a grant in this state.
    WrongState {
        /// The action.
        action: &'static str,
        /// The grant's state.
        state: GrantState,
    },
    /// There is no grant (or application) to act on.
    NoGrant,
    /// An application or renewal is already awaiting approval.
    AlreadyPending,
    /// There is nothing awaiting approval.
    NothingPending,
    /// The API is not known.
    UnknownApi,
    /// The app, user or key owner is not known (as a grantee of that kind).
    UnknownGrantee,
    /// The grant store could not be reached.
    Unavailable(String),
}

impl GrantError {
    /// A stable machine-readable code, e.g. `RENEW_MUST_EXTEND`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EndInPast => "END_IN_PAST",
            Self::RenewMustExtend { .. } => "RENEW_MUST_EXTEND",
            Self::NoticeTooShort { .. } => "NOTICE_TOO_SHORT",
            Self::WrongState { .. } => "WRONG_STATE",
            Self::NoGrant => "NO_GRANT",
            Self::AlreadyPending => "ALREADY_PENDING",
            Self::NothingPending => "NOTHING_PENDING",
            Self::UnknownApi => "UNKNOWN_API",
            Self::UnknownGrantee => "UNKNOWN_APP",
            Self::Unavailable(_) => "UNAVAILABLE",
        }
    }
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EndInPast => f.write_str("the end time must be in the future"),
            Self::RenewMustExtend { current_end } => {
                write!(
                    f,
                    "a renewal must end after the current end ({})",
                    super::format_time(*current_end)
                )
            }
            Self::NoticeTooShort { earliest } => write!(
                f,
                "a provider revocation takes effect no sooner than {}",
                super::format_time(*earliest)
            ),
            Self::WrongState { action, state } => {
                write!(f, "cannot {action} a grant that is {state}")
            }
            Self::NoGrant => f.write_str("there is no such grant"),
            Self::AlreadyPending => f.write_str("a request is already awaiting approval"),
            Self::NothingPending => f.write_str("nothing is awaiting approval"),
            Self::UnknownApi => f.write_str("the API is not known"),
            Self::UnknownGrantee => f.write_str("the grantee is not known"),
            Self::Unavailable(why) => write!(f, "the grant store is unavailable: {why}"),
        }
    }
}

impl std::error::Error for GrantError {}

/// Applies `action` to the current grant at `now`; `notice` is the provider's notice period
/// in seconds. Returns the new grant; the current one is untouched on error.
pub fn transition(
    api_id: &Arc<str>,
    grantee_kind: PrincipalKind,
    grantee: &Arc<str>,
    current: Option<&Grant>,
    action: GrantAction,
    now: u64,
    notice: u64,
) -> Result<Grant, GrantError> {
    // A revocation whose time has come is an ended grant, whatever was stored.
    let state = current.map(|g| g.state_at(now));
    let wrong = |state| GrantError::WrongState {
        action: action.name(),
        state,
    };
    let fresh = |state, ends_at| Grant {
        api_id: api_id.clone(),
        grantee: grantee.clone(),
        grantee_kind,
        state,
        starts_at: (state == GrantState::Active).then_some(now),
        ends_at,
        revoke_at: None,
        renewal: None,
    };
    match (action, current, state) {
        (
            GrantAction::Authorize { ends_at }
            | GrantAction::Apply { ends_at }
            | GrantAction::ApplyRenew { ends_at },
            _,
            _,
        ) if ends_at <= now => Err(GrantError::EndInPast),

        (GrantAction::Authorize { ends_at }, None, _)
        | (GrantAction::Authorize { ends_at }, _, Some(GrantState::Ended)) => {
            Ok(fresh(GrantState::Active, ends_at))
        }
        (GrantAction::Authorize { ends_at }, Some(g), Some(GrantState::Active)) => {
            if ends_at <= g.ends_at {
                return Err(GrantError::RenewMustExtend {
                    current_end: g.ends_at,
                });
            }
            let mut next = g.clone();
            next.ends_at = ends_at;
            // A pending renewal the provider's own renewal already covers is settled.
            next.renewal = g.renewal.filter(|r| *r > ends_at);
            Ok(next)
        }

        (GrantAction::ProviderRevoke { effective_at }, Some(g), Some(GrantState::Active)) => {
            let earliest = now.saturating_add(notice);
            let at = effective_at.unwrap_or(earliest);
            if at < earliest {
                return Err(GrantError::NoticeTooShort { earliest });
            }
            let mut next = g.clone();
            next.state = GrantState::Revoking;
            next.revoke_at = Some(at);
            next.renewal = None;
            Ok(next)
        }

        (
            GrantAction::AppRevoke,
            Some(g),
            Some(GrantState::Active | GrantState::Revoking | GrantState::Pending),
        ) => {
            let mut next = g.clone();
            next.state = GrantState::Ended;
            next.ends_at = next.ends_at.min(now);
            next.revoke_at = None;
            next.renewal = None;
            Ok(next)
        }

        (GrantAction::Apply { ends_at }, None, _)
        | (GrantAction::Apply { ends_at }, _, Some(GrantState::Ended)) => {
            Ok(fresh(GrantState::Pending, ends_at))
        }
        (GrantAction::Apply { .. }, _, Some(GrantState::Pending)) => {
            Err(GrantError::AlreadyPending)
        }

        (GrantAction::ApplyRenew { ends_at }, Some(g), Some(GrantState::Active)) => {
            if g.renewal.is_some() {
                return Err(GrantError::AlreadyPending);
            }
            if ends_at <= g.ends_at {
                return Err(GrantError::RenewMustExtend {
                    current_end: g.ends_at,
                });
            }
            let mut next = g.clone();
            next.renewal = Some(ends_at);
            Ok(next)
        }

        (GrantAction::Approve, Some(g), Some(GrantState::Pending)) => {
            if g.ends_at <= now {
                return Err(GrantError::EndInPast);
            }
            let mut next = g.clone();
            next.state = GrantState::Active;
            next.starts_at = Some(now);
            Ok(next)
        }
        (GrantAction::Approve, Some(g), Some(GrantState::Active)) => {
            let Some(renewal) = g.renewal else {
                return Err(GrantError::NothingPending);
            };
            if renewal <= g.ends_at {
                return Err(GrantError::RenewMustExtend {
                    current_end: g.ends_at,
                });
            }
            let mut next = g.clone();
            next.ends_at = renewal;
            next.renewal = None;
            Ok(next)
        }
        (GrantAction::Reject, Some(g), Some(GrantState::Pending)) => {
            let mut next = g.clone();
            next.state = GrantState::Ended;
            Ok(next)
        }
        (GrantAction::Reject, Some(g), Some(GrantState::Active)) if g.renewal.is_some() => {
            let mut next = g.clone();
            next.renewal = None;
            Ok(next)
        }
        (GrantAction::Approve | GrantAction::Reject, _, _) => Err(GrantError::NothingPending),

        (_, None, _) => Err(GrantError::NoGrant),
        (_, Some(_), Some(state)) => Err(wrong(state)),
        (_, Some(_), None) => Err(GrantError::NoGrant),
    }
}
