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
use crate::impersonate::{AdminAudit, AuditKind, AuditOutcome, AuditSink, TracingAudit};
use crate::principal::Principal;
use crate::service_util::{
    json_response, no_content, options_response, relative_path, with_allow, with_bearer_challenge,
    with_insufficient_scope_challenge,
};

/// The methods every account admin resource answers.
const ALLOW: &str = "POST, OPTIONS";

/// Manages clients and users over HTTP, for a principal holding the admin scope
/// (`accounts:admin` by default). Mount it behind a [`GatekeeperLayer`](crate::GatekeeperLayer).
///
/// | request | answer |
/// | --- | --- |
/// | `POST /clients` `{"client_id","scopes"?,"default_scopes"?,"token_format"?}` | 201 `{"client_id","client_secret"}` (the only time the secret is shown); 400 for an id that is empty, longer than [`MAX_CLIENT_ID_LEN`](super::MAX_CLIENT_ID_LEN) bytes or not printable ASCII (RFC 6749 Appendix A.1) |
/// | `POST /clients/{id}/disable`, `/enable` | 204 |
/// | `POST /clients/{id}/rotate-secret` | 200 `{"client_id","client_secret"}` |
/// | `POST /users` `{"uid","login_name","password"?,"email"?,"mobile"?,"tenants"?,"scopes"?,"roles"?}` | 201 |
/// | `POST /users/{uid}/disable`, `/enable` | 204 |
///
/// Disabling takes effect on the next request: the issuer's verifier refuses the tokens of a
/// disabled client or user, Basic login fails, and the user cannot be a sudo target.
/// Re-enabling restores only tokens that have neither expired nor been revoked.
///
/// Client ids and user ids are separate namespaces that must not overlap (client `1001` must
/// never be mistaken for user `1001`): creating a client whose id a user holds, or a user
/// whose uid a client holds, is a 409, as is a login name another user holds (compared after
/// [`canonical_login`](crate::impersonate::canonical_login)). In memory both creations run
/// under the user registry's writer lock, so two admin requests cannot race past the check;
/// with a shared store (`ClientRegistry::redis`) a client's creation is one atomic write
/// that checks both namespaces, on every node at once. Clients registered in code with
/// [`ClientRegistry::register`] are not checked (check your configuration at start-up).
///
/// **The audit.** Every `POST` to one of these operations is one
/// [`AuditEvent`](crate::impersonate::AuditEvent) of kind [`AuditKind::Account`] in the
/// [sink](Self::audit) (default [`TracingAudit`]): the administrator, the action
/// (`create_client`, `disable_client`, `enable_client`, `rotate_client_secret`,
/// `create_user`, `disable_user`, `enable_user`), the client id or uid, and the outcome:
/// allowed, denied (403: not an administrator) or failed (with the reason: a bad body, no such
/// account, a taken id, a store that is down). Never the client secret or the password.
///
/// Status codes: 201/200/204 on success; 400 for a malformed body; 401 with
/// `WWW-Authenticate: Bearer realm="…"` when no [`Principal`] reached the service; 403
/// without the admin scope (with `WWW-Authenticate: Bearer realm="…",
/// error="insufficient_scope", scope="<admin scope>"` when it presented a bearer token, RFC 6750
/// §3.1); 404 for an unknown operation or account; 405 with `Allow` for
/// another method (RFC 9110 §15.5.6); 409 for a taken id, login name, e-mail or mobile; 413
/// for a body over 64 KiB; 503 `temporarily_unavailable` when the client or user store cannot
/// be written (nothing changed). `OPTIONS` is answered 204 with `Allow` and needs no credential (a CORS preflight
/// carries none).
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
    realm: Arc<str>,
    audit: Arc<dyn AuditSink>,
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

/// 503 for a store that cannot take an admin write; the details go to the log, not the answer.
fn unavailable(e: &crate::store::StoreError) -> Response<Full<Bytes>> {
    tracing::warn!(error = %e, "account admin: the store is unavailable");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the account store is unavailable; try again shortly",
    )
}

