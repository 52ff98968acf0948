//! One credential per request, the body included (RFC 6750 §2): a credential in the head and
//! another in a form or JSON body is a 400, and the body is read only when a body source reads
//! its content type. The inner service still gets the exact original bytes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_gatekeeper::extract::{Credential, CredentialSources};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::VerifyError;
use tower_gatekeeper::{GatekeeperLayer, Principal};

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const MORE_THAN_ONE: &str = r#"{"error":"invalid_request","error_description":"more than one credential was presented (RFC 6750 section 2)"}"#;
const TOO_LARGE: &str =
    r#"{"error":"invalid_request","error_description":"the request body exceeds the size limit"}"#;

/// A verifier that accepts the token `good` and counts its calls.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl Counting {
    fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    fn verifier(
        &self,
    ) -> impl Fn(Credential<'static>) -> std::future::Ready<Result<Principal, VerifyError>>
    + Send
    + Sync
    + 'static {
        let calls = self.0.clone();
        move |c: Credential<'static>| {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(match c.token() {
                Some("good") | Some("other") => Ok(Principal::new(Identity::new("app-1"))),
                _ => Err(VerifyError::invalid("unknown token")),
            })
        }
    }
}

fn sources() -> CredentialSources {
    CredentialSources::new()
        .token_header("x-auth-token")
        .api_key_header("x-api-key")
        .query("access_token")
        .form_body("access_token")
        .json_body("access_token")
        .body_limit(64)
}

async fn echo(body: Bytes) -> Bytes {
    body
}

async fn trailers(req: axum::extract::Request) -> String {
    let collected = req.into_body().collect().await.unwrap();
    let trailer = collected
        .trailers()
        .and_then(|t| t.get("x-checksum"))
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    format!(
        "{}|{}",
        String::from_utf8_lossy(&collected.to_bytes()),
        trailer
    )
}

fn app_with(counting: &Counting, sources: CredentialSources) -> Router {
    Router::new()
        .route("/echo", post(echo).put(echo).get(echo))
        .route("/ok", post(|| async { "ok" }).get(|| async { "ok" }))
        .route("/trailers", post(trailers))
        .layer(
            GatekeeperLayer::builder(counting.verifier())
                .realm("orders")
                .sources(sources)
                .build(),
        )
}

