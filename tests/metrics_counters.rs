//! The `metrics` feature's counters and histogram, read back through metrics-util's debugging
//! recorder: each moves when it should (allowed, refused by reason, anonymous, cache hit and
//! miss, verification latency, tokens issued and revoked, store failures), and not otherwise.

use std::cell::RefCell;
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use jsonwebtoken::{EncodingKey, Header, encode};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use tower::ServiceExt;
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::issuer::{SigningKey, TokenFormat, TokenIssuer};
use tower_gatekeeper::metrics as names;
use tower_gatekeeper::verify::{CacheConfig, JwtVerifier};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Everything recorded so far. The debugging recorder's snapshots hold what changed since the
/// last one (counters are reset, histograms drained), so this keeps the running totals.
struct Recorded {
    snapshotter: Snapshotter,
    totals: RefCell<Vec<(CompositeKey, u64)>>,
}

/// Runs `test` on this thread with a recorder of its own (tests run in parallel).
fn with_recorder<F: Future<Output = ()>>(test: impl FnOnce(Recorded) -> F) {
    let recorder = DebuggingRecorder::new();
    let recorded = Recorded {
        snapshotter: recorder.snapshotter(),
        totals: RefCell::new(Vec::new()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || runtime.block_on(test(recorded)));
}

impl Recorded {
    fn update(&self) {
        let mut totals = self.totals.borrow_mut();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let n = match value {
                DebugValue::Counter(n) => n,
                DebugValue::Histogram(values) => {
                    assert!(
                        values
                            .iter()
                            .all(|v| v.into_inner() >= 0.0 && v.into_inner() < 60.0)
                    );
                    values.len() as u64
                }
                DebugValue::Gauge(_) => continue,
            };
            match totals.iter_mut().find(|(k, _)| *k == key) {
                Some((_, total)) => *total += n,
                None => totals.push((key, n)),
            }
        }
    }

    fn total(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.update();
        self.totals
            .borrow()
            .iter()
            .find(|(key, _)| key_matches(key, kind, name, labels))
            .map_or(0, |(_, n)| *n)
    }
}

/// The counter `name` with exactly these labels (0 when never incremented).
fn counter(s: &Recorded, name: &str, labels: &[(&str, &str)]) -> u64 {
    s.total(MetricKind::Counter, name, labels)
}

/// How many values the histogram `name` has received.
fn histogram_len(s: &Recorded, name: &str) -> u64 {
    s.total(MetricKind::Histogram, name, &[])
}

fn key_matches(key: &CompositeKey, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> bool {
    let mut have: Vec<(String, String)> = key
        .key()
        .labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect();
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    have.sort();
    want.sort();
    key.kind() == kind && key.key().name() == name && have == want
}

fn token(sub: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"sub": sub, "exp": exp});
    encode(&Header::default(), &claims, &EncodingKey::from_secret(KEY)).unwrap()
}

async fn send(app: &Router, authorization: Option<&str>) -> StatusCode {
    let mut request = Request::get("/");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let request = request.body(Body::empty()).unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

fn app(optional: bool) -> Router {
    Router::new().route("/", get(|| async { "ok" })).layer(
        GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap())
            .verified_cache(CacheConfig::new().admit_first_seen(true))
            .optional(optional)
            .build(),
    )
}

const INVALID: &[(&str, &str)] = &[("reason", "invalid_token")];
const MISSING: &[(&str, &str)] = &[("reason", "missing_credential")];

#[test]
fn the_documented_names() {
    assert_eq!(names::REQUESTS_ALLOWED, "gatekeeper_requests_allowed_total");
    assert_eq!(names::REQUESTS_REFUSED, "gatekeeper_requests_refused_total");
    assert_eq!(
        names::VERIFICATION_SECONDS,
        "gatekeeper_verification_duration_seconds"
    );
    assert_eq!(names::REASONS.len(), 8);
}

