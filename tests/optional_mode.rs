//! Optional mode and large bodies: an anonymous form or JSON body over the limit is passed on
//! unread (announced by `Content-Length`) or replayed from the bytes read followed by the rest
//! (streamed), so a public route receives every original byte; a credential in such a body is
//! never used. Required mode, and optional mode with a stage that needs a principal, answer
//! 413.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower_gatekeeper::extract::{Credential, CredentialSources, RequestBody};
use tower_gatekeeper::layer::RequireScopes;
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::VerifyError;
use tower_gatekeeper::{GatekeeperBuilder, GatekeeperLayer, Principal};

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const LIMIT: usize = 64;

fn accept_good(c: Credential<'static>) -> std::future::Ready<Result<Principal, VerifyError>> {
    std::future::ready(match c.token() {
        Some("good") => Ok(Principal::new(Identity::new("app-1"))),
        _ => Err(VerifyError::invalid("unknown token")),
    })
}

fn sources() -> CredentialSources {
    CredentialSources::new()
        .form_body("access_token")
        .json_body("access_token")
        .body_limit(LIMIT)
}

fn builder(optional: bool) -> GatekeeperBuilder {
    GatekeeperLayer::builder(accept_good)
        .realm("orders")
        .sources(sources())
        .optional(optional)
}

async fn echo(p: Option<Principal>, body: Bytes) -> String {
    let who = p.map_or("anonymous".to_owned(), |p| p.subject().to_owned());
    format!("{who}|{}", String::from_utf8_lossy(&body))
}

