//! End-to-end tests of the layer through real `axum::Router`s (and plain tower services),
//! driven with `tower::ServiceExt::oneshot`.
//!
//! Every test asserts exact status codes, header values and bodies.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_gatekeeper::error::{AuthError, ErrorBody, JsonResponder};
use tower_gatekeeper::extract::{Credential, CredentialSources, RequestBody, Source};
use tower_gatekeeper::layer::{Authorize, ResponseBody};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{
    ApiKeyStore, ApiKeyVerifier, BasicUsers, BasicVerifier, FirstMatch, JwtVerifier, Verification,
    Verifier, VerifyError,
};
use tower_gatekeeper::{GatekeeperBuilder, GatekeeperLayer, MaybeReady, Principal};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const SECRET: &[u8] = b"integration-test-hs256-secret-0123456789";
const MARKER: &str = "SECRET-MARKER-7f3a";
const REALM: &str = "orders";
const ALICE_PASSWORD: &str = "pa:ss:word";

const B64TOKEN_ERROR: &str = r#"{"error":"invalid_request","error_description":"the bearer token is not a valid b64token (RFC 6750 section 2.1)"}"#;
const MALFORMED_ERROR: &str =
    r#"{"error":"invalid_request","error_description":"the credential is malformed"}"#;
const BASIC_ERROR: &str =
    r#"{"error":"invalid_request","error_description":"malformed Basic credentials (RFC 7617)"}"#;
const MORE_THAN_ONE_ERROR: &str = r#"{"error":"invalid_request","error_description":"more than one credential was presented (RFC 6750 section 2)"}"#;
const MORE_THAN_ONE_CHALLENGE: &str = r#"Bearer realm="orders", error="invalid_request", error_description="more than one credential was presented (RFC 6750 section 2)""#;
const MISSING_ERROR: &str =
    r#"{"error":"unauthorized","error_description":"no credential was presented"}"#;
const TOO_LARGE_ERROR: &str =
    r#"{"error":"invalid_request","error_description":"the request body exceeds the size limit"}"#;
const BEARER_CHALLENGE: &str = r#"Bearer realm="orders""#;
const BASIC_CHALLENGE: &str = r#"Basic realm="orders", charset="UTF-8""#;
const API_KEY_CHALLENGE: &str = r#"ApiKey realm="orders", header="x-api-key""#;

// ---------------------------------------------------------------------------------------------
// Tokens, verifiers, layers
// ---------------------------------------------------------------------------------------------

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn mint_with(secret: &[u8], claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn mint(claims: &Value) -> String {
    mint_with(SECRET, claims)
}

/// A valid token for `app-1` with `orders:read`.
fn token() -> String {
    token_with_scope("orders:read")
}

fn token_with_scope(scope: &str) -> String {
    mint(&json!({
        "sub": "app-1",
        "client_id": "app-1",
        "scope": scope,
        "exp": now() + 300,
    }))
}

fn jwt() -> JwtVerifier {
    JwtVerifier::hs256(SECRET).unwrap()
}

fn builder() -> GatekeeperBuilder {
    GatekeeperLayer::builder(jwt()).realm(REALM)
}

async fn api_keys() -> ApiKeyStore {
    let keys = ApiKeyStore::new();
    keys.insert(
        "key-123",
        Identity::new("svc-reporting")
            .with_client_id("reporting")
            .with_scopes(["reports:read"]),
    )
    .await
    .unwrap();
    keys
}

fn basic_users() -> BasicUsers {
    let users = BasicUsers::new();
    users
        .insert_password(
            "alice",
            ALICE_PASSWORD,
            Identity::new("u-alice").with_scopes(["orders:read"]),
        )
        .unwrap();
    users
}

/// JWTs, then Basic users, then API keys (opted in to keys carried as bearer tokens, which
/// still verify as API keys).
async fn everything_verifier() -> FirstMatch {
    FirstMatch::new()
        .or(jwt())
        .or(BasicVerifier::new(basic_users()))
        .or(ApiKeyVerifier::new(api_keys().await).accept_bearer(true))
}

/// Every source switched on.
fn all_sources() -> CredentialSources {
    CredentialSources::new()
        .basic(true)
        .token_header("x-auth-token")
        .api_key_header("x-api-key")
        .query("access_token")
        .form_body("access_token")
        .json_body("access_token")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

fn basic_raw(raw: &[u8]) -> String {
    format!("Basic {}", B64.encode(raw))
}

// ---------------------------------------------------------------------------------------------
// Handlers and routers
// ---------------------------------------------------------------------------------------------

async fn whoami(p: Principal) -> axum::Json<Principal> {
    axum::Json(p)
}

async fn maybe(p: Option<Principal>) -> String {
    p.map_or_else(|| "anonymous".to_owned(), |p| p.subject().to_owned())
}

async fn echo(body: Bytes) -> Bytes {
    body
}

async fn ok() -> &'static str {
    "ok"
}

async fn from_extensions(req: axum::extract::Request) -> String {
    match req.extensions().get::<Principal>() {
        Some(p) => format!("{} via {:?}", p.subject(), p.credential().map(|c| c.source)),
        None => "none".to_owned(),
    }
}

async fn inspect(req: axum::extract::Request) -> axum::Json<Value> {
    let h = req.headers();
    let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
    axum::Json(json!({
        "uri": req.uri().to_string(),
        "query": req.uri().query(),
        "authorization": get("authorization"),
        "x_auth_token": get("x-auth-token"),
        "x_api_key": get("x-api-key"),
        "x_other": get("x-other"),
    }))
}

/// Reads the body and its trailers.
async fn trailers(req: axum::extract::Request) -> String {
    let collected = req.into_body().collect().await.unwrap();
    let trailer = collected
        .trailers()
        .and_then(|t| t.get("x-checksum"))
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = collected.to_bytes();
    format!("{}|{}", String::from_utf8_lossy(&body), trailer)
}

async fn cache_public() -> impl IntoResponse {
    ([(CACHE_CONTROL, "public, max-age=60")], "public")
}

async fn cache_no_store() -> impl IntoResponse {
    ([(CACHE_CONTROL, "no-store")], "no-store")
}

async fn cache_no_cache() -> impl IntoResponse {
    ([(CACHE_CONTROL, "no-cache")], "no-cache")
}

async fn cache_two_values() -> axum::response::Response {
    let mut response = "two".into_response();
    let headers = response.headers_mut();
    headers.append(CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
    headers.append(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

fn routes() -> Router {
    Router::new()
        .route("/whoami", get(whoami).post(whoami))
        .route("/maybe", get(maybe).post(maybe))
        .route("/echo", get(echo).post(echo).put(echo))
        .route("/ok", get(ok).post(ok).head(ok))
        .route("/ext", get(from_extensions))
        .route("/inspect", get(inspect).post(inspect))
        .route("/trailers", post(trailers))
        .route("/cache/public", get(cache_public))
        .route("/cache/no-store", get(cache_no_store))
        .route("/cache/no-cache", get(cache_no_cache))
        .route("/cache/two", get(cache_two_values))
        .route("/cache/404", get(not_found))
}

fn app(layer: GatekeeperLayer) -> Router {
    routes().layer(layer)
}

/// A layer with every source on and every verifier.
async fn full_app() -> Router {
    app(GatekeeperLayer::builder(everything_verifier().await)
        .realm(REALM)
        .sources(all_sources())
        .build())
}

// ---------------------------------------------------------------------------------------------
// Sending requests
// ---------------------------------------------------------------------------------------------

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn challenges(&self) -> Vec<String> {
        self.all("www-authenticate")
    }

    /// Asserts the exact status, body and `WWW-Authenticate` challenges of a refusal, and its
    /// cache headers.
    #[track_caller]
    fn assert_refusal(&self, status: StatusCode, body: &str, challenges: &[&str]) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.text(), body);
        assert_eq!(self.challenges(), challenges);
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("pragma"), Some("no-cache"));
        assert_eq!(self.header("content-type"), Some("application/json"));
    }

    #[track_caller]
    fn assert_missing(&self) {
        self.assert_refusal(StatusCode::UNAUTHORIZED, MISSING_ERROR, &[BEARER_CHALLENGE]);
    }

    #[track_caller]
    fn assert_more_than_one(&self) {
        self.assert_refusal(
            StatusCode::BAD_REQUEST,
            MORE_THAN_ONE_ERROR,
            &[MORE_THAN_ONE_CHALLENGE],
        );
    }

    #[track_caller]
    fn assert_ok_text(&self, text: &str) {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text());
        assert_eq!(self.text(), text);
    }

    /// Asserts `needle` appears in no header name, header value or the body.
    #[track_caller]
    fn assert_absent(&self, needle: &str) {
        for (name, value) in &self.headers {
            assert!(!name.as_str().contains(needle), "header name {name}");
            let value = String::from_utf8_lossy(value.as_bytes());
            assert!(!value.contains(needle), "header {name}: {value}");
        }
        let body = String::from_utf8_lossy(&self.body);
        assert!(!body.contains(needle), "body: {body}");
    }
}

