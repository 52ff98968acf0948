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

// ---------------------------------------------------------------------------------------------
// 1. GET /oauth/token/check
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn check_reports_a_live_token_and_the_seconds_left() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, Some("read write")).await;
    let reply = env.check(&token).await;
    let body = reply.assert_json(StatusCode::OK);
    assert_eq!(
        body,
        json!({"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME, "scope": "read write"})
    );
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));

    env.advance(100);
    let body = env.check(&token).await.assert_json(StatusCode::OK);
    assert_eq!(body["expires_in"], LIFETIME - 100);
    assert_eq!(body["scope"], "read write");

    env.advance(LIFETIME - 101);
    assert_eq!(
        env.check(&token).await.assert_json(StatusCode::OK)["expires_in"],
        1
    );
    // At `exp` the token is dead.
    env.advance(1);
    let body = env
        .check(&token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(body["error_description"], "the token has expired");

    // Default scopes show as granted.
    let token = env.token(APP, APP_SECRET, None).await;
    let body = env.check(&token).await.assert_json(StatusCode::OK);
    assert_eq!(body["scope"], "read");
    assert_eq!(body["expires_in"], LIFETIME);
}

#[tokio::test]
async fn check_refuses_expired_revoked_and_garbage_tokens() {
    let env = env().await;

    let expired = env.token(APP, APP_SECRET, None).await;
    let revoked = env.token(APP, APP_SECRET, None).await;
    assert_eq!(
        env.assert_revoke_get(&revoked).await,
        "the token was revoked"
    );
    let body = env
        .check(&revoked)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(body["error_description"], "the token was revoked");

    env.advance(LIFETIME);
    let body = env
        .check(&expired)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(body["error_description"], "the token has expired");

    let forged = forged_jwt();
    let random = random_opaque();
    for garbage in ["garbage", "a.b.c", "....", forged.as_str(), random.as_str()] {
        env.secret(garbage);
        let reply = env.check(garbage).await;
        reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

#[tokio::test]
async fn check_without_a_token_is_invalid_request() {
    let env = env().await;
    for uri in [
        "/oauth/token/check",
        "/oauth/token/check?token=",
        "/oauth/token/check?access_token=abc",
    ] {
        let body = env
            .send(get_req(uri, None))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(body["error_description"], "the token parameter is missing");
    }
}

#[tokio::test]
async fn check_answers_only_get() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let reply = env
            .send(form_req(
                method.clone(),
                "/oauth/token/check",
                None,
                &[("token", &token)],
            ))
            .await;
        reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
        assert_eq!(reply.header(ALLOW), Some("GET"), "{method}");
    }
    // The token is untouched.
    env.check(&token).await.assert_json(StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// 2. RFC 7662 POST /oauth/token/introspect
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn introspection_requires_client_authentication() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;

    // None at all.
    let reply = env
        .send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            None,
            &[("token", &token)],
        ))
        .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // A wrong secret, in the header or in the body: a Basic challenge either way.
    let reply = env.introspect(OTHER, "wrong secret", &token).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(
        reply
            .header(WWW_AUTHENTICATE)
            .is_some_and(|v| v.starts_with("Basic")),
        "{:?}",
        reply.headers
    );
    let reply = env
        .send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            None,
            &[
                ("token", &token),
                ("client_id", OTHER),
                ("client_secret", APP_SECRET),
            ],
        ))
        .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // Every 401 carries a challenge (RFC 9110 §11.6.1), whatever the client used.
    assert!(
        reply
            .header(WWW_AUTHENTICATE)
            .is_some_and(|v| v.starts_with("Basic")),
        "{:?}",
        reply.headers
    );

    // An unknown client; a disabled one.
    env.introspect("nobody", OTHER_SECRET, &token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(env.clients.set_disabled(OTHER, true).await.unwrap());
    env.introspect(OTHER, OTHER_SECRET, &token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(env.clients.set_disabled(OTHER, false).await.unwrap());

    // A bearer token is not client authentication.
    let reply = env
        .send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            Some(&bearer(&token)),
            &[("token", &token)],
        ))
        .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // Authenticated but no token.
    let reply = env
        .send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            Some(&client_basic(OTHER, OTHER_SECRET)),
            &[("token_type_hint", "access_token")],
        ))
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn introspection_describes_a_live_token() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, Some("read write")).await;
    let jti = jwt_claims(&token)["jti"].clone();
    assert!(jti.is_string());
    env.advance(30);

    let expected = json!({
        "active": true,
        "scope": "read write",
        "client_id": APP,
        "sub": APP,
        "exp": NOW + LIFETIME,
        "iat": NOW,
        "iss": ISS,
        "aud": AUD,
        "token_type": "Bearer",
        "jti": jti,
    });
    // Another client (a resource server) asks.
    let reply = env.introspect(OTHER, OTHER_SECRET, &token).await;
    assert_eq!(reply.assert_json(StatusCode::OK), expected);
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    // The token's own client asks, with a hint, credentials in the body.
    let reply = env
        .send(form_req(
            Method::POST,
            "/oauth/token/introspect",
            None,
            &[
                ("token", &token),
                ("token_type_hint", "access_token"),
                ("client_id", APP),
                ("client_secret", APP_SECRET),
            ],
        ))
        .await;
    assert_eq!(reply.assert_json(StatusCode::OK), expected);
}

