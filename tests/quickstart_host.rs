//! RFC 9112 §3.2 against the quickstart binary over a real socket: an HTTP/1.1 request
//! without `Host`, with two, or with one that is not a host gets 400 before any route sees it.

#[path = "support/quickstart.rs"]
mod quickstart;
use quickstart::Quickstart;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `head` (the request line and headers, without the blank line) with
/// `Connection: close`, and reads the whole answer.
async fn send(addr: &str, head: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("{head}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut got))
        .await
        .expect("answered and closed within the bound")
        .unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

/// The status code of an HTTP/1.x answer.
fn status_of(answer: &str) -> &str {
    answer
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| answer.strip_prefix("HTTP/1.0 "))
        .map_or("", |rest| &rest[..3.min(rest.len())])
}

#[tokio::test]
async fn requests_without_one_valid_host_are_400() {
    let qs = Quickstart::start(&[]);
    let addr = qs.base.trim_start_matches("http://").to_owned();
    for head in [
        "GET /whoami HTTP/1.1".to_owned(),
        "GET /whoami HTTP/1.1\r\nHost: quickstart\r\nHost: quickstart".to_owned(),
        "GET /whoami HTTP/1.1\r\nHost: a b".to_owned(),
        "GET /whoami HTTP/1.1\r\nHost: user@quickstart".to_owned(),
        "GET /whoami HTTP/1.1\r\nHost: quickstart:port".to_owned(),
        "GET /whoami HTTP/1.1\r\nHost: [::1]x".to_owned(),
        "GET /whoami HTTP/1.0\r\nHost: one\r\nHost: two".to_owned(),
    ] {
        let answer = send(&addr, &head).await;
        assert!(status_of(&answer) == "400", "{head:?}: {answer}");
        assert!(
            answer.contains("RFC 9112 section 3.2"),
            "{head:?}: {answer}"
        );
    }
    // One valid Host (a name, an address, an IPv6 literal, with or without a port), or none in
    // HTTP/1.0, reaches the routes: here the 401 of a protected one.
    for head in [
        "GET /whoami HTTP/1.1\r\nHost: quickstart".to_owned(),
        format!("GET /whoami HTTP/1.1\r\nHost: {addr}"),
        "GET /whoami HTTP/1.1\r\nHost: [::1]:3000".to_owned(),
        "GET /whoami HTTP/1.0".to_owned(),
    ] {
        let answer = send(&addr, &head).await;
        assert!(status_of(&answer) == "401", "{head:?}: {answer}");
    }
}
