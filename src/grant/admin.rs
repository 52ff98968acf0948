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

use super::model::{Grant, GrantAction, GrantError};
use super::{GrantManager, format_time, parse_time};
use crate::extract::read_limited;
use crate::principal::Principal;
use crate::service_util::{json_response, no_content, relative_path};

const BODY_LIMIT: usize = 64 * 1024;

/// The grant admin service. Mount it behind a [`GatekeeperLayer`](crate::GatekeeperLayer): it
/// reads the caller's [`Principal`] from the request extensions.
///
/// | request | who | answer |
/// | --- | --- | --- |
/// | `POST {prefix}/authorize/action` `{"api_id","app_id","apply_type","time"}` | see below | 204 |
/// | `POST {prefix}/authorize/approve` `{"api_id","app_id"}` | provider | 204 |
/// | `POST {prefix}/authorize/reject` `{"api_id","app_id"}` | provider | 204 |
/// | `GET {prefix}/grants?api_id=…` | provider | `{"grants":[…]}` |
/// | `GET {prefix}/grants?app_id=…` | provider, or that app | `{"grants":[…]}` |
///
/// `apply_type` is `APPLY_TYPE_AUTHORIZE` or `APPLY_TYPE_API_CANCEL_AUTHORIZE` (provider:
/// a principal with the admin scope, `grants:admin` by default), or
/// `APPLY_TYPE_APP_CANCEL_AUTHORIZE`, `APPLY_TYPE_APPLY`, `APPLY_TYPE_RENEW` (only the app
/// itself, with its own credential). `time` is RFC 3339: the end of validity, or when a
/// provider revocation takes effect. Errors are 400 `{"error_code","error_msg"}` (401 without a
/// principal, 403 for the wrong caller, 503 when the store is down).
///
/// ```
/// use axum::Router;
/// use tower_gatekeeper::grant::{GrantAdmin, GrantManager, InMemoryGrantStore};
///
/// let manager = GrantManager::builder(InMemoryGrantStore::new()).apis(["orders"]).build();
/// let admin: Router = Router::new().nest_service("/admin/apis", GrantAdmin::new(manager));
/// ```
#[derive(Clone)]
pub struct GrantAdmin {
    manager: GrantManager,
    prefix: Arc<str>,
    admin_scope: Arc<str>,
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
}

impl Failure {
    fn bad(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "INVALID_REQUEST",
            message: message.into(),
        }
    }
    fn forbidden(message: &'static str) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "FORBIDDEN",
            message: message.into(),
        }
    }
}

impl From<GrantError> for Failure {
    fn from(e: GrantError) -> Self {
        let status = match e {
            GrantError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            code: e.code(),
            message: e.to_string().into(),
        }
    }
}

impl Failure {
    fn into_response(self) -> Response<Full<Bytes>> {
        json_response(
            self.status,
            &serde_json::json!({"error_code": self.code, "error_msg": self.message}),
        )
    }
}

#[derive(Deserialize)]
struct ActionBody {
    api_id: Option<String>,
    app_id: Option<String>,
    apply_type: Option<String>,
    time: Option<String>,
}

fn required(value: Option<String>, name: &'static str) -> Result<String, Failure> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Failure::bad(format!("the field {name} is required")))
}

fn grant_json(grant: &Grant, now: u64) -> serde_json::Value {
    serde_json::json!({
        "api_id": &*grant.api_id,
        "app_id": &*grant.grantee,
        "state": grant.state_at(now),
        "access": format!("{:?}", grant.access_at(now)).to_lowercase(),
        "starts_at": grant.starts_at.map(format_time),
        "ends_at": format_time(grant.ends_at),
        "revoke_at": grant.revoke_at.map(format_time),
        "renewal_requested_until": grant.renewal.map(format_time),
    })
}

impl GrantAdmin {
    /// The admin service over `manager`, at paths without prefix (as with axum's
    /// `nest_service`).
    pub fn new(manager: GrantManager) -> Self {
        Self {
            manager,
            prefix: Arc::from(""),
            admin_scope: Arc::from("grants:admin"),
        }
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

    fn is_admin(&self, principal: &Principal) -> bool {
        principal.has_scope(&self.admin_scope)
    }

    fn is_app(principal: &Principal, app_id: &str) -> bool {
        let caller = principal.caller();
        caller.client_id().unwrap_or(caller.subject()) == app_id
    }

    async fn respond<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.handle(request)
            .await
            .unwrap_or_else(Failure::into_response)
    }

    async fn handle<B>(self, request: Request<B>) -> Result<Response<Full<Bytes>>, Failure>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let Some(principal) = parts.extensions.get::<Principal>().cloned() else {
            return Err(Failure {
                status: StatusCode::UNAUTHORIZED,
                code: "UNAUTHORIZED",
                message: "authentication is required".into(),
            });
        };
        let path = relative_path(parts.uri.path(), &self.prefix);
        let route = (parts.method.clone(), path.trim_end_matches('/'));
        match route {
            (Method::GET, "/grants") => {
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
                let grants = match (get("api_id"), get("app_id")) {
                    (Some(api), None) if self.is_admin(&principal) => {
                        self.manager.list_by_api(&api).await?
                    }
                    (None, Some(app))
                        if self.is_admin(&principal) || Self::is_app(&principal, &app) =>
                    {
                        self.manager.list_by_grantee(&app).await?
                    }
                    (Some(_), None) | (None, Some(_)) => {
                        return Err(Failure::forbidden("not allowed to list these grants"));
                    }
                    _ => return Err(Failure::bad("give exactly one of api_id and app_id")),
                };
                let now = self.manager.clock().unix_seconds();
                let list: Vec<_> = grants.iter().map(|g| grant_json(g, now)).collect();
                Ok(json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "grants": list }),
                ))
            }
            (Method::POST, "/authorize/action" | "/authorize/approve" | "/authorize/reject") => {
                let kind = route.1;
                let length = parts
                    .headers
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                let (bytes, _) = read_limited(body, BODY_LIMIT, length)
                    .await
                    .map_err(|e| Failure::bad(e.description().to_owned()))?;
                let body: ActionBody = serde_json::from_slice(&bytes)
                    .map_err(|_| Failure::bad("the body must be a JSON object"))?;
                let api_id = required(body.api_id, "api_id")?;
                let app_id = required(body.app_id, "app_id")?;
                let time = match body.time.as_deref() {
                    None | Some("") => None,
                    Some(t) => Some(
                        parse_time(t)
                            .ok_or_else(|| Failure::bad("time must be an RFC 3339 date-time"))?,
                    ),
                };
                let end = || time.ok_or_else(|| Failure::bad("the field time is required"));
                let action = match kind {
                    "/authorize/approve" => GrantAction::Approve,
                    "/authorize/reject" => GrantAction::Reject,
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
                let allowed = if action.is_provider_action() {
                    self.is_admin(&principal)
                } else {
                    Self::is_app(&principal, &app_id)
                };
                if !allowed {
                    return Err(Failure::forbidden(if action.is_provider_action() {
                        "this action needs a provider administrator"
                    } else {
                        "only the app itself may take this action"
                    }));
                }
                self.manager.perform(&api_id, &app_id, action).await?;
                Ok(no_content())
            }
            _ => Err(Failure {
                status: StatusCode::NOT_FOUND,
                code: "NOT_FOUND",
                message: "no such admin operation".into(),
            }),
        }
    }
}

crate::service_util::json_service!(GrantAdmin);
