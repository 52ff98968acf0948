//! A bounded soak against a running quickstart: for N seconds, 32 connections send a mix of
//! valid, invalid, tampered, expired and revoked tokens, API keys (in their header, and
//! carried as a bearer token, which the quickstart refuses), Basic users (good, wrong,
//! disabled), sudo with and without the privilege, and token requests (`POST`, and the `GET`
//! form the quickstart's config turns on). Each request's right answer is known; the soak
//! counts wrong decisions, 5xx answers, and samples the server's resident memory at the start,
//! every second and the end.
//!
//! A 503 is allowed only where password hashing runs (Basic logins, token requests: argon2
//! under the server's `HashingPool`, which refuses past its bound); anywhere else it is a wrong
//! decision. 503s are counted per kind of request.
//!
//! ```text
//! cargo run --release --example quickstart -- --manual-clock --addr 127.0.0.1:3000 &
//! cargo run --release --example soak -- --base http://127.0.0.1:3000 --secs 60 --pid $!
//! ```
//!
//! The quickstart must run with `--manual-clock` (the soak moves its clock once, to expire a
//! token). `scripts/soak.sh SECONDS` does all of it. Exits non-zero on any wrong decision or
//! any 5xx other than a 503 from the hashing bound.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

struct Args {
    base: String,
    secs: u64,
    connections: usize,
    pid: Option<u32>,
    /// Only the kinds of request whose name contains one of these (all when empty).
    only: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        base: "http://127.0.0.1:3000".into(),
        secs: 60,
        connections: 32,
        pid: None,
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--base" => args.base = value()?.trim_end_matches('/').to_owned(),
            "--secs" => args.secs = value()?.parse().map_err(|e| format!("--secs: {e}"))?,
            "--connections" => {
                args.connections = value()?
                    .parse()
                    .map_err(|e| format!("--connections: {e}"))?;
            }
            "--pid" => args.pid = Some(value()?.parse().map_err(|e| format!("--pid: {e}"))?),
            "--only" => args.only.push(value()?),
            _ => {
                return Err("usage: soak [--base URL] [--secs N] [--connections N] \
                            [--pid SERVER_PID] [--only NAME_PART]..."
                    .into());
            }
        }
    }
    if args.secs == 0 || args.secs > 3600 || args.connections == 0 || args.connections > 256 {
        return Err("--secs is 1..=3600, --connections 1..=256".into());
    }
    Ok(args)
}

/// One kind of request, with the answer it must get.
#[derive(Clone)]
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: String,
    status: StatusCode,
    /// For a 200 on `/whoami` or `/api/*`: the subject the answer must name.
    subject: Option<&'static str>,
    /// Whether the request runs password hashing (argon2), which may answer 503 past the
    /// server's bound.
    hashes: bool,
    /// How many of every 100 requests are of this kind.
    weight: u32,
}