/// Runs slow work (password hashing) under the process-wide bound on argon2 work, off the
/// async executor; `None` when the bound refuses it (the caller answers 503).
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    crate::verify::HashingPool::shared().run(work).await.ok()
}

/// The user store could not be written (Redis down, say): 503, and nothing changed. The
/// details go to the log, not the answer.
fn store_unavailable(e: impl fmt::Display) -> Response<Full<Bytes>> {
    tracing::warn!(error = %e, "account admin: the user store is unavailable");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the user store is unavailable; nothing was changed, try again",
    )
}

impl AccountAdmin {
    /// The admin service over these clients and users.
    pub fn new(clients: ClientRegistry, users: UserRegistry) -> Self {
        Self {
            clients,
            users,
            prefix: Arc::from(""),
            admin_scope: Arc::from("accounts:admin"),
            realm: Arc::from("api"),
            audit: Arc::new(TracingAudit),
        }
    }

    /// Where account changes are recorded (default [`TracingAudit`]): one event per `POST`
    /// to an operation, allowed, denied or failed.
    pub fn audit(mut self, sink: impl AuditSink) -> Self {
        self.audit = Arc::new(sink);
        self
    }

    /// The realm of the `WWW-Authenticate` challenges on a 401 and a 403 (default `api`, as the
    /// layer's).
    pub fn realm(mut self, realm: &str) -> Self {
        self.realm = Arc::from(realm);
        self
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

    /// Creates a client whose id neither a client nor a user holds. In redis mode the store's
    /// atomic write checks both (`client:<id>` and `user:<id>` absent); in memory, under the
    /// user registry's writer lock, so no user can take the id meanwhile.
    async fn create_client(&self, client_id: &str, client: Client) -> Result<(), RegisterError> {
        if self.clients.is_shared() {
            return self.clients.create(client).await;
        }
        // SEAM (user store, S2): today's `UserRegistry` API for the memory-mode check.
        self.users.with_writer_lock(|| {
            if self.users.contains(client_id) {
                return Err(RegisterError::Exists);
            }
            self.clients.create_in_memory(client)
        })
    }

    async fn respond<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let path = relative_path(parts.uri.path(), &self.prefix);
        // Account ids may hold any character: segments are percent-decoded (once).
        // A path that does not decode is an unknown operation: like any other, it is answered
        // only after authentication (a 401 for an anonymous caller, whatever the path).
        let segments = path
            .trim_matches('/')
            .split('/')
            .map(|seg| {
                percent_encoding::percent_decode_str(seg)
                    .decode_utf8()
                    .ok()
                    .map(|c| c.into_owned())
            })
            .collect::<Option<Vec<String>>>();
        let known = segments.as_ref().is_some_and(|segments| {
            matches!(
                segments
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice(),
                ["clients"]
                    | ["users"]
                    | ["clients", _, "disable" | "enable" | "rotate-secret"]
                    | ["users", _, "disable" | "enable"]
            )
        });
        if parts.method == Method::OPTIONS && known {
            return options_response(ALLOW);
        }
        let Some(principal) = parts.extensions.get::<Principal>() else {
            return with_bearer_challenge(
                error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "authentication is required",
                ),
                &self.realm,
            );
        };
        // The change asked for, when this is one (a POST to a known operation).
        let asked = segments
            .as_deref()
            .filter(|_| known && parts.method == Method::POST)
            .and_then(operation);
        if !principal.has_scope(&self.admin_scope) {
            if let Some((action, kind, id)) = asked {
                let mut audit = AdminAudit::new(AuditKind::Account, action, principal, &parts);
                if let Some(id) = id {
                    audit = audit.target(kind, &id);
                }
                audit.record(
                    &*self.audit,
                    AuditOutcome::Denied,
                    "this needs an account administrator",
                );
            }
            return with_insufficient_scope_challenge(
                error(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "this needs an account administrator",
                ),
                &self.realm,
                principal.credential().map(|c| c.scheme),
                "this needs an account administrator",
                Some(&self.admin_scope),
            );
        }
        if !known {
            return error(StatusCode::NOT_FOUND, "not_found", "no such operation");
        }
        let segments = segments.unwrap_or_default();
        if parts.method != Method::POST {
            return with_allow(
                error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "invalid_request",
                    "use POST",
                ),
                ALLOW,
            );
        }
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let length = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let Some((action, kind, mut target)) = asked else {
            return error(StatusCode::NOT_FOUND, "not_found", "no such operation");
        };
        let audit = AdminAudit::new(AuditKind::Account, action, principal, &parts);
        let response = self.change(&segments, body, length, &mut target).await;
        let (outcome, reason) = audit_outcome(response.status());
        let audit = match &target {
            Some(id) => audit.target(kind, id),
            None => audit,
        };
        audit.record(&*self.audit, outcome, reason);
        response
    }

    /// Makes the change `segments` name; fills `target` with the id a creation's body names.
    async fn change<B>(
        &self,
        segments: &[&str],
        body: B,
        length: Option<u64>,
        target: &mut Option<String>,
    ) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match segments {
            ["clients"] => {
                let bytes = match read_limited(body, 64 * 1024, length).await {
                    Ok((bytes, _)) => bytes,
                    Err(e) => return error(e.status(), "invalid_request", e.description()),
                };
                let Ok(new) = crate::json::from_utf8_slice::<NewClient>(&bytes) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "the body is not a valid client",
                    );
                };
                // RFC 6749 Appendix A.1: 1 to 255 bytes of %x20-7E. A refused id is neither
                // repeated in the answer nor recorded as the audit's target: it may hold a line
                // break or anything else a log should not carry.
                if let Err(e) = super::clients::check_client_id(&new.client_id) {
                    return error(StatusCode::BAD_REQUEST, "invalid_request", e);
                }
                *target = Some(new.client_id.clone());
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
                match self.create_client(&new.client_id, client).await {
                    Ok(()) => json_response(
                        StatusCode::CREATED,
                        &serde_json::json!({"client_id": new.client_id, "client_secret": secret}),
                    ),
                    Err(RegisterError::Exists) => error(
                        StatusCode::CONFLICT,
                        "invalid_request",
                        "the client id is taken (by a client or a user)",
                    ),
                    Err(RegisterError::Store(e)) => unavailable(&e),
                    Err(e) => error(StatusCode::BAD_REQUEST, "invalid_request", e),
                }
            }
            ["clients", id, action] => {
                let id = id.to_string();
                let done = match *action {
                    "disable" => self.clients.set_disabled(&id, true).await,
                    "enable" => self.clients.set_disabled(&id, false).await,
                    "rotate-secret" => {
                        return match self.clients.rotate_secret(&id).await {
                            Ok(Some(secret)) => json_response(
                                StatusCode::OK,
                                &serde_json::json!({"client_id": id, "client_secret": secret}),
                            ),
                            Ok(None) => error(StatusCode::NOT_FOUND, "not_found", "no such client"),
                            Err(e) => unavailable(&e),
                        };
                    }
                    _ => return error(StatusCode::NOT_FOUND, "not_found", "no such operation"),
                };
                match done {
                    Ok(true) => no_content(),
                    Ok(false) => error(StatusCode::NOT_FOUND, "not_found", "no such client"),
                    Err(e) => unavailable(&e),
                }
            }
            ["users"] => {
                let bytes = match read_limited(body, 64 * 1024, length).await {
                    Ok((bytes, _)) => bytes,
                    Err(e) => return error(e.status(), "invalid_request", e.description()),
                };
                let Ok(new) = crate::json::from_utf8_slice::<NewUser>(&bytes) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "the body is not a valid user",
                    );
                };
                *target = Some(new.uid.clone());
                let mut account = UserAccount::new(new.uid, new.login_name)
                    .tenants(new.tenants)
                    .scopes(new.scopes)
                    .roles(new.roles);
                if let Some(p) = new.password {
                    // Hashed under the process-wide bound on argon2 work, off the executor.
                    let hashed = blocking(move || {
                        crate::verify::hash_password(&crate::accounts::canonical_password(&p))
                    })
                    .await;
                    match hashed {
                        Some(Ok(phc)) => account = account.password_hash(phc),
                        Some(Err(_)) => {
                            return error(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "server_error",
                                "the password could not be hashed",
                            );
                        }
                        None => {
                            return error(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "temporarily_unavailable",
                                "too many password hashes at once; try again",
                            );
                        }
                    }
                }
                if let Some(e) = new.email {
                    account = account.email(e);
                }
                if let Some(m) = new.mobile {
                    account = account.mobile(m);
                }
                let clients = self.clients.clone();
                // In memory mode the client check runs under the user registry's writer lock
                // (see above); in redis mode the write itself also checks `client:<uid>`.
                match self
                    .users
                    .create_if(account, move |uid| !clients.contains_in_memory(uid))
                    .await
                {
                    Ok(()) => {
                        json_response(StatusCode::CREATED, &serde_json::json!({"created": true}))
                    }
                    Err(UserError::Exists) => error(
                        StatusCode::CONFLICT,
                        "invalid_request",
                        "the uid is taken (by a user or a client)",
                    ),
                    Err(
                        e @ (UserError::LoginNameTaken
                        | UserError::EmailTaken
                        | UserError::MobileTaken),
                    ) => error(StatusCode::CONFLICT, "invalid_request", e),
                    Err(e @ UserError::Store(_)) => store_unavailable(e),
                    Err(e) => error(StatusCode::BAD_REQUEST, "invalid_request", e),
                }
            }
            ["users", uid, action @ ("disable" | "enable")] => {
                match self.users.set_disabled(uid, *action == "disable").await {
                    Ok(true) => no_content(),
                    Ok(false) => error(StatusCode::NOT_FOUND, "not_found", "no such user"),
                    Err(e) => store_unavailable(e),
                }
            }
            _ => error(StatusCode::NOT_FOUND, "not_found", "no such operation"),
        }
    }
}

