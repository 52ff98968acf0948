//! The quickstart binary as a process, and a small HTTP client for it (shared by the tests that
//! start it over loopback).

#![allow(dead_code)] // each test file uses its own part of it

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A running quickstart, killed when dropped.
pub struct Quickstart {
    child: Child,
    /// `http://127.0.0.1:PORT`, read off the banner's first line.
    pub base: String,
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/<profile>/examples/quickstart`, which `cargo test` builds beside the tests.
pub fn example_binary() -> PathBuf {
    example_binary_named("quickstart")
}

/// `target/<profile>/examples/<name>`: the test binary runs from `target/<profile>/deps/`.
pub fn example_binary_named(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: cargo test builds the examples its features allow",
        bin.display()
    );
    bin
}

/// The quickstart on a free loopback port with `args`, run from the crate's directory (so the
/// default `examples/quickstart.toml` is found); stdout and stderr piped.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(example_binary());
    command
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

impl Quickstart {
    /// Starts it (see [`command`]) and reads its address off the banner.
    pub fn start(args: &[&str]) -> Self {
        let mut child = command(args).spawn().expect("start the quickstart");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        reader.read_line(&mut first).expect("read the banner");
        let base = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in banner: {first:?}"))
            .to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        Self { child, base }
    }
}

/// An answer: status, headers and body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One request on a connection of its own.
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    Http::default().send(method, url, headers, body).await
}

/// A keep-alive HTTP/1.1 client.
#[derive(Clone)]
pub struct Http(Client<HttpConnector, Full<Bytes>>);

impl Default for Http {
    fn default() -> Self {
        Self(Client::builder(TokioExecutor::new()).build_http())
    }
}

impl Http {
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
        let res = self.0.request(req).await.expect("the quickstart answers");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// `GET url` with `Authorization: authorization`: the status.
    pub async fn status(&self, url: &str, authorization: &str) -> StatusCode {
        self.send(Method::GET, url, &[("authorization", authorization)], "")
            .await
            .status
    }

    /// A client-credentials token (RFC 6749 §4.4, secret in the form body).
    pub async fn token(&self, base: &str, client_id: &str, secret: &str) -> String {
        let r = self
            .send(
                Method::POST,
                &format!("{base}/oauth/token"),
                &[("content-type", "application/x-www-form-urlencoded")],
                &format!(
                    "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// A POST of a JSON body with `Authorization: authorization`.
    pub async fn post_json(&self, url: &str, authorization: &str, body: &str) -> Reply {
        self.send(
            Method::POST,
            url,
            &[
                ("authorization", authorization),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    }
}
