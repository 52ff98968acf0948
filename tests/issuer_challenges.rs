//! Every 401 the issuer answers carries a `WWW-Authenticate` challenge (RFC 9110 §11.6.1):
//! `Basic realm="…", charset="UTF-8"` where a client failed to authenticate (RFC 6749 §5.2,
//! however it tried), `Bearer realm="…", error="invalid_token", …` where the token check
//! refuses a token (RFC 6750 §3). Token answers carry `Cache-Control: no-store` and
//! `Pragma: no-cache` (RFC 6749 §5.1).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;
use tower_gatekeeper::accounts::{UserAccount, UserRegistry};
use tower_gatekeeper::clock::ManualClock;
use tower_gatekeeper::issuer::{Client, ClientRegistry, SigningKey, TokenIssuer};

const APP: &str = "challenge-app";
const APP_SECRET: &str = "challenge-app test secret";
/// A client whose id is also the uid of a user, who gets disabled.
const UID: &str = "2001";
const UID_SECRET: &str = "client-2001 test secret";

struct Env {
    issuer: TokenIssuer,
    users: UserRegistry,
    clock: ManualClock,
}

async fn env_with_realm(realm: Option<&str>) -> Env {
    let clients = ClientRegistry::new();
    clients
        .register(Client::new(APP, APP_SECRET).allowed_scopes(["read"]))
        .await
        .unwrap();
    clients
        .register(Client::new(UID, UID_SECRET).allowed_scopes(["read"]))
        .await
        .unwrap();
    let users = UserRegistry::new();
    users.insert(UserAccount::new(UID, "dora")).await.unwrap();
    let clock = ManualClock::at_unix(1_700_000_000);
    let mut builder = TokenIssuer::builder(SigningKey::hs256(&[5u8; 32]).unwrap())
        .clients(clients)
        .users(users.clone())
        .lifetime(Duration::from_secs(60))
        .clock(clock.clone());
    if let Some(realm) = realm {
        builder = builder.realm(realm);
    }
    Env {
        issuer: builder.build(),
        users,
        clock,
    }
}

async fn env() -> Env {
    env_with_realm(None).await
}

impl Env {
    fn app(&self) -> Router {
        let i = &self.issuer;
        Router::new()
            .route_service("/token", i.token_endpoint().allow_get(true))
            .route_service("/check", i.check_endpoint())
            .route_service("/introspect", i.introspection_endpoint())
            .route_service("/revoke", i.revocation_endpoint())
    }