async fn send<B>(app: &Router, req: Request<B>) -> Reply
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let response = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

fn req(method: Method, uri: &str) -> http::request::Builder {
    Request::builder().method(method).uri(uri)
}

fn get_req(uri: &str) -> http::request::Builder {
    req(Method::GET, uri)
}

fn post_req(uri: &str) -> http::request::Builder {
    req(Method::POST, uri)
}

fn empty() -> Body {
    Body::empty()
}

// ---------------------------------------------------------------------------------------------
// Request bodies with special behaviour
// ---------------------------------------------------------------------------------------------

/// A body that panics when polled: proves the layer did not read it.
struct PanicBody;

impl http_body::Body for PanicBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        panic!("the request body was polled, but it must not be read");
    }
}

/// A streamed body: frames handed out one at a time with a `Pending` between them, and no
/// size hint.
struct Chunks {
    frames: VecDeque<Frame<Bytes>>,
    yield_next: bool,
}

impl Chunks {
    fn new<I, C>(chunks: I) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<Bytes>,
    {
        Self {
            frames: chunks.into_iter().map(|c| Frame::data(c.into())).collect(),
            yield_next: true,
        }
    }

    fn with_trailers(mut self, trailers: HeaderMap) -> Self {
        self.frames.push_back(Frame::trailers(trailers));
        self
    }
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.frames.is_empty() {
            return Poll::Ready(None);
        }
        if this.yield_next {
            this.yield_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.yield_next = true;
        Poll::Ready(this.frames.pop_front().map(Ok))
    }
}

/// A body that sends one chunk, then fails.
struct FailingBody {
    sent: bool,
}

impl http_body::Body for FailingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.sent {
            return Poll::Ready(Some(Err(std::io::Error::other("connection reset"))));
        }
        self.sent = true;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"access_tok")))))
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Extraction
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let app = app(builder().build());
    let t = token();
    for value in [
        format!("Bearer {t}"),
        format!("bearer {t}"),
        format!("BEARER {t}"),
        format!("bEaReR {t}"),
        format!("Bearer   {t}  "),
    ] {
        let r = send(
            &app,
            get_req("/maybe")
                .header(AUTHORIZATION, &value)
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_ok_text("app-1");
    }
}

#[tokio::test]
async fn bearer_token_that_is_not_a_b64token_is_400() {
    let app = app(builder().build());
    for value in [
        "Bearer abc def",
        "Bearer a=b",
        "Bearer a,b",
        "Bearer a@b",
        "Bearer \"abc\"",
        "Bearer ==",
        "Bearer tök",
        "Bearer a.b.c, Bearer d.e.f",
    ] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, HeaderValue::from_str(value).unwrap())
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_refusal(
            StatusCode::BAD_REQUEST,
            B64TOKEN_ERROR,
            &[r#"Bearer realm="orders", error="invalid_request", error_description="the bearer token is not a valid b64token (RFC 6750 section 2.1)""#],
        );
    }
}

#[tokio::test]
async fn empty_bearer_is_400() {
    let app = app(builder().build());
    for value in ["Bearer ", "Bearer", "bearer    "] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, value)
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{value:?}");
        assert_eq!(r.text(), B64TOKEN_ERROR);
    }
}

#[tokio::test]
async fn oversized_and_non_utf8_credentials_are_400() {
    let app = app(builder()
        .sources(CredentialSources::new().query("access_token"))
        .build());
    let long = "a".repeat(16 * 1024 + 1);
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&long))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text(), MALFORMED_ERROR);

    let r = send(
        &app,
        get_req(&format!("/ok?access_token={long}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text(), MALFORMED_ERROR);

    let r = send(
        &app,
        get_req("/ok")
            .header(
                AUTHORIZATION,
                HeaderValue::from_bytes(b"Bearer abc\xff").unwrap(),
            )
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text(), MALFORMED_ERROR);
}

#[tokio::test]
async fn longest_accepted_credential_is_16_kib() {
    // An opaque token of exactly MAX_CREDENTIAL_LEN bytes reaches the verifier.
    let long = "k".repeat(16 * 1024);
    let keys = ApiKeyStore::new();
    keys.insert(&long, Identity::new("long-key")).await.unwrap();
    let app = app(
        GatekeeperLayer::builder(ApiKeyVerifier::new(keys).accept_bearer(true))
            .realm(REALM)
            .build(),
    );
    let r = send(
        &app,
        get_req("/maybe")
            .header(AUTHORIZATION, bearer(&long))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("long-key");
}

#[tokio::test]
async fn other_schemes_are_no_credential() {
    let app = app(builder().build());
    for value in [
        "Digest username=\"a\"",
        "Negotiate abc",
        basic("alice", "x").as_str(),
    ] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, value)
                .body(empty())
                .unwrap(),
        )
        .await;
        // Basic is off by default: no Basic challenge either.
        r.assert_missing();
    }
}

#[tokio::test]
async fn basic_password_containing_colons_works() {
    let app = full_app().await;
    let r = send(
        &app,
        get_req("/whoami")
            .header(AUTHORIZATION, basic("alice", ALICE_PASSWORD))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({
            "subject": "u-alice", "kind": "user", "client_id": null, "scopes": ["orders:read"],
            "actor": null, "tenant": null,
            "credential": {"scheme": "basic", "source": "header"}
        })
    );

    // Case-insensitive scheme, too; and unpadded base64 is accepted.
    let unpadded = B64
        .encode(format!("alice:{ALICE_PASSWORD}"))
        .trim_end_matches('=')
        .to_owned();
    for value in [
        basic("alice", ALICE_PASSWORD).replace("Basic", "bAsIc"),
        format!("Basic {unpadded}"),
    ] {
        let r = send(
            &app,
            get_req("/maybe")
                .header(AUTHORIZATION, value)
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_ok_text("u-alice");
    }
}

#[tokio::test]
async fn basic_wrong_password_is_401_with_both_challenges() {
    let app = full_app().await;
    for (user, password) in [("alice", "pa:ss"), ("nobody", ALICE_PASSWORD)] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, basic(user, password))
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_refusal(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_token","error_description":"invalid user name or password"}"#,
            &[
                r#"Bearer realm="orders", error="invalid_token", error_description="invalid user name or password""#,
                BASIC_CHALLENGE,
                API_KEY_CHALLENGE,
            ],
        );
    }
}

#[tokio::test]
async fn malformed_basic_credentials_are_400() {
    let app = full_app().await;
    for value in [
        "Basic !!!not-base64!!!".to_owned(),
        "Basic ".to_owned(),
        basic_raw(b"no-colon-here"),
        basic_raw(b":empty-user"),
        basic_raw(b"alice:pa\x07ss"),
        basic_raw(b"alice:pa\nss"),
        basic_raw(b"al\x7fice:pass"),
        basic_raw(b"alice:\xff\xfe"),
    ] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, &value)
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_refusal(
            StatusCode::BAD_REQUEST,
            BASIC_ERROR,
            &[r#"Bearer realm="orders", error="invalid_request", error_description="malformed Basic credentials (RFC 7617)""#],
        );
    }
}

