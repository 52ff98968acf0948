//! With the verified-credential cache on, the layer looks an `Authorization` bearer token up
//! in the cache before holding it to RFC 6750's `b64token` grammar: a hit can only be bytes
//! that passed the grammar when they were verified. These tests try to get a token past the
//! grammar through the cache, and check that refusals are what they were with the check up
//! front.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderValue, Request, StatusCode};
use tower::ServiceExt;
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, CacheConfig};
use tower_gatekeeper::{GatekeeperLayer, Principal};

const B64TOKEN: &str = "the bearer token is not a valid b64token (RFC 6750 section 2.1)";
/// Visible ASCII, so a header source takes it; `=` inside and `,` make it no `b64token`.
const ODD_KEY: &str = "odd=key,0123456789abcdef0123456789";

async fn layer(cache: CacheConfig) -> GatekeeperLayer {
    let keys = ApiKeyStore::new();
    keys.insert(ODD_KEY, Identity::new("svc-odd"))
        .await
        .unwrap();
    keys.insert("plain-key-0123456789abcdef", Identity::new("svc"))
        .await
        .unwrap();
    GatekeeperLayer::builder(ApiKeyVerifier::new(keys).accept_bearer(true))
        .sources(CredentialSources::new().token_header("x-token"))
        .verified_cache(cache.admit_first_seen(true))
        .build()
}

fn app(layer: &GatekeeperLayer) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(layer.clone())
}

async fn call(app: &Router, header: &str, value: HeaderValue) -> (StatusCode, String) {
    let req = Request::get("/whoami")
        .header(header, value)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    if status == StatusCode::BAD_REQUEST {
        assert!(
            res.headers().contains_key(http::header::WWW_AUTHENTICATE),
            "a refusal of a credential carries a challenge"
        );
    }
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn hits(layer: &GatekeeperLayer) -> u64 {
    layer.verified_cache().unwrap().stats().hits
}

#[tokio::test]
async fn bytes_kept_for_another_header_do_not_pass_authorization_without_the_grammar() {
    let layer = layer(CacheConfig::new()).await;
    let app = app(&layer);
    // Kept and hit through `X-Token`, whose rules (visible ASCII) the key meets.
    for _ in 0..3 {
        let answer = call(&app, "x-token", HeaderValue::from_static(ODD_KEY)).await;
        assert_eq!(answer, (StatusCode::OK, "svc-odd".into()));
    }
    assert!(
        hits(&layer) >= 2,
        "the key was kept: {:?}",
        layer.verified_cache()
    );
    // The same bytes as an `Authorization` bearer token are not a b64token: 400, every time,
    // and never a hit.
    let before = hits(&layer);
    for _ in 0..3 {
        let value = HeaderValue::from_str(&format!("Bearer {ODD_KEY}")).unwrap();
        let (status, body) = call(&app, "authorization", value).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains(B64TOKEN), "{body}");
    }
    assert_eq!(hits(&layer), before);
}

#[tokio::test]
async fn a_good_token_is_a_hit_and_a_bad_one_is_refused_alike_with_and_without_the_cache() {
    for cache in [CacheConfig::new(), CacheConfig::disabled()] {
        let on = cache.is_enabled();
        let layer = layer(cache).await;
        let app = app(&layer);
        for _ in 0..3 {
            let value = HeaderValue::from_static("Bearer plain-key-0123456789abcdef");
            let answer = call(&app, "authorization", value).await;
            assert_eq!(answer, (StatusCode::OK, "svc".into()), "cache {on}");
        }
        if on {
            assert_eq!(hits(&layer), 2);
        }
        let refusals: [(&[u8], &str); 4] = [
            (b"Bearer a=b", B64TOKEN),
            (b"Bearer ==", B64TOKEN),
            ("Bearer tök".as_bytes(), B64TOKEN),
            (b"Bearer \xff\xfe", "the credential is malformed"),
        ];
        for (value, description) in refusals {
            for _ in 0..2 {
                let value = HeaderValue::from_bytes(value).unwrap();
                let (status, body) = call(&app, "authorization", value.clone()).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{value:?} cache {on}");
                assert!(body.contains(description), "{value:?} cache {on}: {body}");
            }
        }
        // Two credentials, one of them malformed: still one request refused with 400.
        let req = Request::get("/whoami")
            .header("authorization", "Bearer a=b")
            .header("x-token", "plain-key-0123456789abcdef")
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "cache {on}");
    }
}
