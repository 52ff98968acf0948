//! Introspection amplification: made-up tokens must not turn into an unbounded number of calls
//! to the authorization server, nor hold requests forever, nor push real tokens out of the
//! cache. A fake `HttpClient` counts calls, tracks how many are in flight and can stall.
//!
//! Time is Tokio's paused clock: timeouts fire when everything else is waiting, with no real
//! sleeping and no timed assertion.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;
use tower_gatekeeper::extract::{Credential, Source};
use tower_gatekeeper::verify::{
    ClientAuth, FetchError, HttpClient, HttpResponse, IntrospectionVerifier, JwksVerifier,
    Verifier, VerifyError,
};
use tower_gatekeeper::{BoxFuture, GatekeeperLayer, Principal};

/// How the fake server behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Answers after `delay`: active for tokens in `active`, inactive otherwise.
    Answer,
    /// Never answers.
    Stall,
}

#[derive(Clone)]
struct FakeServer {
    behaviour: Arc<Mutex<Behaviour>>,
    delay: Duration,
    active: Arc<Mutex<HashSet<String>>>,
    calls: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl FakeServer {
    fn new(behaviour: Behaviour, delay: Duration) -> Self {
        Self {
            behaviour: Arc::new(Mutex::new(behaviour)),
            delay,
            active: Arc::default(),
            calls: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
    fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
    fn activate(&self, token: &str) {
        self.active.lock().unwrap().insert(token.to_owned());
    }
}

/// Decrements the in-flight count when a call ends or is dropped (timed out).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FakeServer {
    fn answer(&self, token: Option<String>) -> BoxFuture<Result<HttpResponse, FetchError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let guard = InFlight(self.in_flight.clone());
        let behaviour = *self.behaviour.lock().unwrap();
        let active = token.is_some_and(|t| self.active.lock().unwrap().contains(&t));
        let delay = self.delay;
        Box::pin(async move {
            let _guard = guard;
            if behaviour == Behaviour::Stall {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(delay).await;
            let body = if active {
                json!({"active": true, "sub": "real-user", "client_id": "real-app", "scope": "read"})
            } else {
                json!({"active": false})
            };
            Ok(HttpResponse {
                status: 200,
                body: Bytes::from(body.to_string()),
            })
        })
    }
}

impl HttpClient for FakeServer {
    fn get(&self, _url: &str) -> BoxFuture<Result<HttpResponse, FetchError>> {
        self.answer(None)
    }
    fn post_form(
        &self,
        _url: &str,
        form: &[(&str, &str)],
        _auth: Option<&ClientAuth>,
    ) -> BoxFuture<Result<HttpResponse, FetchError>> {
        let token = form
            .iter()
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| (*v).to_owned());
        self.answer(token)
    }
}

fn verifier(server: &FakeServer, bound: usize) -> IntrospectionVerifier {
    IntrospectionVerifier::builder(
        "http://as.invalid/introspect",
        "rs",
        "rs-secret",
        server.clone(),
    )
    .max_concurrent_calls(bound)
    .queue_timeout(Duration::from_millis(100))
    .call_timeout(Duration::from_secs(2))
    .build()
}

async fn verify(v: &IntrospectionVerifier, token: &str) -> Result<Principal, VerifyError> {
    v.verify(&Credential::bearer(token.to_owned(), Source::Header))
        .await
}

fn app(v: IntrospectionVerifier) -> Router {
    Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(GatekeeperLayer::builder(v).build())
}

async fn status(app: &Router, token: &str) -> StatusCode {
    let req = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap().status()
}

fn junk(i: usize) -> String {
    format!("junk-token-{i:06}")
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_distinct_junk_tokens_never_exceeds_the_concurrency_bound() {
    // The server answers every call after 10 ms; the queue timeout is long enough for all.
    let server = FakeServer::new(Behaviour::Answer, Duration::from_millis(10));
    let v = IntrospectionVerifier::builder("http://as.invalid/i", "rs", "s", server.clone())
        .max_concurrent_calls(4)
        .queue_timeout(Duration::from_secs(10))
        .build();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let v = v.clone();
            tokio::spawn(async move { verify(&v, &junk(i)).await })
        })
        .collect();
    for t in tasks {
        let answer = t.await.unwrap();
        assert!(
            matches!(answer, Err(VerifyError::Invalid(_))),
            "junk is refused: {answer:?}"
        );
    }
    assert_eq!(server.calls(), 200, "each distinct token was asked once");
    assert!(
        server.max_in_flight() <= 4,
        "{} calls in flight at once, bound 4",
        server.max_in_flight()
    );
    assert!(server.max_in_flight() >= 1);
}

