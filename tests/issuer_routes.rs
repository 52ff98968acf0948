//! The issuer's routing and request limits: one service per endpoint, each answering exactly
//! where it is mounted (anything else is the router's 404); 405 with `Allow` on every route;
//! the seeds' GET forms off unless switched on; bodies bounded in size (413) and time (408).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;
use tower_gatekeeper::issuer::{Client, ClientRegistry, SigningKey, TokenIssuer};

const APP: &str = "routes-app";
const FORM: &str = "application/x-www-form-urlencoded";

struct Env {
    issuer: TokenIssuer,
    secret: String,
}

async fn env() -> Env {
    let clients = ClientRegistry::new();
    let secret = ClientRegistry::generate_secret();
    clients
        .register(Client::with_generated_secret(APP, &secret).allowed_scopes(["read"]))
        .await
        .unwrap();
    let issuer = TokenIssuer::builder(SigningKey::hs256(&[3u8; 32]).unwrap())
        .clients(clients)
        .build();
    Env { issuer, secret }
}

impl Env {
    /// Mounted as the quickstart mounts it, with the library's defaults (GET forms off).
    fn app(&self) -> Router {
        let i = &self.issuer;
        Router::new()
            .route_service("/oauth/token", i.token_endpoint())
            .route_service("/oauth/token/check", i.check_endpoint())
            .route_service("/oauth/token/introspect", i.introspection_endpoint())
            .route_service("/oauth/token/revoke", i.revocation_endpoint())
    }

    /// The same with the seeds' GET forms switched on.
    fn compat_app(&self) -> Router {
        let i = &self.issuer;
        Router::new()
            .route_service("/oauth/token", i.token_endpoint().allow_get(true))
            .route_service("/oauth/token/check", i.check_endpoint())
            .route_service("/oauth/token/introspect", i.introspection_endpoint())
            .route_service(
                "/oauth/token/revoke",
                i.revocation_endpoint().allow_get_by_possession(true),
            )
    }

    fn cc(&self) -> String {
        form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", &self.secret),
        ])
    }

    async fn token(&self) -> String {
        let reply = send(&self.app(), post("/oauth/token", self.cc())).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()["access_token"].as_str().unwrap().to_owned()
    }

    async fn is_live(&self, token: &str) -> bool {
        let uri = format!("/oauth/token/check?token={token}");
        send(&self.app(), get(&uri)).await.status == StatusCode::OK
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

    fn header(&self, name: http::header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    #[track_caller]
    fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.json()["error"], code, "{}", self.body);
        assert!(self.json().get("access_token").is_none());
        assert_eq!(self.header(CACHE_CONTROL), Some("no-store"));
    }
}

async fn reply_of<B>(response: Response<B>) -> Reply
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    reply_of(app.clone().oneshot(request).await.unwrap()).await
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn post(uri: &str, body: String) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(CONTENT_TYPE, FORM)
        .body(Body::from(body))
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

fn request(method: Method, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(CONTENT_TYPE, FORM)
        .body(Body::empty())
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Exact routes
// ---------------------------------------------------------------------------------------------

/// The old endpoint served any unknown last segment as the token endpoint.
#[tokio::test]
async fn unknown_paths_beside_the_endpoints_are_not_found() {
    let env = env().await;
    for path in [
        "/oauth/token/anything",
        "/oauth/token/token",
        "/oauth/token/check/extra",
        "/oauth/token/revoke/x",
        "/oauth/token/introspect/",
        "/oauth/anything/revoke",
        "/oauth/token/ch%65ck",
        "/oauth/tokens",
    ] {
        for app in [env.app(), env.compat_app()] {
            let reply = send(&app, post(path, env.cc())).await;
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "{path}: {}",
                reply.body
            );
            assert!(!reply.body.contains("access_token"), "{path}");
        }
    }
}

