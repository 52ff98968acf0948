//! The layer's decision span and refusal events, seen by a capturing `tracing` layer: the
//! fields of an allowed and of a refused decision, the nesting under tower-http's `TraceLayer`
//! `request` span, the refusal level a user chooses, and no secret in any field or message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::request::Parts;
use http::{Request, StatusCode};
use jsonwebtoken::{EncodingKey, Header, encode};
use std::sync::atomic::Ordering;
use tower::ServiceExt;
use tower_gatekeeper::extract::Credential;
use tower_gatekeeper::layer::{Authorize, DECISION_SPAN, DECISION_TARGET};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{
    CacheConfig, JwtVerifier, ReusableVerification, Reuse, Revalidation, Verification, Verified,
    Verifier, VerifyError,
};
use tower_gatekeeper::{AuthError, GatekeeperLayer, MaybeReady, Principal};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

// ---------------------------------------------------------------------------------------------
// A capturing layer: every span (name, target, parent, fields) and every event.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct SpanRecord {
    name: &'static str,
    target: String,
    level: Option<Level>,
    parent: Option<&'static str>,
    fields: HashMap<String, String>,
}

#[derive(Debug, Clone)]
struct EventRecord {
    target: String,
    level: Level,
    span: Option<&'static str>,
    fields: HashMap<String, String>,
}

#[derive(Default, Clone)]
struct Captured {
    spans: Arc<Mutex<Vec<SpanRecord>>>,
    events: Arc<Mutex<Vec<EventRecord>>>,
}

/// Which `spans` entry a live span is.
struct Index(usize);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Captured {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut record = SpanRecord {
            name: attrs.metadata().name(),
            target: attrs.metadata().target().to_owned(),
            level: Some(*attrs.metadata().level()),
            ..SpanRecord::default()
        };
        attrs.record(&mut Fields(&mut record.fields));
        let span = ctx.span(id).expect("a new span is registered");
        record.parent = span.parent().map(|p| p.name());
        let mut spans = self.spans.lock().unwrap();
        spans.push(record);
        span.extensions_mut().insert(Index(spans.len() - 1));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("a recorded span is registered");
        let Some(Index(i)) = span.extensions().get::<Index>().map(|i| Index(i.0)) else {
            return;
        };
        values.record(&mut Fields(&mut self.spans.lock().unwrap()[i].fields));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(EventRecord {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            span: ctx.event_span(event).map(|s| s.name()),
            fields,
        });
    }
}

impl Captured {
    fn decisions(&self) -> Vec<SpanRecord> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.name == DECISION_SPAN)
            .cloned()
            .collect()
    }

    fn refusals(&self) -> Vec<EventRecord> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.target == DECISION_TARGET)
            .cloned()
            .collect()
    }

    /// Every field value and message recorded, of spans and events alike.
    fn everything(&self) -> String {
        let mut all = String::new();
        for s in self.spans.lock().unwrap().iter() {
            for (k, v) in &s.fields {
                all.push_str(&format!("{} {k}={v}\n", s.name));
            }
        }
        for e in self.events.lock().unwrap().iter() {
            for (k, v) in &e.fields {
                all.push_str(&format!("{} {k}={v}\n", e.target));
            }
        }
        all
    }
}

// ---------------------------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------------------------

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(claims: serde_json::Value) -> String {
    encode(&Header::default(), &claims, &EncodingKey::from_secret(KEY)).unwrap()
}

/// A token for `alice`, acting for `ops` (RFC 8693 `act`), in tenant `t-1`.
fn alice() -> String {
    token(serde_json::json!({
        "sub": "alice", "exp": now() + 3600, "tenant": "t-1", "act": {"sub": "ops"},
        "jti": "SECRET-MARKER-jti",
    }))
}

/// Names the API `orders`, and refuses `/forbidden`; waits first when `waits` (the layer's
/// asynchronous path).
struct Orders {
    waits: bool,
}

impl Authorize for Orders {
    fn authorize(
        &self,
        principal: Principal,
        parts: &mut Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        let decided = if parts.uri.path() == "/forbidden" {
            Err(AuthError::forbidden("no grant for this API"))
        } else {
            Ok(principal.with_api(Arc::from("orders")))
        };
        if self.waits {
            MaybeReady::pending(async move {
                tokio::task::yield_now().await;
                decided
            })
        } else {
            MaybeReady::Ready(decided)
        }
    }
}

fn layer(waits: bool) -> GatekeeperLayer {
    GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap())
        .verified_cache(CacheConfig::new().admit_first_seen(true))
        .authorize(Orders { waits })
        .refusal_log_level(Level::WARN)
        .build()
}