fn app(layer: GatekeeperLayer) -> Router {
    Router::new()
        .route("/echo", post(echo))
        .route("/ok", post(|| async { "ok" }))
        .route(
            "/needs",
            post(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(layer)
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A body in frames that reports its exact remaining size, and the end of the stream.
struct Exact {
    frames: VecDeque<Frame<Bytes>>,
}

impl Exact {
    fn new<I: IntoIterator<Item = S>, S: Into<Bytes>>(chunks: I) -> Self {
        Self {
            frames: chunks.into_iter().map(|c| Frame::data(c.into())).collect(),
        }
    }

    fn with_trailers(mut self, trailers: HeaderMap) -> Self {
        self.frames.push_back(Frame::trailers(trailers));
        self
    }

    fn remaining(&self) -> u64 {
        self.frames
            .iter()
            .filter_map(|f| f.data_ref())
            .map(|d| d.len() as u64)
            .sum()
    }
}

impl http_body::Body for Exact {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.frames.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining())
    }
}

/// A streamed body with no size hint.
struct Chunks(VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

fn chunks(parts: &[&str]) -> Body {
    Body::new(Chunks(
        parts.iter().map(|p| Bytes::from(p.to_string())).collect(),
    ))
}

/// A body that panics when polled: proves nobody read it.
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

fn big(prefix: &str) -> String {
    format!("{prefix}&pad={}", "p".repeat(LIMIT * 3))
}

#[tokio::test]
async fn an_announced_large_anonymous_body_is_passed_on_unread() {
    let app = app(builder(true).build());
    for content_type in [FORM, JSON] {
        // The layer does not touch it: a handler that ignores it never polls it.
        let (status, body) = send(
            &app,
            Request::post("/ok")
                .header(CONTENT_TYPE, content_type)
                .header(CONTENT_LENGTH, (LIMIT + 1).to_string())
                .body(Body::new(PanicBody))
                .unwrap(),
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }
    // A handler that reads it gets every byte.
    let original = big("a=1");
    let (status, body) = send(
        &app,
        Request::post("/echo")
            .header(CONTENT_TYPE, FORM)
            .header(CONTENT_LENGTH, original.len().to_string())
            .body(Body::from(original.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("anonymous|{original}"));
}

#[tokio::test]
async fn a_streamed_large_anonymous_body_is_replayed_whole() {
    let app = app(builder(true).build());
    let original = big("a=1");
    // Cut so that the limit falls inside a frame and frames follow it.
    let (a, rest) = original.split_at(30);
    let (b, rest) = rest.split_at(50);
    let (c, d) = rest.split_at(70);
    let (status, body) = send(
        &app,
        Request::post("/echo")
            .header(CONTENT_TYPE, FORM)
            .body(chunks(&[a, b, c, d]))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("anonymous|{original}"));
}

#[tokio::test]
async fn the_replayed_body_keeps_its_size_hint_end_and_trailers() {
    let original = big("x=1");
    let total = original.len() as u64;
    let (a, rest) = original.split_at(40);
    let (b, c) = rest.split_at(40);
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    let body = Exact::new([a.to_owned(), b.to_owned(), c.to_owned()]).with_trailers(trailers);

    let inner = tower::service_fn(move |req: Request<RequestBody<Exact>>| async move {
        assert!(req.extensions().get::<Principal>().is_none());
        let mut body = req.into_body();
        assert!(
            format!("{body:?}").starts_with("RequestBody::Prefixed"),
            "{body:?}"
        );
        // The bytes read plus what remains: the whole body.
        assert_eq!(body.size_hint().exact(), Some(total));
        assert!(!body.is_end_stream());
        let mut data = Vec::new();
        let mut seen_trailers = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.unwrap();
            match frame.into_data() {
                Ok(d) => data.extend_from_slice(&d),
                Err(f) => seen_trailers = f.into_trailers().ok(),
            }
        }
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        let text = format!(
            "{}|{}",
            String::from_utf8(data).unwrap(),
            seen_trailers.unwrap()["x-checksum"].to_str().unwrap()
        );
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
    });
    let service = tower::Layer::layer(&builder(true).build(), inner);
    let res = service
        .oneshot(
            Request::post("/")
                .header(CONTENT_TYPE, JSON)
                .body(body)
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, format!("{original}|abc"));
}

#[tokio::test]
async fn a_credential_in_a_large_body_is_never_used() {
    let app = app(builder(true).build());
    // A valid token at the start of an oversize body: not read, so not used; anonymous.
    for (content_type, original) in [
        (FORM, big("access_token=good")),
        (
            JSON,
            format!(
                r#"{{"access_token":"good","pad":"{}"}}"#,
                "p".repeat(LIMIT * 2)
            ),
        ),
    ] {
        for announced in [true, false] {
            let mut req = Request::post("/echo").header(CONTENT_TYPE, content_type);
            let body = if announced {
                req = req.header(CONTENT_LENGTH, original.len().to_string());
                Body::from(original.clone())
            } else {
                let (a, b) = original.split_at(20);
                chunks(&[a, b])
            };
            let (status, body) = send(&app, req.body(body).unwrap()).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                body,
                format!("anonymous|{original}"),
                "announced {announced}"
            );
        }
        // And a route that needs a principal refuses it as anonymous.
        let (status, _) = send(
            &app,
            Request::post("/needs")
                .header(CONTENT_TYPE, content_type)
                .body(Body::from(original.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Within the limit, the body credential works as before.
    let (status, body) = send(
        &app,
        Request::post("/echo")
            .header(CONTENT_TYPE, FORM)
            .body(Body::from("access_token=good"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "app-1|access_token=good");
}

#[tokio::test]
async fn required_mode_still_answers_413() {
    let required = app(builder(false).build());
    // Optional, but a stage needs a principal: no anonymous pass, so 413 too.
    let staged = app(builder(true).authorize(RequireScopes::all(["x"])).build());
    for app in [&required, &staged] {
        let original = big("a=1");
        let (status, _) = send(
            app,
            Request::post("/ok")
                .header(CONTENT_TYPE, FORM)
                .header(CONTENT_LENGTH, original.len().to_string())
                .body(Body::new(PanicBody))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let (a, b) = original.split_at(10);
        let (status, _) = send(
            app,
            Request::post("/echo")
                .header(CONTENT_TYPE, JSON)
                .body(chunks(&[a, b]))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }
}

#[tokio::test]
async fn a_head_credential_with_a_large_body_is_413_in_optional_mode_too() {
    // The body must be read to refuse a second credential in it, and cannot be.
    let app = app(builder(true).build());
    let original = big("a=1");
    let (status, _) = send(
        &app,
        Request::post("/echo")
            .header(AUTHORIZATION, "Bearer good")
            .header(CONTENT_TYPE, FORM)
            .body(Body::from(original))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_small_anonymous_body_is_replayed_exactly() {
    let app = app(builder(true).build());
    for (content_type, original) in [(FORM, "a=1&b=%20"), (JSON, r#"{"a":[1,2]}"#), (FORM, "")] {
        let (status, body) = send(
            &app,
            Request::post("/echo")
                .header(CONTENT_TYPE, content_type)
                .body(Body::from(original))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, format!("anonymous|{original}"));
    }
}
