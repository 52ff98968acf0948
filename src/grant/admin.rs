//! The grant admin surface: a tower service speaking Huawei DataArts' "API authorize action".

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use serde::Deserialize;

use super::model::{Grant, GrantAction, GrantError, Grantee};
use super::{GrantManager, format_time, parse_time};
use crate::extract::read_limited;
use crate::impersonate::{AdminAudit, AuditKind, AuditOutcome, AuditSink, TracingAudit};
use crate::principal::{Principal, PrincipalKind};
use crate::service_util::{
    json_response, no_content, options_response, relative_path, with_allow, with_bearer_challenge,
    with_insufficient_scope_challenge,
};

const BODY_LIMIT: usize = 64 * 1024;

/// The grant admin service. Mount it behind a [`GatekeeperLayer`](crate::GatekeeperLayer): it
/// reads the caller's [`Principal`] from the request extensions.
///
/// | request | who | answer |
/// | --- | --- | --- |
/// | `POST {prefix}/authorize/action` `{"api_id","app_id","apply_type","time"}` | see below | 204 |
/// | `POST /v1/{project_id}/service/apis/authorize/action` (the same, Huawei DataArts' path) | see below | 204 |
/// | `POST {prefix}/authorize/approve` `{"api_id","app_id"}` | provider | 204 |
/// | `POST {prefix}/authorize/reject` `{"api_id","app_id"}` | provider | 204 |
/// | `GET {prefix}/grants?api_id=…` | provider | `{"grants":[…]}` |
/// | `GET {prefix}/grants?app_id=…` (or `user_id`, `key_owner_id`) | provider, or that grantee | `{"grants":[…]}` |
///
/// **The grantee.** As in Huawei DataArts, `app_id` names an app (an OAuth client). A user is
/// named with `user_id` (a uid) and an API key's owner with `key_owner_id`, instead of
/// `app_id`: exactly one of the three. Client `1001` and user `1001` are different grantees
/// (see [`Grantee`]). Huawei's `instance_id` is accepted and ignored (one gatekeeper serves one
/// instance), as is the `{project_id}` of its path; other unknown fields are ignored too.
///
/// `apply_type` is `APPLY_TYPE_AUTHORIZE` or `APPLY_TYPE_API_CANCEL_AUTHORIZE` (provider:
/// a principal with the admin scope, `grants:admin` by default), or
/// `APPLY_TYPE_APP_CANCEL_AUTHORIZE`, `APPLY_TYPE_APPLY`, `APPLY_TYPE_RENEW` (only the grantee
/// itself, with its own credential **of its kind**: a client's token for `app_id`, the user's
/// own credential for `user_id` — never a client whose id happens to equal the uid; under sudo,
/// the caller holding the credential counts, not the impersonated user). `time` is RFC 3339:
/// the end of validity, or when a provider revocation takes effect.
///
/// **The audit.** Every change asked for (an action, an approval, a rejection whose body
/// parses) is one [`AuditEvent`](crate::impersonate::AuditEvent) of kind
/// [`AuditKind::Grant`] in the [sink](Self::audit) (default [`TracingAudit`]): the caller
/// holding the credential, the action, the API and the grantee, and the outcome (allowed,
/// denied for the wrong caller, failed when the lifecycle or the store refused). Listing
/// grants is not a change and is not audited.
///
/// Errors are `{"error_code","error_msg"}`: 400 for a malformed request or a broken lifecycle
/// rule; 401 with `WWW-Authenticate: Bearer realm="…"` when no principal reached the service;
/// 403 for the wrong caller (with `WWW-Authenticate: Bearer realm="…",
/// error="insufficient_scope"` when it presented a bearer token, RFC 6750 §3); 404 for an unknown path; 405 with `Allow` for another method
/// (RFC 9110 §15.5.6); 413 for a body over 64 KiB; 503 when the store is down. `OPTIONS` is
/// answered 204 with `Allow` and needs no credential (a CORS preflight carries none).
///
/// ```
/// use axum::Router;
/// use tower_gatekeeper::grant::{GrantAdmin, GrantManager, InMemoryGrantStore};
///
/// let manager = GrantManager::builder(InMemoryGrantStore::new()).apis(["orders"]).build();
/// let admin = GrantAdmin::new(manager);
/// let app: Router = Router::new()
///     .nest_service("/admin/apis", admin.clone())
///     .route_service("/v1/{project_id}/service/apis/authorize/action", admin);
/// ```
#[derive(Clone)]
pub struct GrantAdmin {
    manager: GrantManager,
    prefix: Arc<str>,
    admin_scope: Arc<str>,
    realm: Arc<str>,
    audit: Arc<dyn AuditSink>,
}