/// A request on one connection: (status, body). Reconnects are the caller's business.
async fn send(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    host: &str,
    case: &Case,
) -> Result<(StatusCode, Bytes), String> {
    let mut request = Request::builder()
        .method(case.method.clone())
        .uri(&case.path)
        .header("host", host);
    for (k, v) in &case.headers {
        request = request.header(*k, v);
    }
    let request = request
        .body(Full::new(Bytes::from(case.body.clone())))
        .map_err(|e| e.to_string())?;
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

async fn connect(addr: &str) -> Result<http1::SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// A one-off request on its own connection (setup).
async fn once(addr: &str, host: &str, case: &Case) -> (StatusCode, serde_json::Value) {
    let mut sender = connect(addr).await.expect("the quickstart is reachable");
    let (status, body) = send(&mut sender, host, case).await.expect("an answer");
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

fn form(path: &str, body: &str) -> Case {
    Case {
        name: "setup",
        method: Method::POST,
        path: path.into(),
        headers: vec![("content-type", "application/x-www-form-urlencoded".into())],
        body: body.into(),
        status: StatusCode::OK,
        subject: None,
        hashes: true,
        weight: 0,
    }
}

const DEMO: &str = "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret";

async fn mint(addr: &str, host: &str, body: &str) -> String {
    let (status, json) = once(addr, host, &form("/oauth/token", body)).await;
    assert_eq!(status, StatusCode::OK, "a token: {json}");
    json["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The cases, with the tokens they need made first.
async fn cases(addr: &str, host: &str) -> Vec<Case> {
    // Expired: minted, then the server's clock moves past its lifetime (one hour).
    let expired = mint(addr, host, DEMO).await;
    let advance = Case {
        headers: vec![("content-type", "application/json".into())],
        ..form("/_demo/clock", r#"{"advance_secs": 3700}"#)
    };
    let (status, json) = once(addr, host, &advance).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "POST /_demo/clock (start the quickstart with --manual-clock): {json}"
    );
    let valid = mint(addr, host, DEMO).await;
    let bi = mint(
        addr,
        host,
        "grant_type=client_credentials&client_id=bi-integration&client_secret=bi-integration-secret",
    )
    .await;
    // Revoked: minted, then revoked by its holder (HENGSHI's GET revoke).
    let revoked = mint(addr, host, DEMO).await;
    let revoke = Case {
        method: Method::GET,
        headers: vec![],
        body: String::new(),
        ..form(&format!("/oauth/token/revoke?token={revoked}"), "")
    };
    let (status, json) = once(addr, host, &revoke).await;
    assert_eq!(status, StatusCode::OK, "revoke: {json}");
    // Tampered: the valid token with a signature character changed (not the last one, whose
    // low bits may be padding that decodes to the same bytes).
    let mut tampered = valid.clone().into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII");

    let bearer = |t: &str| vec![("authorization", format!("Bearer {t}"))];
    let get = |name, path: &str, headers, status, subject, weight| Case {
        name,
        method: Method::GET,
        path: path.into(),
        headers,
        body: String::new(),
        status,
        subject,
        hashes: false,
        weight,
    };
    let basic = |case: Case| Case {
        hashes: true,
        ..case
    };
    let ok = StatusCode::OK;
    let unauthorized = StatusCode::UNAUTHORIZED;
    vec![
        get(
            "valid bearer",
            "/whoami",
            bearer(&valid),
            ok,
            Some("demo-app"),
            19,
        ),
        get(
            "valid in query",
            &format!("/whoami?access_token={valid}"),
            vec![],
            ok,
            Some("demo-app"),
            5,
        ),
        Case {
            name: "valid in form body",
            method: Method::POST,
            path: "/whoami".into(),
            headers: vec![("content-type", "application/x-www-form-urlencoded".into())],
            body: format!("access_token={valid}&x=1"),
            status: ok,
            subject: Some("demo-app"),
            hashes: false,
            weight: 5,
        },
        get(
            "valid on a granted API",
            "/api/orders/7",
            bearer(&valid),
            ok,
            Some("demo-app"),
            10,
        ),
        get(
            "tampered",
            "/whoami",
            bearer(&tampered),
            unauthorized,
            None,
            9,
        ),
        get(
            "junk",
            "/whoami",
            bearer("junk.token.value"),
            unauthorized,
            None,
            8,
        ),
        get(
            "expired",
            "/whoami",
            bearer(&expired),
            unauthorized,
            None,
            9,
        ),
        get(
            "revoked",
            "/whoami",
            bearer(&revoked),
            unauthorized,
            None,
            9,
        ),
        get("no credential", "/whoami", vec![], unauthorized, None, 5),
        get(
            "api key",
            "/api/reports",
            vec![("x-api-key", "qs-demo-api-key-0001".into())],
            ok,
            Some("reporting-service"),
            5,
        ),
        // API keys come in X-API-Key only (ApiKeyVerifier's default): as a bearer token the
        // key is no token the issuer knows.
        get(
            "api key as bearer",
            "/api/reports",
            bearer("qs-demo-api-key-0001"),
            unauthorized,
            None,
            2,
        ),
        basic(get(
            "basic alice",
            "/whoami",
            vec![("authorization", "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=".into())],
            ok,
            Some("1001"),
            2,
        )),
        basic(get(
            "basic wrong password",
            "/whoami",
            vec![("authorization", "Basic YWxpY2U6d3Jvbmc=".into())],
            unauthorized,
            None,
            2,
        )),
        basic(get(
            "basic disabled carol",
            "/whoami",
            vec![("authorization", "Basic Y2Fyb2w6Y2Fyb2wtcGFzc3dvcmQ=".into())],
            unauthorized,
            None,
            1,
        )),
        get(
            "sudo with the privilege",
            "/whoami?sudo=loginName:alice&tenantCode=acme",
            bearer(&bi),
            ok,
            Some("1001"),
            4,
        ),
        get(
            "sudo without it",
            "/whoami?sudo=loginName:alice",
            bearer(&valid),
            StatusCode::FORBIDDEN,
            None,
            3,
        ),
        Case {
            name: "token request",
            weight: 1,
            ..form("/oauth/token", DEMO)
        },
        // HENGSHI's GET form, on in the quickstart's config ([compat] get_token_requests).
        Case {
            name: "token request (GET)",
            method: Method::GET,
            path: format!("/api/oauth2/server/tokens?{DEMO}"),
            headers: vec![],
            body: String::new(),
            weight: 1,
            ..form("/", "")
        },
    ]
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    wrong: AtomicU64,
    unavailable: AtomicU64,
    other_5xx: AtomicU64,
    transport_errors: AtomicU64,
}

#[tokio::main]
async fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let host = args
        .base
        .strip_prefix("http://")
        .unwrap_or_else(|| {
            eprintln!("--base must be http://HOST:PORT");
            std::process::exit(2);
        })
        .to_owned();
    let addr = host.clone();
    let mut cases = cases(&addr, &host).await;
    if !args.only.is_empty() {
        cases.retain(|c| args.only.iter().any(|o| c.name.contains(o.as_str())));
    }
    if cases.is_empty() {
        eprintln!("--only leaves no kind of request");
        std::process::exit(2);
    }
    let cases = Arc::new(cases);
    let table: Arc<Vec<usize>> = Arc::new(
        cases
            .iter()
            .enumerate()
            .flat_map(|(i, c)| std::iter::repeat_n(i, c.weight as usize))
            .collect(),
    );
    let counts = Arc::new(Counts::default());
    let wrong_by_case = Arc::new(std::sync::Mutex::new(BTreeMap::<String, u64>::new()));
    let busy_by_case = Arc::new(std::sync::Mutex::new(BTreeMap::<&'static str, u64>::new()));
    let rss_start = rss_kib(args.pid);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.secs);

    let mut workers = Vec::new();
    for worker in 0..args.connections {
        let (cases, table, counts, wrong_by_case, busy_by_case, stop) = (
            cases.clone(),
            table.clone(),
            counts.clone(),
            wrong_by_case.clone(),
            busy_by_case.clone(),
            stop.clone(),
        );
        let (addr, host) = (addr.clone(), host.clone());
        workers.push(tokio::spawn(async move {
            let mut sender = None;
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                n = n.wrapping_mul(2_654_435_761).wrapping_add(12_345);
                let case = &cases[table[n % table.len()]];
                if sender.is_none() {
                    match connect(&addr).await {
                        Ok(s) => sender = Some(s),
                        Err(_) => {
                            counts.transport_errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    }
                }
                let result = send(sender.as_mut().expect("connected"), &host, case).await;
                let (status, body) = match result {
                    Ok(answer) => answer,
                    Err(_) => {
                        counts.transport_errors.fetch_add(1, Ordering::Relaxed);
                        sender = None;
                        continue;
                    }
                };
                counts.requests.fetch_add(1, Ordering::Relaxed);
                if status == StatusCode::SERVICE_UNAVAILABLE && case.hashes {
                    counts.unavailable.fetch_add(1, Ordering::Relaxed);
                    *busy_by_case.lock().unwrap().entry(case.name).or_default() += 1;
                    continue;
                }
                if status.is_server_error() {
                    counts.other_5xx.fetch_add(1, Ordering::Relaxed);
                }
                let subject_ok = match case.subject {
                    None => true,
                    Some(expected) => serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|j| j["subject"].as_str().map(|s| s == expected))
                        .unwrap_or(false),
                };
                if status != case.status || (status == StatusCode::OK && !subject_ok) {
                    counts.wrong.fetch_add(1, Ordering::Relaxed);
                    *wrong_by_case
                        .lock()
                        .unwrap()
                        .entry(format!("{} (got {status})", case.name))
                        .or_default() += 1;
                }
            }
        }));
    }
    let mut rss_peak = rss_start;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_peak = rss_peak.max(rss_kib(args.pid));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss_end = rss_kib(args.pid);
    let c = &*counts;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let kib = |v: Option<u64>| v.map_or("n/a".to_owned(), |v| format!("{v} KiB"));
    println!(
        "soak: {} s, {} connections, {} kinds of request",
        args.secs,
        args.connections,
        cases.len()
    );
    println!(
        "soak: requests {} ({:.0}/s), wrong decisions {}, 503 (hashing bound) {}, other 5xx {}, \
         transport errors {}",
        load(&c.requests),
        load(&c.requests) as f64 / elapsed,
        load(&c.wrong),
        load(&c.unavailable),
        load(&c.other_5xx),
        load(&c.transport_errors),
    );
    println!(
        "soak: server RSS start {}, end {}, peak {}",
        kib(rss_start),
        kib(rss_end),
        kib(rss_peak)
    );
    for (case, n) in busy_by_case.lock().unwrap().iter() {
        println!("soak: 503 (hashing bound): {case}: {n}");
    }
    for (case, n) in wrong_by_case.lock().unwrap().iter() {
        println!("soak: wrong: {case}: {n}");
    }
    if load(&c.wrong) > 0 || load(&c.other_5xx) > 0 || load(&c.requests) == 0 {
        std::process::exit(1);
    }
}