/// Each service answers whatever path it is mounted on, and only its own operation there.
#[tokio::test]
async fn each_service_does_its_own_operation_wherever_it_is_mounted() {
    let env = env().await;
    let i = &env.issuer;
    let app = Router::new()
        .route_service("/a/b/issue", i.token_endpoint())
        .route_service("/x/revoke", i.check_endpoint())
        .route_service("/x/check", i.revocation_endpoint())
        .route_service("/{tenant}/inspect", i.introspection_endpoint());

    let reply = send(&app, post("/a/b/issue", env.cc())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();

    // The check mounted at ".../revoke" checks; it does not revoke.
    let reply = send(&app, get(&format!("/x/revoke?token={token}"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["access_token"], token.as_str());
    // The revocation mounted at ".../check" takes POST only (GET by possession is off).
    let reply = send(&app, get(&format!("/x/check?token={token}"))).await;
    reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert!(env.is_live(&token).await);

    let body = form(&[
        ("token", &token),
        ("client_id", APP),
        ("client_secret", &env.secret),
    ]);
    let reply = send(&app, post("/any-tenant/inspect", body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["active"], true);
}

// ---------------------------------------------------------------------------------------------
// 405 with Allow
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_405_names_the_allowed_methods() {
    let env = env().await;
    let others = [
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::from_bytes(b"PROPFIND").unwrap(),
    ];
    let cases: [(&str, bool, &[Method], &str); 8] = [
        ("/oauth/token", false, &[Method::GET], "POST"),
        ("/oauth/token", true, &[], "GET, POST"),
        ("/oauth/token/check", false, &[Method::POST], "GET"),
        ("/oauth/token/check", true, &[Method::POST], "GET"),
        ("/oauth/token/introspect", false, &[Method::GET], "POST"),
        ("/oauth/token/introspect", true, &[Method::GET], "POST"),
        ("/oauth/token/revoke", false, &[Method::GET], "POST"),
        ("/oauth/token/revoke", true, &[], "GET, POST"),
    ];
    for (path, compat, refused, allow) in cases {
        let app = if compat { env.compat_app() } else { env.app() };
        for method in others.iter().chain(refused) {
            let reply = send(&app, request(method.clone(), path)).await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} (compat {compat}): {}",
                reply.body
            );
            assert_eq!(reply.header(ALLOW), Some(allow), "{method} {path}");
            if *method != Method::HEAD {
                assert_eq!(reply.json()["error"], "invalid_request");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The GET forms are opt-in
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn get_token_requests_are_refused_unless_switched_on() {
    let env = env().await;
    let uri = format!("/oauth/token?{}", env.cc());
    let reply = send(&env.app(), get(&uri)).await;
    reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert_eq!(reply.header(ALLOW), Some("POST"));
    // The secret in the URL is not echoed back.
    assert!(!reply.body.contains(&env.secret));

    let reply = send(&env.compat_app(), get(&uri)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.json()["access_token"].is_string());
}

#[tokio::test]
async fn get_revocation_by_possession_is_refused_unless_switched_on() {
    let env = env().await;
    let token = env.token().await;
    let uri = format!("/oauth/token/revoke?token={token}");

    // Off: 405, and the token stays live.
    let reply = send(&env.app(), get(&uri)).await;
    reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert_eq!(reply.header(ALLOW), Some("POST"));
    assert!(env.is_live(&token).await);

    // On: HENGSHI's answer, and the token is gone.
    let reply = send(&env.compat_app(), get(&uri)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["code"], 0);
    assert!(!env.is_live(&token).await);
}

#[tokio::test]
async fn get_revocation_by_possession_says_what_is_wrong_with_the_query() {
    let env = env().await;
    let token = env.token().await;
    for query in [
        format!("token={token}&token={token}"),
        format!("token={token}&token=another"),
        format!("token=&token={token}&tok%65n={token}"),
    ] {
        let uri = format!("/oauth/token/revoke?{query}");
        let reply = send(&env.compat_app(), get(&uri)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.json()["msg"], "the parameter token is repeated");
        assert!(env.is_live(&token).await);
    }
    // Anything else in the query is ignored, repeated or not, however many (RFC 6749 §3.2),
    // and an empty `token` is an omitted one.
    let fillers: String = (0..200).map(|i| format!("&x{}=1", i % 10)).collect();
    let uri = format!(
        "/oauth/token/revoke?token=&token={token}&token_type_hint=a&token_type_hint=b{fillers}"
    );
    let reply = send(&env.compat_app(), get(&uri)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["msg"], "the token was revoked");
    assert!(!env.is_live(&token).await);
}

// ---------------------------------------------------------------------------------------------
// Body size: 413
// ---------------------------------------------------------------------------------------------

/// A body of `chunks` × 1 KiB with no declared length.
struct Chunked {
    left: usize,
}

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'a'; 1024])))))
    }
}

