//! Stage 3: sudo impersonation and tenant selection (HENGSHI BI's model), with an audit trail.
//!
//! A trusted caller — a principal holding the `sudo` scope (or, for Basic users, the `sudo`
//! role) — acts as another user with `sudo=<selector>:<value>`:
//!
//! | selector | compared |
//! | --- | --- |
//! | `uid:<id>` | exactly |
//! | `loginName:<name>` | after [`canonical_login`] (RFC 8265: width mapping, lower case, NFC) |
//! | `email:<addr>` | after [`canonical_email`] (domain case-insensitive) |
//! | `mobile:<number>` | after [`canonical_mobile`] (`+` and digits) |
//! | `username:<name>` | deprecated alias of `loginName`: answered with a `Warning` header |
//!
//! Selectors are case-sensitive (`UID:42` is an unknown selector: 400). `tenantId=<id>` or
//! `tenantCode=<code>` selects the tenant the request operates in; only a *user* (see
//! [`PrincipalKind`](crate::principal::PrincipalKind)) can be a member, and sudo targets are
//! always users. Given both, they must name one tenant: a caller who belongs to a tenant one of
//! them names learns that they disagree (400), whatever the other names; anyone else gets the
//! one identical 403, so tenant pairs cannot be probed. Both come from the query
//! (`sudo`, `tenantId`, `tenantCode`) or from headers (`x-sudo`, `x-tenant-id`,
//! `x-tenant-code`), for gRPC and for clients that cannot add query parameters — never both.
//!
//! Query parameters are read as `application/x-www-form-urlencoded`, like axum's `Query` and
//! the seeds' Java servers read the rest of the query: `+` is a space and `%2B` a plus, so
//! send `sudo=email:a%2Bb@x.org`. They are decoded exactly once, strictly: a malformed escape
//! or invalid UTF-8 is a 400, so a handler never reads another value than the gatekeeper did.
//! Header values (`x-sudo`, `x-tenant-id`, `x-tenant-code`) are percent-decoded the same
//! strict way but are not forms: there `+` is a literal plus.
//!
//! The resulting [`Principal`]: `subject` is the effective user, `actor` the caller, and the
//! scopes are **the caller's scopes that the target user also holds**, without the sudo scope
//! itself (an impersonated principal never carries the privilege on). A token that already
//! carries an `act` claim cannot sudo again.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_gatekeeper::impersonate::{DirectoryUser, Impersonation, InMemoryDirectory};
//! use tower_gatekeeper::verify::JwtVerifier;
//! use tower_gatekeeper::{GatekeeperLayer, Principal};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let directory = InMemoryDirectory::new();
//! directory.insert_user(DirectoryUser::new("1001", "alice")).await.unwrap();
//! let verifier = JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap();
//! let app: Router = Router::new()
//!     .route("/me", get(|p: Principal| async move { p.subject().to_owned() }))
//!     .layer(GatekeeperLayer::builder(verifier).authorize(Impersonation::new(directory)).build());
//! # });
//! ```

mod audit;
mod directory;
mod query;
pub(crate) mod user_store;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use http::request::Parts;
use http::{HeaderName, HeaderValue};

#[cfg(feature = "issuer")]
pub(crate) use audit::AdminAudit;
pub use audit::{AUDIT_TARGET, AuditEvent, AuditKind, AuditOutcome, AuditSink, TracingAudit, mask};
pub use directory::{
    DirectoryError, DirectoryUser, InMemoryDirectory, Lookup, MAX_UID_LEN, TenantSelector,
    UserDirectory, UserError, UserSelector, canonical_email, canonical_login, canonical_mobile,
    is_valid_login,
};

#[cfg(feature = "basic")]
pub(crate) use directory::{check_names, set_disabled_in};

use crate::error::AuthError;
use crate::layer::{AddResponseHeaders, Authorize};
use crate::maybe_ready::MaybeReady;
use crate::principal::{Identity, Principal, Tenant};

