//! tower-gatekeeper side by side with other ways of guarding an axum router, on the same
//! request and the same token, in the same run.
//!
//! ```text
//! cargo bench --bench compare                          # interleaved ratios, then criterion
//! COMPARE=ratios cargo bench --bench compare           # the interleaved ratio table only
//! COMPARE=criterion cargo bench --bench compare -- hs256   # criterion only, filtered
//! COMPARE_ROUNDS=20 COMPARE_CASES=hs256,api_key cargo bench --bench compare
//! ```
//!
//! Every case is one request through an axum 0.8 `Router` with `oneshot`; the handler answers
//! `"ok"`. The ratio table runs the cases interleaved: each round runs a batch of every case
//! (in a rotated order), and each case's time is divided by the bare router's time **of the
//! same round**, so a machine that gets busier or quieter moves all cases together. The
//! median ratio over the rounds is reported with its spread, and the heap allocations per
//! request, counted by a global allocator in a separate pass.
//!
//! "same" cases send one token again and again (what a client does for the token's life:
//! after the first request, it is a verified-credential cache hit); "fresh" cases send a
//! different valid token on every request, drawn from a pool much larger than the layer's
//! cache (every request is a first-seen credential).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Method, Request};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, encode};
use tokio::runtime::Runtime;
use tower::ServiceExt;
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::grant::{
    ApiTable, GrantCheck, GrantManager, GrantStore, Grantee, InMemoryGrantStore,
};
use tower_gatekeeper::impersonate::{DirectoryUser, Impersonation, InMemoryDirectory};
use tower_gatekeeper::principal::{Identity, Tenant};
use tower_gatekeeper::verify::{
    ApiKeyStore, ApiKeyVerifier, BasicUsers, BasicVerifier, CacheConfig, JwtKey, JwtVerifier,
    Verification, VerifiedCache, Verifier,
};
use tower_gatekeeper::{MaybeReady, Principal};

#[path = "support/reference.rs"]
mod reference;

use reference::{
    handwritten_asym, handwritten_hs256, jsonwebtoken_layer, jwt_authorizer_router, opaque_minimal,
    pem_body, tower_http_bearer,
};

// ---------------------------------------------------------------------------------------------
// Counting allocator (only counts while COUNTING is on)
// ---------------------------------------------------------------------------------------------

struct CountingAlloc;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// With COMPARE_ALLOC_SIZES set, the sizes of the first allocations counted.
static SIZES: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

fn count(size: usize) {
    let n = ALLOCS.fetch_add(1, Ordering::Relaxed) as usize;
    if n < SIZES.len() {
        SIZES[n].store(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            count(layout.size());
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            count(new_size);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

// ---------------------------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------------------------

const SECRET: &str = "bench-secret-0123456789abcdef-0123456789";
const API_KEY: &str = "bench-api-key-0123456789abcdef-0123456789abcdef";
const RSA_PRIVATE: &[u8] = include_bytes!("../tests/fixtures/test_only_rsa2048_private_pkcs8.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../tests/fixtures/test_only_rsa2048_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../tests/fixtures/test_only_ec_p256_private_pkcs8.pem");
const EC_PUBLIC: &[u8] = include_bytes!("../tests/fixtures/test_only_ec_p256_public.pem");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An access token shaped like the issuer's (RFC 9068 claims), about 330 bytes in HS256.
fn token(alg: Algorithm, key: &EncodingKey, n: usize, scope: &str) -> String {
    let iat = now();
    let claims = serde_json::json!({
        "iss": "bench", "sub": "app-7", "client_id": "app-7", "aud": "bench-api",
        "exp": iat + 3600, "iat": iat, "jti": format!("jti-{n:012}"), "scope": scope
    });
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".to_owned());
    encode(&header, &claims, key).unwrap()
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

struct Keys {
    hs: EncodingKey,
    rs: EncodingKey,
    es: EncodingKey,
}

fn keys() -> Keys {
    Keys {
        hs: EncodingKey::from_secret(SECRET.as_bytes()),
        rs: EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
        es: EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
    }
}

const SCOPE: &str = "orders:read orders:write";
/// First-seen tokens per algorithm.
const POOL: usize = 2_000;

// ---------------------------------------------------------------------------------------------
// The routers
// ---------------------------------------------------------------------------------------------

fn routes() -> Router {
    Router::new().route("/orders", get(|| async { "ok" }))
}

fn gatekeeper_jwt(key: JwtKey) -> JwtVerifier {
    JwtVerifier::builder()
        .key(key)
        .issuer("bench")
        .audience("bench-api")
        .build()
        .unwrap()
}

fn hs_key() -> JwtKey {
    JwtKey::hmac(SECRET.as_bytes(), &[Algorithm::HS256]).unwrap()
}
fn rs_key() -> JwtKey {
    JwtKey::rsa_pem(RSA_PUBLIC, &[Algorithm::RS256]).unwrap()
}
fn es_key() -> JwtKey {
    JwtKey::ec_pem(EC_PUBLIC, &[Algorithm::ES256]).unwrap()
}

/// The layer with `verifier`, and its cache.
fn gatekeeper_with(verifier: impl Verifier, cache: CacheConfig) -> (Router, Option<VerifiedCache>) {
    let layer = GatekeeperLayer::builder(verifier)
        .verified_cache(cache)
        .build();
    mounted(layer, Mount::Generic)
}

/// How a case mounts the layer: `GatekeeperLayer` as it is (its own body types, which axum
/// boxes again), or `GatekeeperLayer::for_axum` (axum's `Body` in and out).
#[derive(Clone, Copy)]
enum Mount {
    Generic,
    Axum,
}

fn mounted(layer: GatekeeperLayer, mount: Mount) -> (Router, Option<VerifiedCache>) {
    let cache = layer.verified_cache().cloned();
    let router = match mount {
        Mount::Generic => routes().layer(layer),
        Mount::Axum => routes().layer(layer.for_axum()),
    };
    (router, cache)
}

/// The cache of "fresh" cases: small, so that a pool of distinct tokens never hits.
fn small_cache() -> CacheConfig {
    CacheConfig::new().entries(64)
}

/// A verifier that answers one principal at once: what the layer costs around verification.
struct Fixed(Principal);

impl Verifier for Fixed {
    fn verify(&self, _: &tower_gatekeeper::extract::Credential<'_>) -> Verification {
        MaybeReady::Ready(Ok(self.0.clone()))
    }
}

fn grant_store() -> Arc<dyn GrantStore> {
    let store: Arc<dyn GrantStore> = Arc::new(InMemoryGrantStore::new());
    let manager = GrantManager::builder_shared(store.clone())
        .apis(["orders", "reports", "users", "billing"])
        .grantee_check(|_| true)
        .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for i in 0..1000 {
            manager
                .authorize(
                    "orders",
                    Grantee::client(&format!("app-{i}")),
                    4_000_000_000,
                )
                .await
                .unwrap();
        }
    });
    store
}

fn api_table() -> ApiTable {
    ApiTable::new()
        .api("orders", "/orders", [Method::GET, Method::POST])
        .api("reports", "/reports", [Method::GET])
        .api("users", "/users", [])
        .api("billing", "/billing", [])
}

/// The whole pipeline: JWT, required scope, sudo/tenant stage, grant check by API table.
fn full_pipeline(mount: Mount) -> (Router, Option<VerifiedCache>) {
    let directory = InMemoryDirectory::new();
    let mut user = DirectoryUser::new("1001", "alice");
    user.tenants = vec!["t-1".into()];
    user.scopes = vec!["orders:read".into()];
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        directory.insert_user(user).await.unwrap();
        directory
            .insert_tenant(Tenant::new("t-1", Some("acme")))
            .await
            .unwrap();
    });
    let layer = GatekeeperLayer::builder(gatekeeper_jwt(hs_key()))
        .require_scopes(["orders:read"])
        .authorize(Impersonation::new(directory))
        .authorize(GrantCheck::by_table_shared(grant_store(), api_table()))
        .build();
    mounted(layer, mount)
}

