//! The quickstart binary prints audit records on stderr through its `tracing-subscriber` fmt
//! layer (on by default, `RUST_LOG` respected), and `--metrics-addr` serves Prometheus metrics
//! when built with the `metrics` feature (a clear error otherwise).

#[path = "support/quickstart.rs"]
mod quickstart;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Far longer than any line takes to arrive: a line not seen by then is not coming.
const PATIENCE: Duration = Duration::from_secs(30);

struct Quickstart {
    child: Child,
    base: String,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Quickstart {
    /// The next stderr line holding `needle`, or panics after [`PATIENCE`] with what was seen.
    fn line_with(&self, needle: &str) -> String {
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no stderr line with {needle:?}; seen:\n{}", seen.join("\n"));
    }
}

fn follow(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn start(extra: &[&str], rust_log: Option<&str>) -> Quickstart {
    let mut command = Command::new(quickstart::example_binary());
    command
        .args(["--addr", "127.0.0.1:0"])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(filter) = rust_log {
        command.env("RUST_LOG", filter);
    }
    let mut child = command.spawn().expect("start the quickstart");
    let stderr = follow(child.stderr.take().expect("piped stderr"));
    let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    reader.read_line(&mut first).expect("read the banner");
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in banner: {first:?}"))
        .to_owned();
    std::thread::spawn(move || for _ in reader.lines() {});
    Quickstart {
        child,
        base,
        stderr,
    }
}

async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = client
        .request(request)
        .await
        .expect("the quickstart answers");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn token(base: &str, id: &str, secret: &str) -> String {
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let form = ("content-type", "application/x-www-form-urlencoded");
    let (status, body) = send(Method::POST, &format!("{base}/oauth/token"), &[form], &body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn admin_actions_and_sudo_are_printed_as_audit_lines_by_default() {
    let qs = start(&[], None);
    let base = qs.base.as_str();

    // An admin action: create a client.
    let admin = format!(
        "Bearer {}",
        token(base, "admin-console", "admin-console-secret").await
    );
    let json = ("content-type", "application/json");
    let (status, body) = send(
        Method::POST,
        &format!("{base}/admin/clients"),
        &[("authorization", &admin), json],
        r#"{"client_id":"observed-app"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let line = qs.line_with("account create_client allowed");
    assert!(line.contains("tower_gatekeeper::audit"), "{line}");
    assert!(line.contains("INFO"), "{line}");
    assert!(
        line.contains("admin-console"),
        "the administrator is named: {line}"
    );
    assert!(line.contains("observed-app"), "the target is named: {line}");
    assert!(
        !line.contains(&secret),
        "the client secret was printed: {line}"
    );

    // A sudo that is refused: WARN, the target masked.
    let bi = format!(
        "Bearer {}",
        token(base, "bi-integration", "bi-integration-secret").await
    );
    let (status, _) = send(
        Method::GET,
        &format!("{base}/whoami?sudo=uid:9999"),
        &[("authorization", &bi)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let line = qs.line_with("sudo denied");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("9***"), "{line}");
    assert!(
        !line.contains(bi.trim_start_matches("Bearer ")),
        "the token was printed"
    );
}

#[tokio::test]
async fn rust_log_adds_every_decision() {
    let qs = start(&[], Some("warn,tower_gatekeeper::decision=debug"));
    let base = qs.base.as_str();
    let (status, _) = send(
        Method::GET,
        &format!("{base}/whoami"),
        &[("authorization", "Bearer SECRET-not-a-token")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let line = qs.line_with("request refused");
    assert!(
        line.contains("reason=\"invalid_token\"") || line.contains("reason=invalid_token"),
        "{line}"
    );
    assert!(
        !line.contains("SECRET-not-a-token"),
        "the credential was printed: {line}"
    );
    // The span closes with its fields.
    let line = qs.line_with("auth_decision");
    assert!(line.contains("outcome"), "{line}");
    assert!(!line.contains("SECRET-not-a-token"), "{line}");
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_addr_serves_prometheus_metrics() {
    // A free port (released just before the quickstart takes it).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let qs = start(&["--metrics-addr", &addr], None);
    let base = qs.base.as_str();
    qs.line_with("metrics: http://");
    let (status, _) = send(
        Method::GET,
        &format!("{base}/whoami"),
        &[("authorization", "Bearer nope")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = send(Method::GET, &format!("http://{addr}/metrics"), &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("gatekeeper_requests_refused_total{reason=\"invalid_token\"} 1"),
        "{body}"
    );
}

#[cfg(not(feature = "metrics"))]
#[test]
fn metrics_addr_without_the_feature_is_a_clear_error() {
    let output = Command::new(quickstart::example_binary())
        .args(["--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run the quickstart");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--metrics-addr needs the metrics feature"),
        "{stderr}"
    );
}