struct Config {
    directory: Arc<dyn UserDirectory>,
    audit: Arc<dyn AuditSink>,
    sudo_scope: String,
    sudo_role: String,
    sudo_param: String,
    sudo_header: HeaderName,
    tenant_id_param: String,
    tenant_code_param: String,
    tenant_id_header: HeaderName,
    tenant_code_header: HeaderName,
}

/// The sudo and tenant stage; add it with
/// [`GatekeeperBuilder::authorize`](crate::GatekeeperBuilder::authorize), before any grant check.
#[derive(Clone)]
pub struct Impersonation {
    config: Arc<Config>,
}

impl std::fmt::Debug for Impersonation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Impersonation")
            .field("sudo_scope", &self.config.sudo_scope)
            .field("sudo_role", &self.config.sudo_role)
            .finish_non_exhaustive()
    }
}

impl Impersonation {
    /// Sudo and tenant selection against `directory`, with the default names and a
    /// [`TracingAudit`] sink.
    pub fn new(directory: impl UserDirectory) -> Self {
        Self::with_directory(Arc::new(directory))
    }

    /// Like [`new`](Self::new), with a shared directory.
    pub fn with_directory(directory: Arc<dyn UserDirectory>) -> Self {
        Self {
            config: Arc::new(Config {
                directory,
                audit: Arc::new(TracingAudit),
                sudo_scope: "sudo".into(),
                sudo_role: "sudo".into(),
                sudo_param: "sudo".into(),
                sudo_header: HeaderName::from_static("x-sudo"),
                tenant_id_param: "tenantId".into(),
                tenant_code_param: "tenantCode".into(),
                tenant_id_header: HeaderName::from_static("x-tenant-id"),
                tenant_code_header: HeaderName::from_static("x-tenant-code"),
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::get_mut(&mut self.config).expect("configure Impersonation before cloning it")
    }

    /// The scope that grants the sudo privilege (default `sudo`).
    pub fn sudo_scope(mut self, scope: impl Into<String>) -> Self {
        self.config_mut().sudo_scope = scope.into();
        self
    }

    /// The role that grants the sudo privilege to principals without scopes, such as Basic
    /// users (default `sudo`).
    pub fn sudo_role(mut self, role: impl Into<String>) -> Self {
        self.config_mut().sudo_role = role.into();
        self
    }

    /// The header carrying sudo requests (default `x-sudo`).
    ///
    /// # Panics
    /// When `name` is not a valid header name.
    pub fn sudo_header(mut self, name: &str) -> Self {
        self.config_mut().sudo_header = HeaderName::try_from(name).expect("invalid header name");
        self
    }

    /// The header (gRPC metadata key) carrying `tenantId` (default `x-tenant-id`).
    ///
    /// # Panics
    /// When `name` is not a valid header name.
    pub fn tenant_id_header(mut self, name: &str) -> Self {
        self.config_mut().tenant_id_header =
            HeaderName::try_from(name).expect("invalid header name");
        self
    }

    /// The header (gRPC metadata key) carrying `tenantCode` (default `x-tenant-code`).
    ///
    /// # Panics
    /// When `name` is not a valid header name.
    pub fn tenant_code_header(mut self, name: &str) -> Self {
        self.config_mut().tenant_code_header =
            HeaderName::try_from(name).expect("invalid header name");
        self
    }

    /// Where decisions are recorded (default [`TracingAudit`]).
    pub fn audit(mut self, sink: impl AuditSink) -> Self {
        self.config_mut().audit = Arc::new(sink);
        self
    }
}

/// What one request asks for.
struct Asked {
    sudo: Option<(UserSelector, bool)>,
    tenant: Option<TenantAsk>,
}

/// The tenant a request names, as the selectors the directory is asked with.
struct TenantAsk {
    id: Option<TenantSelector>,
    code: Option<TenantSelector>,
}

impl TenantAsk {
    fn shown(&self) -> String {
        fn value(s: &TenantSelector) -> &str {
            match s {
                TenantSelector::Id(v) | TenantSelector::Code(v) => v,
            }
        }
        mask(self.id.as_ref().or(self.code.as_ref()).map_or("", value))
    }
}

/// What the audit needs to know about the request: read only when the sink keeps some of the
/// stage's events ([`AuditSink::records`]).
#[derive(Clone)]
struct RequestFacts {
    request_id: Option<String>,
    method: String,
    path: String,
    actor: String,
    actor_client_id: Option<String>,
}

/// The request's facts for the events of one decision; `None` when no event is kept. Each
/// step that can record an event holds its own copy, which its event takes.
type Facts = Option<RequestFacts>;

/// Records one event, built by `fill`, if the sink keeps events of its kind and outcome.
fn audit_event(
    audit: &dyn AuditSink,
    facts: Facts,
    kind: AuditKind,
    outcome: AuditOutcome,
    reason: &'static str,
    fill: impl FnOnce(&mut AuditEvent),
) {
    if let Some(facts) = facts
        && audit.records(kind, outcome)
    {
        let mut event = facts.into_event(kind, outcome, reason);
        fill(&mut event);
        audit.record(&event);
    }
}

impl RequestFacts {
    fn into_event(
        self,
        kind: AuditKind,
        outcome: AuditOutcome,
        reason: &'static str,
    ) -> AuditEvent {
        AuditEvent {
            time: SystemTime::now(),
            request_id: self.request_id,
            kind,
            action: None,
            actor: self.actor,
            actor_client_id: self.actor_client_id,
            on_behalf_of: None,
            target_kind: None,
            target: None,
            api: None,
            tenant: None,
            method: self.method,
            path: self.path,
            outcome,
            reason,
        }
    }
}

/// How often a header occurs in a request.
#[derive(Clone, Copy)]
enum Occurs<'a> {
    Never,
    Once(&'a HeaderValue),
    Repeated,
}

/// A request with at most this many header values is scanned once for the stage's three
/// headers; a larger one is asked three times (each a hashed lookup of the name).
const SCAN_HEADERS_UP_TO: usize = 16;

/// Where the three headers occur: one pass over the request's headers for a usual request
/// (the three names of custom headers hashed byte by byte cost more than the scan), a
/// lookup per name for a request with many headers.
fn occurrences<'a>(parts: &'a Parts, names: [&HeaderName; 3]) -> [Occurs<'a>; 3] {
    let mut found = [Occurs::Never; 3];
    if parts.headers.len() <= SCAN_HEADERS_UP_TO {
        for (name, value) in &parts.headers {
            for (slot, wanted) in found.iter_mut().zip(names) {
                if name == wanted {
                    *slot = match *slot {
                        Occurs::Never => Occurs::Once(value),
                        _ => Occurs::Repeated,
                    };
                }
            }
        }
    } else {
        for (slot, name) in found.iter_mut().zip(names) {
            let mut values = parts.headers.get_all(name).iter();
            *slot = match (values.next(), values.next()) {
                (None, _) => Occurs::Never,
                (Some(v), None) => Occurs::Once(v),
                (Some(_), Some(_)) => Occurs::Repeated,
            };
        }
    }
    found
}

fn single_header<'a>(
    occurs: Occurs<'a>,
    name: &HeaderName,
) -> Result<Option<Cow<'a, str>>, AuthError> {
    match occurs {
        Occurs::Never => Ok(None),
        Occurs::Repeated => Err(AuthError::invalid_request(format!(
            "the {name} header is repeated"
        ))),
        // Percent-decoded (strictly, once), so non-ASCII values can travel in a header; a
        // header is not a form, so `+` stays a plus (RFC 3986 percent-decoding only).
        Occurs::Once(v) => v
            .to_str()
            .ok()
            .and_then(|s| query::decode(s.trim(), query::Plus::Literal))
            .map(Some)
            .ok_or_else(|| {
                AuthError::invalid_request(format!(
                    "the {name} header is not validly percent-encoded UTF-8"
                ))
            }),
    }
}

