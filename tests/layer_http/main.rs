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

mod errors;
mod extraction;
mod more_than_one;
mod placements;
mod principal_json;
mod secrets;
mod stripping;
use placements::app_optional;
