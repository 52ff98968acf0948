//! The account admin surface: clients and users, managed by the provider (no self-registration).

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use serde::Deserialize;
use tower_service::Service;

use super::{Client, ClientRegistry, TokenFormat, random_secret};
use crate::accounts::{UserAccount, UserRegistry};
use crate::extract::read_limited;
use crate::maybe_ready::BoxFuture;
use crate::principal::Principal;

/// Manages clients and users over HTTP, for a principal holding the admin scope
/// (`accounts:admin` by default). Mount it behind a [`GatekeeperLayer`](crate::GatekeeperLayer).
///
/// | request | answer |
/// | --- | --- |
/// | `POST /clients` `{"client_id","scopes"?,"default_scopes"?,"token_format"?}` | 201 `{"client_id","client_secret"}` (the only time the secret is shown) |
/// | `POST /clients/{id}/disable`, `/enable` | 204 |
/// | `POST /clients/{id}/rotate-secret` | 200 `{"client_id","client_secret"}` |
/// | `POST /users` `{"uid","login_name","password"?,"email"?,"mobile"?,"tenants"?,"scopes"?,"roles"?}` | 201 |
/// | `POST /users/{uid}/disable`, `/enable` | 204 |
///
/// Disabling takes effect on the next request: the issuer's verifier refuses the tokens of a
/// disabled client or user, Basic login fails, and the user cannot be a sudo target.
/// Re-enabling restores only tokens that have neither expired nor been revoked.
///
/// ```
/// use axum::Router;
/// use tower_gatekeeper::accounts::UserRegistry;
/// use tower_gatekeeper::issuer::{AccountAdmin, ClientRegistry};
///
/// let admin = AccountAdmin::new(ClientRegistry::new(), UserRegistry::new());
/// let app: Router = Router::new().nest_service("/admin", admin);
/// ```
#[derive(Clone)]
pub struct AccountAdmin {
    clients: ClientRegistry,
    users: UserRegistry,
    prefix: Arc<str>,
    admin_scope: Arc<str>,
}

impl fmt::Debug for AccountAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountAdmin")
            .field("prefix", &self.prefix)
            .field("admin_scope", &self.admin_scope)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    client_id: String,
    #[serde(default)]
    scopes: Vec<String>,
    default_scopes: Option<Vec<String>>,
    token_format: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    uid: String,
    login_name: String,
    password: Option<String>,
    email: Option<String>,
    mobile: Option<String>,
    #[serde(default)]
    tenants: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(value).unwrap_or_default(),
    )));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error(status: StatusCode, code: &str, description: impl fmt::Display) -> Response<Full<Bytes>> {
    json(
        status,
        &serde_json::json!({"error": code, "error_description": description.to_string()}),
    )
}

fn no_content() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

impl AccountAdmin {
    /// The admin service over these clients and users.
    pub fn new(clients: ClientRegistry, users: UserRegistry) -> Self {
        Self {
            clients,
            users,
            prefix: Arc::from(""),
            admin_scope: Arc::from("accounts:admin"),
        }
    }

