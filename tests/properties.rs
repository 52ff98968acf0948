//! Properties of the whole layer, over arbitrary requests (proptest):
//!
//! (a) in required mode, no input without a valid credential reaches the inner service —
//!     whatever the headers, query, body, content type and method, with every source on;
//! (b) no input makes a request run as another subject without the sudo privilege — arbitrary
//!     sudo and tenant parameters and headers, from callers that lack the sudo scope;
//! (c) the inner service receives the original body bytes, whatever the body and content type,
//!     with the body sources on, wherever the credential was.
//!
//! The inner service records whether it was called, with which principal and which body.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::{EncodingKey, Header, encode};
use proptest::prelude::*;
use tower::ServiceExt;
use tower_gatekeeper::extract::{CredentialSources, RequestBody};
use tower_gatekeeper::impersonate::{DirectoryUser, Impersonation, InMemoryDirectory};
use tower_gatekeeper::principal::{Identity, Tenant};
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, FirstMatch, JwtVerifier};
use tower_gatekeeper::{GatekeeperLayer, Principal};

const SECRET: &[u8] = b"properties-secret-0123456789abcdef";
/// A key whose owner lacks the sudo scope.
const PLAIN_KEY: &str = "prop-plain-api-key-0001";
/// A key whose owner holds it: never sent in (a) or (b).
const SUDO_KEY: &str = "prop-sudo-api-key-0002";

/// What reached the inner service.
#[derive(Debug, Clone)]
struct Seen {
    principal: Option<Principal>,
    body: Bytes,
}

type Slot = Arc<Mutex<Option<Seen>>>;

fn token(sub: &str, scope: &str) -> String {
    let claims =
        serde_json::json!({"sub": sub, "client_id": sub, "scope": scope, "exp": 4_000_000_000u64});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// A token of an app without the sudo scope.
fn plain_token() -> String {
    token("plain-app", "orders:read")
}

/// Memory-mode store writes complete at once: poll one without a runtime.
fn at_once<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("an in-memory store write waited"),
    }
}

fn directory() -> InMemoryDirectory {
    let directory = InMemoryDirectory::new();
    at_once(directory.insert_tenant(Tenant::new("t-1", Some("acme")))).unwrap();
    at_once(directory.insert_tenant(Tenant::new("t-2", Some("globex")))).unwrap();
    // Mobile numbers are unique in the directory (one user per number).
    for (uid, login, mobile, tenants) in [
        ("1001", "alice", "+8613800138000", vec!["t-1"]),
        ("1002", "bob", "+8613800138001", vec!["t-1", "t-2"]),
    ] {
        let mut user = DirectoryUser::new(uid, login);
        user.email = Some(format!("{login}@example.com"));
        user.mobile = Some(mobile.into());
        user.tenants = tenants.into_iter().map(str::to_owned).collect();
        user.scopes = vec!["orders:read".into(), "sudo".into()];
        at_once(directory.insert_user(user)).unwrap();
    }
    directory
}

fn service(
    slot: Slot,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<tower_gatekeeper::layer::ResponseBody<Body>>,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone {
    let keys = ApiKeyStore::new();
    at_once(
        keys.insert(
            PLAIN_KEY,
            Identity::new("plain-svc")
                .with_client_id("plain-svc")
                .with_scopes(["orders:read"]),
        ),
    )
    .unwrap();
    at_once(keys.insert(
        SUDO_KEY,
        Identity::new("sudo-svc").with_scopes(["sudo", "orders:read"]),
    ))
    .unwrap();
    let verifier = FirstMatch::new()
        .or(JwtVerifier::hs256(SECRET).unwrap())
        .or(ApiKeyVerifier::new(keys));
    let sources = CredentialSources::new()
        .basic(true)
        .token_header("access_token")
        .token_header("x-auth-token")
        .api_key_header("x-api-key")
        .query("access_token")
        .form_body("access_token")
        .json_body("access_token")
        .body_limit(2048);
    let layer = GatekeeperLayer::builder(verifier)
        .sources(sources)
        .authorize(Impersonation::new(directory()))
        .build();
    let inner = tower::service_fn(move |req: Request<RequestBody<Body>>| {
        let slot = slot.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.expect("the body reads").to_bytes();
            *slot.lock().unwrap() = Some(Seen {
                principal: parts.extensions.get::<Principal>().cloned(),
                body,
            });
            Ok::<_, std::convert::Infallible>(Response::new(Body::from("inner")))
        }
    });
    tower::Layer::layer(&layer, inner)
}

fn run(request: Request<Body>) -> (StatusCode, bool, Option<Seen>) {
    let slot: Slot = Arc::default();
    let svc = service(slot.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = rt.block_on(svc.oneshot(request)).unwrap();
    let challenge = response.headers().contains_key("www-authenticate");
    let status = response.status();
    let seen = slot.lock().unwrap().take();
    (status, challenge, seen)
}

// ---- strategies -------------------------------------------------------------------------------

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::PATCH),
        Just(Method::DELETE),
        Just(Method::HEAD),
        Just(Method::OPTIONS),
    ]
}

