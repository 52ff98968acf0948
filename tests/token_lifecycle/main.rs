//! The token lifecycle over HTTP: the token check, RFC 7662 introspection, HENGSHI and RFC 7009
//! revocation, opaque tokens, how long revocations are remembered, disabling clients and users,
//! and the account admin service.
//!
//! Everything goes through one axum `Router` mounted like the quickstart (token endpoint and
//! check / introspect / revoke beside it, HENGSHI's GET revoke switched on, `/whoami` and `/admin/...` behind a `GatekeeperLayer`), driven
//! with `tower::ServiceExt::oneshot`; a `ManualClock` shared with the issuer moves time.
//!
//! Every test also checks, when its `Env` is dropped, that no secret (client secret, user
//! password, access token) came back in any response that has no business carrying one.
#![cfg(feature = "issuer")]

use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::header::{ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_gatekeeper::accounts::{UserAccount, UserRegistry};
use tower_gatekeeper::clock::ManualClock;
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::issuer::{
    AccountAdmin, Client, ClientRegistry, SigningKey, TokenFormat, TokenIssuer,
};
use tower_gatekeeper::verify::FirstMatch;
use tower_gatekeeper::{GatekeeperLayer, Principal};

const NOW: u64 = 1_700_000_000;
const LIFETIME: u64 = 600;
const ISS: &str = "https://auth.example";
const AUD: &str = "orders-api";
const HMAC_SECRET: &[u8] = b"test-only signing secret for the lifecycle tests";

/// The main client (JWTs).
const APP: &str = "reporting-app";
const APP_SECRET: &str = "reporting-app test secret 7d41";
/// A second client (JWTs).
const OTHER: &str = "billing-app";
const OTHER_SECRET: &str = "billing-app test secret 0b8e";
/// A client that asks for opaque tokens while the issuer's default is JWT.
const OPAQUE_APP: &str = "opaque-app";
const OPAQUE_SECRET: &str = "opaque-app test secret 33c2";
/// The account administrator.
const ADMIN: &str = "admin-console";
const ADMIN_SECRET: &str = "admin-console test secret 9a0f";
/// A client whose id equals a user's uid (registered in code, which the admin would refuse):
/// its tokens are still the client's, never user 1001's (separate namespaces).
const UID: &str = "1001";
const UID_SECRET: &str = "client-1001 test secret 51aa";
/// The user `1001`.
const ALICE: &str = "alice";
const ALICE_PASSWORD: &str = "alice test password e3f1";
/// Another user, never disabled.
const CAROL_UID: &str = "1002";
const CAROL: &str = "carol";
const CAROL_PASSWORD: &str = "carol test password 4c7d";

const ADMIN_SCOPE: &str = "accounts:admin";

const KNOWN_SECRETS: [&str; 7] = [
    APP_SECRET,
    OTHER_SECRET,
    OPAQUE_SECRET,
    ADMIN_SECRET,
    UID_SECRET,
    ALICE_PASSWORD,
    CAROL_PASSWORD,
];

// ---------------------------------------------------------------------------------------------
// The application under test
// ---------------------------------------------------------------------------------------------

async fn clients() -> ClientRegistry {
    let clients = ClientRegistry::new();
    clients
        .register(
            Client::new(APP, APP_SECRET)
                .allowed_scopes(["read", "write"])
                .default_scopes(["read"]),
        )
        .await
        .unwrap();
    clients
        .register(Client::new(OTHER, OTHER_SECRET).allowed_scopes(["read"]))
        .await
        .unwrap();
    clients
        .register(
            Client::new(OPAQUE_APP, OPAQUE_SECRET)
                .allowed_scopes(["read", "write"])
                .token_format(TokenFormat::Opaque),
        )
        .await
        .unwrap();
    clients
        .register(
            Client::new(ADMIN, ADMIN_SECRET)
                .allowed_scopes([ADMIN_SCOPE, "read"])
                .default_scopes([ADMIN_SCOPE]),
        )
        .await
        .unwrap();
    clients
        .register(Client::new(UID, UID_SECRET).allowed_scopes(["read"]))
        .await
        .unwrap();
    clients
}

async fn users() -> UserRegistry {
    let users = UserRegistry::new();
    users
        .insert(
            UserAccount::new(UID, ALICE)
                .password(ALICE_PASSWORD)
                .scopes(["read"]),
        )
        .await
        .unwrap();
    users
        .insert(UserAccount::new(CAROL_UID, CAROL).password(CAROL_PASSWORD))
        .await
        .unwrap();
    users
}

async fn whoami(principal: Principal) -> Json<Principal> {
    Json(principal)
}

fn router(issuer: &TokenIssuer, clients: &ClientRegistry, users: &UserRegistry) -> Router {
    let verifier = FirstMatch::new()
        .or(issuer.verifier())
        .or(users.basic_verifier());
    let gate = GatekeeperLayer::builder(verifier)
        .sources(CredentialSources::new().basic(true))
        .build();
    let accounts = AccountAdmin::new(clients.clone(), users.clone()).prefix("/admin");
    Router::new()
        .route("/whoami", get(whoami))
        .route_service("/admin/clients", accounts.clone())
        .route_service("/admin/clients/{*rest}", accounts.clone())
        .route_service("/admin/users", accounts.clone())
        .route_service("/admin/users/{*rest}", accounts)
        .layer(gate)
        .route_service("/oauth/token", issuer.token_endpoint())
        .route_service("/oauth/token/check", issuer.check_endpoint())
        .route_service("/oauth/token/introspect", issuer.introspection_endpoint())
        .route_service(
            "/oauth/token/revoke",
            issuer.revocation_endpoint().allow_get_by_possession(true),
        )
}

struct Logged {
    what: String,
    /// A success answer that legitimately shows a secret: an issued token, a token check
    /// (echoes the token), a new client secret.
    may_carry_secret: bool,
    text: String,
}

struct Env {
    issuer: TokenIssuer,
    clock: ManualClock,
    clients: ClientRegistry,
    users: UserRegistry,
    app: Router,
    secrets: Mutex<Vec<String>>,
    log: Mutex<Vec<Logged>>,
}

async fn env() -> Env {
    env_with(TokenFormat::Jwt).await
}

async fn env_with(format: TokenFormat) -> Env {
    let clock = ManualClock::at_unix(NOW);
    let clients = clients().await;
    let users = users().await;
    let issuer = TokenIssuer::builder(SigningKey::hs256(HMAC_SECRET).unwrap())
        .issuer(ISS)
        .audience(AUD)
        .lifetime(Duration::from_secs(LIFETIME))
        .clients(clients.clone())
        .users(users.clone())
        .token_format(format)
        .clock(clock.clone())
        .build();
    let app = router(&issuer, &clients, &users);
    Env {
        issuer,
        clock,
        clients,
        users,
        app,
        secrets: Mutex::new(KNOWN_SECRETS.iter().map(|s| (*s).to_owned()).collect()),
        log: Mutex::new(Vec::new()),
    }
}

impl Drop for Env {
    /// Requirement 8: no secret in any response that is not meant to carry it (every error,
    /// every refusal, introspection, revocation, admin answers other than new secrets).
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let secrets = self.secrets.lock().unwrap();
        let log = self.log.lock().unwrap();
        assert!(!log.is_empty());
        for entry in log.iter().filter(|e| !e.may_carry_secret) {
            for secret in secrets.iter() {
                assert!(
                    !entry.text.contains(secret.as_str()),
                    "{} answered with a secret: {}",
                    entry.what,
                    entry.text
                );
            }
        }
    }
}