fn app(waits: bool) -> Router {
    Router::new()
        .route("/orders", get(|| async { "ok" }))
        .route("/forbidden", get(|| async { "never" }))
        .layer(layer(waits))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

async fn send(app: &Router, path: &str, authorization: Option<&str>) -> StatusCode {
    let mut request = Request::get(path);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    let guard = tracing::subscriber::set_default(subscriber);
    (captured, guard)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

async fn allowed_decision_has_its_fields(waits: bool) {
    let (captured, _guard) = capture();
    let app = app(waits);
    let token = alice();
    assert_eq!(
        send(&app, "/orders", Some(&format!("Bearer {token}"))).await,
        StatusCode::OK
    );

    let decisions = captured.decisions();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    let d = &decisions[0];
    assert_eq!(d.target, DECISION_TARGET);
    assert_eq!(d.level, Some(Level::DEBUG), "the default span level");
    let f = &d.fields;
    assert_eq!(f["outcome"], "allowed", "{f:?}");
    assert_eq!(f["scheme"], "bearer");
    assert_eq!(f["source"], "header");
    assert_eq!(f["subject"], "alice");
    assert_eq!(f["actor"], "ops");
    assert_eq!(f["tenant"], "t-1");
    assert_eq!(f["api"], "orders");
    assert_eq!(f["cache"], "miss", "first sight of the token");
    assert!(
        !f.contains_key("reason"),
        "an allowed decision has no reason: {f:?}"
    );
    // Nested under tower-http's request span.
    assert_eq!(d.parent, Some("request"), "{d:?}");
    // No refusal event for an allowed request.
    assert!(captured.refusals().is_empty(), "{:?}", captured.refusals());

    // The same token again: the cache answers, and the span says so.
    assert_eq!(
        send(&app, "/orders", Some(&format!("Bearer {token}"))).await,
        StatusCode::OK
    );
    let decisions = captured.decisions();
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[1].fields["cache"], "hit", "{:?}", decisions[1]);

    let everything = captured.everything();
    assert!(
        !everything.contains(&token),
        "the token was recorded:\n{everything}"
    );
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        !everything.contains(signature),
        "the signature was recorded"
    );
    assert!(
        !everything.contains("SECRET-MARKER"),
        "a claim was recorded"
    );
}

#[tokio::test]
async fn allowed_decision_fields_sync_path() {
    allowed_decision_has_its_fields(false).await;
}

#[tokio::test]
async fn allowed_decision_fields_async_path() {
    allowed_decision_has_its_fields(true).await;
}

async fn refused_decisions_have_a_reason(waits: bool) {
    let (captured, _guard) = capture();
    let app = app(waits);

    // A forged token: its text is the secret a log must not hold.
    let forged = token(serde_json::json!({"sub": "mallory", "exp": now() + 3600}))
        .replace('A', "B")
        + "SECRETSIG";
    let authorization = format!("Bearer {forged}");
    assert_eq!(
        send(&app, "/orders", Some(&authorization)).await,
        StatusCode::UNAUTHORIZED
    );
    // No credential at all.
    assert_eq!(send(&app, "/orders", None).await, StatusCode::UNAUTHORIZED);
    // A valid token the stage refuses: the subject is known.
    let token = alice();
    assert_eq!(
        send(&app, "/forbidden", Some(&format!("Bearer {token}"))).await,
        StatusCode::FORBIDDEN
    );

    let decisions = captured.decisions();
    assert_eq!(decisions.len(), 3, "{decisions:?}");
    let [bad, missing, forbidden] = [&decisions[0], &decisions[1], &decisions[2]];
    assert_eq!(bad.fields["outcome"], "refused");
    assert_eq!(bad.fields["reason"], "invalid_token");
    assert_eq!(bad.fields["scheme"], "bearer");
    assert_eq!(bad.fields["source"], "header");
    assert!(!bad.fields.contains_key("subject"), "{bad:?}");
    assert_eq!(missing.fields["outcome"], "refused");
    assert_eq!(missing.fields["reason"], "missing_credential");
    assert!(!missing.fields.contains_key("scheme"), "{missing:?}");
    assert_eq!(forbidden.fields["outcome"], "refused");
    assert_eq!(forbidden.fields["reason"], "forbidden");
    assert_eq!(forbidden.fields["subject"], "alice");
    assert!(decisions.iter().all(|d| d.parent == Some("request")));

    // One refusal event each, at the level chosen, inside the decision span.
    let refusals = captured.refusals();
    assert_eq!(refusals.len(), 3, "{refusals:?}");
    assert!(
        refusals.iter().all(|e| e.level == Level::WARN),
        "{refusals:?}"
    );
    assert!(refusals.iter().all(|e| e.span == Some(DECISION_SPAN)));
    assert_eq!(refusals[0].fields["reason"], "invalid_token");
    assert_eq!(refusals[0].fields["status"], "401");
    assert_eq!(refusals[0].fields["message"], "request refused");
    assert_eq!(refusals[2].fields["description"], "no grant for this API");

    let everything = captured.everything();
    for secret in [
        forged.as_str(),
        "SECRETSIG",
        authorization.as_str(),
        token.as_str(),
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} was recorded:\n{everything}"
        );
    }
}

#[tokio::test]
async fn refused_decision_fields_sync_path() {
    refused_decisions_have_a_reason(false).await;
}

