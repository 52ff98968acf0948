//! A body the layer reads has a deadline: a client that announces a body and stalls gets 408
//! (with `Connection: close`) instead of holding the request forever. Over a real socket, and
//! in process with a body that never completes.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use tower_gatekeeper::extract::{Credential, CredentialSources};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::VerifyError;
use tower_gatekeeper::{GatekeeperBuilder, GatekeeperLayer, Principal};

const FORM: &str = "application/x-www-form-urlencoded";
const TIMEOUT_BODY: &str =
    r#"{"error":"invalid_request","error_description":"the request body did not arrive in time"}"#;

fn accept_good(c: Credential<'static>) -> std::future::Ready<Result<Principal, VerifyError>> {
    std::future::ready(match c.token() {
        Some("good") => Ok(Principal::new(Identity::new("app-1"))),
        _ => Err(VerifyError::invalid("unknown token")),
    })
}

fn builder(sources: CredentialSources) -> GatekeeperBuilder {
    GatekeeperLayer::builder(accept_good)
        .realm("orders")
        .sources(sources)
}

fn routes() -> Router {
    Router::new()
        .route("/ok", post(|| async { "ok" }))
        .route("/echo", post(|body: Bytes| async move { body }))
}

/// A body that never yields a frame and never ends.
struct NeverBody;

impl http_body::Body for NeverBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

/// Starts `app` on a loopback port; the server task ends with the test's runtime.
async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct RawReply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Writes `head` and `partial` (of a longer announced body), then waits for the answer
/// without sending the rest. A guard ends the wait if no answer ever comes.
async fn stall(addr: std::net::SocketAddr, head: &str, partial: &str) -> RawReply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(partial.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let mut raw = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if complete(&raw) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the server never answered a stalled body");
    parse(&raw)
}

/// Whether `raw` holds a whole response (headers and a `Content-Length` body).
fn complete(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}

fn parse(raw: &[u8]) -> RawReply {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    RawReply {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn form_sources() -> CredentialSources {
    CredentialSources::new()
        .form_body("access_token")
        .body_read_timeout(Duration::from_millis(200))
}

#[tokio::test]
async fn a_stalled_body_over_a_socket_gets_408_and_a_closed_connection() {
    let addr = serve(routes().layer(builder(form_sources()).build())).await;
    // A body credential that never finishes arriving.
    let r = stall(
        addr,
        &format!(
            "POST /ok HTTP/1.1\r\nHost: localhost\r\nContent-Type: {FORM}\r\nContent-Length: 100\r\n\r\n"
        ),
        "access_tok",
    )
    .await;
    assert_eq!(r.status, 408, "{}", r.body);
    assert_eq!(r.body, TIMEOUT_BODY);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.header("www-authenticate"), None);

    // With the credential in the header, the body is read to look for a second one: the same.
    let r = stall(
        addr,
        &format!(
            "POST /ok HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer good\r\nContent-Type: {FORM}\r\nContent-Length: 100\r\n\r\n"
        ),
        "x=1234567",
    )
    .await;
    assert_eq!(r.status, 408, "{}", r.body);
    assert_eq!(r.header("connection"), Some("close"));
}

#[tokio::test]
async fn a_stalled_body_the_layer_does_not_read_is_the_handlers() {
    let addr = serve(routes().layer(builder(form_sources()).build())).await;
    // Not a form: the layer does not read it, so no 408 from the layer; the handler (which
    // ignores its body) answers.
    let r = stall(
        addr,
        "POST /ok HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer good\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n",
        "0123456789",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "ok");
}

#[tokio::test]
async fn a_body_that_never_completes_gets_408_in_process() {
    for optional in [false, true] {
        for auth in [None, Some("Bearer good")] {
            let app = routes().layer(builder(form_sources()).optional(optional).build());
            let mut req = Request::post("/echo").header(CONTENT_TYPE, FORM);
            if let Some(auth) = auth {
                req = req.header(AUTHORIZATION, auth);
            }
            let res = app
                .oneshot(req.body(Body::new(NeverBody)).unwrap())
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::REQUEST_TIMEOUT,
                "optional {optional}, {auth:?}"
            );
            assert_eq!(res.headers()[CONNECTION], "close");
            assert!(!res.headers().contains_key(WWW_AUTHENTICATE));
            assert_eq!(res.headers()["cache-control"], "no-store");
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], TIMEOUT_BODY.as_bytes());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_default_deadline_is_ten_seconds() {
    // On a paused clock: time moves only when every task waits, straight to the next timer.
    let app = routes().layer(builder(CredentialSources::new().form_body("access_token")).build());
    let started = tokio::time::Instant::now();
    let res = app
        .oneshot(
            Request::post("/echo")
                .header(CONTENT_TYPE, FORM)
                .body(Body::new(NeverBody))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_that_arrives_in_time_is_not_cut_off() {
    // Frames that arrive before the deadline, however slowly, are read whole.
    struct Slow {
        frames: std::collections::VecDeque<&'static str>,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    }
    impl http_body::Body for Slow {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_secs(3))));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
            Poll::Ready(
                self.frames
                    .pop_front()
                    .map(|f| Ok(Frame::data(Bytes::from(f)))),
            )
        }
    }
    use std::future::Future as _;
    let app = routes().layer(builder(CredentialSources::new().form_body("access_token")).build());
    let res = app
        .oneshot(
            Request::post("/echo")
                .header(CONTENT_TYPE, FORM)
                .body(Body::new(Slow {
                    frames: ["access_token=go", "od&x=1"].into(),
                    sleep: None,
                }))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"access_token=good&x=1");
}