/// The member names of a JSON object, sorted.
fn sorted_keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn header(&self, name: http::header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    #[track_caller]
    fn assert_json(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.header(CONTENT_TYPE),
            Some("application/json"),
            "{}",
            self.body
        );
        self.json()
    }

    /// An `{"error","error_description"}` answer, and nothing else in it.
    #[track_caller]
    fn assert_error(&self, status: StatusCode, code: &str) -> Value {
        let body = self.assert_json(status);
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {}", self.body))
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["error", "error_description"], "{}", self.body);
        assert_eq!(body["error"], code, "{}", self.body);
        assert!(
            !body["error_description"].as_str().unwrap().is_empty(),
            "{}",
            self.body
        );
        assert_eq!(self.header(CACHE_CONTROL), Some("no-store"));
        body
    }

    #[track_caller]
    fn assert_empty(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body, "");
    }

    fn everything(&self) -> String {
        let mut all = self.body.clone();
        for (name, value) in &self.headers {
            all.push_str(name.as_str());
            all.push(':');
            all.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        all
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// RFC 6749 §2.3.1 client credentials in a Basic header.
fn client_basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// RFC 7617 user credentials.
fn user_basic(login: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{login}:{password}")))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn request(method: Method, uri: &str, auth: Option<&str>) -> http::request::Builder {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        builder = builder.header(AUTHORIZATION, auth);
    }
    builder
}

fn get_req(uri: &str, auth: Option<&str>) -> Request<Body> {
    request(Method::GET, uri, auth).body(Body::empty()).unwrap()
}

fn form_req(
    method: Method,
    uri: &str,
    auth: Option<&str>,
    pairs: &[(&str, &str)],
) -> Request<Body> {
    request(method, uri, auth)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form(pairs)))
        .unwrap()
}

fn json_req(uri: &str, auth: Option<&str>, body: &str) -> Request<Body> {
    request(Method::POST, uri, auth)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn cc(id: &str, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", id.to_owned()),
        ("client_secret", secret.to_owned()),
    ]
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Shaped exactly like the issuer's tokens, but signed with another key.
fn forged_jwt() -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    let claims = json!({
        "iss": ISS, "sub": APP, "client_id": APP, "aud": AUD,
        "exp": NOW + LIFETIME, "iat": NOW, "jti": "forged-jti", "scope": "read"
    });
    let key = EncodingKey::from_secret(b"not the issuer's key, but 32+ bytes long");
    encode(&header, &claims, &key).unwrap()
}