fn scope_and_grant() -> (Router, Option<VerifiedCache>) {
    let layer = GatekeeperLayer::builder(gatekeeper_jwt(hs_key()))
        .require_scopes(["orders:read"])
        .authorize(GrantCheck::by_table_shared(grant_store(), api_table()))
        .build();
    let cache = layer.verified_cache().cloned();
    (routes().layer(layer), cache)
}

const BASIC_PASSWORD: &str = "bench password 0123456789";

fn basic_router() -> (Router, Option<VerifiedCache>) {
    let users = BasicUsers::new();
    users
        .insert_password("alice", BASIC_PASSWORD, Identity::new("u-alice"))
        .unwrap();
    let layer = GatekeeperLayer::builder(BasicVerifier::new(users))
        .sources(CredentialSources::new().basic(true))
        .build();
    let cache = layer.verified_cache().cloned();
    (routes().layer(layer), cache)
}

/// The API key of the bench and 1000 others.
fn api_keys() -> Vec<String> {
    let mut keys = vec![API_KEY.to_owned()];
    keys.extend((0..1000).map(|i| format!("other-key-{i:06}-0123456789abcdef")));
    keys
}

fn api_key_router(header: bool, cache: CacheConfig) -> (Router, Option<VerifiedCache>) {
    api_key_router_mounted(header, cache, Mount::Generic)
}

fn api_key_router_mounted(
    header: bool,
    cache: CacheConfig,
    mount: Mount,
) -> (Router, Option<VerifiedCache>) {
    let keys = ApiKeyStore::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        keys.insert(API_KEY, Identity::new("svc").with_scopes(["orders:read"]))
            .await
            .unwrap();
        for i in 0..1000 {
            keys.insert(
                &format!("other-key-{i:06}-0123456789abcdef"),
                Identity::new("x"),
            )
            .await
            .unwrap();
        }
    });
    let sources = if header {
        CredentialSources::new()
            .bearer(false)
            .api_key_header("x-api-key")
    } else {
        CredentialSources::new()
    };
    // Keys carried as bearer tokens are accepted only when asked (an opaque-token service).
    let layer = GatekeeperLayer::builder(ApiKeyVerifier::new(keys).accept_bearer(!header))
        .sources(sources)
        .verified_cache(cache)
        .build();
    mounted(layer, mount)
}

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

type Run = Box<dyn Fn(&Runtime, u64) -> Duration>;

struct Case {
    name: String,
    run: Run,
    cache: Option<VerifiedCache>,
}