impl fmt::Debug for GrantAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantAdmin")
            .field("prefix", &self.prefix)
            .field("admin_scope", &self.admin_scope)
            .finish_non_exhaustive()
    }
}

struct Failure {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    allow: Option<&'static str>,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }
    fn bad(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }
    fn forbidden(message: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }
}

impl From<GrantError> for Failure {
    fn from(e: GrantError) -> Self {
        let status = match e {
            GrantError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl Failure {
    fn into_response(self) -> Response<Full<Bytes>> {
        let response = json_response(
            self.status,
            &serde_json::json!({"error_code": self.code, "error_msg": self.message}),
        );
        match self.allow {
            Some(allow) => with_allow(response, allow),
            None => response,
        }
    }
}

#[derive(Deserialize)]
struct ActionBody {
    api_id: Option<String>,
    /// Huawei DataArts' instance id: accepted, not used (one gatekeeper, one instance).
    #[allow(dead_code)]
    instance_id: Option<serde_json::Value>,
    app_id: Option<String>,
    user_id: Option<String>,
    key_owner_id: Option<String>,
    apply_type: Option<String>,
    time: Option<String>,
}

fn required(value: Option<String>, name: &'static str) -> Result<String, Failure> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Failure::bad(format!("the field {name} is required")))
}

/// The field naming a grantee of `kind`.
fn id_field(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::Client => "app_id",
        PrincipalKind::User => "user_id",
        PrincipalKind::ApiKeyOwner => "key_owner_id",
    }
}

/// Exactly one of `app_id`, `user_id`, `key_owner_id`, non-empty.
fn one_grantee(
    app_id: Option<String>,
    user_id: Option<String>,
    key_owner_id: Option<String>,
) -> Result<(PrincipalKind, String), Failure> {
    let given: Vec<(PrincipalKind, String)> = [
        (PrincipalKind::Client, app_id),
        (PrincipalKind::User, user_id),
        (PrincipalKind::ApiKeyOwner, key_owner_id),
    ]
    .into_iter()
    .filter_map(|(kind, id)| id.map(|id| (kind, id)))
    .collect();
    match given.as_slice() {
        [(kind, id)] if !id.is_empty() => Ok((*kind, id.clone())),
        [(kind, _)] => Err(Failure::bad(format!(
            "the field {} is empty",
            id_field(*kind)
        ))),
        [] => Err(Failure::bad(
            "name the grantee: app_id (an app), user_id (a user) or key_owner_id",
        )),
        _ => Err(Failure::bad(
            "give only one of app_id, user_id and key_owner_id",
        )),
    }
}

fn grant_json(grant: &Grant, now: u64) -> serde_json::Value {
    serde_json::json!({
        "api_id": &*grant.api_id,
        id_field(grant.grantee_kind): &*grant.grantee,
        "grantee_kind": grant.grantee_kind,
        "state": grant.state_at(now),
        "access": format!("{:?}", grant.access_at(now)).to_lowercase(),
        "starts_at": grant.starts_at.map(format_time),
        "ends_at": format_time(grant.ends_at),
        "revoke_at": grant.revoke_at.map(format_time),
        "renewal_requested_until": grant.renewal.map(format_time),
    })
}

/// The audit's name of an action.
fn action_name(action: &GrantAction) -> &'static str {
    match action {
        GrantAction::Authorize { .. } => "authorize",
        GrantAction::ProviderRevoke { .. } => "provider_revoke",
        GrantAction::AppRevoke => "app_revoke",
        GrantAction::Apply { .. } => "apply",
        GrantAction::ApplyRenew { .. } => "renew",
        GrantAction::Approve => "approve",
        GrantAction::Reject => "reject",
    }
}

/// What a path asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    List,
    Action,
    Approve,
    Reject,
}