/// 256 random bits, base64url: shaped like an opaque token, issued by nobody.
fn random_opaque() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

#[track_caller]
fn assert_opaque_shape(token: &str) {
    assert!(!token.contains('.'), "{token}");
    assert_eq!(token.len(), 43, "{token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );
    assert_eq!(URL_SAFE_NO_PAD.decode(token).unwrap().len(), 32);
}

#[track_caller]
fn assert_jwt_shape(token: &str) {
    assert_eq!(token.split('.').count(), 3, "{token}");
}

impl Env {
    fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
    }

    /// Something that must never be echoed in an error.
    fn secret(&self, secret: &str) {
        self.secrets.lock().unwrap().push(secret.to_owned());
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let what = format!("{} {}", request.method(), request.uri());
        let path = request.uri().path().to_owned();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let reply = Reply {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        };
        let may_carry_secret = status.is_success()
            && (path == "/oauth/token"
                || path == "/oauth/token/check"
                || path.starts_with("/admin/clients"));
        if may_carry_secret && let Ok(value) = serde_json::from_str::<Value>(&reply.body) {
            for key in ["access_token", "client_secret"] {
                if let Some(secret) = value[key].as_str() {
                    self.secret(secret);
                }
            }
        }
        self.log.lock().unwrap().push(Logged {
            what,
            may_carry_secret,
            text: reply.everything(),
        });
        reply
    }

    async fn token_reply(&self, id: &str, secret: &str, scope: Option<&str>) -> Reply {
        let mut pairs = cc(id, secret);
        if let Some(scope) = scope {
            pairs.push(("scope", scope.to_owned()));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.send(form_req(Method::POST, "/oauth/token", None, &pairs))
            .await
    }

    async fn token(&self, id: &str, secret: &str, scope: Option<&str>) -> String {
        let body = self
            .token_reply(id, secret, scope)
            .await
            .assert_json(StatusCode::OK);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], LIFETIME);
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn whoami(&self, token: &str) -> Reply {
        self.send(get_req("/whoami", Some(&bearer(token)))).await
    }

    async fn whoami_basic(&self, login: &str, password: &str) -> Reply {
        self.send(get_req("/whoami", Some(&user_basic(login, password))))
            .await
    }

    /// The principal the protected route saw.
    async fn assert_accepted(&self, token: &str) -> Value {
        self.whoami(token).await.assert_json(StatusCode::OK)
    }

    /// 401 `invalid_token` from the layer; returns the description.
    async fn assert_refused(&self, token: &str) -> String {
        let reply = self.whoami(token).await;
        let body = reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
        assert!(
            reply
                .header(WWW_AUTHENTICATE)
                .unwrap()
                .contains("error=\"invalid_token\""),
            "{:?}",
            reply.headers
        );
        body["error_description"].as_str().unwrap().to_owned()
    }

    async fn check(&self, token: &str) -> Reply {
        self.send(get_req(
            &format!("/oauth/token/check?token={}", enc(token)),
            None,
        ))
        .await
    }

    async fn introspect(&self, id: &str, secret: &str, token: &str) -> Reply {
        self.send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            Some(&client_basic(id, secret)),
            &[("token", token)],
        ))
        .await
    }

    /// `{"active":false}` and nothing else.
    async fn assert_inactive(&self, token: &str) {
        let body = self
            .introspect(OTHER, OTHER_SECRET, token)
            .await
            .assert_json(StatusCode::OK);
        assert_eq!(body, json!({"active": false}));
    }

    async fn revoke_get(&self, token: &str) -> Reply {
        self.send(get_req(
            &format!("/oauth/token/revoke?token={}", enc(token)),
            None,
        ))
        .await
    }

    /// HENGSHI revoke: 200 `{"code":0,"msg":…}`; returns the message.
    async fn assert_revoke_get(&self, token: &str) -> String {
        let body = self.revoke_get(token).await.assert_json(StatusCode::OK);
        let object = body.as_object().unwrap();
        assert_eq!(object.len(), 2, "{body}");
        assert_eq!(body["code"], 0, "{body}");
        body["msg"].as_str().unwrap().to_owned()
    }

    async fn revoke_post(&self, auth: Option<(&str, &str)>, pairs: &[(&str, &str)]) -> Reply {
        let auth = auth.map(|(id, secret)| client_basic(id, secret));
        self.send(form_req(
            Method::POST,
            "/oauth/token/revoke",
            auth.as_deref(),
            pairs,
        ))
        .await
    }

    async fn admin_post(&self, token: &str, path: &str, body: &str) -> Reply {
        self.send(json_req(path, Some(&bearer(token)), body)).await
    }

    async fn admin_token(&self) -> String {
        self.token(ADMIN, ADMIN_SECRET, None).await
    }
}

mod account_admin;
mod check;
mod disabling;
mod introspect;
mod no_secret;
mod opaque;
mod revocation;
mod revocation_expiry;
