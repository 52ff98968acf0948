//! Every HTTP example, started as a process on 127.0.0.1:0 and called over loopback:
//! `per_route`, `with_tower_http`, `custom_verifier`, `custom_errors`. (`quickstart` and
//! `tonic` have tests of their own.)

#[path = "support/quickstart.rs"]
mod quickstart;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::Value;

struct Example {
    child: Child,
    base: String,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &str, extra: &[&str]) -> Example {
    let mut child = Command::new(quickstart::example_binary_named(name))
        .args(["--addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    reader.read_line(&mut first).expect("read the banner");
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {name}'s banner: {first:?}"))
        .to_owned();
    std::thread::spawn(move || for _ in reader.lines() {});
    Example { child, base }
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
}

async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = client
        .request(req.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    send(Method::GET, url, headers, "").await
}

fn token(secret: &str, scope: &str) -> String {
    let claims = serde_json::json!({"sub": "demo-user", "scope": scope, "exp": 4_000_000_000u64});
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn challenge(reply: &Reply) -> &str {
    reply
        .headers
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("a {} without a challenge", reply.status))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn per_route_gives_each_route_its_policy() {
    const SECRET: &str = "per-route-demo-secret-0123456789abcdef";
    let ex = start("per_route", &[]);
    let b = &ex.base;
    let with = token(SECRET, "orders:read");
    let without = token(SECRET, "");
    let auth = |t: &str| format!("Bearer {t}");

    assert_eq!(
        get(&format!("{b}/public"), &[]).await.status,
        StatusCode::OK
    );

    let me = get(&format!("{b}/me"), &[]).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&me).contains("realm=\"shop\""),
        "{}",
        challenge(&me)
    );
    let me = get(&format!("{b}/me"), &[("authorization", &auth(&without))]).await;
    assert_eq!((me.status, me.body.as_str()), (StatusCode::OK, "demo-user"));

    // The stage layer's scope, in the gate's realm.
    let orders = get(
        &format!("{b}/orders"),
        &[("authorization", &auth(&without))],
    )
    .await;
    assert_eq!(orders.status, StatusCode::FORBIDDEN);
    assert!(
        challenge(&orders).contains("insufficient_scope"),
        "{}",
        challenge(&orders)
    );
    assert!(challenge(&orders).contains("realm=\"shop\""));
    let orders = get(&format!("{b}/orders"), &[("authorization", &auth(&with))]).await;
    assert_eq!(
        (orders.status, orders.body.as_str()),
        (StatusCode::OK, "orders of demo-user")
    );
    // No token at all on the scoped route: the gate's 401, not a 403.
    assert_eq!(
        get(&format!("{b}/orders"), &[]).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Its own gate: the query parameter only, in its own realm.
    let dl = get(&format!("{b}/download?access_token={without}"), &[]).await;
    assert_eq!(
        (dl.status, dl.body.as_str()),
        (StatusCode::OK, "file for demo-user")
    );
    assert!(
        dl.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("private")
    );
    let dl = get(&format!("{b}/download"), &[("authorization", &auth(&with))]).await;
    assert_eq!(dl.status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&dl).contains("realm=\"downloads\""),
        "{}",
        challenge(&dl)
    );
}

#[tokio::test]
async fn with_tower_http_orders_cors_limits_and_timeouts_around_the_gate() {
    const SECRET: &str = "tower-http-demo-secret-0123456789abcdef";
    const ORIGIN: &str = "https://app.example";
    let ex = start("with_tower_http", &["--handler-timeout-ms", "200"]);
    let b = &ex.base;
    let auth = format!("Bearer {}", token(SECRET, ""));

    // A preflight is answered by CorsLayer, outside the gate: no credential needed.
    let pre = send(
        Method::OPTIONS,
        &format!("{b}/hello"),
        &[("origin", ORIGIN), ("access-control-request-method", "GET")],
        "",
    )
    .await;
    assert_eq!(pre.status, StatusCode::OK);
    assert_eq!(pre.headers["access-control-allow-origin"], ORIGIN);

    // A refusal carries the CORS headers, so the page can read it and its challenge.
    let refused = get(&format!("{b}/hello"), &[("origin", ORIGIN)]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers["access-control-allow-origin"], ORIGIN);
    assert!(challenge(&refused).starts_with("Bearer"));

    let ok = get(&format!("{b}/hello"), &[("authorization", &auth)]).await;
    assert_eq!(
        (ok.status, ok.body.as_str()),
        (StatusCode::OK, "hello demo-user")
    );

    // The body limit is outside the gate: 413 even with a valid token, and even without one.
    let big = "x".repeat(4096);
    let r = send(
        Method::POST,
        &format!("{b}/echo"),
        &[("authorization", &auth)],
        &big,
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = send(Method::POST, &format!("{b}/echo"), &[], &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = send(
        Method::POST,
        &format!("{b}/echo"),
        &[("authorization", &auth)],
        "small",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "small"));

    // The timeout is inside the gate: an anonymous call is refused, never timed out; an
    // admitted one past the handler's time gets 408.
    assert_eq!(
        get(&format!("{b}/slow"), &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let slow = get(&format!("{b}/slow"), &[("authorization", &auth)]).await;
    assert_eq!(slow.status, StatusCode::REQUEST_TIMEOUT);
}

#[tokio::test]
async fn custom_verifier_admits_known_keys_only() {
    let ex = start("custom_verifier", &[]);
    let b = &ex.base;
    let alice = get(
        &format!("{b}/whoami"),
        &[("x-api-key", "demo-key-alice-0123456789")],
    )
    .await;
    assert_eq!(
        (alice.status, alice.body.as_str()),
        (StatusCode::OK, "alice (reports:read)")
    );
    let bob = get(
        &format!("{b}/whoami"),
        &[("x-api-key", "demo-key-bob-0123456789")],
    )
    .await;
    assert_eq!((bob.status, bob.body.as_str()), (StatusCode::OK, "bob ()"));

    for wrong in [
        "demo-key-alice-012345678",
        "demo-key-alice-0123456789x",
        "DEMO-KEY-ALICE-0123456789",
    ] {
        let r = get(&format!("{b}/whoami"), &[("x-api-key", wrong)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{wrong}");
        assert!(challenge(&r).contains("ApiKey"), "{}", challenge(&r));
        assert!(!r.body.contains(wrong), "the key came back: {}", r.body);
    }
    // No key; a bearer token (not a source of this gate).
    let r = get(&format!("{b}/whoami"), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = get(
        &format!("{b}/whoami"),
        &[("authorization", "Bearer demo-key-alice-0123456789")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn custom_errors_answer_in_the_huawei_and_hengshi_shapes() {
    const SECRET: &str = "custom-errors-demo-secret-0123456789abcdef";
    let ex = start("custom_errors", &[]);
    let b = &ex.base;

    let huawei = get(&format!("{b}/huawei/data"), &[]).await;
    assert_eq!(huawei.status, StatusCode::UNAUTHORIZED);
    assert!(challenge(&huawei).starts_with("Bearer realm=\"data\""));
    let body = huawei.json();
    assert!(
        body["error_code"].is_string() && body["error_msg"].is_string(),
        "{body}"
    );
    assert!(body.get("error").is_none(), "{body}");

    let hengshi = get(&format!("{b}/hengshi/data"), &[]).await;
    assert_eq!(hengshi.status, StatusCode::UNAUTHORIZED);
    assert!(challenge(&hengshi).starts_with("Bearer realm=\"data\""));
    let body = hengshi.json();
    assert_eq!(body["code"], 401, "{body}");
    assert!(body["msg"].is_string(), "{body}");

    // 403 in the same shapes, with the RFC 6750 challenge kept.
    let auth = format!("Bearer {}", token(SECRET, "other"));
    let r = get(&format!("{b}/huawei/data"), &[("authorization", &auth)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error_code"], "insufficient_scope");
    assert!(challenge(&r).contains("insufficient_scope"));
    let r = get(&format!("{b}/hengshi/data"), &[("authorization", &auth)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["code"], 403);

    let auth = format!("Bearer {}", token(SECRET, "data:read"));
    let r = get(&format!("{b}/hengshi/data"), &[("authorization", &auth)]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "data for demo-user")
    );
}