#[tokio::test]
async fn named_token_header_and_api_key_header() {
    let app = full_app().await;
    let r = send(
        &app,
        get_req("/whoami")
            .header("x-auth-token", token())
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["credential"],
        json!({"scheme": "bearer", "source": "header"})
    );

    let r = send(
        &app,
        get_req("/whoami")
            .header("X-API-Key", " key-123\t")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["credential"],
        json!({"scheme": "api_key", "source": "header"})
    );

    // An unknown key is an invalid token.
    let r = send(
        &app,
        get_req("/ok")
            .header("x-api-key", "key-999")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::UNAUTHORIZED,
        r#"{"error":"invalid_token","error_description":"the key is unknown or revoked"}"#,
        &[
            r#"Bearer realm="orders", error="invalid_token", error_description="the key is unknown or revoked""#,
            BASIC_CHALLENGE,
            API_KEY_CHALLENGE,
        ],
    );

    // An empty or blank named header is malformed.
    for value in ["", "  ", "a b"] {
        let r = send(
            &app,
            get_req("/ok")
                .header("x-api-key", value)
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{value:?}");
        assert_eq!(r.text(), MALFORMED_ERROR);
    }
}

#[tokio::test]
async fn query_parameter() {
    let app = full_app().await;
    let r = send(
        &app,
        get_req(&format!("/whoami?a=1&access_token={}&b=2", token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["credential"],
        json!({"scheme": "bearer", "source": "query"})
    );

    // Percent-encoded values are decoded before verification.
    let r = send(
        &app,
        get_req("/maybe?access_token=key%2D123")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("svc-reporting");

    // A parameter without a value is malformed, a different parameter is nothing.
    let r = send(&app, get_req("/ok?access_token").body(empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text(), MALFORMED_ERROR);
    let r = send(
        &app,
        get_req(&format!("/ok?access_tokens={}", token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text(), MISSING_ERROR);
}

#[tokio::test]
async fn form_body_field() {
    let app = full_app().await;
    for content_type in [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded ;charset=utf-8",
    ] {
        let r = send(
            &app,
            post_req("/whoami")
                .header(CONTENT_TYPE, content_type)
                .body(Body::from(format!("a=1&access_token={}&b=2", token())))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{content_type}: {}", r.text());
        assert_eq!(
            r.json()["credential"],
            json!({"scheme": "bearer", "source": "body"})
        );
    }
    // PUT with a form body works too.
    let body = format!("access_token={}", token());
    let r = send(
        &app,
        req(Method::PUT, "/echo")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.clone()))
            .unwrap(),
    )
    .await;
    r.assert_ok_text(&body);
}

#[tokio::test]
async fn json_body_field() {
    let app = full_app().await;
    for content_type in ["application/json", "application/json; charset=utf-8"] {
        let r = send(
            &app,
            post_req("/whoami")
                .header(CONTENT_TYPE, content_type)
                .body(Body::from(
                    json!({"nested": {"access_token": "no"}, "access_token": token(), "n": [1, 2]})
                        .to_string(),
                ))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{content_type}: {}", r.text());
        assert_eq!(
            r.json()["credential"],
            json!({"scheme": "bearer", "source": "body"})
        );
    }

    // A field that is not a string is malformed.
    let r = send(
        &app,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"access_token": 42}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text(),
        r#"{"error":"invalid_request","error_description":"the access token field in the JSON body is not a string"}"#
    );

    // A body that is not a JSON object holds no credential.
    for body in ["[1,2,3]", "{not json", "\"access_token\"", ""] {
        let r = send(
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{body:?}");
        assert_eq!(r.text(), MISSING_ERROR);
    }
}

#[tokio::test]
async fn json_body_with_trailing_data_is_not_a_credential() {
    let app = full_app().await;
    let t = token();
    for body in [
        format!(r#"{{"access_token":"{t}"}} trailing garbage"#),
        format!(r#"{{"access_token":"{t}"}}{{"access_token":"another"}}"#),
    ] {
        let r = send(
            &app,
            post_req("/maybe")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert!(
            r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::BAD_REQUEST,
            "{body}: {} {}",
            r.status,
            r.text()
        );
    }
}

#[tokio::test]
async fn get_and_head_bodies_are_never_read() {
    let app = full_app().await;
    for method in [Method::GET, Method::HEAD] {
        for content_type in ["application/x-www-form-urlencoded", "application/json"] {
            let r = send(
                &app,
                req(method.clone(), "/ok")
                    .header(CONTENT_TYPE, content_type)
                    .body(Body::new(PanicBody))
                    .unwrap(),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {content_type}"
            );
        }
    }
    // The same form body as a GET: not read, so no credential.
    let r = send(
        &app,
        get_req("/ok")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("access_token={}", token())))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text(), MISSING_ERROR);
}

#[tokio::test]
async fn bodies_with_another_content_type_are_not_read() {
    let app = full_app().await;
    let json_body = json!({"access_token": token()}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/vnd.api+json"),
        Some("application/jsonx"),
        None,
    ] {
        let mut b = post_req("/ok");
        if let Some(ct) = content_type {
            b = b.header(CONTENT_TYPE, ct);
        }
        let r = send(&app, b.body(Body::from(json_body.clone())).unwrap()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{content_type:?}");
        assert_eq!(r.text(), MISSING_ERROR);
    }

    // Only the configured format is read: a form body when only JSON is configured.
    let json_only = app_with_sources(CredentialSources::new().json_body("access_token"));
    let r = send(
        &json_only,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(PanicBody))
            .unwrap(),
    )
    .await;
    r.assert_missing();
    // A JSON body when only forms are configured.
    let form_only = app_with_sources(CredentialSources::new().form_body("access_token"));
    let r = send(
        &form_only,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::new(PanicBody))
            .unwrap(),
    )
    .await;
    r.assert_missing();
}

fn app_with_sources(sources: CredentialSources) -> Router {
    app(builder().sources(sources).build())
}

#[tokio::test]
async fn body_field_name_is_configurable() {
    let app = app_with_sources(
        CredentialSources::new()
            .form_body("token")
            .json_body("auth"),
    );
    let r = send(
        &app,
        post_req("/maybe")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={}", token())))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1");
    let r = send(
        &app,
        post_req("/maybe")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"auth": token()}).to_string()))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1");
    // The default name is not read any more.
    let r = send(
        &app,
        post_req("/maybe")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"access_token": token()}).to_string()))
            .unwrap(),
    )
    .await;
    r.assert_missing();
}

fn limited_app(limit: usize) -> Router {
    app(builder()
        .sources(
            CredentialSources::new()
                .form_body("access_token")
                .json_body("access_token")
                .body_limit(limit),
        )
        .build())
}

#[tokio::test]
async fn content_length_above_the_limit_is_413_before_reading() {
    let app = limited_app(64);
    for content_type in ["application/x-www-form-urlencoded", "application/json"] {
        let r = send(
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, content_type)
                .header(CONTENT_LENGTH, "65")
                .body(Body::new(PanicBody))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.text(), TOO_LARGE_ERROR);
        // No challenge on 413, but never cached.
        assert!(r.challenges().is_empty());
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}

#[tokio::test]
async fn streamed_body_past_the_limit_is_413() {
    let app = limited_app(64);
    let chunk = "x".repeat(30);
    let r = send(
        &app,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(Chunks::new([
                format!("access_token={}", token()).into_bytes(),
                chunk.clone().into_bytes(),
                chunk.into_bytes(),
            ])))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.text(), TOO_LARGE_ERROR);

    // A Content-Length that lies (smaller than the body) does not get past the limit either.
    let r = send(
        &app,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_LENGTH, "10")
            .body(Body::new(Chunks::new(["y".repeat(40), "z".repeat(40)])))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.text(), TOO_LARGE_ERROR);
}

#[tokio::test]
async fn body_exactly_at_the_limit_passes() {
    let t = token();
    let body = format!("access_token={t}&pad=");
    let limit = body.len() + 5;
    let body = format!("{body}12345");
    assert_eq!(body.len(), limit);
    let app = limited_app(limit);
    let r = send(
        &app,
        post_req("/echo")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(CONTENT_LENGTH, limit.to_string())
            .body(Body::new(Chunks::new([body.clone()])))
            .unwrap(),
    )
    .await;
    r.assert_ok_text(&body);

    // One byte more is refused.
    let app = limited_app(limit - 1);
    let r = send(
        &app,
        post_req("/echo")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(Chunks::new([body])))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unreadable_body_is_400() {
    let app = limited_app(1024);
    let r = send(
        &app,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(FailingBody { sent: false }))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text(),
        r#"{"error":"invalid_request","error_description":"the request body could not be read"}"#
    );
}

#[tokio::test]
async fn handler_receives_exactly_the_bytes_the_layer_read() {
    let app = full_app().await;
    let t = token();
    // Several chunks, percent-encoding, `+`, raw non-UTF-8 bytes in another field.
    let mut form = format!("note=caf%C3%A9+%26+more&access_token={t}&raw=").into_bytes();
    form.extend_from_slice(b"\xff\xfe\x00end&last=");
    let split = form.len() / 3;
    let r = send(
        &app,
        post_req("/echo")
            .header(
                CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=UTF-8",
            )
            .body(Body::new(Chunks::new([
                form[..split].to_vec(),
                form[split..2 * split].to_vec(),
                form[2 * split..].to_vec(),
            ])))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, Bytes::from(form));

    let json_body = format!("  {{\"b\": [1, 2.50, \"\\u00e9\"],\n \"access_token\" : \"{t}\" }}  ");
    let r = send(
        &app,
        post_req("/echo")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::new(Chunks::new([json_body.clone()])))
            .unwrap(),
    )
    .await;
    r.assert_ok_text(&json_body);

    // In optional mode a body without a credential is handed on intact as well.
    let optional = app_optional().await;
    let r = send(
        &optional,
        post_req("/echo")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(Chunks::new(["a=1&", "b=%20"])))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("a=1&b=%20");
}