#[tokio::test]
async fn introspection_of_a_dead_token_says_only_inactive() {
    let env = env().await;
    let expired = env.token(APP, APP_SECRET, None).await;
    let revoked = env.token(APP, APP_SECRET, None).await;
    let live = env.token(APP, APP_SECRET, None).await;
    env.assert_revoke_get(&revoked).await;
    env.assert_inactive(&revoked).await;

    let forged = forged_jwt();
    let random = random_opaque();
    for unknown in ["garbage", "a.b.c", forged.as_str(), random.as_str()] {
        env.secret(unknown);
        env.assert_inactive(unknown).await;
    }

    env.advance(LIFETIME / 2);
    let later = env.token(APP, APP_SECRET, None).await;
    env.advance(LIFETIME / 2);
    env.assert_inactive(&expired).await;
    env.assert_inactive(&live).await;
    // Control: a token that is still live is active.
    assert_eq!(
        env.introspect(OTHER, OTHER_SECRET, &later)
            .await
            .assert_json(StatusCode::OK)["active"],
        true
    );
}

#[tokio::test]
async fn introspection_answers_only_post() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    let uri = format!("/oauth/token/introspect?token={}", enc(&token));
    let reply = env
        .send(get_req(&uri, Some(&client_basic(OTHER, OTHER_SECRET))))
        .await;
    reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert_eq!(reply.header(ALLOW), Some("POST"));
    let reply = env
        .send(form_req(
            Method::PUT,
            "/oauth/token/introspect",
            Some(&client_basic(OTHER, OTHER_SECRET)),
            &[("token", &token)],
        ))
        .await;
    reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert_eq!(reply.header(ALLOW), Some("POST"));
}

// ---------------------------------------------------------------------------------------------
// 3. Revocation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn hengshi_revoke_kills_the_token_at_once() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    let sibling = env.token(APP, APP_SECRET, None).await;
    assert_eq!(env.assert_accepted(&token).await["subject"], APP);

    assert_eq!(env.assert_revoke_get(&token).await, "the token was revoked");
    // The very next request.
    assert_eq!(env.assert_refused(&token).await, "the token was revoked");
    env.check(&token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    env.assert_inactive(&token).await;

    // Again: still 200 code 0.
    assert_eq!(
        env.assert_revoke_get(&token).await,
        "the token is not active"
    );
    env.assert_refused(&token).await;

    // Another token of the same client lives on.
    assert_eq!(env.assert_accepted(&sibling).await["client_id"], APP);

    // Garbage is "not active", still code 0.
    assert_eq!(
        env.assert_revoke_get("garbage").await,
        "the token is not active"
    );
    // No token: 400 in the same shape.
    for uri in ["/oauth/token/revoke", "/oauth/token/revoke?token="] {
        let body = env
            .send(get_req(uri, None))
            .await
            .assert_json(StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], 400);
        assert!(body["msg"].is_string());
        assert_eq!(body.as_object().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn rfc7009_revoke_of_an_own_token() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    let second = env.token(APP, APP_SECRET, None).await;
    env.assert_accepted(&token).await;

    let reply = env
        .revoke_post(Some((APP, APP_SECRET)), &[("token", &token)])
        .await;
    reply.assert_empty(StatusCode::OK);
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    assert_eq!(env.assert_refused(&token).await, "the token was revoked");
    env.check(&token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    env.assert_inactive(&token).await;
    // Again: 200.
    env.revoke_post(Some((APP, APP_SECRET)), &[("token", &token)])
        .await
        .assert_empty(StatusCode::OK);

    // Credentials in the body, with an access_token hint.
    env.assert_accepted(&second).await;
    env.revoke_post(
        None,
        &[
            ("token", &second),
            ("token_type_hint", "access_token"),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
        ],
    )
    .await
    .assert_empty(StatusCode::OK);
    env.assert_refused(&second).await;
}

#[tokio::test]
async fn rfc7009_revoke_of_an_unknown_token_is_200() {
    let env = env().await;
    let expired = env.token(APP, APP_SECRET, None).await;
    env.advance(LIFETIME);
    let forged = forged_jwt();
    let random = random_opaque();
    for unknown in [
        "garbage",
        "a.b.c",
        forged.as_str(),
        random.as_str(),
        expired.as_str(),
    ] {
        env.secret(unknown);
        env.revoke_post(Some((APP, APP_SECRET)), &[("token", unknown)])
            .await
            .assert_empty(StatusCode::OK);
    }
    // A revoked list is not filled with tokens that were not live.
    assert_eq!(env.issuer.tokens().revoked_len(), 0);
}

#[tokio::test]
async fn rfc7009_revoke_of_another_clients_token_is_refused() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    let body = env
        .revoke_post(Some((OTHER, OTHER_SECRET)), &[("token", &token)])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    assert_eq!(
        body["error_description"],
        "the token was issued to another client"
    );
    // Still works everywhere.
    assert_eq!(env.assert_accepted(&token).await["subject"], APP);
    env.check(&token).await.assert_json(StatusCode::OK);
    assert_eq!(env.issuer.tokens().revoked_len(), 0);
}

#[tokio::test]
async fn rfc7009_revoke_needs_client_authentication() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    env.revoke_post(None, &[("token", &token)])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    env.revoke_post(Some((APP, "wrong secret")), &[("token", &token)])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // A bearer token is not client authentication, not even the token itself.
    env.send(form_req(
        Method::POST,
        "/oauth/token/revoke",
        Some(&bearer(&token)),
        &[("token", &token)],
    ))
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    env.assert_accepted(&token).await;
    // Authenticated, but no token.
    env.revoke_post(Some((APP, APP_SECRET)), &[])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn rfc7009_revoke_refuses_an_unknown_token_type_hint() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    env.revoke_post(
        Some((APP, APP_SECRET)),
        &[("token", &token), ("token_type_hint", "foo")],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "unsupported_token_type");
    env.assert_accepted(&token).await;
    // The hints RFC 7009 defines are fine.
    env.revoke_post(
        Some((APP, APP_SECRET)),
        &[("token", &token), ("token_type_hint", "refresh_token")],
    )
    .await
    .assert_empty(StatusCode::OK);
    env.assert_refused(&token).await;
}

