//! Shared pieces of the fuzz targets: a readable request format, a runtime, and calling a
//! tower service. Nothing here uses the crate's API; each target's use of it is in its own
//! file under `fuzz_targets/`, so adapting a target to an API change touches one file.
//!
//! ## The request format
//!
//! Seeds stay readable (and the fuzzer's dictionary words stay useful) with a text format close
//! to HTTP/1.1:
//!
//! ```text
//! POST /path?query
//! header-name: value
//! other: value
//!
//! body bytes...
//! ```
//!
//! Lines end with `\n` (a trailing `\r` is dropped). A method or target `http` cannot represent
//! becomes `GET` or `/`; a header it cannot represent is left out. Everything after the first
//! empty line is the body, byte for byte.

use std::cell::RefCell;
use std::future::Future;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};

/// A request as the fuzzer wrote it, before `http` types check it. Its `Debug` shows the
/// text (lossy UTF-8), so a failing input reads in the panic message.
#[derive(Default, Clone)]
pub struct RawRequest {
    /// The method token.
    pub method: Vec<u8>,
    /// The request target (path and query).
    pub target: Vec<u8>,
    /// Header lines, split at the first `:` (value trimmed of spaces).
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Everything after the empty line.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for RawRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        f.debug_struct("RawRequest")
            .field("method", &text(&self.method))
            .field("target", &text(&self.target))
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, v)| format!("{}: {}", text(n), text(v)))
                    .collect::<Vec<_>>(),
            )
            .field("body", &text(&self.body))
            .finish()
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Parses the text format; never fails.
pub fn parse(data: &[u8]) -> RawRequest {
    let mut raw = RawRequest::default();
    let mut rest = data;
    let mut first = true;
    loop {
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let line = strip_cr(line);
        if first {
            first = false;
            let mut parts = line.splitn(2, |&b| b == b' ');
            raw.method = parts.next().unwrap_or_default().to_vec();
            raw.target = parts.next().unwrap_or_default().to_vec();
        } else if line.is_empty() {
            raw.body = after.unwrap_or_default().to_vec();
            return raw;
        } else {
            let (name, value) = match line.iter().position(|&b| b == b':') {
                Some(i) => (&line[..i], trim(&line[i + 1..])),
                None => (line, &b""[..]),
            };
            raw.headers.push((name.to_vec(), value.to_vec()));
        }
        match after {
            Some(after) => rest = after,
            None => return raw,
        }
    }
}

impl RawRequest {
    /// The request `http` can represent (see the module docs for what is dropped).
    pub fn to_request(&self) -> Request<Full<Bytes>> {
        let method = Method::from_bytes(&self.method).unwrap_or(Method::GET);
        let uri = Uri::try_from(self.target.as_slice())
            .ok()
            .filter(|u| u.scheme().is_none() && u.path().starts_with('/'))
            .unwrap_or_else(|| Uri::from_static("/"));
        let mut request = Request::new(Full::new(Bytes::from(self.body.clone())));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                request.headers_mut().append(name, value);
            }
        }
        request
    }
}

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// Runs `future` to completion on a per-thread current-thread runtime (timers on; the blocking
/// pool, which password hashing uses, included).
pub fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|cell| {
        let mut slot = cell.borrow_mut();
        let runtime = slot.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
        });
        runtime.block_on(future)
    })
}

/// A response with its body collected.
#[derive(Debug)]
pub struct Answer {
    /// Status and headers.
    pub parts: http::response::Parts,
    /// The whole body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Calls `service` once with `request` and collects the answer.
pub async fn call<S, B, RB>(mut service: S, request: Request<B>) -> Answer
where
    S: tower_service::Service<Request<B>, Response = http::Response<RB>>,
    S::Error: std::fmt::Debug,
    RB: http_body::Body<Data = Bytes>,
    RB::Error: std::fmt::Debug,
{
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .expect("the service is ready");
    let response = service.call(request).await.expect("the service answers");
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .expect("the body is readable")
        .to_bytes();
    Answer { parts, body }
}

/// Asserts what every answer from this crate must satisfy: no 5xx but 503 (a backend that is
/// down, never a crash), and a challenge on every 401 (RFC 9110 §11.6.1).
pub fn check_common(answer: &Answer, input: &RawRequest) {
    let status = answer.parts.status;
    assert!(
        !status.is_server_error() || status == http::StatusCode::SERVICE_UNAVAILABLE,
        "{status} for {input:?}: {}",
        answer.text()
    );
    if status == http::StatusCode::UNAUTHORIZED {
        assert!(
            answer
                .parts
                .headers
                .contains_key(http::header::WWW_AUTHENTICATE),
            "401 without WWW-Authenticate for {input:?}: {}",
            answer.text()
        );
    }
}

/// Whether `text` holds a whole argon2 PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`),
/// as a password store keeps it.
///
/// A prefix such as `$argon2` is not enough: a fuzzed request may name a client or user
/// `…$argon2…`, and the answer may echo that id (in this input or, since the stores are shared,
/// in a later one). A fuzzed id does not reach a full hash's shape by chance: nothing in the
/// code under test compares against it.
pub fn contains_argon2_hash(text: &str) -> bool {
    text.match_indices("$argon2").any(|(at, _)| is_phc_at(&text[at + 1..]))
}

fn is_phc_at(rest: &str) -> bool {
    fn b64_run(s: &str, min: usize) -> Option<&str> {
        let n = s
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
            .count();
        (n >= min).then(|| &s[n..])
    }
    fn number<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
        let s = s.strip_prefix(prefix)?;
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        (n > 0).then(|| &s[n..])
    }
    let parsed = (|| {
        let s = ["argon2id$", "argon2i$", "argon2d$"]
            .iter()
            .find_map(|id| rest.strip_prefix(id))?;
        let s = number(s, "v=")?.strip_prefix('$')?;
        let s = number(s, "m=")?;
        let s = number(s, ",t=")?;
        let s = number(s, ",p=")?.strip_prefix('$')?;
        let s = b64_run(s, 11)?.strip_prefix('$')?;
        b64_run(s, 22)
    })();
    parsed.is_some()
}

#[cfg(test)]
mod tests {
    use super::contains_argon2_hash;

    #[test]
    fn finds_a_phc_string_and_not_an_echoed_prefix() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                    ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g";
        assert!(contains_argon2_hash(&format!("{{\"h\":\"{hash}\"}}")));
        assert!(!contains_argon2_hash("{\"client_id\":\"u-llll$argon2ting\"}"));
        assert!(!contains_argon2_hash("$argon2id$v=19$m=1,t=1,p=1$short$x"));
    }
}
