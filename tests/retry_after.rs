//! Every 503 says when to try again (`Retry-After`, RFC 9110 §10.2.3 and §15.6.4), whichever
//! service answers it: the layer (a Basic login while the password-hashing bound is full, a
//! verifier backend down), whatever body shape it answers in, and the account admin (a
//! password to hash while the bound is full). Issue 8 item 1 asks for "503 with
//! `Retry-After`" past the hashing bound; the token endpoints' 503 is checked in
//! `tests/hashing_bound.rs`. A refusal that is not a 503 carries no `Retry-After`: a client
//! must not retry a wrong password or an expired token.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use tower::ServiceExt as _;
use tower_gatekeeper::Principal;
use tower_gatekeeper::accounts::UserRegistry;
use tower_gatekeeper::error::JsonResponder;
use tower_gatekeeper::extract::{Credential, CredentialSources};
use tower_gatekeeper::issuer::{AccountAdmin, ClientRegistry};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{BasicUsers, BasicVerifier, HashingPool, VerifyError};
use tower_gatekeeper::{GatekeeperBuilder, GatekeeperLayer};

#[path = "support/hold.rs"]
mod hold;
use hold::Hold;

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

fn get_with(auth: &str) -> Request<Body> {
    Request::get("/whoami")
        .header(AUTHORIZATION, auth)
        .body(Body::empty())
        .unwrap()
}

async fn whoami(p: Principal) -> String {
    p.subject().to_owned()
}

fn app(builder: GatekeeperBuilder) -> Router {
    Router::new()
        .route("/whoami", get(whoami).post(whoami))
        .layer(builder.build())
}

fn users() -> BasicUsers {
    let users = BasicUsers::new();
    users
        .insert_password("alice", "alice-password", Identity::new("1001"))
        .unwrap();
    users
}

fn assert_retry_after(status: StatusCode, headers: &HeaderMap, body: &str, what: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    let retry = headers
        .get(RETRY_AFTER)
        .unwrap_or_else(|| panic!("{what}: a 503 without Retry-After: {headers:?}"));
    // RFC 9110 §10.2.3: delay-seconds, a non-negative integer.
    let seconds: u64 = retry.to_str().unwrap().parse().expect("delay-seconds");
    assert!(seconds >= 1, "{what}: Retry-After {seconds}");
    // A busy server is no bad credential: no challenge that would make a client drop it.
    assert!(
        !headers.contains_key(WWW_AUTHENTICATE),
        "{what}: {headers:?}"
    );
}

#[tokio::test]
async fn basic_logins_past_the_hashing_bound_are_503_with_retry_after() {
    let pool = HashingPool::builder()
        .permits(1)
        .queue(0)
        .max_wait(Duration::from_secs(60))
        .build();
    let verifier = BasicVerifier::new(users()).hashing(pool.clone());
    let sources = CredentialSources::new().basic(true);
    let default_shape = app(GatekeeperLayer::builder(verifier.clone()).sources(sources.clone()));
    let huawei_shape = app(GatekeeperLayer::builder(verifier)
        .sources(sources)
        .responder(JsonResponder::Huawei));

    let hold = Hold::all(&pool).await;
    // The right password, a wrong one and an unknown user: all the same busy answer.
    for (user, password) in [
        ("alice", "alice-password"),
        ("alice", "wrong"),
        ("nobody", "x"),
    ] {
        for (shape, app) in [("default", &default_shape), ("huawei", &huawei_shape)] {
            let (status, headers, body) = send(app, get_with(&basic(user, password))).await;
            assert_retry_after(
                status,
                &headers,
                &body,
                &format!("{shape} {user}:{password}"),
            );
        }
    }
    hold.release().await;

    // Once the bound has room: the answers are the credential's again, and a refusal that
    // is not a 503 says nothing about retrying.
    let (status, headers, body) = send(&default_shape, get_with(&basic("alice", "wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(!headers.contains_key(RETRY_AFTER), "{headers:?}");
    let (status, headers, body) =
        send(&default_shape, get_with(&basic("alice", "alice-password"))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1001"));
    assert!(!headers.contains_key(RETRY_AFTER), "{headers:?}");
}

#[tokio::test]
async fn a_verifier_backend_down_is_503_with_retry_after_and_other_refusals_are_not() {
    let verifier = |c: Credential<'static>| {
        std::future::ready(match c.token().unwrap_or_default() {
            "down" => Err(VerifyError::unavailable("the introspection server is down")),
            "good" => Ok(Principal::new(Identity::new("svc").with_scopes(["read"]))),
            _ => Err(VerifyError::invalid("unknown token")),
        })
    };
    let app = app(GatekeeperLayer::builder(verifier)
        .sources(
            CredentialSources::new()
                .bearer(true)
                .form_body("access_token")
                .body_limit(64),
        )
        .require_scopes(["write"]));

    let (status, headers, body) = send(&app, get_with("Bearer down")).await;
    assert_retry_after(status, &headers, &body, "backend down");

    // 401 (bad and missing credential), 400 (two credentials), 403 (scope), 413 (body): no
    // Retry-After on any of them.
    let form = |auth: Option<&str>, body: String| {
        let mut r =
            Request::post("/whoami").header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(auth) = auth {
            r = r.header(AUTHORIZATION, auth);
        }
        r.body(Body::from(body)).unwrap()
    };
    let refusals = [
        (get_with("Bearer bad"), StatusCode::UNAUTHORIZED),
        (
            Request::get("/whoami").body(Body::empty()).unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            form(Some("Bearer good"), "access_token=good".into()),
            StatusCode::BAD_REQUEST,
        ),
        (get_with("Bearer good"), StatusCode::FORBIDDEN),
        (
            form(None, format!("access_token=good&pad={}", "p".repeat(200))),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (request, expected) in refusals {
        let (status, headers, body) = send(&app, request).await;
        assert_eq!(status, expected, "{body}");
        assert!(
            !headers.contains_key(RETRY_AFTER),
            "{expected}: {headers:?}"
        );
    }
}

/// The account admin hashes a new user's password under the process-wide bound
/// (`HashingPool::shared()`); full, it answers 503, and says when to come back. Nothing is
/// created meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_admin_past_the_hashing_bound_is_503_with_retry_after() {
    let users = UserRegistry::new();
    let admin = AccountAdmin::new(ClientRegistry::new(), users.clone());
    let create = |uid: &str| {
        let body =
            serde_json::json!({"uid": uid, "login_name": uid, "password": "a-long-password"});
        let mut request = Request::post("/users")
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        request.extensions_mut().insert(Principal::new(
            Identity::new("admin-console")
                .with_client_id("admin-console")
                .with_scopes(["accounts:admin"]),
        ));
        request
    };
    let answer = |request: Request<Full<Bytes>>| {
        let admin = admin.clone();
        async move {
            let response = admin.oneshot(request).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, headers, String::from_utf8_lossy(&body).into_owned())
        }
    };

    let shared = HashingPool::shared();
    let hold = Hold::all(&shared).await;
    // Past the permits, the queue waits at most `max_wait`; the request then is refused.
    let (status, headers, body) = answer(create("2001")).await;
    assert_retry_after(status, &headers, &body, "account admin");
    assert!(body.contains("temporarily_unavailable"), "{body}");
    assert!(users.peek("2001").is_none(), "created while refused");
    hold.release().await;

    let (status, headers, body) = answer(create("2001")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(!headers.contains_key(RETRY_AFTER), "{headers:?}");
    assert!(users.peek("2001").is_some());
}
