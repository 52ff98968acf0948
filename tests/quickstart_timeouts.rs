//! Slow clients against the quickstart binary over real sockets: half-sent headers, stalled
//! bodies and idle connections are closed (or answered 408) instead of held forever.
//!
//! Each test starts the quickstart with short timeouts (2 s) for the one it tries, and long ones
//! (120 s) for the others, so the bound under test is the one that acts. The assertions are
//! "closed / answered within a generous bound (30 s)", not precise times.

#[path = "support/quickstart.rs"]
mod quickstart;
use quickstart::Quickstart;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far above every timeout set here: a connection still open then is held "forever".
const BOUND: Duration = Duration::from_secs(30);

/// Starts the quickstart with `header`, `body` and `idle` timeouts in seconds; its
/// `host:port`.
fn start(header: u64, body: u64, idle: u64) -> (Quickstart, String) {
    let qs = Quickstart::start(&[
        "--header-timeout-secs",
        &header.to_string(),
        "--body-timeout-secs",
        &body.to_string(),
        "--idle-timeout-secs",
        &idle.to_string(),
    ]);
    let addr = qs.base.trim_start_matches("http://").to_owned();
    (qs, addr)
}

/// Reads until the server closes the connection (or resets it); `None` if it is still open
/// after [`BOUND`].
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

/// Sends one complete request and reads its answer (up to the end of its body).
async fn exchange(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(BOUND, async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before the answer: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    break;
                }
            }
        }
    })
    .await
    .expect("an answer within the bound");
    String::from_utf8_lossy(&got).into_owned()
}

const WHOAMI: &str = "GET /whoami HTTP/1.1\r\nHost: quickstart\r\n\r\n";

#[tokio::test]
async fn half_sent_headers_are_closed_after_the_header_timeout() {
    let (_qs, addr) = start(2, 120, 120);
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"GET /whoami HTTP/1.1\r\nHost: quickstart\r\nX-Slow: ")
        .await
        .unwrap();
    let got = read_until_closed(&mut stream)
        .await
        .expect("the half-sent request is still open after 30 s");
    // Closed without an answer (hyper may answer nothing at all, or a 4xx).
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 4"), "{got:?}");

    // A normal request on a new connection still works.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let answer = exchange(&mut stream, WHOAMI).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[tokio::test]
async fn connections_that_send_nothing_are_closed() {
    let (_qs, addr) = start(2, 120, 120);
    let mut streams = Vec::new();
    for _ in 0..100 {
        streams.push(TcpStream::connect(&addr).await.unwrap());
    }
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut s| tokio::spawn(async move { read_until_closed(&mut s).await }))
        .collect();
    for t in tasks {
        let got = t
            .await
            .unwrap()
            .expect("a silent connection is still open after 30 s");
        assert!(got.is_empty() || got.starts_with("HTTP/1.1 4"), "{got:?}");
    }
}

async fn stalled_body(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: quickstart\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"access_tok").await.unwrap(); // 10 of the 100 bytes
    // Either answered 408 (and then closed, or left for the idle bounds), or closed outright:
    // read until the answer's head has arrived or the connection is gone.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let done = tokio::time::timeout(BOUND, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "{path}: a stalled body is still waited for after 30 s"
    );
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_on_whoami_and_the_token_endpoint() {
    let (_qs, addr) = start(120, 2, 120);
    for path in ["/whoami", "/oauth/token"] {
        let got = stalled_body(&addr, path).await;
        assert!(
            got.is_empty() || got.starts_with("HTTP/1.1 408"),
            "{path}: {got:?}"
        );
    }
    // A complete request with a body still works.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let body = "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret";
    let request = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: quickstart\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(&mut stream, &request).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("access_token"), "{answer}");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    // The header timeout is long, so only the idle bound can close these.
    let (_qs, addr) = start(120, 120, 2);
    let mut streams = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        // Two requests on one connection: keep-alive works...
        for _ in 0..2 {
            let answer = exchange(&mut stream, WHOAMI).await;
            assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        }
        streams.push(stream);
    }
    // ...and then the connection sits idle until the server closes it.
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut s| tokio::spawn(async move { read_until_closed(&mut s).await }))
        .collect();
    for t in tasks {
        let got = t
            .await
            .unwrap()
            .expect("an idle keep-alive connection is still open after 30 s");
        assert!(got.is_empty(), "nothing more is sent: {got:?}");
    }
}