#[tokio::test]
async fn an_oversized_body_is_413_at_every_endpoint_that_reads_one() {
    let env = env().await;
    let padding = "x".repeat(20 * 1024);
    for path in [
        "/oauth/token",
        "/oauth/token/introspect",
        "/oauth/token/revoke",
    ] {
        // Declared too large.
        let body = format!("{}&padding={padding}", env.cc());
        let reply = send(&env.app(), post(path, body)).await;
        reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");

        // Streamed without a length, past the limit.
        let streamed = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(CONTENT_TYPE, FORM)
            .body(Body::new(Chunked { left: 40 }))
            .unwrap();
        let reply = send(&env.app(), streamed).await;
        reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");

        // A length header that lies low does not help.
        let lying = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(CONTENT_TYPE, FORM)
            .header(CONTENT_LENGTH, "10")
            .body(Body::new(Chunked { left: 40 }))
            .unwrap();
        let reply = send(&env.app(), lying).await;
        assert_ne!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert!(reply.status.is_client_error(), "{path}: {}", reply.status);
    }
}

#[tokio::test]
async fn the_body_limit_is_configurable() {
    let env = env().await;
    let body = env.cc();
    let app = Router::new()
        .route_service(
            "/small",
            env.issuer.token_endpoint().body_limit(body.len() - 1),
        )
        .route_service("/exact", env.issuer.token_endpoint().body_limit(body.len()))
        .route_service("/large", env.issuer.token_endpoint().body_limit(64 * 1024))
        .route_service(
            "/introspect",
            env.issuer.introspection_endpoint().body_limit(8),
        )
        .route_service("/revoke", env.issuer.revocation_endpoint().body_limit(8));
    send(&app, post("/small", body.clone()))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    assert_eq!(
        send(&app, post("/exact", body.clone())).await.status,
        StatusCode::OK
    );
    let padded = format!("{body}&padding={}", "x".repeat(32 * 1024));
    assert_eq!(
        send(&app, post("/large", padded)).await.status,
        StatusCode::OK
    );
    for path in ["/introspect", "/revoke"] {
        send(&app, post(path, "token=0123456789".into()))
            .await
            .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    }
}

// ---------------------------------------------------------------------------------------------
// Body time: 408
// ---------------------------------------------------------------------------------------------

/// A body that never arrives.
struct Stalled;

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

fn stalled(uri: &str) -> Request<Stalled> {
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(CONTENT_TYPE, FORM)
        .header(CONTENT_LENGTH, "100")
        .body(Stalled)
        .unwrap()
}

#[tokio::test]
async fn a_stalled_body_is_408_and_does_not_hold_the_request() {
    let env = env().await;
    let deadline = Duration::from_millis(100);
    let token = env.issuer.token_endpoint().body_timeout(deadline);
    let introspect = env.issuer.introspection_endpoint().body_timeout(deadline);
    let revoke = env.issuer.revocation_endpoint().body_timeout(deadline);
    let replies = [
        reply_of(token.oneshot(stalled("/t")).await.unwrap()).await,
        reply_of(introspect.oneshot(stalled("/i")).await.unwrap()).await,
        reply_of(revoke.oneshot(stalled("/r")).await.unwrap()).await,
    ];
    for reply in replies {
        reply.assert_error(StatusCode::REQUEST_TIMEOUT, "invalid_request");
        // RFC 9110 §15.5.9: the unread connection is not reused.
        assert_eq!(reply.header(CONNECTION), Some("close"));
    }
}