/// A case sending `headers[i % len]` (with `uri`) through `app`, `i` counting across batches.
fn case(
    name: &str,
    app: Router,
    uri: &'static str,
    headers: Vec<(&'static str, HeaderValue)>,
) -> Case {
    let next = Cell::new(0usize);
    // As `axum::serve` does once per connection: every handler is turned into its `Route` (and
    // layered) now, not again on every request, which an unfinalized `Router<()>` would do.
    let app = app.with_state(());
    let run: Run = Box::new(move |rt, iters| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                let i = next.get();
                next.set(if i + 1 == headers.len() { 0 } else { i + 1 });
                let (name, value) = &headers[i];
                let req = Request::get(uri)
                    .header(*name, value.clone())
                    .body(Body::empty())
                    .unwrap();
                let response = app.clone().oneshot(req).await.unwrap();
                assert!(response.status().is_success(), "{}", response.status());
            }
            start.elapsed()
        })
    });
    Case {
        name: name.to_owned(),
        run,
        cache: None,
    }
}

/// A case through a gatekeeper router, whose cache counters are shown after the run.
fn gk(
    name: &str,
    (app, cache): (Router, Option<VerifiedCache>),
    uri: &'static str,
    headers: Vec<(&'static str, HeaderValue)>,
) -> Case {
    Case {
        cache,
        ..case(name, app, uri, headers)
    }
}

fn one(value: HeaderValue) -> Vec<(&'static str, HeaderValue)> {
    vec![("authorization", value)]
}

fn many(tokens: &[String]) -> Vec<(&'static str, HeaderValue)> {
    tokens
        .iter()
        .map(|t| ("authorization", bearer(t)))
        .collect()
}

fn env_list(name: &str) -> Option<Vec<String>> {
    std::env::var(name).ok().map(|v| {
        v.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

fn cases(rt: &Runtime) -> Vec<Case> {
    let k = keys();
    let hs_same = token(Algorithm::HS256, &k.hs, 0, SCOPE);
    let rs_same = token(Algorithm::RS256, &k.rs, 0, SCOPE);
    let es_same = token(Algorithm::ES256, &k.es, 0, SCOPE);
    // Pools of first-seen tokens: larger than the "fresh" cases' cache many times over, small
    // enough to stay in the CPU caches (so that "fresh" measures verification, not memory).
    let pool = |alg, key: &EncodingKey| -> Vec<String> {
        (1..=POOL).map(|n| token(alg, key, n, SCOPE)).collect()
    };
    let hs_fresh = std::cell::LazyCell::new(|| pool(Algorithm::HS256, &k.hs));
    let rs_fresh = std::cell::LazyCell::new(|| pool(Algorithm::RS256, &k.rs));
    let es_fresh = std::cell::LazyCell::new(|| pool(Algorithm::ES256, &k.es));
    let sudo_token = token(Algorithm::HS256, &k.hs, 0, "orders:read orders:write sudo");
    eprintln!("HS256 token: {} bytes", hs_same.len());

    let hs = |cache| gatekeeper_with(gatekeeper_jwt(hs_key()), cache);
    let rs = |cache| gatekeeper_with(gatekeeper_jwt(rs_key()), cache);
    let es = |cache| gatekeeper_with(gatekeeper_jwt(es_key()), cache);
    let off = CacheConfig::disabled;
    let on = CacheConfig::new;
    let basic = HeaderValue::from_str(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{BASIC_PASSWORD}"))
    ))
    .unwrap();
    let fixed = Fixed(Principal::new(Identity::new("app-7")));
    type Make<'a> = Box<dyn FnOnce() -> Case + 'a>;
    let all: Vec<(&str, Make<'_>)> = vec![
        (
            "bare",
            Box::new(|| case("bare", routes(), "/orders", one(bearer(&hs_same)))),
        ),
        (
            "tower_http_bearer",
            Box::new(|| {
                case(
                    "tower_http_bearer",
                    routes().layer(tower_http_bearer(&hs_same)),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "opaque_minimal",
            Box::new(|| {
                case(
                    "opaque_minimal",
                    opaque_minimal(routes(), api_keys()),
                    "/orders",
                    one(bearer(API_KEY)),
                )
            }),
        ),
        (
            "gatekeeper_fixed_principal",
            Box::new(|| {
                gk(
                    "gatekeeper_fixed_principal",
                    gatekeeper_with(fixed, off()),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "jwt_authorizer_hs256",
            Box::new(|| {
                case(
                    "jwt_authorizer_hs256",
                    rt.block_on(jwt_authorizer_router(
                        routes(),
                        SECRET,
                        "bench",
                        "bench-api",
                    )),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "jsonwebtoken_hs256",
            Box::new(|| {
                case(
                    "jsonwebtoken_hs256",
                    jsonwebtoken_layer(
                        routes(),
                        Algorithm::HS256,
                        DecodingKey::from_secret(SECRET.as_bytes()),
                        "bench",
                        "bench-api",
                    ),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "handwritten_hs256",
            Box::new(|| {
                case(
                    "handwritten_hs256",
                    handwritten_hs256(routes(), SECRET.as_bytes(), "bench", "bench-api"),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "gatekeeper_hs256_cached",
            Box::new(|| {
                gk(
                    "gatekeeper_hs256_cached",
                    hs(on()),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "handwritten_hs256_fresh",
            Box::new(|| {
                case(
                    "handwritten_hs256_fresh",
                    handwritten_hs256(routes(), SECRET.as_bytes(), "bench", "bench-api"),
                    "/orders",
                    many(&hs_fresh),
                )
            }),
        ),
        (
            "gatekeeper_hs256_fresh",
            Box::new(|| {
                gk(
                    "gatekeeper_hs256_fresh",
                    hs(small_cache()),
                    "/orders",
                    many(&hs_fresh),
                )
            }),
        ),
        (
            "gatekeeper_hs256_uncached",
            Box::new(|| {
                gk(
                    "gatekeeper_hs256_uncached",
                    hs(off()),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "gatekeeper_hs256_scope_grant_cached",
            Box::new(|| {
                gk(
                    "gatekeeper_hs256_scope_grant_cached",
                    scope_and_grant(),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "gatekeeper_full_pipeline_cached",
            Box::new(|| {
                gk(
                    "gatekeeper_full_pipeline_cached",
                    full_pipeline(Mount::Generic),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "gatekeeper_full_pipeline_sudo_tenant_cached",
            Box::new(|| {
                gk(
                    "gatekeeper_full_pipeline_sudo_tenant_cached",
                    full_pipeline(Mount::Generic),
                    "/orders?sudo=uid:1001&tenantId=t-1",
                    one(bearer(&sudo_token)),
                )
            }),
        ),
        (
            "gatekeeper_api_key_cached",
            Box::new(|| {
                gk(
                    "gatekeeper_api_key_cached",
                    api_key_router(true, on()),
                    "/orders",
                    vec![("x-api-key", HeaderValue::from_static(API_KEY))],
                )
            }),
        ),
        (
            "gatekeeper_api_key_uncached",
            Box::new(|| {
                gk(
                    "gatekeeper_api_key_uncached",
                    api_key_router(true, off()),
                    "/orders",
                    vec![("x-api-key", HeaderValue::from_static(API_KEY))],
                )
            }),
        ),
        (
            "gatekeeper_opaque_bearer_cached",
            Box::new(|| {
                gk(
                    "gatekeeper_opaque_bearer_cached",
                    api_key_router(false, on()),
                    "/orders",
                    one(bearer(API_KEY)),
                )
            }),
        ),
        (
            "gatekeeper_opaque_bearer_uncached",
            Box::new(|| {
                gk(
                    "gatekeeper_opaque_bearer_uncached",
                    api_key_router(false, off()),
                    "/orders",
                    one(bearer(API_KEY)),
                )
            }),
        ),
        (
            "gatekeeper_fixed_principal_axum",
            Box::new(|| {
                gk(
                    "gatekeeper_fixed_principal_axum",
                    mounted(
                        GatekeeperLayer::builder(Fixed(Principal::new(Identity::new("app-7"))))
                            .verified_cache(off())
                            .build(),
                        Mount::Axum,
                    ),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "gatekeeper_hs256_cached_axum",
            Box::new(|| {
                gk(
                    "gatekeeper_hs256_cached_axum",
                    mounted(
                        GatekeeperLayer::builder(gatekeeper_jwt(hs_key())).build(),
                        Mount::Axum,
                    ),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "gatekeeper_full_pipeline_cached_axum",
            Box::new(|| {
                gk(
                    "gatekeeper_full_pipeline_cached_axum",
                    full_pipeline(Mount::Axum),
                    "/orders",
                    one(bearer(&hs_same)),
                )
            }),
        ),
        (
            "gatekeeper_opaque_bearer_cached_axum",
            Box::new(|| {
                gk(
                    "gatekeeper_opaque_bearer_cached_axum",
                    api_key_router_mounted(false, on(), Mount::Axum),
                    "/orders",
                    one(bearer(API_KEY)),
                )
            }),
        ),
        (
            "gatekeeper_basic_cached",
            Box::new(|| {
                gk(
                    "gatekeeper_basic_cached",
                    basic_router(),
                    "/orders",
                    one(basic),
                )
            }),
        ),
        (
            "jsonwebtoken_rs256",
            Box::new(|| {
                case(
                    "jsonwebtoken_rs256",
                    jsonwebtoken_layer(
                        routes(),
                        Algorithm::RS256,
                        DecodingKey::from_rsa_pem(RSA_PUBLIC).unwrap(),
                        "bench",
                        "bench-api",
                    ),
                    "/orders",
                    one(bearer(&rs_same)),
                )
            }),
        ),
        (
            "handwritten_rs256",
            Box::new(|| {
                case(
                    "handwritten_rs256",
                    handwritten_asym(
                        routes(),
                        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                        RSA_PUBLIC,
                        "bench",
                        "bench-api",
                    ),
                    "/orders",
                    one(bearer(&rs_same)),
                )
            }),
        ),
        (
            "gatekeeper_rs256_cached",
            Box::new(|| {
                gk(
                    "gatekeeper_rs256_cached",
                    rs(on()),
                    "/orders",
                    one(bearer(&rs_same)),
                )
            }),
        ),
        (
            "gatekeeper_rs256_uncached",
            Box::new(|| {
                gk(
                    "gatekeeper_rs256_uncached",
                    rs(off()),
                    "/orders",
                    one(bearer(&rs_same)),
                )
            }),
        ),
        (
            "handwritten_rs256_fresh",
            Box::new(|| {
                case(
                    "handwritten_rs256_fresh",
                    handwritten_asym(
                        routes(),
                        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                        RSA_PUBLIC,
                        "bench",
                        "bench-api",
                    ),
                    "/orders",
                    many(&rs_fresh),
                )
            }),
        ),
        (
            "gatekeeper_rs256_fresh",
            Box::new(|| {
                gk(
                    "gatekeeper_rs256_fresh",
                    rs(small_cache()),
                    "/orders",
                    many(&rs_fresh),
                )
            }),
        ),
        (
            "jsonwebtoken_es256",
            Box::new(|| {
                case(
                    "jsonwebtoken_es256",
                    jsonwebtoken_layer(
                        routes(),
                        Algorithm::ES256,
                        DecodingKey::from_ec_pem(EC_PUBLIC).unwrap(),
                        "bench",
                        "bench-api",
                    ),
                    "/orders",
                    one(bearer(&es_same)),
                )
            }),
        ),
        (
            "handwritten_es256",
            Box::new(|| {
                case(
                    "handwritten_es256",
                    handwritten_asym(
                        routes(),
                        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                        EC_PUBLIC,
                        "bench",
                        "bench-api",
                    ),
                    "/orders",
                    one(bearer(&es_same)),
                )
            }),
        ),
        (
            "gatekeeper_es256_cached",
            Box::new(|| {
                gk(
                    "gatekeeper_es256_cached",
                    es(on()),
                    "/orders",
                    one(bearer(&es_same)),
                )
            }),
        ),
        (
            "gatekeeper_es256_uncached",
            Box::new(|| {
                gk(
                    "gatekeeper_es256_uncached",
                    es(off()),
                    "/orders",
                    one(bearer(&es_same)),
                )
            }),
        ),
        (
            "handwritten_es256_fresh",
            Box::new(|| {
                case(
                    "handwritten_es256_fresh",
                    handwritten_asym(
                        routes(),
                        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                        EC_PUBLIC,
                        "bench",
                        "bench-api",
                    ),
                    "/orders",
                    many(&es_fresh),
                )
            }),
        ),
        (
            "gatekeeper_es256_fresh",
            Box::new(|| {
                gk(
                    "gatekeeper_es256_fresh",
                    es(small_cache()),
                    "/orders",
                    many(&es_fresh),
                )
            }),
        ),
    ];
    let only = env_list("COMPARE_CASES");
    // A case's whole name selects that case alone (`gatekeeper_fixed_principal` is not also
    // `gatekeeper_fixed_principal_axum`); any other word selects every case containing it.
    let names: Vec<&str> = all.iter().map(|(name, _)| *name).collect();
    let selects = |o: &str, name: &str| name == o || (!names.contains(&o) && name.contains(o));
    all.into_iter()
        .filter(|(name, _)| {
            *name == "bare"
                || only
                    .as_ref()
                    .is_none_or(|only| only.iter().any(|o| selects(o, name)))
        })
        .map(|(_, make)| make())
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn ratios(rt: &Runtime, cases: &[Case]) {
    let rounds: usize = std::env::var("COMPARE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let target = Duration::from_micros(
        std::env::var("COMPARE_BATCH_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000),
    );
    // Warm up and size each case's batch to about `target`.
    let batches: Vec<u64> = cases
        .iter()
        .map(|c| {
            (c.run)(rt, 50);
            let t = (c.run)(rt, 200).as_secs_f64() / 200.0;
            ((target.as_secs_f64() / t) as u64).clamp(10, 200_000)
        })
        .collect();
    let mut per_case: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut ratio: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        let mut times = vec![0f64; cases.len()];
        for j in 0..cases.len() {
            let i = (j + round) % cases.len();
            times[i] = (cases[i].run)(rt, batches[i]).as_secs_f64() * 1e9 / batches[i] as f64;
        }
        for i in 0..cases.len() {
            per_case[i].push(times[i]);
            ratio[i].push(times[i] / times[0]);
        }
    }
    // Allocations per request, in a pass of their own.
    let allocs: Vec<f64> = cases
        .iter()
        .map(|c| {
            let n = 200;
            ALLOCS.store(0, Ordering::SeqCst);
            COUNTING.store(true, Ordering::SeqCst);
            (c.run)(rt, n);
            COUNTING.store(false, Ordering::SeqCst);
            ALLOCS.load(Ordering::SeqCst) as f64 / n as f64
        })
        .collect();
    if std::env::var_os("COMPARE_ALLOC_SIZES").is_some() {
        for c in cases {
            ALLOCS.store(0, Ordering::SeqCst);
            COUNTING.store(true, Ordering::SeqCst);
            (c.run)(rt, 1);
            COUNTING.store(false, Ordering::SeqCst);
            let n = (ALLOCS.load(Ordering::SeqCst) as usize).min(SIZES.len());
            let sizes: Vec<u64> = SIZES[..n]
                .iter()
                .map(|s| s.load(Ordering::SeqCst))
                .collect();
            println!("allocation sizes, {}: {sizes:?}", c.name);
        }
    }
    println!();
    println!(
        "| case | median per request | vs. bare: median of {rounds} rounds | p25–p75 | best vs. best bare | allocations / request |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let fastest = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let best_bare = fastest(&per_case[0]);
    for i in 0..cases.len() {
        let t = median(&mut per_case[i].clone());
        let mut r = ratio[i].clone();
        let m = median(&mut r);
        let (lo, hi) = (r[r.len() / 4], r[r.len() * 3 / 4]);
        let best = fastest(&per_case[i]) / best_bare;
        let shown = if t >= 10_000.0 {
            format!("{:.1} µs", t / 1000.0)
        } else {
            format!("{t:.0} ns")
        };
        println!(
            "| {} | {shown} | {m:.2}× | {lo:.2}–{hi:.2} | {best:.2}× | {:.1} |",
            cases[i].name, allocs[i]
        );
    }
    println!();
    println!("Cache counters after the run (hits / misses):");
    for case in cases {
        if let Some(cache) = &case.cache {
            let s = cache.stats();
            println!("  {}: {} / {}", case.name, s.hits, s.misses);
        }
    }
    println!();
}

/// COMPARE=repeat: each selected case `COMPARE_N` times (default 0), one after the other, and
/// nothing else: for instruction counts under callgrind, where the difference between two runs
/// with different `COMPARE_N` is the cost of the requests alone (the setup cancels out).
fn repeat(rt: &Runtime, cases: &[Case]) {
    let n: u64 = std::env::var("COMPARE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let skip_bare = std::env::var_os("COMPARE_SKIP_BARE").is_some();
    for (i, case) in cases.iter().enumerate() {
        if i == 0 && skip_bare {
            continue;
        }
        // Two warm-up requests (the cache admits on the second sighting) in every run, so they
        // cancel out between runs too.
        (case.run)(rt, 2);
        if n > 0 {
            (case.run)(rt, n);
        }
    }
}

fn token_n(k: &Keys, n: usize) -> String {
    token(Algorithm::HS256, &k.hs, n, SCOPE)
}

fn token_rs(k: &Keys) -> String {
    token(Algorithm::RS256, &k.rs, 0, SCOPE)
}

/// Pieces of the request path alone, for profiling (COMPARE=micro).
fn micro() {
    use tower_gatekeeper::clock::Clock;
    use tower_gatekeeper::extract::{Credential, Source};
    let k = keys();
    let token = token(Algorithm::HS256, &k.hs, 0, SCOPE);
    let only = std::env::var("COMPARE_MICRO").ok();
    let time = |name: &str, n: u32, mut f: Box<dyn FnMut()>| {
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            return;
        }
        for _ in 0..n / 10 {
            f();
        }
        let mut best = f64::INFINITY;
        for _ in 0..7 {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
        }
        println!("{name:40} {best:8.1} ns");
    };
    let req = Request::get("/orders")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    let sources = CredentialSources::new();
    time(
        "extract_head (300-byte bearer)",
        200_000,
        Box::new(move || {
            std::hint::black_box(sources.extract_head(req.headers(), req.uri()).unwrap());
        }),
    );
    let t = token.clone();
    time(
        "is_b64token (300 bytes)",
        200_000,
        Box::new(move || {
            std::hint::black_box(tower_gatekeeper::extract::is_b64token(
                std::hint::black_box(&t),
            ));
        }),
    );
    /// Candidates for the b64token check (RFC 6750 §2.1), to size what it costs the layer.
    fn b64token_table(token: &str) -> bool {
        const T: [bool; 256] = {
            let mut t = [false; 256];
            let mut i = 0;
            while i < 256 {
                let b = i as u8;
                t[i] = b.is_ascii_alphanumeric()
                    || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
                i += 1;
            }
            t
        };
        let bytes = token.as_bytes();
        let pad = bytes.iter().rev().take_while(|&&b| b == b'=').count();
        let body = &bytes[..bytes.len() - pad];
        !body.is_empty() && body.iter().all(|&b| T[b as usize])
    }
    fn b64token_chunks(token: &str) -> bool {
        let bytes = token.as_bytes();
        let pad = bytes.iter().rev().take_while(|&&b| b == b'=').count();
        let body = &bytes[..bytes.len() - pad];
        let ok = |b: u8| {
            let alpha = (b | 0x20).wrapping_sub(b'a') < 26;
            let digit = b.wrapping_sub(b'0') < 10;
            alpha
                | digit
                | (b == b'-')
                | (b == b'.')
                | (b == b'_')
                | (b == b'~')
                | (b == b'+')
                | (b == b'/')
        };
        // No early exit inside a chunk of 32: the compiler can vectorize the classification.
        !body.is_empty()
            && body
                .chunks(32)
                .all(|c| c.iter().fold(true, |all, &b| all & ok(b)))
    }
    let t = token.clone();
    time(
        "b64token candidate: 256-entry table",
        200_000,
        Box::new(move || {
            std::hint::black_box(b64token_table(std::hint::black_box(&t)));
        }),
    );
    let t = token.clone();
    time(
        "b64token candidate: branch-free chunks",
        200_000,
        Box::new(move || {
            std::hint::black_box(b64token_chunks(std::hint::black_box(&t)));
        }),
    );
    time(
        "SystemClock::unix_seconds",
        1_000_000,
        Box::new(|| {
            std::hint::black_box(tower_gatekeeper::clock::SystemClock.unix_seconds());
        }),
    );
    time(
        "SystemTime::now",
        1_000_000,
        Box::new(|| {
            std::hint::black_box(SystemTime::now());
        }),
    );
    let jwt = gatekeeper_jwt(hs_key());
    let t = token.clone();
    let j = jwt.clone();
    time(
        "JwtVerifier::verify_token (HS256)",
        100_000,
        Box::new(move || {
            std::hint::black_box(j.verify_token(&t).unwrap());
        }),
    );
    {
        let pool: Vec<String> = (1..=POOL).map(|n| token_n(&k, n)).collect();
        let credentials: Vec<Credential<'static>> = pool
            .iter()
            .map(|t| Credential::bearer(t.clone(), Source::Header))
            .collect();
        let j = jwt.clone();
        let mut i = 0;
        time(
            "JwtVerifier::verify_token (HS256, fresh tokens)",
            100_000,
            Box::new(move || {
                i = (i + 1) % pool.len();
                std::hint::black_box(j.verify_token(&pool[i]).unwrap());
            }),
        );
        let cached = tower_gatekeeper::verify::CachedVerifier::with_config(
            jwt.clone(),
            CacheConfig::new().entries(64),
        );
        let mut i = 0;
        time(
            "CachedVerifier miss (HS256, fresh tokens)",
            100_000,
            Box::new(move || {
                i = (i + 1) % credentials.len();
                let MaybeReady::Ready(Ok(p)) = cached.verify(&credentials[i]) else {
                    panic!()
                };
                std::hint::black_box(p);
            }),
        );
    }
    let cached = tower_gatekeeper::verify::CachedVerifier::new(jwt);
    let credential = Credential::bearer(token.clone(), Source::Header);
    time(
        "CachedVerifier hit (HS256 token)",
        1_000_000,
        Box::new(move || {
            let MaybeReady::Ready(Ok(p)) = cached.verify(&credential) else {
                panic!()
            };
            std::hint::black_box(p);
        }),
    );
    {
        // Alternatives to the cache's table for the same lookup: 16,384 entries keyed by
        // 300-byte tokens, one principal each (lookup and principal clone only: no clock,
        // revalidation or counters, which the cache's hit above includes).
        let tokens: Vec<String> = (0..16_384)
            .map(|i| format!("{}{i:08}", &token[..292]))
            .collect();
        let principal = Principal::new(Identity::new("app-7"));
        let papaya_map: papaya::HashMap<Box<[u8]>, Principal, foldhash::fast::RandomState> =
            papaya::HashMap::with_hasher(Default::default());
        let mut locked: HashMap<Box<[u8]>, Principal, foldhash::fast::RandomState> =
            HashMap::default();
        for t in &tokens {
            papaya_map
                .pin()
                .insert(t.as_bytes().into(), principal.clone());
            locked.insert(t.as_bytes().into(), principal.clone());
        }
        let locked = std::sync::RwLock::new(locked);
        let probe = tokens[4_321].clone();
        let p = probe.clone();
        time(
            "papaya::HashMap get + clone (300-byte key)",
            1_000_000,
            Box::new(move || {
                std::hint::black_box(papaya_map.pin().get(p.as_bytes()).cloned());
            }),
        );
        time(
            "RwLock<HashMap> get + clone (300-byte key)",
            1_000_000,
            Box::new(move || {
                let map = locked.read().unwrap();
                std::hint::black_box(map.get(probe.as_bytes()).cloned());
            }),
        );
    }
    let swap = arc_swap::ArcSwapOption::from_pointee(5u64);
    time(
        "ArcSwapOption::load",
        1_000_000,
        Box::new(move || {
            std::hint::black_box(swap.load().as_ref().map(|v| **v));
        }),
    );
    let hasher = foldhash::fast::RandomState::default();
    let t = token.clone();
    time(
        "foldhash (300 bytes)",
        1_000_000,
        Box::new(move || {
            use std::hash::BuildHasher;
            std::hint::black_box(hasher.hash_one(std::hint::black_box(t.as_bytes())));
        }),
    );
    let (a, b) = (token.clone(), token.clone());
    time(
        "constant-time compare (300 bytes)",
        1_000_000,
        Box::new(move || {
            std::hint::black_box(
                aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes())
                    .is_ok(),
            );
        }),
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let msg = token.rsplit_once('.').unwrap().0.to_owned();
    time(
        "HMAC-SHA256 (prepared key, message)",
        200_000,
        Box::new(move || {
            std::hint::black_box(aws_lc_rs::hmac::sign(&key, msg.as_bytes()));
        }),
    );
    {
        use sha2::Digest;
        let mut k = [0u8; 64];
        k[..SECRET.len()].copy_from_slice(SECRET.as_bytes());
        let mut inner = sha2::Sha256::new();
        inner.update(k.map(|b| b ^ 0x36));
        let mut outer = sha2::Sha256::new();
        outer.update(k.map(|b| b ^ 0x5c));
        let msg = token.rsplit_once('.').unwrap().0.to_owned();
        time(
            "HMAC-SHA256 (sha2, precomputed pads)",
            200_000,
            Box::new(move || {
                let mut i = inner.clone();
                i.update(msg.as_bytes());
                let d = i.finalize();
                let mut o = outer.clone();
                o.update(d);
                std::hint::black_box(o.finalize());
            }),
        );
    }
    {
        let rs = token_rs(&k);
        let (msg, sig) = rs.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let alg = &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256;
        let spki = aws_lc_rs::signature::ParsedPublicKey::new(alg, pem_body(RSA_PUBLIC)).unwrap();
        let dk = DecodingKey::from_rsa_pem(RSA_PUBLIC).unwrap();
        let pkcs1_bytes = dk.try_get_as_bytes().unwrap().to_vec();
        let pkcs1 = aws_lc_rs::signature::ParsedPublicKey::new(alg, &pkcs1_bytes).unwrap();
        let (m1, s1) = (msg.to_owned(), sig.clone());
        time(
            "RS256 verify, key parsed from SPKI",
            5_000,
            Box::new(move || {
                assert!(spki.verify_sig(m1.as_bytes(), &s1).is_ok());
            }),
        );
        let (m2, s2) = (msg.to_owned(), sig.clone());
        time(
            "RS256 verify, key parsed from PKCS#1",
            5_000,
            Box::new(move || {
                assert!(pkcs1.verify_sig(m2.as_bytes(), &s2).is_ok());
            }),
        );
        let (m3, s3) = (msg.to_owned(), sig.clone());
        let spki_der = pem_body(RSA_PUBLIC);
        time(
            "RS256 verify, key parsed per call",
            5_000,
            Box::new(move || {
                let key = aws_lc_rs::signature::UnparsedPublicKey::new(alg, &spki_der);
                assert!(key.verify(m3.as_bytes(), &s3).is_ok());
            }),
        );
    }
    {
        // The layers alone around a service that answers at once: request in, response out.
        use std::task::{Context, Poll, Waker};
        use tower::Service;
        let inner = tower::service_fn(
            |_req: Request<tower_gatekeeper::extract::RequestBody<Body>>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
            },
        );
        let layer = GatekeeperLayer::builder(Fixed(Principal::new(Identity::new("app-7"))))
            .verified_cache(CacheConfig::disabled())
            .build();
        let mut svc = tower::Layer::layer(&layer, inner);
        let value = bearer(&token);
        time(
            "layer alone: Gatekeeper, fixed principal",
            200_000,
            Box::new(move || {
                let req = Request::get("/orders")
                    .header("authorization", value.clone())
                    .body(Body::empty())
                    .unwrap();
                let fut = svc.call(req);
                let mut fut = std::pin::pin!(fut);
                let mut cx = Context::from_waker(Waker::noop());
                let Poll::Ready(Ok(res)) = fut.as_mut().poll(&mut cx) else {
                    panic!()
                };
                std::hint::black_box(res);
            }),
        );
        let inner = tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
        });
        let mut svc = tower::Layer::layer(&tower_http_bearer(&token), inner);
        let value = bearer(&token);
        time(
            "layer alone: tower-http bearer",
            200_000,
            Box::new(move || {
                let req = Request::get("/orders")
                    .header("authorization", value.clone())
                    .body(Body::empty())
                    .unwrap();
                let fut = svc.call(req);
                let mut fut = std::pin::pin!(fut);
                let mut cx = Context::from_waker(Waker::noop());
                let Poll::Ready(Ok(res)) = fut.as_mut().poll(&mut cx) else {
                    panic!()
                };
                std::hint::black_box(res);
            }),
        );
        let inner = tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
        });
        let mut svc = inner;
        let value = bearer(&token);
        time(
            "layer alone: no layer (request + response)",
            200_000,
            Box::new(move || {
                let req = Request::get("/orders")
                    .header("authorization", value.clone())
                    .body(Body::empty())
                    .unwrap();
                let fut = svc.call(req);
                let mut fut = std::pin::pin!(fut);
                let mut cx = Context::from_waker(Waker::noop());
                let Poll::Ready(Ok(res)) = fut.as_mut().poll(&mut cx) else {
                    panic!()
                };
                std::hint::black_box(res);
            }),
        );
    }
    let payload = token.split('.').nth(1).unwrap().to_owned();
    time(
        "base64url decode (payload)",
        200_000,
        Box::new(move || {
            let mut buf = [0u8; 768];
            std::hint::black_box(URL_SAFE_NO_PAD.decode_slice(&payload, &mut buf).unwrap());
        }),
    );
    let key = API_KEY.to_owned();
    time(
        "SHA-256 (API key, sha2)",
        1_000_000,
        Box::new(move || {
            use sha2::Digest;
            std::hint::black_box(sha2::Sha256::digest(key.as_bytes()));
        }),
    );
    let key = API_KEY.to_owned();
    time(
        "SHA-256 (API key, aws-lc-rs)",
        1_000_000,
        Box::new(move || {
            std::hint::black_box(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                key.as_bytes(),
            ));
        }),
    );
}

fn main() {
    if std::env::var("COMPARE").as_deref() == Ok("micro") {
        return micro();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mode = std::env::var("COMPARE").unwrap_or_else(|_| "both".to_owned());
    let cases = cases(&rt);
    if mode == "repeat" {
        return repeat(&rt, &cases);
    }
    if mode == "ratios" || mode == "both" {
        ratios(&rt, &cases);
    }
    if mode == "criterion" || mode == "both" {
        let mut c = criterion::Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        let mut group = c.benchmark_group("compare");
        for case in &cases {
            group.bench_function(case.name.as_str(), |b| {
                b.iter_custom(|iters| (case.run)(&rt, iters))
            });
        }
        group.finish();
        c.final_summary();
    }
}
