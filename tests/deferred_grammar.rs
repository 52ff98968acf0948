//! With the verified-credential cache on, the layer looks an `Authorization` bearer token up
//! in the cache before holding it to RFC 6750's `b64token` grammar: a hit can only be bytes
//! that passed the grammar when they were verified. These tests try to get a token past the
//! grammar through the cache, and check that refusals are what they were with the check up
//! front.

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{HeaderValue, Request, StatusCode};
use tower::ServiceExt;
use tower_gatekeeper::extract::{Credential, CredentialSources};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{
    ApiKeyStore, ApiKeyVerifier, CacheConfig, ReusableVerification, Reuse, Revalidation,
    Verification, Verified, Verifier,
};
use tower_gatekeeper::{GatekeeperLayer, MaybeReady, Principal};

const B64TOKEN: &str = "the bearer token is not a valid b64token (RFC 6750 section 2.1)";
/// Visible ASCII, so a header source takes it; `=` inside and `,` make it no `b64token`.
const ODD_KEY: &str = "odd=key,0123456789abcdef0123456789";

/// The layer of these tests: API keys (one of them `ODD_KEY`) accepted as bearer tokens, from
/// `Authorization` and `X-Token` by default.
async fn layer(cache: CacheConfig) -> GatekeeperLayer {
    layer_with(cache, CredentialSources::new().token_header("x-token")).await
}

async fn layer_with(cache: CacheConfig, sources: CredentialSources) -> GatekeeperLayer {
    let keys = ApiKeyStore::new();
    keys.insert(ODD_KEY, Identity::new("svc-odd"))
        .await
        .unwrap();
    keys.insert("plain-key-0123456789abcdef", Identity::new("svc"))
        .await
        .unwrap();
    GatekeeperLayer::builder(ApiKeyVerifier::new(keys).accept_bearer(true))
        .sources(sources)
        .verified_cache(cache.admit_first_seen(true))
        .build()
}

fn app(layer: &GatekeeperLayer) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .route(
            "/post",
            post(|p: Principal| async move { p.subject().to_owned() }),
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

fn mixed_sources() -> CredentialSources {
    CredentialSources::new()
        .token_header("x-token")
        .query("access_token")
        .form_body("access_token")
        .body_limit(1024)
}

/// Requests where a malformed `Authorization` token meets another credential or another
/// source's error: the token's own refusal comes first, as when it was checked when found.
fn mixed_requests() -> Vec<(&'static str, Request<Body>)> {
    let good = "Bearer plain-key-0123456789abcdef";
    let get = |uri: &str| Request::get(uri.to_owned());
    vec![
        (
            "malformed, then a good Authorization",
            get("/whoami")
                .header("authorization", "Bearer a=b")
                .header("authorization", good)
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "a good, then a malformed Authorization",
            get("/whoami")
                .header("authorization", good)
                .header("authorization", "Bearer a=b")
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "malformed Authorization and a query token",
            get("/whoami?access_token=plain-key-0123456789abcdef")
                .header("authorization", "Bearer a=b")
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "non-UTF-8 Authorization and X-Token",
            get("/whoami")
                .header(
                    "authorization",
                    HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
                )
                .header("x-token", "plain-key-0123456789abcdef")
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "malformed bearer and a non-UTF-8 value of another scheme",
            get("/whoami")
                .header("authorization", "Bearer a=b")
                .header(
                    "authorization",
                    HeaderValue::from_bytes(b"Digest \xff").unwrap(),
                )
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "malformed Authorization and a form body over the limit",
            Request::post("/post")
                .header("authorization", "Bearer a=b")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("content-length", "100000")
                .body(Body::from(vec![b'a'; 100_000]))
                .unwrap(),
        ),
        (
            "malformed Authorization and a repeated query token",
            get("/whoami?access_token=x&access_token=y")
                .header("authorization", "Bearer a=b")
                .body(Body::empty())
                .unwrap(),
        ),
    ]
}

async fn answer(app: &Router, req: Request<Body>) -> (StatusCode, String, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    (
        status,
        challenge,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn a_malformed_token_among_other_credentials_is_refused_as_without_the_cache() {
    let on = layer_with(CacheConfig::new(), mixed_sources()).await;
    let off = layer_with(CacheConfig::disabled(), mixed_sources()).await;
    let (on_app, off_app) = (app(&on), app(&off));
    for ((name, a), (_, b)) in mixed_requests().into_iter().zip(mixed_requests()) {
        let cached = answer(&on_app, a).await;
        let uncached = answer(&off_app, b).await;
        assert_eq!(cached, uncached, "{name}");
        assert_eq!(cached.0, StatusCode::BAD_REQUEST, "{name}");
        assert!(!cached.1.is_empty(), "{name}: a challenge");
        // The malformed token's own refusal, not "more than one credential" or a 413.
        let expected = if name.starts_with("non-UTF-8") {
            "the credential is malformed"
        } else {
            B64TOKEN
        };
        assert!(cached.2.contains(expected), "{name}: {}", cached.2);
    }
    let stats = on.verified_cache().unwrap().stats();
    assert_eq!(
        stats.misses, 0,
        "no refusal went to the verifier: {stats:?}"
    );
}

#[tokio::test]
async fn a_token_refused_for_its_grammar_is_not_a_miss() {
    let layer = layer(CacheConfig::new()).await;
    let app = app(&layer);
    for _ in 0..3 {
        let value = HeaderValue::from_static("Bearer a=b");
        assert_eq!(
            call(&app, "authorization", value).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    let stats = layer.verified_cache().unwrap().stats();
    assert_eq!((stats.misses, stats.hits), (0, 0), "{stats:?}");
}

/// Keeps every answer; its revalidation keeps the credential, as a background re-check would.
struct KeepsCredential;

impl Verifier for KeepsCredential {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        self.verify_reusable(credential)
            .map(|r| r.map(|verified| verified.principal))
    }

    fn verify_reusable(&self, _: &Credential<'_>) -> ReusableVerification {
        MaybeReady::Ready(Ok(Verified::reusable(
            Principal::new(Identity::new("kept")),
            Reuse::unlimited(),
        )))
    }

    fn revalidate(&self, credential: &Credential<'_>, _: &Principal, _: u64) -> Revalidation {
        let owned: Credential<'static> = credential.clone().into_owned();
        if owned.token() == Some("abc") {
            Revalidation::Valid
        } else {
            Revalidation::Stale
        }
    }
}

#[tokio::test]
async fn a_revalidation_sees_the_token_as_checked() {
    let layer = GatekeeperLayer::builder(KeepsCredential)
        .verified_cache(CacheConfig::new().admit_first_seen(true))
        .build();
    let app = app(&layer);
    for _ in 0..3 {
        let value = HeaderValue::from_static("Bearer abc");
        let answer = call(&app, "authorization", value).await;
        assert_eq!(answer, (StatusCode::OK, "kept".into()));
    }
    assert_eq!(layer.verified_cache().unwrap().stats().hits, 2);
}