impl Route {
    fn of(path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["grants"] => Some(Self::List),
            ["authorize", "action"] => Some(Self::Action),
            ["authorize", "approve"] => Some(Self::Approve),
            ["authorize", "reject"] => Some(Self::Reject),
            // Huawei DataArts: POST /v1/{project_id}/service/apis/authorize/action.
            ["v1", project, "service", "apis", "authorize", "action"] if !project.is_empty() => {
                Some(Self::Action)
            }
            _ => None,
        }
    }

    fn allow(self) -> &'static str {
        match self {
            Self::List => "GET, OPTIONS",
            _ => "POST, OPTIONS",
        }
    }

    fn method(self) -> Method {
        match self {
            Self::List => Method::GET,
            _ => Method::POST,
        }
    }
}

impl GrantAdmin {
    /// The admin service over `manager`, at paths without prefix (as with axum's
    /// `nest_service`).
    pub fn new(manager: GrantManager) -> Self {
        Self {
            manager,
            prefix: Arc::from(""),
            admin_scope: Arc::from("grants:admin"),
            realm: Arc::from("api"),
            audit: Arc::new(TracingAudit),
        }
    }

    /// Where grant changes are recorded (default [`TracingAudit`]): one event per change
    /// asked for, allowed, denied or failed.
    pub fn audit(mut self, sink: impl AuditSink) -> Self {
        self.audit = Arc::new(sink);
        self
    }

