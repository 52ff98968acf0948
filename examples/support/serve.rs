//! Serving an axum `Router` over HTTP/1.1 with the timeouts a server facing clients needs.
//!
//! `axum::serve` sets none: a client that sends half its headers, stalls its body, or opens
//! connections and never uses them holds a connection (and its task and buffers) forever. This
//! loop, shared by the examples that serve (`#[path = "support/serve.rs"] mod serve;`), bounds
//! each of those:
//!
//! | slow client | bound | what happens |
//! | --- | --- | --- |
//! | headers never finished | `header` (10 s) | hyper closes the connection |
//! | body stalled, or a request that takes too long | `body` (30 s), headers to answer | 408 Request Timeout |
//! | an idle keep-alive connection | `header` (hyper's timer starts as soon as the last answer is sent) | closed |
//! | no byte moving either way (e.g. a client not reading its answer) | `idle` (60 s), counted only while no request is in the handler | the connection is dropped |
//! | too many connections | `max_connections` (1 024) | new ones wait in the listen backlog |
//!
//! It also answers 400 to a request without one valid `Host` (none in HTTP/1.1, two, or one
//! that is not a host), as RFC 9112 §3.2 requires of a server and hyper leaves to it.
//!
//! Copy it into your own server, or use a production server in front that sets the same.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutLayer;

/// The bounds on one connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// The longest a client may take to send a request's headers; also how long an idle
    /// keep-alive connection waits for the next request.
    pub header: Duration,
    /// The longest a request may take from its headers to its answer, reading its body
    /// included; past it, 408.
    pub body: Duration,
    /// The longest a connection may move no byte either way while no request is being handled.
    pub idle: Duration,
    /// The most connections served at once.
    pub max_connections: usize,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

impl Timeouts {
    /// The flags [`parse_flag`](Self::parse_flag) understands, for a usage line.
    pub const USAGE: &'static str = "[--header-timeout-secs N] [--body-timeout-secs N] \
                                     [--idle-timeout-secs N] [--max-connections N]";

    /// Applies `flag` if it is one of ours, taking its value from `value`; `Ok(false)` when the
    /// flag is someone else's.
    pub fn parse_flag(
        &mut self,
        flag: &str,
        value: impl FnOnce() -> Option<String>,
    ) -> Result<bool, String> {
        let slot = match flag {
            "--header-timeout-secs" => &mut self.header,
            "--body-timeout-secs" => &mut self.body,
            "--idle-timeout-secs" => &mut self.idle,
            "--max-connections" => {
                let n = number(flag, value())?;
                self.max_connections = usize::try_from(n).map_err(|e| format!("{flag}: {e}"))?;
                return Ok(true);
            }
            _ => return Ok(false),
        };
        *slot = Duration::from_secs(number(flag, value())?);
        Ok(true)
    }
}

fn number(flag: &str, value: Option<String>) -> Result<u64, String> {
    let value = value.ok_or(format!("{flag} needs a number"))?;
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} {value}: a whole number above 0")),
    }
}

/// Serves `app` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, app: Router, timeouts: Timeouts) {
    // The request timeout sits outside everything, so every route and the fallback have it.
    let app = tower::ServiceBuilder::new()
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeouts.body,
        ))
        .service(app);
    let slots = Arc::new(tokio::sync::Semaphore::new(timeouts.max_connections.max(1)));
    loop {
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(stream, app, timeouts).await;
            drop(permit);
        });
    }
}

async fn serve_connection<S>(stream: TcpStream, app: S, timeouts: Timeouts)
where
    S: tower::Service<
            Request<Incoming>,
            Response = axum::response::Response,
            Error = Infallible,
            Future: Send,
        > + Clone
        + Send
        + 'static,
{
    let _ = stream.set_nodelay(true);
    let started = Instant::now();
    let activity = Arc::new(Activity {
        last_ms: AtomicU64::new(0),
        in_handler: AtomicUsize::new(0),
        started,
    });
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let in_service = activity.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let guard = InHandler::enter(in_service.clone());
        let app = app.clone();
        async move {
            let _guard = guard;
            if let Some(reason) = bad_host(&req) {
                return Ok(bad_request(reason));
            }
            app.oneshot(req).await
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    loop {
        let wait = if activity.in_handler.load(Ordering::Acquire) > 0 {
            // The handler is bounded by the request timeout; check again after it.
            timeouts.idle
        } else {
            let quiet = activity.quiet_for();
            if quiet >= timeouts.idle {
                return; // dropping the connection closes it
            }
            timeouts.idle - quiet
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
/// request message that lacks a Host header field and to any request message that contains
/// more than one Host header field line or a Host header field with an invalid field value."
/// hyper leaves this to the application. Valid: `uri-host [ ":" port ]` (RFC 3986's authority
/// without userinfo), or empty.
fn bad_host<B>(req: &Request<B>) -> Option<&'static str> {
    let mut hosts = req.headers().get_all(axum::http::header::HOST).iter();
    let Some(host) = hosts.next() else {
        return (req.version() == axum::http::Version::HTTP_11)
            .then_some("an HTTP/1.1 request needs a Host header (RFC 9112 section 3.2)");
    };
    if hosts.next().is_some() {
        return Some("more than one Host header (RFC 9112 section 3.2)");
    }
    let bytes = host.as_bytes();
    // RFC 3986 `port = *DIGIT`, after the last `:` outside an IPv6 literal's brackets.
    let after_host = match bytes.first() {
        Some(b'[') => bytes
            .iter()
            .position(|&b| b == b']')
            .map(|end| &bytes[end + 1..]),
        _ => Some(bytes),
    };
    let port_ok = after_host.is_some_and(|rest| match rest.iter().rposition(|&b| b == b':') {
        Some(colon) => rest[colon + 1..].iter().all(u8::is_ascii_digit),
        None => bytes.first() != Some(&b'[') || rest.is_empty(),
    });
    let valid = bytes.is_empty()
        || (port_ok
            && !bytes.contains(&b'@')
            && host
                .to_str()
                .ok()
                .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
                .is_some());
    (!valid).then_some("the Host header is not a valid host (RFC 9112 section 3.2)")
}

fn bad_request(reason: &'static str) -> axum::response::Response {
    let mut response = axum::response::Response::new(axum::body::Body::from(reason));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// When bytes last moved on a connection, and whether a request is in the handler.
struct Activity {
    last_ms: AtomicU64,
    in_handler: AtomicUsize,
    started: Instant,
}

impl Activity {
    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Release);
    }
    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        self.started.elapsed().saturating_sub(last)
    }
}

struct InHandler(Arc<Activity>);

impl InHandler {
    fn enter(activity: Arc<Activity>) -> Self {
        activity.in_handler.fetch_add(1, Ordering::AcqRel);
        Self(activity)
    }
}

impl Drop for InHandler {
    fn drop(&mut self) {
        self.0.in_handler.fetch_sub(1, Ordering::AcqRel);
        self.0.touch();
    }
}

/// A stream that records when bytes move.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
