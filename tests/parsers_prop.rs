//! Property tests: hostile input to the credential parsers never panics, never passes
//! silently, and always gets one of the documented answers.

use axum::Router;
use axum::body::Body;
use axum::routing::any as any_method;
use http::{HeaderValue, Request, StatusCode};
use proptest::prelude::*;
use tower::ServiceExt;
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{
    ApiKeyStore, ApiKeyVerifier, BasicUsers, BasicVerifier, FirstMatch, JwtVerifier,
};
use tower_gatekeeper::{GatekeeperLayer, Principal};

const VALID_KEY: &str = "the-one-valid-key";

static APP: std::sync::LazyLock<Router> = std::sync::LazyLock::new(build_app);

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

fn app() -> Router {
    APP.clone()
}

fn build_app() -> Router {
    let keys = ApiKeyStore::new();
    at_once(keys.insert(VALID_KEY, Identity::new("svc"))).unwrap();
    let users = BasicUsers::new();
    users
        .insert_password("alice", "pw", Identity::new("u1"))
        .unwrap();
    let verifier = FirstMatch::new()
        .or(JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap())
        // Keys carried as bearer tokens too, so random bearer values reach the key store.
        .or(ApiKeyVerifier::new(keys).accept_bearer(true))
        .or(BasicVerifier::new(users));
    let sources = CredentialSources::new()
        .basic(true)
        .api_key_header("x-api-key")
        .query("access_token")
        .form_body("access_token")
        .json_body("access_token")
        .body_limit(256);
    Router::new()
        .route(
            "/",
            any_method(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(GatekeeperLayer::builder(verifier).sources(sources).build())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn status_of(
    rt: &tokio::runtime::Runtime,
    app: &Router,
    req: Request<Body>,
) -> (StatusCode, String) {
    rt.block_on(async {
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

fn refused(status: StatusCode) -> bool {
    [
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::PAYLOAD_TOO_LARGE,
    ]
    .contains(&status)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_authorization_headers(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let Ok(value) = HeaderValue::from_bytes(&bytes) else { return Ok(()) };
        let rt = runtime();
        let req = Request::get("/").header("authorization", value).body(Body::empty()).unwrap();
        let (status, body) = status_of(&rt, &app(), req);
        // Nothing random is a valid credential.
        prop_assert!(refused(status), "{status} {body}");
    }

    #[test]
    fn arbitrary_basic_payloads(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let rt = runtime();
        let req = Request::get("/").header("authorization", format!("Basic {encoded}")).body(Body::empty()).unwrap();
        let (status, body) = status_of(&rt, &app(), req);
        prop_assert!(refused(status), "{status} {body}");
    }

    #[test]
    fn arbitrary_query_strings(query in "[a-z_%0-9A-F=&+.:-]{0,80}") {
        let rt = runtime();
        let Ok(req) = Request::get(format!("/?{query}")).body(Body::empty()) else { return Ok(()) };
        let (status, body) = status_of(&rt, &app(), req);
        prop_assert!(refused(status), "{query}: {status} {body}");
    }

    #[test]
    fn arbitrary_bodies(body in proptest::collection::vec(any::<u8>(), 0..400), json in any::<bool>()) {
        let rt = runtime();
        let content_type = if json { "application/json" } else { "application/x-www-form-urlencoded" };
        let req = Request::post("/").header("content-type", content_type).body(Body::from(body)).unwrap();
        let (status, text) = status_of(&rt, &app(), req);
        prop_assert!(refused(status), "{status} {text}");
    }

    #[test]
    fn a_valid_key_plus_noise_is_never_accepted_as_someone_else(noise in "[ -~]{1,40}") {
        // The valid key with anything appended, prepended or repeated is not the valid key.
        let rt = runtime();
        for candidate in [format!("{VALID_KEY}{noise}"), format!("{noise}{VALID_KEY}")] {
            let Ok(value) = HeaderValue::from_str(&candidate) else { continue };
            let req = Request::get("/").header("x-api-key", value).body(Body::empty()).unwrap();
            let (status, body) = status_of(&rt, &app(), req);
            prop_assert!(status != StatusCode::OK || candidate.trim() == VALID_KEY, "{candidate:?}: {status} {body}");
        }
    }
}

#[test]
fn the_valid_key_itself_passes() {
    let rt = runtime();
    let req = Request::get("/")
        .header("x-api-key", VALID_KEY)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        status_of(&rt, &app(), req),
        (StatusCode::OK, "svc".to_owned())
    );
}