    /// Strips `prefix` from request paths first (for mounting with `route_service`).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix.trim_end_matches('/'));
        self
    }

    /// The scope that makes a principal a provider admin (default `grants:admin`).
    pub fn admin_scope(mut self, scope: &str) -> Self {
        self.admin_scope = Arc::from(scope);
        self
    }

    /// The realm of the `WWW-Authenticate` challenges on a 401 and a 403 (default `api`, as the
    /// layer's).
    pub fn realm(mut self, realm: &str) -> Self {
        self.realm = Arc::from(realm);
        self
    }

    fn is_admin(&self, principal: &Principal) -> bool {
        principal.has_scope(&self.admin_scope)
    }

    /// Whether the caller holding the credential is `grantee` itself, kind included.
    fn is_self(principal: &Principal, grantee: Grantee<'_>) -> bool {
        Grantee::of(principal.caller()) == grantee
    }

    async fn respond<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let realm = self.realm.clone();
        let presented = request
            .extensions()
            .get::<Principal>()
            .and_then(|p| p.credential())
            .map(|c| c.scheme);
        match self.handle(request).await {
            Ok(response) => response,
            Err(failure) if failure.status == StatusCode::UNAUTHORIZED => {
                with_bearer_challenge(failure.into_response(), &realm)
            }
            Err(failure) if failure.status == StatusCode::FORBIDDEN => {
                let description = failure.message.clone();
                with_insufficient_scope_challenge(
                    failure.into_response(),
                    &realm,
                    presented,
                    &description,
                    None,
                )
            }
            Err(failure) => failure.into_response(),
        }
    }

    async fn handle<B>(self, request: Request<B>) -> Result<Response<Full<Bytes>>, Failure>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let route = Route::of(relative_path(parts.uri.path(), &self.prefix));
        if parts.method == Method::OPTIONS
            && let Some(route) = route
        {
            return Ok(options_response(route.allow()));
        }
        let Some(principal) = parts.extensions.get::<Principal>().cloned() else {
            return Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "authentication is required",
            ));
        };
        let Some(route) = route else {
            return Err(Failure::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such admin operation",
            ));
        };
        if parts.method != route.method() {
            let mut failure = Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("use {}", route.method()),
            );
            failure.allow = Some(route.allow());
            return Err(failure);
        }
        match route {
            Route::List => {
                let query: Vec<(String, String)> =
                    form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                        .into_owned()
                        .collect();
                let get = |name: &str| {
                    query
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                };
                let api = get("api_id");
                let named = [get("app_id"), get("user_id"), get("key_owner_id")];
                let grants = if named.iter().all(Option::is_none) {
                    match api {
                        Some(api) if self.is_admin(&principal) => {
                            self.manager.list_by_api(&api).await?
                        }
                        Some(_) => {
                            return Err(Failure::forbidden("not allowed to list these grants"));
                        }
                        None => {
                            return Err(Failure::bad(
                                "give exactly one of api_id, app_id, user_id and key_owner_id",
                            ));
                        }
                    }
                } else {
                    if api.is_some() {
                        return Err(Failure::bad(
                            "give exactly one of api_id, app_id, user_id and key_owner_id",
                        ));
                    }
                    let [app, user, owner] = named;
                    let (kind, id) = one_grantee(app, user, owner)?;
                    let grantee = Grantee::new(kind, &id);
                    if !(self.is_admin(&principal) || Self::is_self(&principal, grantee)) {
                        return Err(Failure::forbidden("not allowed to list these grants"));
                    }
                    self.manager.list_by_grantee(grantee).await?
                };
                let now = self.manager.clock().unix_seconds();
                let list: Vec<_> = grants.iter().map(|g| grant_json(g, now)).collect();
                Ok(json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "grants": list }),
                ))
            }
            Route::Action | Route::Approve | Route::Reject => {
                let length = parts
                    .headers
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                // Too large is 413 (RFC 9110 §15.5.14), too slow 408, as the layer answers.
                let (bytes, _) = read_limited(body, BODY_LIMIT, length).await.map_err(|e| {
                    Failure::new(e.status(), "INVALID_REQUEST", e.description().to_owned())
                })?;
                let body: ActionBody = crate::json::from_utf8_slice(&bytes)
                    .map_err(|_| Failure::bad("the body must be a JSON object"))?;
                let api_id = required(body.api_id, "api_id")?;
                let (kind, id) = one_grantee(body.app_id, body.user_id, body.key_owner_id)?;
                let grantee = Grantee::new(kind, &id);
                let time = match body.time.as_deref() {
                    None | Some("") => None,
                    Some(t) => Some(
                        parse_time(t)
                            .ok_or_else(|| Failure::bad("time must be an RFC 3339 date-time"))?,
                    ),
                };
                let end = || time.ok_or_else(|| Failure::bad("the field time is required"));
                let action = match route {
                    Route::Approve => GrantAction::Approve,
                    Route::Reject => GrantAction::Reject,
                    _ => match required(body.apply_type, "apply_type")?.as_str() {
                        "APPLY_TYPE_AUTHORIZE" => GrantAction::Authorize { ends_at: end()? },
                        "APPLY_TYPE_API_CANCEL_AUTHORIZE" => {
                            GrantAction::ProviderRevoke { effective_at: time }
                        }
                        "APPLY_TYPE_APP_CANCEL_AUTHORIZE" => GrantAction::AppRevoke,
                        "APPLY_TYPE_APPLY" => GrantAction::Apply { ends_at: end()? },
                        "APPLY_TYPE_RENEW" => GrantAction::ApplyRenew { ends_at: end()? },
                        _ => return Err(Failure::bad("unknown apply_type")),
                    },
                };
                let audit =
                    AdminAudit::new(AuditKind::Grant, action_name(&action), &principal, &parts)
                        .target(kind.as_str(), &id)
                        .api(&api_id);
                let allowed = if action.is_provider_action() {
                    self.is_admin(&principal)
                } else {
                    Self::is_self(&principal, grantee)
                };
                if !allowed {
                    let reason = if action.is_provider_action() {
                        "this action needs a provider administrator"
                    } else {
                        "only the grantee itself, with its own credential, may take this action"
                    };
                    audit.record(&*self.audit, AuditOutcome::Denied, reason);
                    return Err(Failure::forbidden(reason));
                }
                let by = if action.is_provider_action() {
                    "a provider administrator"
                } else {
                    "the grantee itself"
                };
                match self.manager.perform(&api_id, grantee, action).await {
                    Ok(_) => {
                        audit.record(&*self.audit, AuditOutcome::Allowed, by);
                        Ok(no_content())
                    }
                    Err(e) => {
                        audit.record(&*self.audit, AuditOutcome::Failed, e.code());
                        Err(e.into())
                    }
                }
            }
        }
    }
}

crate::service_util::json_service!(GrantAdmin);