#[tokio::test]
async fn refused_decision_fields_async_path() {
    refused_decisions_have_a_reason(true).await;
}

#[tokio::test]
async fn a_subscriber_that_wants_only_info_gets_no_span_and_no_debug_refusal() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(
        captured
            .clone()
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
    );
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap()).build());
    assert_eq!(send(&app, "/", None).await, StatusCode::UNAUTHORIZED);
    assert!(
        captured.decisions().is_empty(),
        "the span is DEBUG by default"
    );
    assert!(
        captured.refusals().is_empty(),
        "refusals are DEBUG by default"
    );

    // Raised: the span and the refusal are seen at INFO.
    let app = Router::new().route("/", get(|| async { "ok" })).layer(
        GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap())
            .decision_span_level(Level::INFO)
            .refusal_log_level(Level::INFO)
            .build(),
    );
    assert_eq!(send(&app, "/", None).await, StatusCode::UNAUTHORIZED);
    let decisions = captured.decisions();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].level, Some(Level::INFO));
    assert_eq!(decisions[0].parent, None, "no TraceLayer here: a root span");
    let refusals = captured.refusals();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].level, Level::INFO);
}

#[tokio::test]
async fn an_anonymous_pass_is_recorded_as_such() {
    let (captured, _guard) = capture();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(
            GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap())
                .optional(true)
                .build(),
        )
        .layer(tower_http::trace::TraceLayer::new_for_http());
    assert_eq!(send(&app, "/", None).await, StatusCode::OK);
    let decisions = captured.decisions();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].fields["outcome"], "anonymous");
    assert!(!decisions[0].fields.contains_key("subject"));
    assert!(captured.refusals().is_empty());
}

#[tokio::test]
async fn the_handler_runs_outside_the_decision_span() {
    let (captured, _guard) = capture();
    let app = Router::new()
        .route(
            "/orders",
            get(|| async {
                tracing::info!(target: "handler", "in the handler");
                "ok"
            }),
        )
        .layer(layer(false))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    assert_eq!(
        send(&app, "/orders", Some(&format!("Bearer {}", alice()))).await,
        StatusCode::OK
    );
    let events = captured.events.lock().unwrap().clone();
    let handler: Vec<_> = events.iter().filter(|e| e.target == "handler").collect();
    assert_eq!(handler.len(), 1);
    assert_eq!(handler[0].span, Some("request"), "{handler:?}");
}

/// Answers the credential `good` and lets the answer be kept; once revoked, refuses it on
/// revalidation (as the issuer does for a revoked token).
struct Revocable(Arc<std::sync::atomic::AtomicBool>);

impl Verifier for Revocable {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        self.verify_reusable(credential)
            .map(|result| result.map(|verified| verified.principal))
    }

    fn verify_reusable(&self, credential: &Credential<'_>) -> ReusableVerification {
        MaybeReady::Ready(match credential.token() {
            Some("good") if !self.0.load(Ordering::SeqCst) => Ok(Verified::reusable(
                Principal::new(Identity::new("svc")),
                Reuse::unlimited(),
            )),
            _ => Err(VerifyError::invalid("unknown or revoked")),
        })
    }

    fn revalidate(&self, _: &Credential<'_>, _: &Principal, _: u64) -> Revalidation {
        if self.0.load(Ordering::SeqCst) {
            Revalidation::Invalid(VerifyError::invalid("revoked"))
        } else {
            Revalidation::Valid
        }
    }
}

#[tokio::test]
async fn a_kept_answer_refused_on_revalidation_is_recorded_as_refused() {
    let (captured, _guard) = capture();
    let revoked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = Router::new()
        .route("/orders", get(|| async { "ok" }))
        .layer(
            GatekeeperLayer::builder(Revocable(revoked.clone()))
                .verified_cache(CacheConfig::new().admit_first_seen(true))
                .build(),
        );
    for expected in ["miss", "hit"] {
        assert_eq!(
            send(&app, "/orders", Some("Bearer good")).await,
            StatusCode::OK
        );
        let last = captured.decisions().pop().unwrap();
        assert_eq!(last.fields["cache"], expected, "{last:?}");
    }
    revoked.store(true, Ordering::SeqCst);
    // Refused from the kept entry, without asking the verifier again: neither hit nor miss.
    assert_eq!(
        send(&app, "/orders", Some("Bearer good")).await,
        StatusCode::UNAUTHORIZED
    );
    let last = captured.decisions().pop().unwrap();
    assert_eq!(last.fields["cache"], "refused", "{last:?}");
    assert_eq!(last.fields["outcome"], "refused", "{last:?}");
    // The entry is gone: the next request asks the verifier, which refuses too.
    assert_eq!(
        send(&app, "/orders", Some("Bearer good")).await,
        StatusCode::UNAUTHORIZED
    );
    let last = captured.decisions().pop().unwrap();
    assert_eq!(last.fields["cache"], "miss", "{last:?}");
}