#[test]
fn allowed_refused_and_cache_counters_move_only_when_they_should() {
    with_recorder(|s| async move {
        let app = app(false);
        let good = format!("Bearer {}", token("alice"));

        assert_eq!(send(&app, Some(&good)).await, StatusCode::OK);
        assert_eq!(counter(&s, names::REQUESTS_ALLOWED, &[]), 1);
        assert_eq!(counter(&s, names::REQUESTS_REFUSED, INVALID), 0);
        assert_eq!(counter(&s, names::CACHE_MISSES, &[]), 1);
        assert_eq!(counter(&s, names::CACHE_HITS, &[]), 0);
        assert_eq!(histogram_len(&s, names::VERIFICATION_SECONDS), 1);

        // The same token: a hit, no new miss.
        assert_eq!(send(&app, Some(&good)).await, StatusCode::OK);
        assert_eq!(counter(&s, names::REQUESTS_ALLOWED, &[]), 2);
        assert_eq!(counter(&s, names::CACHE_HITS, &[]), 1);
        assert_eq!(counter(&s, names::CACHE_MISSES, &[]), 1);
        assert_eq!(histogram_len(&s, names::VERIFICATION_SECONDS), 2);

        // A bad token: refused as invalid_token, allowed unchanged.
        assert_eq!(
            send(&app, Some("Bearer not.a.token")).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(counter(&s, names::REQUESTS_REFUSED, INVALID), 1);
        assert_eq!(counter(&s, names::REQUESTS_REFUSED, MISSING), 0);
        assert_eq!(counter(&s, names::REQUESTS_ALLOWED, &[]), 2);
        assert_eq!(histogram_len(&s, names::VERIFICATION_SECONDS), 3);

        // No credential: refused as missing, and nothing was verified.
        assert_eq!(send(&app, None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(counter(&s, names::REQUESTS_REFUSED, MISSING), 1);
        assert_eq!(counter(&s, names::REQUESTS_REFUSED, INVALID), 1);
        assert_eq!(histogram_len(&s, names::VERIFICATION_SECONDS), 3);
        assert_eq!(counter(&s, names::REQUESTS_ANONYMOUS, &[]), 0);

        // Two credentials at once: invalid_request.
        let request = Request::get("/?access_token=x")
            .header("authorization", good.as_str())
            .body(Body::empty())
            .unwrap();
        let app2 = Router::new().route("/", get(|| async { "ok" })).layer(
            GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap())
                .sources(tower_gatekeeper::extract::CredentialSources::new().query("access_token"))
                .build(),
        );
        let status = app2.oneshot(request).await.unwrap().status();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let malformed = &[("reason", "invalid_request")];
        assert_eq!(counter(&s, names::REQUESTS_REFUSED, malformed), 1);
        assert_eq!(counter(&s, names::REQUESTS_ALLOWED, &[]), 2);
    });
}

#[test]
fn anonymous_passes_are_not_counted_as_allowed() {
    with_recorder(|s| async move {
        let app = app(true);
        assert_eq!(send(&app, None).await, StatusCode::OK);
        assert_eq!(counter(&s, names::REQUESTS_ANONYMOUS, &[]), 1);
        assert_eq!(counter(&s, names::REQUESTS_ALLOWED, &[]), 0);
        assert_eq!(counter(&s, names::REQUESTS_REFUSED, MISSING), 0);
        assert_eq!(counter(&s, names::CACHE_MISSES, &[]), 0);
        // Optional mode still refuses a bad credential.
        assert_eq!(
            send(&app, Some("Bearer bad")).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(counter(&s, names::REQUESTS_REFUSED, INVALID), 1);
        assert_eq!(counter(&s, names::REQUESTS_ANONYMOUS, &[]), 1);
    });
}

#[test]
fn no_cache_no_cache_counters() {
    with_recorder(|s| async move {
        let app = Router::new().route("/", get(|| async { "ok" })).layer(
            GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap())
                .verified_cache(CacheConfig::disabled())
                .build(),
        );
        let good = format!("Bearer {}", token("bob"));
        assert_eq!(send(&app, Some(&good)).await, StatusCode::OK);
        assert_eq!(send(&app, Some(&good)).await, StatusCode::OK);
        assert_eq!(counter(&s, names::REQUESTS_ALLOWED, &[]), 2);
        assert_eq!(counter(&s, names::CACHE_HITS, &[]), 0);
        assert_eq!(counter(&s, names::CACHE_MISSES, &[]), 0);
        assert_eq!(histogram_len(&s, names::VERIFICATION_SECONDS), 2);
    });
}

#[test]
fn tokens_issued_and_revoked() {
    with_recorder(|s| async move {
        let jwt = TokenIssuer::builder(SigningKey::hs256(KEY).unwrap()).build();
        let opaque = TokenIssuer::builder(SigningKey::hs256(KEY).unwrap())
            .token_format(TokenFormat::Opaque)
            .build();
        let jwts = &[("format", "jwt")];
        let opaques = &[("format", "opaque")];

        let issued = jwt.issue("app-1", &[]).await.unwrap();
        assert_eq!(counter(&s, names::TOKENS_ISSUED, jwts), 1);
        assert_eq!(counter(&s, names::TOKENS_ISSUED, opaques), 0);
        assert_eq!(counter(&s, names::TOKENS_REVOKED, &[]), 0);

        assert!(jwt.revoke(&issued.access_token, None).await.unwrap());
        assert_eq!(counter(&s, names::TOKENS_REVOKED, &[]), 1);
        // Already revoked: not live, not counted again.
        assert!(!jwt.revoke(&issued.access_token, None).await.unwrap());
        // A token that is not one of ours: not counted.
        assert!(!jwt.revoke("not-a-token", None).await.unwrap());
        assert_eq!(counter(&s, names::TOKENS_REVOKED, &[]), 1);

        let issued = opaque.issue("app-1", &[]).await.unwrap();
        assert_eq!(counter(&s, names::TOKENS_ISSUED, opaques), 1);
        assert_eq!(counter(&s, names::TOKENS_ISSUED, jwts), 1);
        assert!(opaque.revoke(&issued.access_token, None).await.unwrap());
        assert_eq!(counter(&s, names::TOKENS_REVOKED, &[]), 2);
        // Nothing failed.
        for kind in ["unavailable", "format", "conflict"] {
            assert_eq!(counter(&s, names::BACKEND_ERRORS, &[("kind", kind)]), 0);
        }
    });
}

/// A store that cannot be reached counts one backend error per failure.
#[cfg(feature = "redis")]
#[test]
fn an_unreachable_store_counts_backend_errors() {
    use std::time::Duration;
    use tower_gatekeeper::store::{RedisOptions, RedisStore};
    with_recorder(|s| async move {
        let unavailable = &[("kind", "unavailable")];
        assert_eq!(counter(&s, names::BACKEND_ERRORS, unavailable), 0);
        // Nothing listens on port 1.
        let options = RedisOptions::new().command_timeout(Duration::from_millis(500));
        let result = RedisStore::connect("redis://127.0.0.1:1/", options).await;
        assert!(result.is_err());
        assert!(counter(&s, names::BACKEND_ERRORS, unavailable) >= 1);
        assert_eq!(counter(&s, names::BACKEND_ERRORS, &[("kind", "format")]), 0);
    });
}
