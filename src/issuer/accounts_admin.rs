//! The account admin surface: clients and users, managed by the provider (no self-registration).

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use serde::Deserialize;

use super::{Client, ClientRegistry, RegisterError, TokenFormat, random_secret};
use crate::accounts::{UserAccount, UserError, UserRegistry};
use crate::extract::read_limited;
use crate::principal::Principal;
use crate::service_util::{json_response, no_content, relative_path};

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

fn error(status: StatusCode, code: &str, description: impl fmt::Display) -> Response<Full<Bytes>> {
    json_response(
        status,
        &serde_json::json!({"error": code, "error_description": description.to_string()}),
    )
}

/// Runs slow work (password hashing) off the async executor when there is a runtime.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(work).await.ok(),
        Err(_) => Some(work()),
    }
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

    async fn respond<B>(self, request: Request<B>) -> Response<Full<Bytes>>
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
        let path = relative_path(parts.uri.path(), &self.prefix);
        // Account ids may hold any character: segments are percent-decoded (once).
        let Some(segments) = path
            .trim_matches('/')
            .split('/')
            .map(|seg| {
                percent_encoding::percent_decode_str(seg)
                    .decode_utf8()
                    .ok()
                    .map(|c| c.into_owned())
            })
            .collect::<Option<Vec<String>>>()
        else {
            return error(StatusCode::NOT_FOUND, "not_found", "no such operation");
        };
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
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
                let mut client = Client::with_generated_secret(&new.client_id, &secret)
                    .allowed_scopes(new.scopes);
                if let Some(defaults) = new.default_scopes {
                    client = client.default_scopes(defaults);
                }
                if let Some(format) = format {
                    client = client.token_format(format);
                }
                let clients = self.clients.clone();
                match blocking(move || clients.create(client)).await {
                    Some(Ok(())) => json_response(
                        StatusCode::CREATED,
                        &serde_json::json!({"client_id": new.client_id, "client_secret": secret}),
                    ),
                    Some(Err(RegisterError::Exists)) => error(
                        StatusCode::CONFLICT,
                        "invalid_request",
                        "the client already exists",
                    ),
                    Some(Err(e)) => error(StatusCode::BAD_REQUEST, "invalid_request", e),
                    None => error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily_unavailable",
                        "try again",
                    ),
                }
            }
            ["clients", id, action] => {
                let id = id.to_string();
                let done = match *action {
                    "disable" => self.clients.set_disabled(&id, true),
                    "enable" => self.clients.set_disabled(&id, false),
                    "rotate-secret" => {
                        let clients = self.clients.clone();
                        let target = id.clone();
                        return match blocking(move || clients.rotate_secret(&target))
                            .await
                            .flatten()
                        {
                            Some(secret) => json_response(
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
                match blocking(move || users.create(account)).await {
                    Some(Ok(())) => {
                        json_response(StatusCode::CREATED, &serde_json::json!({"created": true}))
                    }
                    Some(Err(UserError::Exists)) => error(
                        StatusCode::CONFLICT,
                        "invalid_request",
                        "the user already exists",
                    ),
                    Some(Err(e)) => error(StatusCode::BAD_REQUEST, "invalid_request", e),
                    None => error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily_unavailable",
                        "try again",
                    ),
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

crate::service_util::json_service!(AccountAdmin);