fn one_of<'a>(
    from_query: Option<Cow<'a, str>>,
    from_header: Option<Cow<'a, str>>,
    what: &str,
) -> Result<Option<Cow<'a, str>>, AuthError> {
    match (from_query, from_header) {
        (Some(_), Some(_)) => Err(AuthError::invalid_request(format!(
            "{what} is given in both the query and a header"
        ))),
        (q, h) => Ok(q.or(h)),
    }
}

/// Parses `kind:value`.
fn parse_selector(text: &str) -> Result<(UserSelector, bool), AuthError> {
    let bad = |why: &'static str| AuthError::invalid_request(why);
    let (kind, value) = text
        .split_once(':')
        .ok_or_else(|| bad("sudo must be <selector>:<value>"))?;
    if value.is_empty() {
        return Err(bad("the sudo value is empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("the sudo value contains control characters"));
    }
    let value = value.to_owned();
    Ok(match kind {
        "uid" => (UserSelector::Uid(value), false),
        "loginName" => (UserSelector::LoginName(value), false),
        "username" => (UserSelector::LoginName(value), true),
        "email" => (UserSelector::Email(value), false),
        "mobile" => (UserSelector::Mobile(value), false),
        _ => {
            return Err(bad(
                "unknown sudo selector (uid, loginName, email or mobile; case-sensitive)",
            ));
        }
    })
}

impl Impersonation {
    fn asked(&self, parts: &Parts) -> Result<Asked, AuthError> {
        let c = &self.config;
        let names = [
            c.sudo_param.as_str(),
            c.tenant_id_param.as_str(),
            c.tenant_code_param.as_str(),
        ];
        let [sudo_q, id_q, code_q] = query::scan(parts.uri.query(), names)?;
        let headers = [&c.sudo_header, &c.tenant_id_header, &c.tenant_code_header];
        let [sudo_h, id_h, code_h] = occurrences(parts, headers);
        let sudo = one_of(sudo_q, single_header(sudo_h, &c.sudo_header)?, "sudo")?;
        let id = one_of(id_q, single_header(id_h, &c.tenant_id_header)?, "tenantId")?;
        let code = one_of(
            code_q,
            single_header(code_h, &c.tenant_code_header)?,
            "tenantCode",
        )?;
        if id.as_deref() == Some("") || code.as_deref() == Some("") {
            return Err(AuthError::invalid_request("the tenant is empty"));
        }
        let sudo = match sudo {
            Some(text) => Some(parse_selector(&text)?),
            None => None,
        };
        let tenant = (id.is_some() || code.is_some()).then(|| TenantAsk {
            id: id.map(|id| TenantSelector::Id(id.into_owned())),
            code: code.map(|code| TenantSelector::Code(code.into_owned())),
        });
        Ok(Asked { sudo, tenant })
    }

    /// The sudo scope for token and key credentials; the sudo role for Basic users, whose
    /// credentials carry no scopes. A role claim in a token does not count.
    fn holds_privilege(&self, principal: &Principal) -> bool {
        let caller = principal.caller();
        match principal.credential().map(|c| c.scheme) {
            Some(crate::extract::Scheme::Basic) => caller.has_role(&self.config.sudo_role),
            _ => caller.has_scope(&self.config.sudo_scope),
        }
    }
}

impl Authorize for Impersonation {
    fn authorize(
        &self,
        principal: Principal,
        parts: &mut Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        // The common case: nothing asked, nothing to do.
        let asked = match self.asked(parts) {
            Ok(Asked {
                sudo: None,
                tenant: None,
            }) => return MaybeReady::Ready(Ok(principal)),
            Ok(asked) => asked,
            Err(e) => return MaybeReady::Ready(Err(e)),
        };
        let caller = principal.caller();
        // Read only if the sink keeps one of the events this decision can make.
        let audit = &*self.config.audit;
        let kept = [AuditKind::Sudo, AuditKind::Tenant]
            .into_iter()
            .any(|kind| {
                [AuditOutcome::Allowed, AuditOutcome::Denied]
                    .into_iter()
                    .any(|outcome| audit.records(kind, outcome))
            });
        let facts: Facts = kept.then(|| RequestFacts {
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            actor: caller.subject().to_owned(),
            actor_client_id: caller.client_id().map(str::to_owned),
        });
        if asked
            .sudo
            .as_ref()
            .is_some_and(|(_, deprecated)| *deprecated)
        {
            tracing::warn!(
                target: "tower_gatekeeper::deprecation",
                "sudo=username: is deprecated; use sudo=loginName:"
            );
            let mut headers = http::HeaderMap::new();
            headers.insert(
                http::header::WARNING,
                HeaderValue::from_static(
                    "299 - \"sudo=username: is deprecated; use sudo=loginName:\"",
                ),
            );
            // Keep what earlier stages asked for.
            match parts.extensions.get_mut::<AddResponseHeaders>() {
                Some(existing) => existing.0.extend(headers),
                None => {
                    parts.extensions.insert(AddResponseHeaders(headers));
                }
            }
        }
        // A tenant-bound credential operates in its tenant: under sudo without a tenant named,
        // the target must belong to the bound one.
        let mut tenant = asked.tenant;
        if tenant.is_none()
            && asked.sudo.is_some()
            && let Some(bound) = principal.caller().tenant()
        {
            tenant = Some(TenantAsk {
                id: Some(TenantSelector::Id(bound.id.clone())),
                code: None,
            });
        }
        // Copied only when both steps run (each records one event).
        let (sudo_facts, tenant_facts) = match (asked.sudo.is_some(), tenant.is_some()) {
            (true, true) => (facts.clone(), facts),
            (true, false) => (facts, None),
            (false, _) => (None, facts),
        };
        let this = self.clone();
        self.sudo(principal, asked.sudo, sudo_facts)
            .and_then(move |result| match result {
                Ok((principal, target)) => this.tenant(principal, tenant, target, tenant_facts),
                Err(e) => MaybeReady::Ready(Err(e)),
            })
    }

    fn requires_principal(&self) -> bool {
        // Anonymous requests in optional mode may pass; they cannot sudo or pick a tenant,
        // because this stage only runs for verified principals.
        false
    }
}

fn record_sudo_denied(
    facts: Facts,
    audit: &dyn AuditSink,
    selector: &UserSelector,
    reason: &'static str,
) {
    let (kind, outcome) = (AuditKind::Sudo, AuditOutcome::Denied);
    audit_event(audit, facts, kind, outcome, reason, |event| {
        event.target_kind = Some(selector.kind());
        event.target = Some(mask(selector.value()));
    });
}

impl Impersonation {
    /// Sudo, if asked: the effective principal, and the target's directory record when it
    /// was looked up by its own uid (the record a membership check reads).
    fn sudo(
        &self,
        principal: Principal,
        sudo: Option<(UserSelector, bool)>,
        facts: Facts,
    ) -> MaybeReady<Result<AfterSudo, AuthError>> {
        let Some((selector, _)) = sudo else {
            return MaybeReady::Ready(Ok((principal, None)));
        };
        let audit = self.config.audit.as_ref();
        if !self.holds_privilege(&principal) {
            // The same answer whatever the target: nothing is looked up.
            record_sudo_denied(
                facts,
                audit,
                &selector,
                "the caller lacks the sudo privilege",
            );
            return MaybeReady::Ready(Err(AuthError::insufficient_scope(
                self.config.sudo_scope.clone(),
            )));
        }
        if principal.actor().is_some() {
            record_sudo_denied(
                facts,
                audit,
                &selector,
                "the credential is already delegated",
            );
            return MaybeReady::Ready(Err(AuthError::forbidden(
                "a delegated credential cannot sudo again",
            )));
        }
        let lookup = self.config.directory.find_user(&selector);
        let this = self.clone();
        lookup.map(move |found| this.become_user(principal, &selector, found, facts))
    }

    fn become_user(
        &self,
        principal: Principal,
        selector: &UserSelector,
        found: Result<Option<Arc<DirectoryUser>>, DirectoryError>,
        facts: Facts,
    ) -> Result<AfterSudo, AuthError> {
        let audit = self.config.audit.as_ref();
        let user = match found {
            Err(e) => {
                record_sudo_denied(facts, audit, selector, "the user directory is unavailable");
                return Err(AuthError::unavailable(e.to_string()));
            }
            Ok(Some(user)) if !user.disabled => user,
            Ok(_) => {
                // Unknown and disabled targets get the identical answer.
                record_sudo_denied(facts, audit, selector, "the target is unknown or disabled");
                return Err(AuthError::forbidden(
                    "the sudo target is unknown or disabled",
                ));
            }
        };
        let caller = principal.caller();
        let scopes = caller
            .scopes()
            .iter()
            .filter(|s| **s != self.config.sudo_scope && user.scopes.contains(s))
            .cloned();
        let effective = Identity::new(user.uid.clone())
            .with_kind(crate::principal::PrincipalKind::User)
            .with_scopes(scopes.collect::<Vec<_>>())
            .with_roles(
                user.roles
                    .iter()
                    .filter(|r| **r != self.config.sudo_role)
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        let (kind, outcome) = (AuditKind::Sudo, AuditOutcome::Allowed);
        let reason = "the caller holds the sudo privilege";
        audit_event(audit, facts, kind, outcome, reason, |event| {
            event.target_kind = Some(selector.kind());
            event.target = Some(user.uid.clone());
        });
        // A lookup by e-mail or login name may answer a thinner record than one by uid: only
        // the latter stands for the membership lookup, and only if it is the record of the
        // uid asked (a directory may answer an alias with another user's record: the
        // membership is then looked up by the effective uid, as for the other selectors).
        let by_uid =
            matches!(selector, UserSelector::Uid(asked) if *asked == user.uid).then_some(user);
        Ok((principal.impersonating(effective), by_uid))
    }

    /// Tenant selection, if asked; `target` is the sudo target's record by uid, when sudo
    /// looked it up so.
    fn tenant(
        &self,
        principal: Principal,
        ask: Option<TenantAsk>,
        target: Option<Arc<DirectoryUser>>,
        facts: Facts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        let Some(ask) = ask else {
            return MaybeReady::Ready(Ok(principal));
        };
        let directory = &self.config.directory;
        let by_id = ask.id.as_ref().map(|id| directory.find_tenant(id));
        let by_code = ask.code.as_ref().map(|code| directory.find_tenant(code));
        // Only a user can be a member: a client or key owner whose id equals a uid is not that
        // user (separate namespaces, see `PrincipalKind`), and is answered as a non-member.
        // The sudo target's own record by uid when sudo has it (see `become_user`), else
        // looked up by uid: a directory may answer a lookup by e-mail or login name with a
        // thinner record than by uid.
        let member = if let Some(target) = target {
            MaybeReady::Ready(Ok(Some(target)))
        } else if principal.identity().is_user() {
            directory.find_user(&UserSelector::Uid(principal.subject().to_owned()))
        } else {
            MaybeReady::Ready(Ok(None))
        };
        let this = self.clone();
        join3(by_id, by_code, member).map(move |(by_id, by_code, member)| {
            this.select_tenant(principal, &ask, by_id, by_code, member, facts)
        })
    }

    fn select_tenant(
        &self,
        principal: Principal,
        ask: &TenantAsk,
        by_id: Option<Result<Option<Arc<Tenant>>, DirectoryError>>,
        by_code: Option<Result<Option<Arc<Tenant>>, DirectoryError>>,
        member: Result<Option<Arc<DirectoryUser>>, DirectoryError>,
        facts: Facts,
    ) -> Result<Principal, AuthError> {
        let audit = self.config.audit.as_ref();
        // Each path records one event: the denial takes the facts, or the allowed event does.
        let deny = |facts: Facts, reason: &'static str, error: AuthError| {
            let (kind, outcome) = (AuditKind::Tenant, AuditOutcome::Denied);
            audit_event(audit, facts, kind, outcome, reason, |event| {
                event.tenant = Some(ask.shown());
            });
            Err(error)
        };
        let (by_id, by_code, member) = match (by_id.transpose(), by_code.transpose(), member) {
            (Ok(a), Ok(b), Ok(m)) => (a.flatten(), b.flatten(), m),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                return deny(
                    facts,
                    "the user directory is unavailable",
                    AuthError::unavailable(e.to_string()),
                );
            }
        };
        let not_member = || AuthError::forbidden("the user does not belong to that tenant");
        let member_of = |t: &Tenant| member.as_ref().is_some_and(|u| u.in_tenant(&t.id));
        // A credential bound to a tenant may select only that one: any other tenant, a member's
        // or not, gets the 403 of an unknown tenant, so memberships elsewhere stay unseen.
        let bound = principal
            .identity()
            .tenant()
            .or(principal.caller().tenant())
            .map(|t| t.id.as_str());
        let may_learn = |t: &Tenant| member_of(t) && bound.is_none_or(|b| b == t.id);
        let tenant = match (ask.id.is_some(), ask.code.is_some(), by_id, by_code) {
            // Both given: they must name the same tenant.
            (true, true, Some(a), Some(b)) if a.id == b.id => a,
            // They do not (SPEC: a 400). Said only to a caller who belongs to a tenant one of
            // them names (and, for a credential bound to a tenant, only when that is the bound
            // one), whatever the other names (a tenant or nothing): such a caller learns only
            // that the other is not its tenant's id or code, which it knows. Anyone else gets
            // the identical 403 whether either exists, so pairs cannot be probed.
            (true, true, a, b)
                if a.as_deref().is_some_and(may_learn) || b.as_deref().is_some_and(may_learn) =>
            {
                return deny(
                    facts,
                    "tenantId and tenantCode disagree",
                    AuthError::invalid_request("tenantId and tenantCode name different tenants"),
                );
            }
            (true, true, _, _) => {
                return deny(
                    facts,
                    "tenantId and tenantCode do not name one tenant",
                    not_member(),
                );
            }
            (_, _, Some(t), None) | (_, _, None, Some(t)) => t,
            // Unknown tenant: the same answer as a tenant the user is not in.
            _ => return deny(facts, "the tenant is unknown", not_member()),
        };
        if let Some(bound) = principal
            .identity()
            .tenant()
            .or(principal.caller().tenant())
            && bound.id != tenant.id
        {
            // The same answer as an unknown tenant: a bound credential learns nothing about
            // which other tenants exist.
            return deny(
                facts,
                "the credential is bound to another tenant",
                not_member(),
            );
        }
        if !member.is_some_and(|u| u.in_tenant(&tenant.id)) {
            return deny(
                facts,
                "the user is not a member of the tenant",
                not_member(),
            );
        }
        let (kind, outcome) = (AuditKind::Tenant, AuditOutcome::Allowed);
        let reason = "the user is a member of the tenant";
        audit_event(audit, facts, kind, outcome, reason, |event| {
            event.tenant = Some(tenant.id.clone());
            if principal.actor().is_some() {
                event.target = Some(principal.subject().to_owned());
            }
        });
        Ok(principal.with_tenant(tenant))
    }
}

/// The principal after the sudo step, and the target's directory record if it was found by
/// uid.
type AfterSudo = (Principal, Option<Arc<DirectoryUser>>);

type Found<T> = Result<Option<Arc<T>>, DirectoryError>;
type TenantLookups = (
    Option<Found<Tenant>>,
    Option<Found<Tenant>>,
    Found<DirectoryUser>,
);

/// Waits for up to three lookups; ready at once when all of them are.
fn join3(
    a: Option<Lookup<Tenant>>,
    b: Option<Lookup<Tenant>>,
    c: Lookup<DirectoryUser>,
) -> MaybeReady<TenantLookups> {
    match (a, b, c) {
        (
            a @ (None | Some(MaybeReady::Ready(_))),
            b @ (None | Some(MaybeReady::Ready(_))),
            MaybeReady::Ready(c),
        ) => {
            let ready = |x: Option<Lookup<Tenant>>| match x {
                Some(MaybeReady::Ready(v)) => Some(v),
                _ => None,
            };
            MaybeReady::Ready((ready(a), ready(b), c))
        }
        (a, b, c) => MaybeReady::pending(async move {
            let a = match a {
                Some(x) => Some(x.await),
                None => None,
            };
            let b = match b {
                Some(x) => Some(x.await),
                None => None,
            };
            (a, b, c.await)
        }),
    }
}