#[tokio::test]
async fn trailers_survive_buffering() {
    let app = full_app().await;
    let mut t = HeaderMap::new();
    t.insert("x-checksum", HeaderValue::from_static("abc123"));
    let body = format!("access_token={}", token());
    let r = send(
        &app,
        post_req("/trailers")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(Chunks::new([body.clone()]).with_trailers(t)))
            .unwrap(),
    )
    .await;
    r.assert_ok_text(&format!("{body}|abc123"));
}

#[tokio::test]
async fn head_credential_requests_of_other_content_types_are_never_buffered() {
    let app = full_app().await;
    // The handler does not read the body, and the layer must not either: no body source reads
    // these content types. (Form and JSON bodies are read, to refuse a second credential in
    // them: tests/body_credentials.rs.)
    for (uri, header) in [
        ("/ok".to_owned(), Some(bearer(&token()))),
        (format!("/ok?access_token={}", token()), None),
    ] {
        for content_type in [
            "text/plain",
            "application/octet-stream",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ] {
            let mut b = post_req(&uri).header(CONTENT_TYPE, content_type);
            if let Some(h) = &header {
                b = b.header(AUTHORIZATION, h);
            }
            let r = send(&app, b.body(Body::new(PanicBody)).unwrap()).await;
            r.assert_ok_text("ok");
        }
    }
    // And an echo handler gets the original (unbuffered) body.
    let r = send(
        &app,
        post_req("/echo")
            .header(AUTHORIZATION, bearer(&token()))
            .header(CONTENT_TYPE, "text/plain")
            .body(Body::new(Chunks::new(["access_token=whatever&x=", "1"])))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("access_token=whatever&x=1");
}

// ---------------------------------------------------------------------------------------------
// 2. More than one credential
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn more_than_one_credential_in_the_head_is_400() {
    let app = full_app().await;
    let t = token();
    let cases: Vec<(String, Vec<(&str, String)>)> = vec![
        // header + query
        (
            format!("/ok?access_token={t}"),
            vec![("authorization", bearer(&t))],
        ),
        // two Authorization headers, identical
        (
            "/ok".into(),
            vec![("authorization", bearer(&t)), ("authorization", bearer(&t))],
        ),
        // Bearer + Basic
        (
            "/ok".into(),
            vec![
                ("authorization", bearer(&t)),
                ("authorization", basic("alice", ALICE_PASSWORD)),
            ],
        ),
        // Authorization + named headers
        (
            "/ok".into(),
            vec![("authorization", bearer(&t)), ("x-auth-token", t.clone())],
        ),
        (
            "/ok".into(),
            vec![("x-api-key", "key-123".into()), ("x-auth-token", t.clone())],
        ),
        // repeated named header, identical
        (
            "/ok".into(),
            vec![
                ("x-api-key", "key-123".into()),
                ("x-api-key", "key-123".into()),
            ],
        ),
        // named header + query
        (
            format!("/ok?access_token={t}"),
            vec![("x-api-key", "key-123".into())],
        ),
        // repeated query parameter, different and identical values, and encoded name
        (format!("/ok?access_token={t}&access_token=other"), vec![]),
        (format!("/ok?access_token={t}&access_token={t}"), vec![]),
        (format!("/ok?access_token={t}&access%5Ftoken={t}"), vec![]),
        (
            format!("/ok?access%5ftoken={t}&x=1&access_token={t}"),
            vec![],
        ),
    ];
    for (uri, headers) in cases {
        let mut b = get_req(&uri);
        for (name, value) in &headers {
            b = b.header(*name, value);
        }
        let r = send(&app, b.body(empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri} {headers:?}");
        r.assert_more_than_one();
    }
}

#[tokio::test]
async fn more_than_one_credential_in_the_body_is_400() {
    let app = full_app().await;
    let t = token();
    let cases = [
        (
            "application/x-www-form-urlencoded",
            format!("access_token={t}&access_token=other"),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("access_token={t}&x=1&access_token={t}"),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("access_token={t}&access%5Ftoken={t}"),
        ),
        (
            "application/json",
            format!(r#"{{"access_token":"{t}","access_token":"{t}"}}"#),
        ),
        (
            "application/json",
            format!(r#"{{"access_token":"{t}","x":1,"access_token":"other"}}"#),
        ),
        (
            "application/json",
            format!(r#"{{"access\u005ftoken":"{t}","access_token":"{t}"}}"#),
        ),
    ];
    for (content_type, body) in cases {
        let r = send(
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, content_type)
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        r.assert_more_than_one();
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Stripping
// ---------------------------------------------------------------------------------------------

async fn stripping_app(strip: bool) -> Router {
    app(GatekeeperLayer::builder(everything_verifier().await)
        .realm(REALM)
        .sources(all_sources().strip(strip))
        .build())
}

#[tokio::test]
async fn strip_removes_the_query_parameter_only() {
    let app = stripping_app(true).await;
    let t = token();
    let r = send(
        &app,
        get_req(&format!(
            "/inspect?x=1&access_token={t}&y=%20z+a&empty=&flag&enc=%41%2b"
        ))
        .header("x-other", "kept")
        .body(empty())
        .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["uri"], "/inspect?x=1&y=%20z+a&empty=&flag&enc=%41%2b");
    assert_eq!(v["query"], "x=1&y=%20z+a&empty=&flag&enc=%41%2b");
    assert_eq!(v["x_other"], "kept");

    // The only parameter: no `?` left.
    let r = send(
        &app,
        get_req(&format!("/inspect?access_token={t}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["uri"], "/inspect");
    assert_eq!(r.json()["query"], Value::Null);

    // An encoded name is stripped too.
    let r = send(
        &app,
        get_req(&format!("/inspect?a=b&access%5Ftoken={t}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["uri"], "/inspect?a=b");
}

#[tokio::test]
async fn strip_removes_the_credential_headers() {
    let app = stripping_app(true).await;
    let t = token();
    for (name, value) in [
        ("authorization", bearer(&t)),
        ("authorization", basic("alice", ALICE_PASSWORD)),
        ("x-auth-token", t.clone()),
        ("x-api-key", "key-123".to_owned()),
    ] {
        let r = send(
            &app,
            get_req("/inspect?keep=1")
                .header(name, &value)
                .header("x-other", "kept")
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{name}");
        assert_eq!(
            r.json(),
            json!({
                "uri": "/inspect?keep=1", "query": "keep=1",
                "authorization": null, "x_auth_token": null, "x_api_key": null,
                "x_other": "kept",
            }),
            "{name}"
        );
    }
}

#[tokio::test]
async fn without_strip_the_handler_sees_the_credential() {
    let app = stripping_app(false).await;
    let t = token();
    let r = send(
        &app,
        get_req(&format!("/inspect?x=1&access_token={t}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.json()["uri"], format!("/inspect?x=1&access_token={t}"));
    let r = send(
        &app,
        get_req("/inspect")
            .header(AUTHORIZATION, bearer(&t))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.json()["authorization"], bearer(&t));
    let r = send(
        &app,
        get_req("/inspect")
            .header("x-auth-token", &t)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.json()["x_auth_token"], t);
}

#[tokio::test]
async fn strip_leaves_body_credentials_alone() {
    let app = stripping_app(true).await;
    let body = format!("access_token={}&x=1", token());
    let r = send(
        &app,
        post_req("/echo")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.clone()))
            .unwrap(),
    )
    .await;
    r.assert_ok_text(&body);
}

// ---------------------------------------------------------------------------------------------
// 4. Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn missing_credential_has_a_bare_challenge() {
    let r = send(
        &app(builder().build()),
        get_req("/ok").body(empty()).unwrap(),
    )
    .await;
    r.assert_missing();
    assert_eq!(r.challenges(), [r#"Bearer realm="orders""#]);

    // With Basic and an API key header on, a challenge for each.
    let r = send(&full_app().await, get_req("/ok").body(empty()).unwrap()).await;
    r.assert_refusal(
        StatusCode::UNAUTHORIZED,
        MISSING_ERROR,
        &[BEARER_CHALLENGE, BASIC_CHALLENGE, API_KEY_CHALLENGE],
    );

    // The default realm is `api`.
    let r = send(
        &app(GatekeeperLayer::builder(jwt()).build()),
        get_req("/ok").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(r.challenges(), [r#"Bearer realm="api""#]);
}

#[tokio::test]
async fn invalid_tokens_are_401_invalid_token() {
    let app = app(builder().build());
    let forged = mint_with(
        b"another-secret-of-at-least-32-bytes!!",
        &json!({"sub": "app-1", "exp": now() + 300}),
    );
    let expired = mint(&json!({"sub": "app-1", "exp": now() - 3600}));
    let no_exp = mint(&json!({"sub": "app-1"}));
    for (token, description) in [
        (forged, "the token signature is invalid"),
        (expired, "the token has expired"),
        (no_exp, "the token lacks the required claim exp"),
        ("abc.def.ghi".to_owned(), "the token is malformed"),
        (
            "opaque-token".to_owned(),
            "the credential is not accepted here",
        ),
    ] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, bearer(&token))
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_refusal(
            StatusCode::UNAUTHORIZED,
            &format!(r#"{{"error":"invalid_token","error_description":"{description}"}}"#),
            &[format!(
                r#"Bearer realm="orders", error="invalid_token", error_description="{description}""#
            )
            .as_str()],
        );
    }
}

#[tokio::test]
async fn realm_is_quoted_and_escaped() {
    let app = app(builder().realm(r#"my "quoted" realm\x"#).build());
    let r = send(&app, get_req("/ok").body(empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenges(), [r#"Bearer realm="my \"quoted\" realm\\x""#]);
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, "Bearer opaque")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        r.challenges(),
        [
            r#"Bearer realm="my \"quoted\" realm\\x", error="invalid_token", error_description="the credential is not accepted here""#
        ]
    );
}

#[tokio::test]
async fn query_token_success_is_cache_private_header_token_is_not() {
    let app = full_app().await;
    let t = token();
    let r = send(
        &app,
        get_req(&format!("/ok?access_token={t}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("ok");
    assert_eq!(r.all("cache-control"), ["private"]);

    for (name, value) in [
        ("authorization", bearer(&t)),
        ("x-auth-token", t.clone()),
        ("x-api-key", "key-123".to_owned()),
    ] {
        let r = send(
            &app,
            get_req("/ok").header(name, value).body(empty()).unwrap(),
        )
        .await;
        r.assert_ok_text("ok");
        assert_eq!(r.header("cache-control"), None, "{name}");
    }

    // Body credentials are not marked either.
    let r = send(
        &app,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("access_token={t}")))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("ok");
    assert_eq!(r.header("cache-control"), None);
}

#[tokio::test]
async fn query_token_cache_control_interplay_with_handler() {
    let app = full_app().await;
    let t = token();
    let q = format!("?access_token={t}");

    // `public` is replaced by `private`; the handler's other directives stay.
    let r = send(
        &app,
        get_req(&format!("/cache/public{q}")).body(empty()).unwrap(),
    )
    .await;
    r.assert_ok_text("public");
    assert_eq!(r.all("cache-control"), ["private, max-age=60"]);

    // A stricter one is kept.
    let r = send(
        &app,
        get_req(&format!("/cache/no-store{q}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("no-store");
    assert_eq!(r.all("cache-control"), ["no-store"]);

    // Non-2xx answers are left alone.
    let r = send(
        &app,
        get_req(&format!("/cache/404{q}")).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header("cache-control"), None);

    // Header credentials never touch the handler's directive.
    let r = send(
        &app,
        get_req("/cache/public")
            .header(AUTHORIZATION, bearer(&t))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.all("cache-control"), ["public, max-age=60"]);
}

#[tokio::test]
async fn query_token_keeps_no_store_from_a_second_cache_control_header() {
    let app = full_app().await;
    let r = send(
        &app,
        get_req(&format!("/cache/two?access_token={}", token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("two");
    let values = r.all("cache-control");
    assert!(
        values.iter().any(|v| v.contains("no-store")),
        "the handler's no-store was lost: {values:?}"
    );
}

#[tokio::test]
async fn query_token_keeps_no_cache_from_the_handler() {
    let app = full_app().await;
    let r = send(
        &app,
        get_req(&format!("/cache/no-cache?access_token={}", token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("no-cache");
    let value = r.all("cache-control").join(", ");
    assert!(value.contains("no-cache"), "{value}");
    assert!(value.contains("private"), "{value}");
}

#[tokio::test]
async fn insufficient_scope_is_403_naming_the_scope() {
    let app = app(builder()
        .require_scopes(["orders:read", "orders:write"])
        .build());
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&token_with_scope("orders:read")))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::FORBIDDEN,
        r#"{"error":"insufficient_scope","error_description":"the request requires the orders:write scope"}"#,
        &[r#"Bearer realm="orders", error="insufficient_scope", error_description="the request requires the orders:write scope", scope="orders:write""#],
    );

    let r = send(
        &app,
        get_req("/ok")
            .header(
                AUTHORIZATION,
                bearer(&token_with_scope("orders:write orders:read")),
            )
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("ok");

    // Still 401 (not 403) when there is no credential at all.
    let r = send(&app, get_req("/ok").body(empty()).unwrap()).await;
    r.assert_missing();
}

struct OnlyClient(&'static str);

impl Authorize for OnlyClient {
    fn authorize(
        &self,
        p: Principal,
        _: &mut http::request::Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        MaybeReady::Ready(if p.client_id() == Some(self.0) {
            Ok(p)
        } else {
            Err(AuthError::forbidden("this client may not call this API"))
        })
    }
}

#[tokio::test]
async fn custom_authorize_stage_forbidden_is_403_without_challenge() {
    let app = app(builder().authorize(OnlyClient("someone-else")).build());
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::FORBIDDEN,
        r#"{"error":"access_denied","error_description":"this client may not call this API"}"#,
        &[],
    );
    let app = self::app(builder().authorize(OnlyClient("app-1")).build());
    let r = send(
        &app,
        get_req("/maybe")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1");
}

/// A verifier whose backend is down, answering at once.
struct Down;

impl Verifier for Down {
    fn verify(&self, _: &Credential<'_>) -> Verification {
        MaybeReady::Ready(Err(VerifyError::unavailable("the key server is down")))
    }
}

#[tokio::test]
async fn unavailable_verifier_is_503_never_2xx() {
    const BODY: &str =
        r#"{"error":"temporarily_unavailable","error_description":"the key server is down"}"#;
    let sync_app = app(GatekeeperLayer::builder(Down).realm(REALM).build());
    let async_app = app(GatekeeperLayer::builder(|_: Credential<'static>| async {
        tokio::task::yield_now().await;
        Err::<Principal, _>(VerifyError::unavailable("the key server is down"))
    })
    .realm(REALM)
    .build());
    for app in [&sync_app, &async_app] {
        let r = send(
            app,
            get_req("/ok")
                .header(AUTHORIZATION, bearer(&token()))
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_refusal(StatusCode::SERVICE_UNAVAILABLE, BODY, &[]);
    }
    // Even through a FirstMatch chain whose later verifier could have said yes.
    let chain = app(
        GatekeeperLayer::builder(FirstMatch::new().or(Down).or(jwt()))
            .realm(REALM)
            .build(),
    );
    let r = send(
        &chain,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(StatusCode::SERVICE_UNAVAILABLE, BODY, &[]);
}

#[tokio::test]
async fn huawei_responder() {
    let app = app(builder()
        .responder(JsonResponder::Huawei)
        .require_scopes(["admin"])
        .build());
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, "Bearer opaque")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::UNAUTHORIZED,
        r#"{"error_code":"invalid_token","error_msg":"the credential is not accepted here"}"#,
        &[r#"Bearer realm="orders", error="invalid_token", error_description="the credential is not accepted here""#],
    );
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::FORBIDDEN,
        r#"{"error_code":"insufficient_scope","error_msg":"the request requires the admin scope"}"#,
        &[r#"Bearer realm="orders", error="insufficient_scope", error_description="the request requires the admin scope", scope="admin""#],
    );
}

#[tokio::test]
async fn hengshi_responder() {
    let app = app(builder()
        .responder(JsonResponder::Hengshi)
        .sources(CredentialSources::new().query("access_token"))
        .build());
    let r = send(&app, get_req("/ok").body(empty()).unwrap()).await;
    r.assert_refusal(
        StatusCode::UNAUTHORIZED,
        r#"{"code":401,"msg":"no credential was presented"}"#,
        &[BEARER_CHALLENGE],
    );
    let r = send(
        &app,
        get_req("/ok?access_token=a&access_token=b")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::BAD_REQUEST,
        r#"{"code":400,"msg":"more than one credential was presented (RFC 6750 section 2)"}"#,
        &[MORE_THAN_ONE_CHALLENGE],
    );
}

#[tokio::test]
async fn closure_responder_controls_only_the_body() {
    let app = app(builder()
        .responder(|err: &AuthError| ErrorBody {
            content_type: HeaderValue::from_static("text/plain; charset=utf-8"),
            bytes: format!(
                "{}|{}|{}",
                err.status().as_u16(),
                err.code(),
                err.description()
            )
            .into(),
        })
        .build());
    let r = send(&app, get_req("/ok").body(empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text(), "401|unauthorized|no credential was presented");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.challenges(), [BEARER_CHALLENGE]);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
}

// ---------------------------------------------------------------------------------------------
// 5. Secrets
// ---------------------------------------------------------------------------------------------

/// Captures everything written by a `tracing` subscriber.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn traced(layer: GatekeeperLayer) -> Router {
    // The trace layer sits inside the gatekeeper and logs headers: only what the gatekeeper
    // lets through can reach the log.
    routes()
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(
                    DefaultMakeSpan::new()
                        .level(tracing::Level::INFO)
                        .include_headers(true),
                )
                .on_request(DefaultOnRequest::new().level(tracing::Level::INFO))
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .include_headers(true),
                ),
        )
        .layer(layer)
}

#[tokio::test]
async fn secrets_never_reach_responses_or_logs() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let capture = capture.clone();
            move || capture.clone()
        })
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let users = basic_users();
    users
        .insert_password("mallory", "the-right-password", Identity::new("u-m"))
        .unwrap();
    let keys = api_keys().await;
    let verifier = FirstMatch::new()
        .or(jwt())
        .or(BasicVerifier::new(users))
        .or(ApiKeyVerifier::new(keys))
        .or(|c: Credential<'static>| async move {
            // An async verifier that refuses everything that reaches it, marker or not.
            let _ = c.token();
            Err::<Principal, _>(VerifyError::invalid("refused by the async verifier"))
        });
    let app = traced(
        GatekeeperLayer::builder(verifier)
            .realm(REALM)
            .sources(all_sources().strip(true))
            .build(),
    );
    let down = traced(
        GatekeeperLayer::builder(|c: Credential<'static>| async move {
            let _ = c;
            Err::<Principal, _>(VerifyError::unavailable("backend down"))
        })
        .realm(REALM)
        .sources(all_sources())
        .build(),
    );

    let m = MARKER;
    let t = token();
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(&Router, Request<Body>, StatusCode)> = vec![
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, bearer(m))
                .body(empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, bearer(&format!("{m}.abc.def")))
                .body(empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, format!("Bearer {m}!"))
                .body(empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            get_req(&format!("/ok?access_token={m}"))
                .header(AUTHORIZATION, bearer(&t))
                .body(empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            get_req(&format!("/ok?access_token={m}"))
                .body(empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok").header("x-api-key", m).body(empty()).unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok")
                .header("x-auth-token", format!("{m} x"))
                .body(empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, basic("mallory", m))
                .body(empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, basic(m, "whatever"))
                .body(empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, basic("mallory", &format!("{m}\u{1}")))
                .body(empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, basic_raw(m.as_bytes()))
                .body(empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, form)
                .body(Body::from(format!("access_token={m}")))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, form)
                .body(Body::from(format!("access_token={m}&access_token={m}")))
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(format!(r#"{{"access_token":"{m}"}}"#)))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(format!(
                    r#"{{"access_token":"{m}","access_token":"{m}"}}"#
                )))
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &down,
            get_req("/ok")
                .header(AUTHORIZATION, bearer(m))
                .body(empty())
                .unwrap(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            &down,
            get_req(&format!("/ok?access_token={m}"))
                .body(empty())
                .unwrap(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ];
    for (i, (app, request, status)) in cases.into_iter().enumerate() {
        let r = send(app, request).await;
        assert_eq!(r.status, status, "case {i}: {}", r.text());
        r.assert_absent(m);
    }

    // A successful request: the (stripped) token reaches neither the handler's log nor the
    // response.
    let r = send(
        &app,
        get_req(&format!("/ok?x=1&access_token={t}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("ok");
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&t))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("ok");

    let log = capture.text();
    assert!(
        log.contains("finished processing request"),
        "the subscriber captured nothing: {log}"
    );
    assert!(log.contains("/ok?x=1"), "{log}");
    assert!(!log.contains(m), "{log}");
    assert!(!log.contains(&t), "{log}");
}

#[tokio::test]
async fn secrets_never_reach_debug_or_display() {
    let m = MARKER;

    let credentials = [
        Credential::bearer(m, Source::Header),
        Credential::api_key(m, Source::Query),
        Credential::bearer(m.to_owned(), Source::Body).into_owned(),
        Credential::basic("alice", m, Source::Header),
    ];
    for c in &credentials {
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains(m), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
    assert!(format!("{:?}", credentials[3]).contains("alice"));

    // Credentials and errors extracted from real requests.
    let sources = all_sources();
    let request = Request::get(format!("/x?access_token={m}"))
        .body(())
        .unwrap();
    let found = sources
        .extract_head(request.headers(), request.uri())
        .unwrap()
        .unwrap();
    assert_eq!(found.token(), Some(m));
    assert!(!format!("{found:?}").contains(m));

    let bad = [
        Request::get(format!("/x?access_token={m}&access_token={m}"))
            .body(())
            .unwrap(),
        Request::get("/x")
            .header(AUTHORIZATION, format!("Bearer {m}!"))
            .body(())
            .unwrap(),
        Request::get("/x")
            .header(AUTHORIZATION, basic_raw(format!("{m}\u{7}:x").as_bytes()))
            .body(())
            .unwrap(),
        Request::get("/x")
            .header("x-api-key", format!("{m} {m}"))
            .body(())
            .unwrap(),
    ];
    for request in &bad {
        let err: AuthError = sources
            .extract_head(request.headers(), request.uri())
            .unwrap_err();
        let shown = format!("{err:?} {err} {}", err.description());
        assert!(!shown.contains(m), "{shown}");
    }

    // Verifier errors, converted to refusals.
    let jwt_err = jwt().verify_token(&format!("{m}.{m}.{m}")).unwrap_err();
    for err in [jwt_err.clone(), VerifyError::NotApplicable] {
        let auth: AuthError = err.clone().into();
        let shown = format!("{err:?} {err} {auth:?} {auth}");
        assert!(!shown.contains(m), "{shown}");
    }

    // Stores and verifiers.
    let keys = ApiKeyStore::new();
    keys.insert(m, Identity::new("svc")).await.unwrap();
    assert!(keys.lookup(m).await.unwrap().is_some());
    let users = BasicUsers::new();
    users
        .insert_password("alice", m, Identity::new("u-1"))
        .unwrap();
    let secret = format!("{m}-hs256-secret-0123456789abcdef");
    let verifier = JwtVerifier::hs256(secret.as_bytes()).unwrap();
    let layer = GatekeeperLayer::builder(verifier.clone())
        .sources(all_sources())
        .build();
    let shown = [
        format!("{keys:?} {keys:#?}"),
        format!("{users:?} {users:#?}"),
        format!("{verifier:?} {verifier:#?}"),
        format!("{:?}", ApiKeyVerifier::new(keys.clone())),
        format!("{:?}", BasicVerifier::new(users.clone())),
        format!("{layer:?}"),
        format!("{:?}", FirstMatch::new().or(verifier.clone())),
    ];
    for s in &shown {
        assert!(!s.contains(m), "{s}");
    }
    assert!(shown[0].starts_with("ApiKeyStore(1 keys)"), "{}", shown[0]);
    assert_eq!(shown[1].split(' ').next(), Some("BasicUsers(1"));
}

// ---------------------------------------------------------------------------------------------
// 6. Placements
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn router_layer_also_guards_unmatched_routes() {
    let app = app(builder().build());
    let r = send(&app, get_req("/nope").body(empty()).unwrap()).await;
    r.assert_missing();
    let r = send(
        &app,
        get_req("/nope")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn route_layer_leaves_unmatched_routes_404() {
    let app = routes().route_layer(builder().build());
    let r = send(&app, get_req("/nope").body(empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.challenges().is_empty());

    let r = send(&app, get_req("/ok").body(empty()).unwrap()).await;
    r.assert_missing();
    let r = send(
        &app,
        get_req("/maybe")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1");
}

#[tokio::test]
async fn layer_on_one_method_router() {
    let app = Router::new()
        .route("/private", get(maybe).layer(builder().build()))
        .route("/public", get(maybe));
    let r = send(&app, get_req("/private").body(empty()).unwrap()).await;
    r.assert_missing();
    let r = send(
        &app,
        get_req("/private")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1");
    let r = send(&app, get_req("/public").body(empty()).unwrap()).await;
    r.assert_ok_text("anonymous");
    // A credential on the open route is not looked at.
    let r = send(
        &app,
        get_req("/public")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("anonymous");
}

#[tokio::test]
async fn inside_service_builder_with_trace_and_timeout() {
    // Trace outside, the gatekeeper, the timeout around the handler.
    let stack = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(builder().build())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(200),
        ));
    let app = routes().route("/slow", get(slow)).layer(stack);

    let r = send(&app, get_req("/ok").body(empty()).unwrap()).await;
    r.assert_missing();
    let r = send(
        &app,
        get_req("/maybe")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1");
    let r = send(
        &app,
        get_req("/slow")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn timeout_outside_the_gatekeeper_covers_a_slow_verifier() {
    // tower-http's Timeout needs `ResBody: Default`, which `ResponseBody` is not (see the
    // ignored test below); map the body back to axum's between the two.
    let slow_verifier = |c: Credential<'static>| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let _ = c;
        Err::<Principal, _>(VerifyError::invalid("too late"))
    };
    let stack = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(100),
        ))
        .map_response(|r: Response<ResponseBody<Body>>| r.map(Body::new))
        .layer(GatekeeperLayer::builder(slow_verifier).realm(REALM).build());
    let app = routes().layer(stack);
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, "Bearer opaque")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT);
    // Without a credential the verifier is never asked: an immediate 401.
    let r = send(&app, get_req("/ok").body(empty()).unwrap()).await;
    r.assert_missing();
}

/// Tells at compile time whether `T: Default` (inherent-impl probing).
struct DefaultProbe<T>(PhantomData<T>);

trait NoDefault {
    const IMPLEMENTS_DEFAULT: bool = false;
}

impl<T> NoDefault for DefaultProbe<T> {}

impl<T: Default> DefaultProbe<T> {
    const IMPLEMENTS_DEFAULT: bool = true;
}

#[test]
fn default_probe_works() {
    assert!(std::hint::black_box(
        DefaultProbe::<Body>::IMPLEMENTS_DEFAULT
    ));
    assert!(!std::hint::black_box(
        DefaultProbe::<PanicBody>::IMPLEMENTS_DEFAULT
    ));
}

#[test]
fn response_body_implements_default_for_tower_http_timeout() {
    assert!(std::hint::black_box(
        DefaultProbe::<ResponseBody<Body>>::IMPLEMENTS_DEFAULT
    ));
}

#[tokio::test]
async fn principal_extractors_and_extensions() {
    let app = app(builder().optional(true).build());
    let t = token();

    // `Principal`.
    let r = send(
        &app,
        get_req("/whoami")
            .header(AUTHORIZATION, bearer(&t))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["subject"], "app-1");
    // `Principal` on an anonymous request (optional mode): the extractor refuses with 401.
    let r = send(&app, get_req("/whoami").body(empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text(), MISSING_ERROR);
    assert_eq!(r.challenges().len(), 1);
    assert!(r.challenges()[0].starts_with("Bearer realm="));

    // `Option<Principal>`.
    let r = send(
        &app,
        get_req("/maybe")
            .header(AUTHORIZATION, bearer(&t))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1");
    let r = send(&app, get_req("/maybe").body(empty()).unwrap()).await;
    r.assert_ok_text("anonymous");

    // The request extensions.
    let r = send(
        &app,
        get_req(&format!("/ext?access_token={t}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    // (The query source is off here: the query token is ignored, the request anonymous.)
    r.assert_ok_text("none");
    let r = send(
        &app,
        get_req("/ext")
            .header(AUTHORIZATION, bearer(&t))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1 via Some(Header)");
}

#[tokio::test]
async fn principal_extractor_without_the_layer_is_401() {
    let app = routes();
    let r = send(&app, get_req("/whoami").body(empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text(), MISSING_ERROR);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let r = send(&app, get_req("/maybe").body(empty()).unwrap()).await;
    r.assert_ok_text("anonymous");
}

async fn app_optional() -> Router {
    app(GatekeeperLayer::builder(everything_verifier().await)
        .realm(REALM)
        .sources(all_sources())
        .optional(true)
        .build())
}

#[tokio::test]
async fn optional_mode() {
    let app = app_optional().await;
    let r = send(&app, get_req("/maybe").body(empty()).unwrap()).await;
    r.assert_ok_text("anonymous");
    assert_eq!(r.header("cache-control"), None);

    let r = send(
        &app,
        get_req("/maybe")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1");

    // A presented credential must still be valid, and well-formed.
    let r = send(
        &app,
        get_req("/maybe")
            .header("x-api-key", "key-999")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.text(),
        r#"{"error":"invalid_token","error_description":"the key is unknown or revoked"}"#
    );
    let r = send(
        &app,
        get_req("/maybe?access_token=a&access_token=b")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::BAD_REQUEST,
        MORE_THAN_ONE_ERROR,
        &[MORE_THAN_ONE_CHALLENGE],
    );
    // A bad body credential too.
    let r = send(
        &app,
        post_req("/maybe")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"access_token":"nope"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // An anonymous POST with a body passes.
    let r = send(
        &app,
        post_req("/maybe")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"other":"x"}"#))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("anonymous");
}

fn cors_app(allow: bool) -> Router {
    Router::new()
        .route(
            "/cors",
            get(maybe).options(|| async { (StatusCode::NO_CONTENT, "preflight") }),
        )
        .layer(builder().allow_cors_preflight(allow).build())
}

#[tokio::test]
async fn cors_preflight() {
    let preflight = || {
        req(Method::OPTIONS, "/cors")
            .header("origin", "https://app.example")
            .header("access-control-request-method", "GET")
            .body(empty())
            .unwrap()
    };
    let app = cors_app(true);
    let r = send(&app, preflight()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.text(), "preflight");

    // Only a real preflight: OPTIONS without Access-Control-Request-Method is guarded.
    let r = send(&app, req(Method::OPTIONS, "/cors").body(empty()).unwrap()).await;
    r.assert_missing();
    // Other methods still are.
    let r = send(&app, get_req("/cors").body(empty()).unwrap()).await;
    r.assert_missing();
    // And a preflight that carries a bad credential is judged on it.
    let r = send(
        &app,
        req(Method::OPTIONS, "/cors")
            .header("access-control-request-method", "GET")
            .header(AUTHORIZATION, "Bearer opaque")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Without the option a preflight is refused.
    let r = send(&cors_app(false), preflight()).await;
    r.assert_missing();
}

#[tokio::test]
async fn plain_tower_service_with_a_non_axum_body() {
    let svc = tower::service_fn(|req: Request<RequestBody<Full<Bytes>>>| async move {
        let subject = req
            .extensions()
            .get::<Principal>()
            .map(|p| p.subject().to_owned())
            .unwrap_or_else(|| "anonymous".to_owned());
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let text = format!("{subject}|{}", String::from_utf8_lossy(&body));
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
    });
    let gatekeeper = builder()
        .sources(CredentialSources::new().form_body("access_token"))
        .build()
        .layer(svc);

    let collect = |res: Response<ResponseBody<Full<Bytes>>>| async move {
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    };

    let res = gatekeeper
        .clone()
        .oneshot(
            Request::get("/")
                .header(AUTHORIZATION, bearer(&token()))
                .body(Full::new(Bytes::from_static(b"hello")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(collect(res).await, (StatusCode::OK, "app-1|hello".into()));

    let form = format!("access_token={}&x=1", token());
    let res = gatekeeper
        .clone()
        .oneshot(
            Request::post("/")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(form.clone())))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        collect(res).await,
        (StatusCode::OK, format!("app-1|{form}"))
    );

    let res = gatekeeper
        .clone()
        .oneshot(Request::get("/").body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    assert_eq!(res.headers()[WWW_AUTHENTICATE], BEARER_CHALLENGE);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(res.headers()[PRAGMA], "no-cache");
    assert_eq!(
        collect(res).await,
        (StatusCode::UNAUTHORIZED, MISSING_ERROR.into())
    );
}

/// An async verifier: opaque tokens looked up after an await.
fn async_verifier(
    seen: Arc<AtomicUsize>,
) -> impl Fn(Credential<'static>) -> Pin<Box<dyn Future<Output = Result<Principal, VerifyError>> + Send>>
+ Send
+ Sync
+ 'static {
    move |c: Credential<'static>| {
        let seen = seen.clone();
        Box::pin(async move {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            seen.fetch_add(1, Ordering::SeqCst);
            match c.token() {
                Some("opaque-good") => Ok(Principal::new(
                    Identity::new("async-user")
                        .with_client_id("async-app")
                        .with_scopes(["orders:read"]),
                )),
                Some(_) => Err(VerifyError::invalid("unknown opaque token")),
                None => Err(VerifyError::NotApplicable),
            }
        })
    }
}

#[tokio::test]
async fn async_verifier_path() {
    let seen = Arc::new(AtomicUsize::new(0));
    let app = app(GatekeeperLayer::builder(async_verifier(seen.clone()))
        .realm(REALM)
        .sources(
            CredentialSources::new()
                .query("access_token")
                .form_body("access_token"),
        )
        .require_scopes(["orders:read"])
        .build());

    let r = send(
        &app,
        get_req("/whoami")
            .header(AUTHORIZATION, "Bearer opaque-good")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.text(),
        r#"{"subject":"async-user","kind":"user","client_id":"async-app","scopes":["orders:read"],"actor":null,"tenant":null,"credential":{"scheme":"bearer","source":"header"}}"#
    );

    // Query: the cache mark is set on the asynchronous path too.
    let r = send(
        &app,
        get_req("/maybe?access_token=opaque-good")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("async-user");
    assert_eq!(r.all("cache-control"), ["private"]);

    // Body read, then asynchronous verification, then the body replayed.
    let r = send(
        &app,
        post_req("/echo")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(Chunks::new(["access_token=opaque", "-good&z=9"])))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("access_token=opaque-good&z=9");

    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, "Bearer opaque-bad")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::UNAUTHORIZED,
        r#"{"error":"invalid_token","error_description":"unknown opaque token"}"#,
        &[r#"Bearer realm="orders", error="invalid_token", error_description="unknown opaque token""#],
    );
    assert_eq!(seen.load(Ordering::SeqCst), 4);
}

/// An inner service that must be readied before each call: a clone is not ready.
struct NeedsReady {
    readied: bool,
    polls: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

impl NeedsReady {
    fn new() -> Self {
        Self {
            readied: false,
            polls: Arc::default(),
            calls: Arc::default(),
        }
    }
}

impl Clone for NeedsReady {
    fn clone(&self) -> Self {
        Self {
            readied: false,
            polls: self.polls.clone(),
            calls: self.calls.clone(),
        }
    }
}

impl<B> Service<Request<RequestBody<B>>> for NeedsReady {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.readied {
            return Poll::Ready(Ok(()));
        }
        // Every other poll is Pending: readiness takes a round trip.
        if self.polls.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.readied = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody<B>>) -> Self::Future {
        assert!(
            std::mem::take(&mut self.readied),
            "the inner service was called without being readied"
        );
        self.calls.fetch_add(1, Ordering::SeqCst);
        let subject = req
            .extensions()
            .get::<Principal>()
            .map_or("none", |p| p.subject())
            .to_owned();
        std::future::ready(Ok(Response::new(Full::new(Bytes::from(subject)))))
    }
}

type TestReq = Request<Full<Bytes>>;

fn with_bearer(token: &str) -> TestReq {
    Request::get("/")
        .header(AUTHORIZATION, bearer(token))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn poll_ready_is_respected() {
    let inner = NeedsReady::new();
    let calls = inner.calls.clone();
    let polls = inner.polls.clone();
    let sync_gk = builder().build().layer(inner.clone());
    let async_gk = GatekeeperLayer::builder(async_verifier(Arc::default()))
        .realm(REALM)
        .build()
        .layer(inner);

    // The inner service's Pending is passed on, then its readiness.
    let mut gk = sync_gk.clone();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Service::<TestReq>::poll_ready(&mut gk, &mut cx).is_pending());
    assert!(Service::<TestReq>::poll_ready(&mut gk, &mut cx).is_ready());
    assert_eq!(polls.load(Ordering::SeqCst), 2);
    // The readied service is the one called (NeedsReady panics otherwise).
    let response = Service::<TestReq>::call(&mut gk, with_bearer(&token()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The service left in place is a fresh, unready clone.
    assert!(Service::<TestReq>::poll_ready(&mut gk, &mut cx).is_pending());

    let t = token();
    for (mut gk, good) in [(sync_gk, t.as_str()), (async_gk, "opaque-good")] {
        let before = calls.load(Ordering::SeqCst);
        let subject = if good == "opaque-good" {
            "async-user"
        } else {
            "app-1"
        };
        for (request, status, body) in [
            (with_bearer(good), StatusCode::OK, subject),
            (
                Request::get("/").body(Full::new(Bytes::new())).unwrap(),
                StatusCode::UNAUTHORIZED,
                MISSING_ERROR,
            ),
            (with_bearer(good), StatusCode::OK, subject),
        ] {
            let response = ServiceExt::<TestReq>::ready(&mut gk)
                .await
                .unwrap()
                .call(request)
                .await
                .unwrap();
            let got_status = response.status();
            let got = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(
                (
                    got_status,
                    String::from_utf8(got.to_vec()).unwrap().as_str()
                ),
                (status, body)
            );
        }
        // The refused request never reached the inner service.
        assert_eq!(calls.load(Ordering::SeqCst) - before, 2);
    }
}

// ---------------------------------------------------------------------------------------------
// 7. The Principal's JSON shape
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn principal_json_shape_for_every_scheme_and_source() {
    let app = full_app().await;
    let t = token();
    let bearer_json = |source: &str| {
        format!(
            r#"{{"subject":"app-1","kind":"client","client_id":"app-1","scopes":["orders:read"],"actor":null,"tenant":null,"credential":{{"scheme":"bearer","source":"{source}"}}}}"#
        )
    };
    let cases: Vec<(Request<Body>, String)> = vec![
        (
            get_req("/whoami")
                .header(AUTHORIZATION, bearer(&t))
                .body(empty())
                .unwrap(),
            bearer_json("header"),
        ),
        (
            get_req(&format!("/whoami?access_token={t}"))
                .body(empty())
                .unwrap(),
            bearer_json("query"),
        ),
        (
            post_req("/whoami")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("access_token={t}")))
                .unwrap(),
            bearer_json("body"),
        ),
        (
            post_req("/whoami")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(format!(r#"{{"access_token":"{t}"}}"#)))
                .unwrap(),
            bearer_json("body"),
        ),
        (
            get_req("/whoami")
                .header("x-auth-token", &t)
                .body(empty())
                .unwrap(),
            bearer_json("header"),
        ),
        (
            get_req("/whoami")
                .header("x-api-key", "key-123")
                .body(empty())
                .unwrap(),
            r#"{"subject":"svc-reporting","kind":"api_key_owner","client_id":"reporting","scopes":["reports:read"],"actor":null,"tenant":null,"credential":{"scheme":"api_key","source":"header"}}"#.to_owned(),
        ),
        (
            get_req("/whoami")
                .header(AUTHORIZATION, basic("alice", ALICE_PASSWORD))
                .body(empty())
                .unwrap(),
            r#"{"subject":"u-alice","kind":"user","client_id":null,"scopes":["orders:read"],"actor":null,"tenant":null,"credential":{"scheme":"basic","source":"header"}}"#.to_owned(),
        ),
        // An API key carried as a bearer token (opted in): still an API key.
        (
            get_req("/whoami")
                .header(AUTHORIZATION, "Bearer key-123")
                .body(empty())
                .unwrap(),
            r#"{"subject":"svc-reporting","kind":"api_key_owner","client_id":"reporting","scopes":["reports:read"],"actor":null,"tenant":null,"credential":{"scheme":"api_key","source":"header"}}"#.to_owned(),
        ),
    ];
    for (request, expected) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let r = send(&app, request).await;
        assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.text());
        assert_eq!(r.text(), expected, "{what}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn principal_json_with_actor_and_tenant() {
    let app = app(builder().build());
    let t = mint(&json!({
        "sub": "u-9",
        "azp": "app-9",
        "scp": ["a", "b"],
        "act": {"sub": "admin", "client_id": "ops"},
        "tenant": {"id": "t-1", "code": "acme"},
        "exp": now() + 300,
    }));
    let r = send(
        &app,
        get_req("/whoami")
            .header(AUTHORIZATION, bearer(&t))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.text(),
        r#"{"subject":"u-9","kind":"user","client_id":"app-9","scopes":["a","b"],"actor":{"subject":"admin","client_id":"ops"},"tenant":{"id":"t-1","code":"acme"},"credential":{"scheme":"bearer","source":"header"}}"#
    );
}
