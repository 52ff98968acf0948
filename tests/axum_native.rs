//! `GatekeeperLayer::for_axum`: the same pipeline in axum's own body type. The original body
//! reaches the handler as it came, a body the layer read is replayed byte for byte, refusals
//! and re-rendered handler errors answer as `GatekeeperLayer` does.

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use tower::ServiceExt;
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier};
use tower_gatekeeper::{AuthError, GatekeeperLayer, Principal};

const KEY: &str = "axum-native-key-0123456789abcdef";

async fn layer(sources: CredentialSources) -> GatekeeperLayer {
    let keys = ApiKeyStore::new();
    keys.insert(KEY, Identity::new("svc")).await.unwrap();
    GatekeeperLayer::builder(ApiKeyVerifier::new(keys).accept_bearer(true))
        .sources(sources)
        .realm("native")
        .build()
}

fn routes() -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .route(
            "/echo",
            post(|p: Principal, body: String| async move { format!("{}:{body}", p.subject()) }),
        )
        .route(
            "/refuse",
            get(|| async { Err::<(), _>(AuthError::insufficient_scope("orders:write")) }),
        )
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn admits_refuses_and_rerenders_as_the_generic_layer_does() {
    let layer = layer(CredentialSources::new()).await;
    let native = routes().layer(layer.clone().for_axum());
    let generic = routes().layer(layer);
    let requests = || {
        [
            Request::get("/whoami")
                .header("authorization", format!("Bearer {KEY}"))
                .body(Body::empty())
                .unwrap(),
            Request::get("/whoami").body(Body::empty()).unwrap(),
            Request::get("/whoami")
                .header("authorization", "Bearer not-a-key")
                .body(Body::empty())
                .unwrap(),
            Request::get("/whoami")
                .header("authorization", "Bearer a=b")
                .body(Body::empty())
                .unwrap(),
            Request::get("/refuse")
                .header("authorization", format!("Bearer {KEY}"))
                .body(Body::empty())
                .unwrap(),
        ]
    };
    let mut statuses = Vec::new();
    for (a, b) in requests().into_iter().zip(requests()) {
        let (status, headers, body) = send(&native, a).await;
        let (g_status, g_headers, g_body) = send(&generic, b).await;
        assert_eq!((status, &body), (g_status, &g_body));
        assert_eq!(
            headers.get(WWW_AUTHENTICATE),
            g_headers.get(WWW_AUTHENTICATE)
        );
        if !status.is_success() {
            let challenge = headers.get(WWW_AUTHENTICATE).expect("a challenge");
            assert!(challenge.to_str().unwrap().contains(r#"realm="native""#));
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::BAD_REQUEST,
            StatusCode::FORBIDDEN
        ]
    );
}

#[tokio::test]
async fn the_handler_gets_the_original_body_or_the_bytes_the_layer_read() {
    // Without a body source, the body streams through untouched.
    let plain = routes().layer(layer(CredentialSources::new()).await.for_axum());
    let req = Request::post("/echo")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Body::from("hello, body"))
        .unwrap();
    assert_eq!(send(&plain, req).await.2, "svc:hello, body");

    // With a form source, the layer reads the body to find the token, then replays it.
    let form = routes().layer(
        layer(CredentialSources::new().form_body("access_token"))
            .await
            .for_axum(),
    );
    let sent = format!("a=1&access_token={KEY}&b=%20two");
    let req = Request::post("/echo")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(sent.clone()))
        .unwrap();
    let (status, _, body) = send(&form, req).await;
    assert_eq!((status, body), (StatusCode::OK, format!("svc:{sent}")));

    // A token in the header and another in the body: one method per request (RFC 6750 §2).
    let req = Request::post("/echo")
        .header("authorization", format!("Bearer {KEY}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("access_token={KEY}")))
        .unwrap();
    assert_eq!(send(&form, req).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn works_on_a_single_route_and_keeps_the_layers_cache() {
    let layer = layer(CredentialSources::new()).await;
    let native = layer.clone().for_axum();
    assert!(native.layer().verified_cache().is_some());
    let app: Router = Router::new().route(
        "/whoami",
        get(|p: Principal| async move { p.subject().to_owned() }).layer(native),
    );
    for _ in 0..3 {
        let req = Request::get("/whoami")
            .header("authorization", format!("Bearer {KEY}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, req).await.0, StatusCode::OK);
    }
    assert_eq!(layer.verified_cache().unwrap().stats().hits, 1);
}