/// Anything a fuzzer would try as a credential, but never a valid one: random text, tokens
/// with the right shape, and the valid ones with a byte changed or noise around them.
fn bogus_secret() -> impl Strategy<Value = String> + Clone {
    let near = |valid: String| {
        (0..valid.len(), any::<u8>(), "[ -~]{0,4}").prop_map(move |(at, byte, noise)| {
            let mut bytes = valid.clone().into_bytes();
            let replacement = if bytes[at] == byte { byte ^ 1 } else { byte };
            bytes[at] = replacement.clamp(0x21, 0x7e);
            if bytes[at] == valid.as_bytes()[at] {
                bytes[at] = if bytes[at] == b'~' {
                    b'}'
                } else {
                    bytes[at] + 1
                };
            }
            format!("{}{noise}", String::from_utf8_lossy(&bytes))
        })
    };
    prop_oneof![
        "[ -~]{0,60}",
        "[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{10,60}\\.[A-Za-z0-9_-]{10,43}",
        near(PLAIN_KEY.to_owned()),
        near(plain_token()),
        Just(format!("{PLAIN_KEY} ")).prop_map(|k| format!(" {k}x")),
    ]
}

/// Header (name, value) pairs naming every credential and sudo/tenant header, and others.
fn headers(
    secret: impl Strategy<Value = String> + Clone,
) -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("authorization"),
        Just("access_token"),
        Just("x-auth-token"),
        Just("x-api-key"),
        Just("x-sudo"),
        Just("x-tenant-id"),
        Just("x-tenant-code"),
        Just("content-type"),
        Just("cookie"),
        Just("x-other"),
    ];
    let value = prop_oneof![
        secret.clone(),
        secret.clone().prop_map(|s| format!("Bearer {s}")),
        secret.prop_map(|s| format!("bearer  {s}")),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(b)
        )),
        Just("Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=".to_owned()),
        sudo_value(),
        Just("application/json".to_owned()),
        Just("application/x-www-form-urlencoded; charset=utf-8".to_owned()),
    ];
    proptest::collection::vec((name.prop_map(str::to_owned), value), 0..5)
}

/// A sudo or tenant value: real users and tenants, in many spellings, and noise.
fn sudo_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("uid:1001".to_owned()),
        Just("loginName:alice".to_owned()),
        Just("loginName:ALICE".to_owned()),
        Just("username:bob".to_owned()),
        Just("email:Bob@EXAMPLE.com".to_owned()),
        Just("mobile:+86 138 0013 8000".to_owned()),
        Just("uid:plain-app".to_owned()),
        Just("acme".to_owned()),
        Just("t-2".to_owned()),
        "(uid|loginName|email|mobile|UID|x):[ -~]{0,12}",
        "[ -~]{0,20}",
    ]
}

fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A query string with credential, sudo and tenant parameters (some percent-encoded names).
fn query(secret: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("access_token"),
        Just("access%5Ftoken"),
        Just("sudo"),
        Just("tenantId"),
        Just("tenantCode"),
        Just("page"),
    ];
    let value = prop_oneof![
        secret.prop_map(|s| percent_encode(&s)),
        sudo_value().prop_map(|s| percent_encode(&s)),
        sudo_value(),
        "[%0-9A-Fa-z+&=]{0,10}",
    ];
    proptest::collection::vec((name, value), 0..5).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// A body: form or JSON shaped (with an `access_token` field holding `secret`), or raw bytes.
fn body(secret: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (secret.clone(), "[a-z=&%0-9]{0,30}").prop_map(|(s, rest)| format!(
            "access_token={}&{rest}",
            percent_encode(&s)
        )
        .into_bytes()),
        (secret, "[ -~]{0,20}").prop_map(|(s, other)| {
            serde_json::json!({"access_token": s, "other": other})
                .to_string()
                .into_bytes()
        }),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some("application/x-www-form-urlencoded".to_owned())),
        Just(Some("Application/JSON; charset=utf-8".to_owned())),
        Just(Some("text/plain".to_owned())),
        "[ -~]{0,30}".prop_map(Some),
    ]
}