    async fn token(&self) -> String {
        let reply = send(&self.app(), post("/token", &cc(APP, APP_SECRET), None)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()["access_token"].as_str().unwrap().to_owned()
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn challenge(&self) -> &str {
        self.headers
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("a 401 without a challenge: {}", self.body))
    }

    /// 401 `invalid_client` with the Basic challenge of `realm`.
    #[track_caller]
    fn assert_client_challenge(&self, realm: &str) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{}", self.body);
        assert_eq!(self.json()["error"], "invalid_client", "{}", self.body);
        assert_eq!(
            self.challenge(),
            format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")
        );
        assert_eq!(self.headers[CACHE_CONTROL], "no-store");
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn cc(id: &str, secret: &str) -> String {
    form(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ])
}

fn post(uri: &str, body: &str, auth: Option<&str>) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(auth) = auth {
        request = request.header(AUTHORIZATION, auth);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn get(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Client authentication: a Basic challenge however the client tried
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn token_requests_that_fail_client_authentication_carry_a_basic_challenge() {
    let env = env().await;
    let app = env.app();
    let grant = "grant_type=client_credentials";
    let cases: Vec<(&str, Request<Body>)> = vec![
        (
            "wrong secret in the body",
            post("/token", &cc(APP, "wrong"), None),
        ),
        (
            "unknown client in the body",
            post("/token", &cc("nobody", "x"), None),
        ),
        ("no client credentials at all", post("/token", grant, None)),
        (
            "a client_id without a secret",
            post("/token", &format!("{grant}&client_id={APP}"), None),
        ),
        (
            "wrong secret in a Basic header",
            post("/token", grant, Some(&basic(APP, "wrong"))),
        ),
        (
            "malformed Basic credentials",
            post("/token", grant, Some("Basic !!!not-base64")),
        ),
        (
            "Basic without a colon",
            post(
                "/token",
                grant,
                Some(&format!("Basic {}", STANDARD.encode("nocolon"))),
            ),
        ),
        ("another scheme", post("/token", grant, Some("Bearer abc"))),
        (
            "wrong secret in the query (GET form)",
            get(&format!("/token?{}", cc(APP, "wrong"))),
        ),
    ];
    for (what, request) in cases {
        let reply = send(&app, request).await;
        reply.assert_client_challenge("token");
        assert!(!reply.body.contains("wrong\""), "{what}");
    }
}

#[tokio::test]
async fn a_disabled_user_sharing_a_clients_id_does_not_lock_the_client_out() {
    // Clients and users are separate namespaces: disabling user `UID` says nothing about
    // client `UID`. Disabling the client itself is what ends its authentication, with a
    // challenge.
    let env = env().await;
    let app = env.app();
    let grant = "grant_type=client_credentials";
    let reply = send(&app, post("/token", grant, Some(&basic(UID, UID_SECRET)))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(env.users.set_disabled(UID, true).await.unwrap());
    let reply = send(&app, post("/token", grant, Some(&basic(UID, UID_SECRET)))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(env.issuer.clients().set_disabled(UID, true).await.unwrap());
    for request in [
        post("/token", grant, Some(&basic(UID, UID_SECRET))),
        post("/token", &cc(UID, UID_SECRET), None),
    ] {
        send(&app, request).await.assert_client_challenge("token");
    }
}

#[tokio::test]
async fn introspection_and_revocation_without_client_authentication_carry_a_challenge() {
    let env = env().await;
    let app = env.app();
    let token = env.token().await;
    for path in ["/introspect", "/revoke"] {
        let body = form(&[("token", &token)]);
        let with_body_secret = form(&[
            ("token", &token),
            ("client_id", APP),
            ("client_secret", "wrong"),
        ]);
        for request in [
            post(path, &body, None),
            post(path, &body, Some(&basic(APP, "wrong"))),
            post(path, &body, Some(&basic("nobody", "x"))),
            post(path, &with_body_secret, None),
            post(path, &body, Some("Basic ===")),
        ] {
            send(&app, request).await.assert_client_challenge("token");
        }
    }
    // None of that revoked anything.
    let reply = send(&app, get(&format!("/check?token={token}"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn the_realm_is_configurable_and_quoted() {
    for (realm, shown) in [
        ("orders", "orders"),
        (r#"say "hi" \ bye"#, r#"say \"hi\" \\ bye"#),
    ] {
        let env = env_with_realm(Some(realm)).await;
        let reply = send(&env.app(), post("/token", &cc(APP, "wrong"), None)).await;
        reply.assert_client_challenge(shown);
        let reply = send(&env.app(), get("/check?token=not.a.token")).await;
        assert!(
            reply
                .challenge()
                .starts_with(&format!("Bearer realm=\"{shown}\"")),
            "{}",
            reply.challenge()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The token check: a Bearer challenge with error="invalid_token"
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_check_refuses_bad_tokens_with_a_bearer_challenge() {
    let env = env().await;
    let app = env.app();
    let expired = env.token().await;
    env.clock.advance(Duration::from_secs(120));
    let revoked = env.token().await;
    let reply = send(
        &app,
        post(
            "/revoke",
            &form(&[("token", &revoked)]),
            Some(&basic(APP, APP_SECRET)),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    for token in [
        "not.a.token",
        "opaque-but-unknown",
        expired.as_str(),
        revoked.as_str(),
    ] {
        let reply = send(&app, get(&format!("/check?token={token}"))).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert_eq!(reply.json()["error"], "invalid_token");
        let challenge = reply.challenge();
        assert!(
            challenge.starts_with("Bearer realm=\"token\""),
            "{challenge}"
        );
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(challenge.contains("error_description=\""), "{challenge}");
        // The token is not echoed in the challenge.
        assert!(!challenge.contains(token), "{challenge}");
    }
    // A missing token is a malformed request, not an authentication failure.
    let reply = send(&app, get("/check")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// Every 401, whatever the request
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_401_from_any_endpoint_goes_without_a_challenge() {
    let env = env().await;
    let app = env.app();
    let token = env.token().await;
    let grant = "grant_type=client_credentials";
    let auths = [
        None,
        Some(basic(APP, "wrong")),
        Some(basic("", "")),
        Some("Basic".to_owned()),
        Some("basic Zm9vOmJhcg==".to_owned()),
        Some("Bearer x".to_owned()),
    ];
    let mut seen = 0;
    for path in ["/token", "/introspect", "/revoke", "/check"] {
        for auth in &auths {
            for body in [
                grant.to_owned(),
                cc(APP, "wrong"),
                form(&[("token", &token)]),
                form(&[("token", &token), ("client_id", APP)]),
            ] {
                for method in [Method::POST, Method::GET] {
                    let mut request = Request::builder()
                        .method(method.clone())
                        .uri(format!("{path}?{body}"))
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                    if let Some(auth) = auth {
                        request = request.header(AUTHORIZATION, auth);
                    }
                    let reply = send(&app, request.body(Body::from(body.clone())).unwrap()).await;
                    if reply.status == StatusCode::UNAUTHORIZED {
                        seen += 1;
                        let _ = reply.challenge();
                    }
                }
            }
        }
    }
    assert!(seen > 20, "only {seen} 401s were tried");
}

#[tokio::test]
async fn token_answers_are_not_cached() {
    let env = env().await;
    let app = env.app();
    let reply = send(&app, post("/token", &cc(APP, APP_SECRET), None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[CACHE_CONTROL], "no-store");
    assert_eq!(reply.headers[PRAGMA], "no-cache");
    let reply = send(&app, post("/token", &cc(APP, "wrong"), None)).await;
    assert_eq!(reply.headers[CACHE_CONTROL], "no-store");
    assert_eq!(reply.headers[PRAGMA], "no-cache");
}

/// `Basic` followed by a tab (or other junk) is malformed Basic credentials, not another
/// scheme to pass over: passed over, body credentials beside it would count as the only
/// client authentication method (RFC 6749 §2.3) and get a token.
#[tokio::test]
async fn basic_followed_by_junk_is_malformed_not_passed_over() {
    let env = env().await;
    let b64 = STANDARD.encode(format!("{UID}:{UID_SECRET}"));
    for header in [
        format!("Basic\t{b64}"),
        format!("basic:{b64}"),
        format!("Basic,{b64}"),
    ] {
        let reply = send(
            &env.app(),
            post("/token", &cc(APP, APP_SECRET), Some(&header)),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{header:?}: {}",
            reply.body
        );
        assert_eq!(reply.json()["error"], "invalid_client", "{header:?}");
        assert!(!reply.body.contains("access_token"), "{header:?}");
    }
    // With a space it is the Basic method, and beside body credentials two methods: 400.
    let reply = send(
        &env.app(),
        post(
            "/token",
            &cc(APP, APP_SECRET),
            Some(&format!("Basic {b64}")),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    // Another scheme that starts like it is passed over, as any scheme the endpoint does not take.
    let reply = send(
        &env.app(),
        post("/token", &cc(APP, APP_SECRET), Some("BasicX abc")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}