/// The audited change a known `POST` path names: its action, the kind of account, and the id
/// the path holds (a creation's is in its body).
fn operation(segments: &[String]) -> Option<(&'static str, &'static str, Option<String>)> {
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (action, kind) = match segments.as_slice() {
        ["clients"] => ("create_client", "client"),
        ["clients", _, "disable"] => ("disable_client", "client"),
        ["clients", _, "enable"] => ("enable_client", "client"),
        ["clients", _, "rotate-secret"] => ("rotate_client_secret", "client"),
        ["users"] => ("create_user", "user"),
        ["users", _, "disable"] => ("disable_user", "user"),
        ["users", _, "enable"] => ("enable_user", "user"),
        _ => return None,
    };
    Some((action, kind, segments.get(1).map(|id| (*id).to_owned())))
}

/// What the answer to a change says for the audit (the answer's own text stays in the answer).
fn audit_outcome(status: StatusCode) -> (AuditOutcome, &'static str) {
    match status.as_u16() {
        200..=299 => (AuditOutcome::Allowed, "an account administrator"),
        400 => (AuditOutcome::Failed, "the request is malformed"),
        404 => (AuditOutcome::Failed, "no such account"),
        408 => (AuditOutcome::Failed, "the body did not arrive in time"),
        409 => (
            AuditOutcome::Failed,
            "the id, login name, e-mail or mobile is taken",
        ),
        413 => (AuditOutcome::Failed, "the body is too large"),
        503 => (AuditOutcome::Failed, "the store is unavailable"),
        _ => (AuditOutcome::Failed, "the change could not be made"),
    }
}

crate::service_util::json_service!(AccountAdmin);