fn build(
    method: Method,
    query: &str,
    headers: &[(String, String)],
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Option<Request<Body>> {
    let uri = if query.is_empty() {
        "/me".to_owned()
    } else {
        format!("/me?{query}")
    };
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Body::from(body)).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    /// (a) Without a valid credential, nothing reaches the inner service.
    #[test]
    fn no_input_without_a_valid_credential_reaches_the_inner_service(
        method in method(),
        query in query(bogus_secret()),
        headers in headers(bogus_secret()),
        content_type in content_type(),
        body in body(bogus_secret()),
    ) {
        let Some(request) = build(method, &query, &headers, content_type.as_deref(), body) else {
            return Ok(());
        };
        let (status, challenge, seen) = run(request);
        prop_assert!(seen.is_none(), "reached the inner service as {:?}", seen.and_then(|s| s.principal));
        prop_assert!(status.is_client_error(), "{status}");
        if status == StatusCode::UNAUTHORIZED {
            prop_assert!(challenge, "401 without WWW-Authenticate");
        }
    }

    /// (b) A caller without the sudo privilege runs as itself, whatever it asks for.
    #[test]
    fn no_input_runs_as_another_subject_without_the_sudo_privilege(
        use_key in any::<bool>(),
        place in 0..4usize,
        query in query(Just(String::new())),
        extra in headers(Just(String::new())),
        method in method(),
    ) {
        let (secret, caller) = if use_key {
            (PLAIN_KEY.to_owned(), "plain-svc")
        } else {
            (plain_token(), "plain-app")
        };
        let mut headers: Vec<(String, String)> = extra
            .into_iter()
            .filter(|(n, _)| ["x-sudo", "x-tenant-id", "x-tenant-code", "x-other", "cookie"].contains(&n.as_str()))
            .collect();
        let mut query = query
            .split('&')
            .filter(|p| !p.starts_with("access"))
            .collect::<Vec<_>>()
            .join("&");
        match place {
            0 if use_key => headers.push(("x-api-key".into(), secret)),
            0 => headers.push(("authorization".into(), format!("Bearer {secret}"))),
            1 => headers.push(("x-auth-token".into(), secret)),
            2 => headers.push(("access_token".into(), secret)),
            _ => {
                if !query.is_empty() { query.push('&'); }
                query.push_str(&format!("access_token={}", percent_encode(&secret)));
            }
        }
        let Some(request) = build(method, &query, &headers, None, Vec::new()) else {
            return Ok(());
        };
        let (status, _, seen) = run(request);
        if let Some(seen) = seen {
            let principal = seen.principal.expect("a principal");
            prop_assert_eq!(principal.subject(), caller, "ran as another subject ({})", status);
            prop_assert!(principal.actor().is_none());
            prop_assert!(!principal.has_scope("sudo"));
        } else {
            // Refused: never for a server error.
            prop_assert!(status.is_client_error(), "{status}");
        }
    }

    /// (c) The inner service reads the body that was sent, byte for byte.
    #[test]
    fn the_inner_service_receives_the_original_body(
        raw in proptest::collection::vec(any::<u8>(), 0..1500),
        content_type in content_type(),
        in_body in any::<bool>(),
        json in any::<bool>(),
        method in prop_oneof![Just(Method::POST), Just(Method::PUT), Just(Method::PATCH), Just(Method::DELETE)],
    ) {
        let (headers, content_type, body) = if in_body {
            // The credential is in the body itself, followed by the arbitrary bytes.
            let tail = String::from_utf8_lossy(&raw).into_owned();
            if json {
                let body = serde_json::json!({"access_token": plain_token(), "data": tail});
                (vec![], Some("application/json".to_owned()), body.to_string().into_bytes())
            } else {
                let body = format!("data={}&access_token={}", percent_encode(&tail), plain_token());
                (vec![], Some("application/x-www-form-urlencoded".to_owned()), body.into_bytes())
            }
        } else {
            (vec![("authorization".to_owned(), format!("Bearer {}", plain_token()))], content_type, raw)
        };
        let Some(request) = build(method, "", &headers, content_type.as_deref(), body.clone()) else {
            return Ok(());
        };
        let (status, _, seen) = run(request);
        if body.len() > 2048 && in_body {
            prop_assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
            return Ok(());
        }
        let seen = seen.unwrap_or_else(|| panic!("refused with {status}"));
        prop_assert_eq!(seen.body.as_ref(), body.as_slice());
        let principal = seen.principal.expect("a principal");
        prop_assert_eq!(principal.subject(), "plain-app");
    }
}

#[test]
fn the_strategies_can_reach_the_inner_service() {
    // The properties above are not vacuous: the same requests with a valid credential pass.
    let request = build(
        Method::GET,
        &format!("access_token={}", plain_token()),
        &[],
        None,
        Vec::new(),
    )
    .unwrap();
    let (status, _, seen) = run(request);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen.unwrap().principal.unwrap().subject(), "plain-app");
    let request = build(
        Method::GET,
        "sudo=loginName:alice",
        &[("x-api-key".into(), SUDO_KEY.into())],
        None,
        Vec::new(),
    )
    .unwrap();
    let (status, _, seen) = run(request);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        seen.unwrap().principal.unwrap().subject(),
        "1001",
        "the sudo caller can"
    );
}