fn app(counting: &Counting) -> Router {
    app_with(counting, sources())
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// The head part of a request: where the first credential goes.
#[derive(Debug, Clone, Copy)]
enum Head {
    Authorization,
    TokenHeader,
    ApiKeyHeader,
    Query,
}

const HEADS: [Head; 4] = [
    Head::Authorization,
    Head::TokenHeader,
    Head::ApiKeyHeader,
    Head::Query,
];

fn with_head(head: Head, method: Method, path: &str, token: &str) -> http::request::Builder {
    let b = Request::builder().method(method);
    match head {
        Head::Authorization => b.uri(path).header(AUTHORIZATION, format!("Bearer {token}")),
        Head::TokenHeader => b.uri(path).header("x-auth-token", token),
        Head::ApiKeyHeader => b.uri(path).header("x-api-key", token),
        Head::Query => b.uri(format!("{path}?access_token={token}")),
    }
}

/// A streamed body: one frame at a time, no size hint.
struct Chunks(VecDeque<Frame<Bytes>>);

impl Chunks {
    fn new<I: IntoIterator<Item = S>, S: Into<Bytes>>(chunks: I) -> Self {
        Self(chunks.into_iter().map(|c| Frame::data(c.into())).collect())
    }

    fn with_trailers(mut self, trailers: HeaderMap) -> Self {
        self.0.push_back(Frame::trailers(trailers));
        self
    }
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

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

#[tokio::test]
async fn a_head_credential_and_a_body_credential_are_400() {
    let counting = Counting::default();
    let app = app(&counting);
    for head in HEADS {
        for (content_type, body) in [
            (FORM, "x=1&access_token=other".to_owned()),
            (JSON, r#"{"x":1,"access_token":"other"}"#.to_owned()),
            // Identical values are two credentials too.
            (FORM, "access_token=good".to_owned()),
            // A malformed second credential is still a refusal, not a pass.
            (FORM, "access_token=".to_owned()),
            (JSON, r#"{"access_token":42}"#.to_owned()),
        ] {
            let r = send(
                &app,
                with_head(head, Method::POST, "/echo", "good")
                    .header(CONTENT_TYPE, content_type)
                    .body(Body::from(body.clone()))
                    .unwrap(),
            )
            .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{head:?} {body}");
            assert!(
                r.body.contains(r#""error":"invalid_request""#),
                "{}",
                r.body
            );
        }
    }
    // Refused before any verification: neither credential was tried.
    assert_eq!(counting.calls(), 0);
}

#[tokio::test]
async fn two_credentials_answer_with_the_bearer_error_challenge() {
    let counting = Counting::default();
    let app = app(&counting);
    let r = send(
        &app,
        with_head(Head::Authorization, Method::POST, "/echo", "good")
            .header(CONTENT_TYPE, FORM)
            .body(Body::from("access_token=other"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.body, MORE_THAN_ONE);
    assert_eq!(
        r.headers["www-authenticate"],
        r#"Bearer realm="orders", error="invalid_request", error_description="more than one credential was presented (RFC 6750 section 2)""#
    );
}

#[tokio::test]
async fn a_body_without_a_credential_reaches_the_handler_intact() {
    let counting = Counting::default();
    let app = app(&counting);
    for head in HEADS {
        for (content_type, body) in [
            (FORM, "x=1&access_tokens=a&y=%20z"),
            (JSON, r#"{"nested":{"access_token":"inner"},"x":[1,2]}"#),
            (JSON, "not json at all"),
            (FORM, ""),
        ] {
            let r = send(
                &app,
                with_head(head, Method::POST, "/echo", "good")
                    .header(CONTENT_TYPE, content_type)
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{head:?} {body}: {}", r.body);
            assert_eq!(r.body, body);
        }
    }
    // Streamed in pieces, with trailers: the same bytes and trailers arrive.
    let mut t = HeaderMap::new();
    t.insert("x-checksum", "abc".parse().unwrap());
    let r = send(
        &app,
        with_head(Head::Authorization, Method::POST, "/trailers", "good")
            .header(CONTENT_TYPE, FORM)
            .body(Body::new(
                Chunks::new(["a=1&acc", "ess_tok", "ens=2"]).with_trailers(t),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, "a=1&access_tokens=2|abc");
    // A credential split across frames is still found.
    let r = send(
        &app,
        with_head(Head::Query, Method::PUT, "/echo", "good")
            .header(CONTENT_TYPE, FORM)
            .body(Body::new(Chunks::new(["a=1&acc", "ess_token=ot", "her"])))
            .unwrap(),
    )
    .await;
    assert_eq!(r.body, MORE_THAN_ONE);
}

#[tokio::test]
async fn an_invalid_head_credential_is_still_401_after_the_body_is_read() {
    let counting = Counting::default();
    let app = app(&counting);
    let r = send(
        &app,
        with_head(Head::Authorization, Method::POST, "/echo", "bad")
            .header(CONTENT_TYPE, FORM)
            .body(Body::from("x=1"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(counting.calls(), 1);
}

#[tokio::test]
async fn other_content_types_and_methods_are_never_read() {
    let counting = Counting::default();
    let app = app(&counting);
    for head in HEADS {
        for content_type in [
            "text/plain",
            "application/octet-stream",
            "multipart/form-data; boundary=b",
            "application/json-patch+json",
        ] {
            let r = send(
                &app,
                with_head(head, Method::POST, "/ok", "good")
                    .header(CONTENT_TYPE, content_type)
                    .body(Body::new(PanicBody))
                    .unwrap(),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{head:?} {content_type}");
        }
        // GET bodies are never looked into, whatever their type.
        let r = send(
            &app,
            with_head(head, Method::GET, "/ok", "good")
                .header(CONTENT_TYPE, FORM)
                .body(Body::new(PanicBody))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{head:?} GET");
    }
    // A credential-looking body of another type is the handler's business.
    let r = send(
        &app,
        with_head(Head::Authorization, Method::POST, "/echo", "good")
            .header(CONTENT_TYPE, "text/plain")
            .body(Body::from("access_token=other"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "access_token=other");
}

#[tokio::test]
async fn only_the_configured_body_format_is_read() {
    let counting = Counting::default();
    // Form bodies only: a JSON body is not read even with a token in it.
    let app = app_with(
        &counting,
        CredentialSources::new().form_body("access_token"),
    );
    let r = send(
        &app,
        with_head(Head::Authorization, Method::POST, "/ok", "good")
            .header(CONTENT_TYPE, JSON)
            .body(Body::new(PanicBody))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // No body source at all: nothing is read.
    let app = app_with(&counting, CredentialSources::new());
    let r = send(
        &app,
        with_head(Head::Authorization, Method::POST, "/ok", "good")
            .header(CONTENT_TYPE, FORM)
            .body(Body::new(PanicBody))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_head_credential_with_a_body_over_the_limit_is_413() {
    let counting = Counting::default();
    let app = app(&counting);
    // Announced too large: refused before reading.
    let r = send(
        &app,
        with_head(Head::Authorization, Method::POST, "/ok", "good")
            .header(CONTENT_TYPE, FORM)
            .header(CONTENT_LENGTH, "65")
            .body(Body::new(PanicBody))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body, TOO_LARGE);
    // Growing past the limit while streamed (no Content-Length): 413 too, and the second
    // credential hidden past the limit gets no chance.
    let filler = "x".repeat(60);
    let body = format!("a={filler}&access_token=other");
    let r = send(
        &app,
        with_head(Head::Authorization, Method::POST, "/echo", "good")
            .header(CONTENT_TYPE, FORM)
            .body(Body::new(Chunks::new([
                body[..40].to_owned(),
                body[40..].to_owned(),
            ])))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Exactly at the limit is read.
    let exact = format!("a={}", "y".repeat(62));
    let r = send(
        &app,
        with_head(Head::Authorization, Method::POST, "/echo", "good")
            .header(CONTENT_TYPE, FORM)
            .body(Body::from(exact.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, exact);
    assert_eq!(counting.calls(), 1);
}

#[tokio::test]
async fn a_body_credential_alone_still_works() {
    let counting = Counting::default();
    let app = app(&counting);
    for (content_type, body) in [
        (FORM, "access_token=good&x=1"),
        (JSON, r#"{"access_token":"good","x":1}"#),
    ] {
        let r = send(
            &app,
            Request::post("/echo")
                .header(CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body, body);
    }
}