#[tokio::test]
async fn revoke_answers_get_and_post_only() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let reply = env
            .send(form_req(
                method,
                "/oauth/token/revoke",
                Some(&client_basic(APP, APP_SECRET)),
                &[("token", &token)],
            ))
            .await;
        reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
        assert_eq!(reply.header(ALLOW), Some("GET, POST"));
    }
    env.assert_accepted(&token).await;
}

// ---------------------------------------------------------------------------------------------
// 4. Opaque tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn opaque_tokens_for_everyone() {
    let env = env_with(TokenFormat::Opaque).await;
    let reply = env
        .token_reply(APP, APP_SECRET, Some("read write"))
        .await
        .assert_json(StatusCode::OK);
    let mut keys: Vec<&str> = reply
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "expires_in", "scope", "token_type"]);
    assert_eq!(reply["token_type"], "Bearer");
    assert_eq!(reply["expires_in"], LIFETIME);
    assert_eq!(reply["scope"], "read write");
    let token = reply["access_token"].as_str().unwrap().to_owned();
    assert_opaque_shape(&token);
    // Every client gets them, each a new one.
    let other = env.token(OTHER, OTHER_SECRET, None).await;
    assert_opaque_shape(&other);
    assert_ne!(other, token);

    let who = env.assert_accepted(&token).await;
    assert_eq!(who["subject"], APP);
    assert_eq!(who["client_id"], APP);
    assert_eq!(who["scopes"], json!(["read", "write"]));
    let who = env.assert_accepted(&other).await;
    assert_eq!(who["subject"], OTHER);
    assert_eq!(who["scopes"], json!(["read"]));

    assert_eq!(
        env.check(&token).await.assert_json(StatusCode::OK),
        json!({"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME, "scope": "read write"})
    );
    env.advance(200);
    assert_eq!(
        env.check(&token).await.assert_json(StatusCode::OK)["expires_in"],
        LIFETIME - 200
    );
    let body = env
        .introspect(OTHER, OTHER_SECRET, &token)
        .await
        .assert_json(StatusCode::OK);
    let jti = body["jti"].clone();
    assert!(jti.as_str().is_some_and(|j| !j.is_empty()), "{body}");
    assert_eq!(
        body,
        json!({
            "active": true, "scope": "read write", "client_id": APP, "sub": APP,
            "exp": NOW + LIFETIME, "iat": NOW, "iss": ISS, "aud": AUD,
            "token_type": "Bearer", "jti": jti,
        })
    );

    // Expires with the clock.
    env.advance(LIFETIME - 201);
    env.assert_accepted(&token).await;
    env.advance(1);
    assert_eq!(env.assert_refused(&token).await, "the token has expired");
    env.check(&token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    env.assert_inactive(&token).await;
    env.assert_refused(&other).await;
    // Still refused once a later write forgets it.
    let fresh = env.token(APP, APP_SECRET, None).await;
    env.assert_refused(&token).await;
    env.assert_accepted(&fresh).await;
}

#[tokio::test]
async fn opaque_tokens_for_one_client_jwts_for_the_others() {
    let env = env().await;
    let opaque = env.token(OPAQUE_APP, OPAQUE_SECRET, Some("write")).await;
    assert_opaque_shape(&opaque);
    let jwt = env.token(APP, APP_SECRET, None).await;
    assert_jwt_shape(&jwt);
    assert_eq!(jwt_claims(&jwt)["client_id"], APP);
    assert_jwt_shape(&env.token(OTHER, OTHER_SECRET, None).await);

    let who = env.assert_accepted(&opaque).await;
    assert_eq!(who["subject"], OPAQUE_APP);
    assert_eq!(who["client_id"], OPAQUE_APP);
    assert_eq!(who["scopes"], json!(["write"]));
    assert_eq!(env.assert_accepted(&jwt).await["subject"], APP);

    let body = env
        .introspect(OTHER, OTHER_SECRET, &opaque)
        .await
        .assert_json(StatusCode::OK);
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], OPAQUE_APP);
    assert_eq!(body["sub"], OPAQUE_APP);
    assert_eq!(body["scope"], "write");
    assert_eq!(body["iat"], NOW);
    assert_eq!(body["exp"], NOW + LIFETIME);
}

#[tokio::test]
async fn opaque_tokens_are_revoked_like_jwts() {
    let env = env().await;
    let a = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    let b = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    let c = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;

    // HENGSHI.
    assert_eq!(env.assert_revoke_get(&a).await, "the token was revoked");
    env.assert_refused(&a).await;
    env.check(&a)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    env.assert_inactive(&a).await;
    assert_eq!(env.assert_revoke_get(&a).await, "the token is not active");

    // RFC 7009: another client may not.
    env.revoke_post(Some((APP, APP_SECRET)), &[("token", &b)])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    env.assert_accepted(&b).await;
    // Its own client may.
    env.revoke_post(Some((OPAQUE_APP, OPAQUE_SECRET)), &[("token", &b)])
        .await
        .assert_empty(StatusCode::OK);
    env.assert_refused(&b).await;
    env.assert_inactive(&b).await;

    // The third lives on; opaque revocations need no revocation list.
    env.assert_accepted(&c).await;
    assert_eq!(env.issuer.tokens().revoked_len(), 0);
}