    /// Strips `prefix` from request paths first (for mounting with `route_service`).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix.trim_end_matches('/'));
        self
    }

    /// The scope an administrator needs (default `accounts:admin`).
    pub fn admin_scope(mut self, scope: &str) -> Self {
        self.admin_scope = Arc::from(scope);
        self
    }

    async fn handle<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let Some(principal) = parts.extensions.get::<Principal>() else {
            return error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "authentication is required",
            );
        };
        if !principal.has_scope(&self.admin_scope) {
            return error(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "this needs an account administrator",
            );
        }
        if parts.method != Method::POST {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "use POST",
            );
        }
        let path = parts.uri.path();
        let path = path
            .strip_prefix(&*self.prefix)
            .filter(|p| p.starts_with('/'))
            .unwrap_or(path);
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let length = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        match segments.as_slice() {
            ["clients"] => {
                let bytes = match read_limited(body, 64 * 1024, length).await {
                    Ok((bytes, _)) => bytes,
                    Err(e) => return error(e.status(), "invalid_request", e.description()),
                };
                let Ok(new) = serde_json::from_slice::<NewClient>(&bytes) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "the body is not a valid client",
                    );
                };
                if self.clients.contains(&new.client_id) {
                    return error(
                        StatusCode::CONFLICT,
                        "invalid_request",
                        "the client already exists",
                    );
                }
                let format = match new.token_format.as_deref() {
                    None => None,
                    Some("jwt") => Some(TokenFormat::Jwt),
                    Some("opaque") => Some(TokenFormat::Opaque),
                    Some(_) => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request",
                            "token_format is jwt or opaque",
                        );
                    }
                };
                let secret = random_secret();
                let mut client = Client::new(&new.client_id, &secret).allowed_scopes(new.scopes);
                if let Some(defaults) = new.default_scopes {
                    client = client.default_scopes(defaults);
                }
                if let Some(format) = format {
                    client = client.token_format(format);
                }
                match self.clients.register(client) {
                    Ok(()) => json(
                        StatusCode::CREATED,
                        &serde_json::json!({"client_id": new.client_id, "client_secret": secret}),
                    ),
                    Err(e) => error(StatusCode::BAD_REQUEST, "invalid_request", e),
                }
            }
            ["clients", id, action] => {
                let done = match *action {
                    "disable" => self.clients.set_disabled(id, true),
                    "enable" => self.clients.set_disabled(id, false),
                    "rotate-secret" => {
                        return match self.clients.rotate_secret(id) {
                            Some(secret) => json(
                                StatusCode::OK,
                                &serde_json::json!({"client_id": id, "client_secret": secret}),
                            ),
                            None => error(StatusCode::NOT_FOUND, "not_found", "no such client"),
                        };
                    }
                    _ => return error(StatusCode::NOT_FOUND, "not_found", "no such operation"),
                };
                if done {
                    no_content()
                } else {
                    error(StatusCode::NOT_FOUND, "not_found", "no such client")
                }
            }
            ["users"] => {
                let bytes = match read_limited(body, 64 * 1024, length).await {
                    Ok((bytes, _)) => bytes,
                    Err(e) => return error(e.status(), "invalid_request", e.description()),
                };
                let Ok(new) = serde_json::from_slice::<NewUser>(&bytes) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "the body is not a valid user",
                    );
                };
                if self.users.contains(&new.uid) {
                    return error(
                        StatusCode::CONFLICT,
                        "invalid_request",
                        "the user already exists",
                    );
                }
                let mut account = UserAccount::new(new.uid, new.login_name)
                    .tenants(new.tenants)
                    .scopes(new.scopes)
                    .roles(new.roles);
                if let Some(p) = new.password {
                    account = account.password(p);
                }
                if let Some(e) = new.email {
                    account = account.email(e);
                }
                if let Some(m) = new.mobile {
                    account = account.mobile(m);
                }
                let users = self.users.clone();
                let created = match tokio::runtime::Handle::try_current() {
                    Ok(handle) => handle
                        .spawn_blocking(move || users.insert(account))
                        .await
                        .unwrap_or(Err(crate::accounts::UserError::Password)),
                    Err(_) => users.insert(account),
                };
                match created {
                    Ok(()) => json(StatusCode::CREATED, &serde_json::json!({"created": true})),
                    Err(e) => error(StatusCode::BAD_REQUEST, "invalid_request", e),
                }
            }
            ["users", uid, action @ ("disable" | "enable")] => {
                if self.users.set_disabled(uid, *action == "disable") {
                    no_content()
                } else {
                    error(StatusCode::NOT_FOUND, "not_found", "no such user")
                }
            }
            _ => error(StatusCode::NOT_FOUND, "not_found", "no such operation"),
        }
    }
}

impl<B> Service<Request<B>> for AccountAdmin
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(request).await) })
    }
}