#[tokio::test(start_paused = true)]
async fn over_the_bound_is_503_without_a_call() {
    // The server stalls: the first `bound` calls hold every slot.
    let server = FakeServer::new(Behaviour::Stall, Duration::ZERO);
    let v = verifier(&server, 3);
    let app = app(v.clone());
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move { status(&app, &junk(i)).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(
        server.calls(),
        3,
        "only the requests that got a slot made a call; the other 37 got 503 without one"
    );
    assert_eq!(server.max_in_flight(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_server_gives_503_after_the_deadline_and_is_not_cached() {
    let server = FakeServer::new(Behaviour::Stall, Duration::ZERO);
    server.activate("good-token");
    let v = verifier(&server, 4);
    let started = tokio::time::Instant::now();
    let answer = verify(&v, "good-token").await;
    assert!(
        matches!(answer, Err(VerifyError::Unavailable(_))),
        "{answer:?}"
    );
    // Paused time moves only through timers: the call deadline (2 s) is what ended the wait.
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        server.in_flight.load(Ordering::SeqCst),
        0,
        "the call was dropped"
    );

    // The failure was not cached: once the server answers, the token works.
    server.set(Behaviour::Answer);
    let principal = verify(&v, "good-token").await.expect("active");
    assert_eq!(principal.subject(), "real-user");
    assert_eq!(server.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn positive_entries_survive_a_junk_flood() {
    let server = FakeServer::new(Behaviour::Answer, Duration::from_millis(1));
    let v = IntrospectionVerifier::builder("http://as.invalid/i", "rs", "s", server.clone())
        .capacity(50)
        .negative_capacity(20)
        .max_concurrent_calls(8)
        .queue_timeout(Duration::from_secs(10))
        .build();
    let good: Vec<String> = (0..10).map(|i| format!("good-token-{i}")).collect();
    for token in &good {
        server.activate(token);
        assert!(verify(&v, token).await.is_ok());
    }
    let after_good = server.calls();
    assert_eq!(after_good, 10);

    for i in 0..2_000 {
        assert!(matches!(
            verify(&v, &junk(i)).await,
            Err(VerifyError::Invalid(_))
        ));
    }
    let (active, inactive) = v.settled_cache_sizes().await;
    assert!(inactive <= 20, "{inactive} inactive answers kept, bound 20");
    assert_eq!(active, 10, "junk never enters the active cache");

    // Every real token is still answered from the cache: no new call.
    let before = server.calls();
    for token in &good {
        assert_eq!(verify(&v, token).await.unwrap().subject(), "real-user");
    }
    assert_eq!(
        server.calls(),
        before,
        "the flood evicted a real token's answer"
    );
}

#[tokio::test(start_paused = true)]
async fn inactive_answers_are_cached_but_briefly() {
    let server = FakeServer::new(Behaviour::Answer, Duration::ZERO);
    let clock = tower_gatekeeper::clock::ManualClock::at_unix(1_000_000);
    let v = IntrospectionVerifier::builder("http://as.invalid/i", "rs", "s", server.clone())
        .negative_ttl(Duration::from_secs(30))
        .clock(clock.clone())
        .build();
    assert!(verify(&v, "unknown-token").await.is_err());
    assert!(verify(&v, "unknown-token").await.is_err());
    assert_eq!(
        server.calls(),
        1,
        "the second answer came from the negative cache"
    );
    // Activated meanwhile at the server: within the negative TTL it is still refused...
    server.activate("unknown-token");
    assert!(verify(&v, "unknown-token").await.is_err());
    assert_eq!(server.calls(), 1);
    // ...and after it, asked again.
    clock.advance(Duration::from_secs(31));
    assert!(verify(&v, "unknown-token").await.is_ok());
    assert_eq!(server.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn tokens_that_cannot_be_valid_cost_no_call() {
    let server = FakeServer::new(Behaviour::Answer, Duration::ZERO);
    let v = IntrospectionVerifier::builder("http://as.invalid/i", "rs", "s", server.clone())
        .max_token_len(64)
        .build();
    let long = "a".repeat(65);
    for token in [
        long.as_str(),
        "has space",
        "per%cent",
        "quote\"d",
        "=leading-padding",
        "a=b",
        "",
        "tab\there",
        "ünïcode",
    ] {
        let answer = verify(&v, token).await;
        assert!(
            matches!(answer, Err(VerifyError::Invalid(_))),
            "{token:?}: {answer:?}"
        );
    }
    assert_eq!(server.calls(), 0);
    // The limit is inclusive, and a b64token with padding is asked about.
    assert!(verify(&v, &"a".repeat(64)).await.is_err());
    assert!(verify(&v, "abc+/-._~==").await.is_err());
    assert_eq!(server.calls(), 2);

    // Through the layer: a token from the query that is not a b64token gets 401 with a
    // challenge, and no call.
    let app = Router::new().route("/me", get(|| async { "in" })).layer(
        GatekeeperLayer::builder(v)
            .sources(tower_gatekeeper::extract::CredentialSources::new().query("access_token"))
            .build(),
    );
    let req = Request::get("/me?access_token=a%2Cb")
        .body(Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    assert_eq!(server.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_for_one_token_share_one_slot() {
    let server = FakeServer::new(Behaviour::Answer, Duration::from_millis(50));
    server.activate("shared-token");
    let v = verifier(&server, 1);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let v = v.clone();
            tokio::spawn(async move {
                verify(&v, "shared-token")
                    .await
                    .map(|p| p.subject().to_owned())
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "real-user");
    }
    assert_eq!(server.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_jwks_server_gives_503_after_the_fetch_deadline() {
    let server = FakeServer::new(Behaviour::Stall, Duration::ZERO);
    let v = JwksVerifier::builder("http://as.invalid/jwks", server.clone())
        .fetch_timeout(Duration::from_secs(2))
        .build();
    // A syntactically valid JWT (header {"alg":"RS256","kid":"k"}); the keys are never fetched.
    let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJ4In0.c2ln";
    let started = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let v = v.clone();
            tokio::spawn(async move { v.verify(&Credential::bearer(token, Source::Header)).await })
        })
        .collect();
    for t in tasks {
        let answer = t.await.unwrap();
        assert!(
            matches!(answer, Err(VerifyError::Unavailable(_))),
            "{answer:?}"
        );
    }
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waiters are bounded by the fetch deadline, not queued behind each other"
    );
    assert_eq!(server.calls(), 1, "one fetch at a time");
}