#[tokio::test]
async fn an_opaque_looking_string_nobody_issued_is_refused() {
    let env = env_with(TokenFormat::Opaque).await;
    let real = env.token(APP, APP_SECRET, None).await;
    env.assert_accepted(&real).await;

    let random = random_opaque();
    assert_opaque_shape(&random);
    env.secret(&random);
    // One character off a real token.
    let mut near = real.clone().into_bytes();
    near[0] = if near[0] == b'A' { b'B' } else { b'A' };
    let near = String::from_utf8(near).unwrap();
    env.secret(&near);

    for fake in [random.as_str(), near.as_str()] {
        env.assert_refused(fake).await;
        env.check(fake)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
        env.assert_inactive(fake).await;
        assert_eq!(env.assert_revoke_get(fake).await, "the token is not active");
        env.revoke_post(Some((APP, APP_SECRET)), &[("token", fake)])
            .await
            .assert_empty(StatusCode::OK);
    }
    // None of that touched the real one.
    env.assert_accepted(&real).await;
}

// ---------------------------------------------------------------------------------------------
// 5. Revocations are remembered only until the token's own expiry
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn revocations_are_remembered_only_until_the_tokens_expiry() {
    let env = env().await;
    // Three tokens issued at NOW (exp NOW + LIFETIME), all revoked.
    let mut early = Vec::new();
    for _ in 0..3 {
        early.push(env.token(APP, APP_SECRET, None).await);
    }
    for token in &early {
        assert_eq!(env.assert_revoke_get(token).await, "the token was revoked");
    }
    assert_eq!(env.issuer.tokens().revoked_len(), 3);

    // Half-way: one more, issued now (exp NOW + 1.5 LIFETIME); nothing has expired yet.
    env.advance(LIFETIME / 2);
    let mid = env.token(APP, APP_SECRET, None).await;
    env.revoke_post(Some((APP, APP_SECRET)), &[("token", &mid)])
        .await
        .assert_empty(StatusCode::OK);
    assert_eq!(env.issuer.tokens().revoked_len(), 4);

    // At the early tokens' expiry: their revocations go, the live one's stays.
    env.advance(LIFETIME / 2);
    let late = env.token(APP, APP_SECRET, None).await;
    env.assert_revoke_get(&late).await;
    assert_eq!(env.issuer.tokens().revoked_len(), 2);
    assert_eq!(env.assert_refused(&mid).await, "the token was revoked");
    for token in &early {
        assert_eq!(env.assert_refused(token).await, "the token has expired");
    }

    // Past every expiry: only the newest revocation is left.
    env.advance(2 * LIFETIME);
    let last = env.token(APP, APP_SECRET, None).await;
    env.assert_revoke_get(&last).await;
    assert_eq!(env.issuer.tokens().revoked_len(), 1);
    env.assert_refused(&last).await;
    env.assert_refused(&mid).await;

    // Opaque revocations are not in the list at all.
    let opaque = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    env.assert_revoke_get(&opaque).await;
    assert_eq!(env.issuer.tokens().revoked_len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 6. Disabling clients and users
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn disabling_a_client_stops_its_tokens_until_it_is_enabled() {
    let env = env().await;
    // Issued at NOW; expired by the time the clients are enabled again.
    let jwt_old = env.token(APP, APP_SECRET, None).await;
    let opaque_old = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    env.advance(LIFETIME / 2);
    let jwt_live = env.token(APP, APP_SECRET, None).await;
    let jwt_revoked = env.token(APP, APP_SECRET, None).await;
    let opaque_live = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    let opaque_revoked = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    let bystander = env.token(OTHER, OTHER_SECRET, None).await;
    let all = [
        &jwt_old,
        &opaque_old,
        &jwt_live,
        &jwt_revoked,
        &opaque_live,
        &opaque_revoked,
    ];
    for token in all {
        env.assert_accepted(token).await;
    }

    assert!(env.clients.set_disabled(APP, true).await.unwrap());
    assert!(env.clients.set_disabled(OPAQUE_APP, true).await.unwrap());
    assert!(!env.clients.set_disabled("nobody", true).await.unwrap());
    // The very next request.
    for token in all {
        assert_eq!(
            env.assert_refused(token).await,
            "the client is disabled or unknown"
        );
        env.check(token)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
        env.assert_inactive(token).await;
    }
    // No new tokens, whichever way the client authenticates.
    for (id, secret) in [(APP, APP_SECRET), (OPAQUE_APP, OPAQUE_SECRET)] {
        env.token_reply(id, secret, None)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
        env.send(form_req(
            Method::POST,
            "/oauth/token",
            Some(&client_basic(id, secret)),
            &[("grant_type", "client_credentials")],
        ))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    // Other clients are not affected.
    env.assert_accepted(&bystander).await;
    env.token(OTHER, OTHER_SECRET, None).await;

    // Revoked while disabled (the holder of a token may always give it up).
    assert_eq!(
        env.assert_revoke_get(&jwt_revoked).await,
        "the token was revoked"
    );
    assert_eq!(
        env.assert_revoke_get(&opaque_revoked).await,
        "the token was revoked"
    );

    // The old ones expire meanwhile.
    env.advance(LIFETIME / 2);
    assert!(env.clients.set_disabled(APP, false).await.unwrap());
    assert!(env.clients.set_disabled(OPAQUE_APP, false).await.unwrap());

    assert_eq!(env.assert_accepted(&jwt_live).await["subject"], APP);
    assert_eq!(
        env.assert_accepted(&opaque_live).await["subject"],
        OPAQUE_APP
    );
    env.check(&jwt_live).await.assert_json(StatusCode::OK);
    env.check(&opaque_live).await.assert_json(StatusCode::OK);
    assert_eq!(
        env.assert_refused(&jwt_revoked).await,
        "the token was revoked"
    );
    env.assert_refused(&opaque_revoked).await;
    env.assert_inactive(&opaque_revoked).await;
    assert_eq!(env.assert_refused(&jwt_old).await, "the token has expired");
    assert_eq!(
        env.assert_refused(&opaque_old).await,
        "the token has expired"
    );
    env.assert_inactive(&jwt_old).await;
    // New tokens again.
    let new = env.token(APP, APP_SECRET, None).await;
    env.assert_accepted(&new).await;
    assert_opaque_shape(&env.token(OPAQUE_APP, OPAQUE_SECRET, None).await);
}

#[tokio::test]
async fn disabling_a_user_stops_basic_login_and_tokens_naming_the_user() {
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let env = env_with(format).await;
        let token = env.token(UID, UID_SECRET, None).await;
        let bystander = env.token(APP, APP_SECRET, None).await;
        let who = env.assert_accepted(&token).await;
        assert_eq!(who["subject"], UID, "{format:?}");
        assert_eq!(who["client_id"], UID);
        let who = env
            .whoami_basic(ALICE, ALICE_PASSWORD)
            .await
            .assert_json(StatusCode::OK);
        assert_eq!(who["subject"], UID);
        assert_eq!(who["client_id"], Value::Null);
        assert_eq!(who["scopes"], json!(["read"]));

        assert!(env.users.set_disabled(UID, true).await.unwrap());
        assert!(!env.users.set_disabled("9999", true).await.unwrap());
        let body = env
            .whoami_basic(ALICE, ALICE_PASSWORD)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
        assert_eq!(body["error_description"], "the account is disabled");
        // Client 1001's token is the client's own (kind "client"), not user 1001's: client ids
        // and uids are separate namespaces, so disabling the user leaves the client alone.
        assert_eq!(env.assert_accepted(&token).await["kind"], "client");
        env.check(&token).await.assert_json(StatusCode::OK);
        // Other users and clients are not affected.
        env.whoami_basic(CAROL, CAROL_PASSWORD)
            .await
            .assert_json(StatusCode::OK);
        env.assert_accepted(&bystander).await;

        assert!(env.users.set_disabled(UID, false).await.unwrap());
        env.whoami_basic(ALICE, ALICE_PASSWORD)
            .await
            .assert_json(StatusCode::OK);
        assert_eq!(env.assert_accepted(&token).await["subject"], UID);
        env.check(&token).await.assert_json(StatusCode::OK);
        // A wrong password is still wrong.
        env.whoami_basic(ALICE, CAROL_PASSWORD)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

/// `UserRegistry::insert` "creates or replaces a user (by uid)". Replacing user 1001 under a
/// new login name leaves the old login name and password in the Basic store, still naming uid
/// 1001; `set_disabled` then disables only the new login name, so the old credentials keep
/// logging in as a disabled user. Replacing the user without a password likewise leaves the
/// old password working, though such a user "cannot log in with Basic".
#[tokio::test]
async fn replacing_a_user_retires_the_old_basic_login() {
    let env = env().await;
    const NEW_PASSWORD: &str = "alice renamed test password 8b1c";
    env.secret(NEW_PASSWORD);
    env.users
        .insert(
            UserAccount::new(UID, "alice.renamed")
                .password(NEW_PASSWORD)
                .scopes(["read"]),
        )
        .await
        .unwrap();
    assert_eq!(
        env.whoami_basic("alice.renamed", NEW_PASSWORD)
            .await
            .assert_json(StatusCode::OK)["subject"],
        UID
    );
    assert!(env.users.set_disabled(UID, true).await.unwrap());
    env.whoami_basic("alice.renamed", NEW_PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // The old login must not let a disabled user in.
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");

    // Nor, once enabled, log in at all: it is no longer the user's login name.
    assert!(env.users.set_disabled(UID, false).await.unwrap());
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");

    // Replaced without a password, the user cannot log in with Basic.
    env.users
        .insert(UserAccount::new(CAROL_UID, CAROL))
        .await
        .unwrap();
    env.whoami_basic(CAROL, CAROL_PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

// ---------------------------------------------------------------------------------------------
// 7. The account admin service over HTTP
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn admin_creates_a_client_whose_secret_works() {
    let env = env().await;
    let admin = env.admin_token().await;
    let reply = env
        .admin_post(
            &admin,
            "/admin/clients",
            r#"{"client_id":"new-app","scopes":["read","write"],"default_scopes":["read"]}"#,
        )
        .await;
    let body = reply.assert_json(StatusCode::CREATED);
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["client_id", "client_secret"]);
    assert_eq!(body["client_id"], "new-app");
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "{secret}");

    let reply = env
        .token_reply("new-app", &secret, None)
        .await
        .assert_json(StatusCode::OK);
    assert_eq!(reply["scope"], "read");
    let token = reply["access_token"].as_str().unwrap().to_owned();
    assert_jwt_shape(&token);
    let who = env.assert_accepted(&token).await;
    assert_eq!(who["subject"], "new-app");
    assert_eq!(who["scopes"], json!(["read"]));
    env.token_reply("new-app", &secret, Some("read write"))
        .await
        .assert_json(StatusCode::OK);
    env.token_reply("new-app", &secret, Some("admin"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    env.token_reply("new-app", "not the secret", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // One that wants opaque tokens.
    let body = env
        .admin_post(
            &admin,
            "/admin/clients",
            r#"{"client_id":"opaque-new","scopes":["read"],"token_format":"opaque"}"#,
        )
        .await
        .assert_json(StatusCode::CREATED);
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    let token = env.token("opaque-new", &secret, None).await;
    assert_opaque_shape(&token);
    assert_eq!(env.assert_accepted(&token).await["subject"], "opaque-new");
    // And an explicit jwt.
    let body = env
        .admin_post(
            &admin,
            "/admin/clients",
            r#"{"client_id":"jwt-new","token_format":"jwt"}"#,
        )
        .await
        .assert_json(StatusCode::CREATED);
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    let reply = env
        .token_reply("jwt-new", &secret, None)
        .await
        .assert_json(StatusCode::OK);
    assert_eq!(reply["scope"], "");
    assert_jwt_shape(reply["access_token"].as_str().unwrap());
}

#[tokio::test]
async fn admin_client_creation_refuses_duplicates_and_bad_bodies() {
    let env = env().await;
    let admin = env.admin_token().await;
    // An existing client: 409, and its secret is unchanged.
    let body = env
        .admin_post(&admin, "/admin/clients", r#"{"client_id":"reporting-app"}"#)
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_request");
    assert!(body.get("client_secret").is_none());
    env.token(APP, APP_SECRET, None).await;
    env.admin_post(&admin, "/admin/clients", r#"{"client_id":"dup"}"#)
        .await
        .assert_json(StatusCode::CREATED);
    env.admin_post(&admin, "/admin/clients", r#"{"client_id":"dup"}"#)
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_request");

    for bad in [
        "",
        "not json",
        "[]",
        r#"{"scopes":["read"]}"#,
        r#"{"client_id":42}"#,
        r#"{"client_id":"x1","client_secret":"chosen by the caller"}"#,
        r#"{"client_id":"x2","scopes":"read"}"#,
        r#"{"client_id":"x3","token_format":"paseto"}"#,
        r#"{"client_id":"x4","token_format":"JWT"}"#,
        r#"{"client_id":"x5","scopes":["read write"]}"#,
        r#"{"client_id":"x6","scopes":["read"],"default_scopes":["write"]}"#,
        r#"{"client_id":""}"#,
    ] {
        let reply = env.admin_post(&admin, "/admin/clients", bad).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    for id in ["x1", "x2", "x3", "x4", "x5", "x6", ""] {
        assert!(!env.clients.contains(id).await.unwrap(), "{id}");
    }
}

#[tokio::test]
async fn admin_rotates_a_client_secret() {
    let env = env().await;
    let admin = env.admin_token().await;
    let old = env.token(APP, APP_SECRET, None).await;
    let reply = env
        .admin_post(&admin, "/admin/clients/reporting-app/rotate-secret", "")
        .await;
    let body = reply.assert_json(StatusCode::OK);
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["client_id", "client_secret"]);
    assert_eq!(body["client_id"], APP);
    let new_secret = body["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, APP_SECRET);

    env.token_reply(APP, APP_SECRET, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    env.token(APP, &new_secret, None).await;
    // Introspection and revocation authenticate with the new secret too.
    env.introspect(APP, APP_SECRET, &old)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(
        env.introspect(APP, &new_secret, &old)
            .await
            .assert_json(StatusCode::OK)["active"],
        true
    );

    // Rotating again retires the second secret.
    let again = env
        .admin_post(&admin, "/admin/clients/reporting-app/rotate-secret", "")
        .await
        .assert_json(StatusCode::OK);
    let third = again["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(third, new_secret);
    env.token_reply(APP, &new_secret, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    env.token(APP, &third, None).await;
}

#[tokio::test]
async fn admin_disables_and_enables_a_client() {
    let env = env().await;
    let admin = env.admin_token().await;
    let token = env.token(APP, APP_SECRET, None).await;
    env.assert_accepted(&token).await;

    let reply = env
        .admin_post(&admin, "/admin/clients/reporting-app/disable", "")
        .await;
    reply.assert_empty(StatusCode::NO_CONTENT);
    assert!(!env.clients.is_active(APP).await.unwrap());
    env.assert_refused(&token).await;
    env.token_reply(APP, APP_SECRET, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // Disabling twice is fine.
    env.admin_post(&admin, "/admin/clients/reporting-app/disable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);

    env.admin_post(&admin, "/admin/clients/reporting-app/enable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    assert!(env.clients.is_active(APP).await.unwrap());
    env.assert_accepted(&token).await;
    env.token(APP, APP_SECRET, None).await;

    // An admin that disables its own client locks itself out on the next request.
    env.admin_post(&admin, "/admin/clients/admin-console/disable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    env.admin_post(&admin, "/admin/clients/reporting-app/disable", "")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert!(env.clients.is_active(APP).await.unwrap());
}

#[tokio::test]
async fn admin_creates_a_user_whose_password_works() {
    let env = env().await;
    let admin = env.admin_token().await;
    const BOB_PASSWORD: &str = "bob test password 6f2e";
    env.secret(BOB_PASSWORD);
    let body = format!(
        r#"{{"uid":"2002","login_name":"bob","password":"{BOB_PASSWORD}","email":"bob@example.com","scopes":["read"],"roles":["analyst"]}}"#
    );
    let reply = env.admin_post(&admin, "/admin/users", &body).await;
    assert_eq!(
        reply.assert_json(StatusCode::CREATED),
        json!({"created": true})
    );
    assert!(env.users.contains("2002"));

    let who = env
        .whoami_basic("bob", BOB_PASSWORD)
        .await
        .assert_json(StatusCode::OK);
    assert_eq!(who["subject"], "2002");
    assert_eq!(who["scopes"], json!(["read"]));
    env.whoami_basic("bob", "not the password")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");

    // The same uid again: 409, and the first password still works.
    let again = format!(r#"{{"uid":"2002","login_name":"bob2","password":"{BOB_PASSWORD}x"}}"#);
    env.secret(&format!("{BOB_PASSWORD}x"));
    env.admin_post(&admin, "/admin/users", &again)
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_request");
    env.whoami_basic("bob", BOB_PASSWORD)
        .await
        .assert_json(StatusCode::OK);
    env.whoami_basic("bob2", &format!("{BOB_PASSWORD}x"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // Another uid with a login name in use: 409, and alice keeps hers.
    let taken = format!(r#"{{"uid":"3003","login_name":"alice","password":"{BOB_PASSWORD}"}}"#);
    env.admin_post(&admin, "/admin/users", &taken)
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_request");
    assert!(!env.users.contains("3003"));
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_json(StatusCode::OK);

    // Bad bodies (one carrying a password in an unknown field).
    for bad in [
        "",
        "{}",
        r#"{"uid":"4004"}"#,
        r#"{"uid":"4004","login_name":""}"#,
        r#"{"uid":"","login_name":"dave"}"#,
        r#"{"uid":"4004","login_name":"dave","pasword":"bob test password 6f2e"}"#,
    ] {
        env.admin_post(&admin, "/admin/users", bad)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert!(!env.users.contains("4004"));

    // A user without a password exists but cannot log in with Basic.
    env.admin_post(
        &admin,
        "/admin/users",
        r#"{"uid":"5005","login_name":"erin"}"#,
    )
    .await
    .assert_json(StatusCode::CREATED);
    assert!(env.users.contains("5005"));
    env.whoami_basic("erin", "")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn admin_disables_and_enables_a_user() {
    let env = env().await;
    let admin = env.admin_token().await;
    let token = env.token(UID, UID_SECRET, None).await;
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_json(StatusCode::OK);

    env.admin_post(&admin, "/admin/users/1001/disable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    assert!(env.users.is_disabled(UID));
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // Client 1001 is not user 1001 (separate namespaces): its token still works.
    env.assert_accepted(&token).await;
    env.whoami_basic(CAROL, CAROL_PASSWORD)
        .await
        .assert_json(StatusCode::OK);

    env.admin_post(&admin, "/admin/users/1001/enable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    assert!(!env.users.is_disabled(UID));
    env.whoami_basic(ALICE, ALICE_PASSWORD)
        .await
        .assert_json(StatusCode::OK);
    env.assert_accepted(&token).await;
}

#[tokio::test]
async fn admin_unknown_clients_users_and_operations_are_404() {
    let env = env().await;
    let admin = env.admin_token().await;
    for path in [
        "/admin/clients/nobody/disable",
        "/admin/clients/nobody/enable",
        "/admin/clients/nobody/rotate-secret",
        "/admin/users/9999/disable",
        "/admin/users/9999/enable",
        "/admin/clients/reporting-app/delete",
        "/admin/clients/reporting-app",
        "/admin/users/1001",
        "/admin/users/1001/rotate-secret",
        "/admin/users/1001/disable/now",
    ] {
        let reply = env.admin_post(&admin, path, "").await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.body
        );
        reply.assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert!(!env.clients.contains("nobody").await.unwrap());
    assert!(env.clients.is_active(APP).await.unwrap());
    assert!(!env.users.is_disabled(UID));
}

#[tokio::test]
async fn admin_needs_a_principal_with_the_admin_scope() {
    let env = env().await;
    let create = r#"{"client_id":"sneaky"}"#;
    // No credential: the layer answers 401.
    let reply = env.send(json_req("/admin/clients", None, create)).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // A bad token: 401 invalid_token.
    env.send(json_req("/admin/clients", Some(&bearer("garbage")), create))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // Authenticated without the scope: a client token, a Basic user, an admin client's token
    // issued without the admin scope.
    let plain = env.token(APP, APP_SECRET, Some("read write")).await;
    let body = env
        .admin_post(&plain, "/admin/clients", create)
        .await
        .assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
    assert!(body["error_description"].is_string());
    env.send(json_req(
        "/admin/clients",
        Some(&user_basic(ALICE, ALICE_PASSWORD)),
        create,
    ))
    .await
    .assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
    let admin_read = env.token(ADMIN, ADMIN_SECRET, Some("read")).await;
    for path in [
        "/admin/clients/reporting-app/disable",
        "/admin/clients/reporting-app/rotate-secret",
        "/admin/users/1001/disable",
    ] {
        env.admin_post(&admin_read, path, "")
            .await
            .assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
    }
    env.admin_post(
        &admin_read,
        "/admin/users",
        r#"{"uid":"6006","login_name":"mallory","password":"mallory pw"}"#,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
    assert!(!env.clients.contains("sneaky").await.unwrap());
    assert!(!env.users.contains("6006"));
    assert!(env.clients.is_active(APP).await.unwrap());
    assert!(!env.users.is_disabled(UID));
    env.token(APP, APP_SECRET, None).await;

    // Mounted without a layer, the service itself refuses a request without a principal.
    let bare = AccountAdmin::new(env.clients.clone(), env.users.clone()).prefix("/admin");
    let response = bare
        .oneshot(json_req("/admin/clients", None, create))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert!(!env.clients.contains("sneaky").await.unwrap());
}

#[tokio::test]
async fn admin_answers_only_post() {
    let env = env().await;
    let admin = env.admin_token().await;
    for path in [
        "/admin/clients",
        "/admin/clients/reporting-app/disable",
        "/admin/users",
        "/admin/users/1001/disable",
    ] {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let reply = env
                .send(
                    request(method.clone(), path, Some(&bearer(&admin)))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
            reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
        }
    }
    assert!(env.clients.is_active(APP).await.unwrap());
    assert!(!env.users.is_disabled(UID));
}

/// A client id or uid that needs percent-encoding in a URL (RFC 3986 §2.1) is accepted by
/// `POST /admin/clients` / `/admin/users`, but the per-account routes compare the raw,
/// still-encoded path segment with the registered id, so such an account can never be
/// disabled, enabled or rotated over HTTP.
#[tokio::test]
async fn admin_routes_percent_decode_account_ids() {
    let env = env().await;
    let admin = env.admin_token().await;
    env.admin_post(&admin, "/admin/clients", r#"{"client_id":"billing app"}"#)
        .await
        .assert_json(StatusCode::CREATED);
    assert!(env.clients.contains("billing app").await.unwrap());
    env.admin_post(&admin, "/admin/clients/billing%20app/disable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    assert!(!env.clients.is_active("billing app").await.unwrap());

    env.admin_post(
        &admin,
        "/admin/users",
        r#"{"uid":"ops:7","login_name":"ops seven","password":"ops seven pw"}"#,
    )
    .await
    .assert_json(StatusCode::CREATED);
    env.admin_post(&admin, "/admin/users/ops%3A7/disable", "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    assert!(env.users.is_disabled("ops:7"));
}

/// `POST /admin/clients` checks `contains` and then `register`s (which replaces), with the
/// slow argon2 hash of the new secret in between: two concurrent creations of one id both
/// answer 201 with a secret, and only the second secret works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creation_of_one_client_yields_one_201() {
    let env = std::sync::Arc::new(env().await);
    let admin = env.admin_token().await;
    for round in 0..3 {
        let id = format!("raced-{round}");
        let body = format!(r#"{{"client_id":"{id}"}}"#);
        let spawn = |env: std::sync::Arc<Env>, admin: String, body: String| {
            tokio::spawn(async move { env.admin_post(&admin, "/admin/clients", &body).await })
        };
        let a = spawn(env.clone(), admin.clone(), body.clone());
        let b = spawn(env.clone(), admin.clone(), body);
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "{id}: {} / {}",
            a.body,
            b.body
        );
        // Whoever got 201 holds a working secret.
        let created = if a.status == StatusCode::CREATED {
            a
        } else {
            b
        };
        let secret = created.json()["client_secret"].as_str().unwrap().to_owned();
        env.token(&id, &secret, None).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 8. No secret in any error
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_secret_comes_back_in_an_error() {
    let env = env().await;
    let token = env.token(APP, APP_SECRET, None).await;
    let other_token = env.token(OTHER, OTHER_SECRET, None).await;
    let admin = env.admin_token().await;
    let mut errors: Vec<Reply> = Vec::new();

    // Token endpoint: a real secret for the wrong client, a secret as the id, a secret twice,
    // two authentication methods, a scope the client may not have.
    errors.push(env.token_reply(OTHER, APP_SECRET, None).await);
    errors.push(env.token_reply(APP_SECRET, APP_SECRET, None).await);
    errors.push(
        env.send(form_req(
            Method::POST,
            "/oauth/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_secret", APP_SECRET),
                ("client_secret", OTHER_SECRET),
            ],
        ))
        .await,
    );
    errors.push(
        env.send(form_req(
            Method::POST,
            "/oauth/token",
            Some(&client_basic(APP, APP_SECRET)),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", APP_SECRET),
            ],
        ))
        .await,
    );
    errors.push(env.token_reply(APP, APP_SECRET, Some("admin")).await);
    errors.push(env.token_reply(APP, &token, None).await);
    // Basic users: a wrong password that is another user's, a disabled user's right one.
    errors.push(env.whoami_basic(ALICE, CAROL_PASSWORD).await);
    env.users.set_disabled(CAROL_UID, true).await.unwrap();
    errors.push(env.whoami_basic(CAROL, CAROL_PASSWORD).await);
    // Tokens: revoked, expired later, another client's, tokens as credentials where they are not.
    env.assert_revoke_get(&token).await;
    errors.push(env.whoami(&token).await);
    errors.push(env.check(&token).await);
    errors.push(
        env.revoke_post(Some((APP, APP_SECRET)), &[("token", &other_token)])
            .await,
    );
    errors.push(env.introspect(APP, &other_token, &other_token).await);
    errors.push(
        env.send(form_req(
            Method::POST,
            "/oauth/token/check",
            None,
            &[("token", &other_token)],
        ))
        .await,
    );
    // Admin: a duplicate user with a password, a body that does not parse.
    env.secret("eve test password 1a2b");
    errors.push(
        env.admin_post(
            &admin,
            "/admin/users",
            r#"{"uid":"1001","login_name":"eve","password":"eve test password 1a2b"}"#,
        )
        .await,
    );
    errors.push(
        env.admin_post(
            &admin,
            "/admin/users",
            r#"{"uid":"7007","login_name":"eve","password":"eve test password 1a2b","x":1}"#,
        )
        .await,
    );
    errors.push(
        env.admin_post(
            &admin,
            "/admin/clients",
            r#"{"client_id":"reporting-app","client_secret":"reporting-app test secret 7d41"}"#,
        )
        .await,
    );
    env.advance(LIFETIME);
    errors.push(env.whoami(&other_token).await);
    errors.push(env.check(&other_token).await);

    let secrets: Vec<String> = env.secrets.lock().unwrap().clone();
    assert!(secrets.contains(&token) && secrets.contains(&admin));
    for reply in &errors {
        assert!(
            reply.status.is_client_error(),
            "{}: {}",
            reply.status,
            reply.body
        );
        let text = reply.everything();
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{secret} in {text}");
        }
    }
    // Sanity of the scan itself: a success that carries the token does contain it.
    let fresh = env.token(OTHER, OTHER_SECRET, None).await;
    assert!(env.check(&fresh).await.everything().contains(&fresh));
}
