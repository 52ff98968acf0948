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
        // The 403 of `/refuse` answers an API key (carried as a bearer token), which is no
        // access token: it gets no challenge, in both layers alike (checked above).
        if !status.is_success() && status != StatusCode::FORBIDDEN {
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

/// A body of data frames then trailers.
struct WithTrailers(Vec<http_body::Frame<bytes::Bytes>>);

impl http_body::Body for WithTrailers {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Ready((!self.0.is_empty()).then(|| Ok(self.0.remove(0))))
    }
}

#[tokio::test]
async fn a_replayed_body_keeps_its_trailers_and_query_tokens_make_answers_private() {
    use http_body_util::BodyExt;
    let sources = CredentialSources::new()
        .query("access_token")
        .form_body("access_token");
    let layer = layer(sources).await;
    let service = tower::service_fn(|req: Request<Body>| async move {
        let collected = req.into_body().collect().await.unwrap();
        let trailer = collected
            .trailers()
            .and_then(|t| t.get("x-trailer"))
            .map(|v| v.to_str().unwrap().to_owned());
        let text = format!(
            "{}|{trailer:?}",
            String::from_utf8_lossy(&collected.to_bytes())
        );
        Ok::<_, std::convert::Infallible>(
            http::Response::builder()
                .header("cache-control", "public, max-age=60")
                .body(Body::from(text))
                .unwrap(),
        )
    });
    let app = Router::new()
        .fallback_service(service)
        .layer(layer.for_axum());
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-trailer", http::HeaderValue::from_static("t-1"));
    let sent = format!("access_token={KEY}&x=1");
    let body = WithTrailers(vec![
        http_body::Frame::data(bytes::Bytes::from(sent.clone())),
        http_body::Frame::trailers(trailers),
    ]);
    let req = Request::post("/any")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::new(body))
        .unwrap();
    let (status, _, text) = send(&app, req).await;
    assert_eq!(
        (status, text),
        (StatusCode::OK, format!("{sent}|Some(\"t-1\")"))
    );

    let req = Request::get(format!("/any?access_token={KEY}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "private, max-age=60");
}
