//! Admin changes reach the audit sink: every grant change and account change asked for is one
//! record (who, what, on which target, the outcome), a refused change records a refusal, reads
//! record nothing, and no client secret or password is in any record.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::accounts::UserRegistry;
use tower_gatekeeper::grant::{GrantAdmin, GrantManager, Grantee, InMemoryGrantStore};
use tower_gatekeeper::impersonate::{AUDIT_TARGET, AuditEvent, AuditKind, AuditOutcome, AuditSink};
use tower_gatekeeper::issuer::{AccountAdmin, ClientRegistry};
use tower_gatekeeper::verify::JwtVerifier;

const KEY: &[u8] = b"admin audit key 0123456789abcdef!!";
const PASSWORD: &str = "correct-horse-PASSWORD-marker";

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<AuditEvent>>>);

impl AuditSink for Collect {
    fn record(&self, event: &AuditEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Collect {
    /// The records since the last call.
    fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn app(sink: &Collect) -> Router {
    let grants = GrantManager::builder(InMemoryGrantStore::new())
        .apis(["orders", "billing"])
        .grantees([Grantee::client("app-1"), Grantee::client("app-2")])
        .build();
    let grant_admin = GrantAdmin::new(grants).audit(sink.clone());
    let accounts = AccountAdmin::new(ClientRegistry::new(), UserRegistry::new())
        .prefix("/admin")
        .audit(sink.clone());
    Router::new()
        .nest_service("/admin/apis", grant_admin)
        .route_service("/admin/clients", accounts.clone())
        .route_service("/admin/clients/{*rest}", accounts.clone())
        .route_service("/admin/users", accounts.clone())
        .route_service("/admin/users/{*rest}", accounts)
        .layer(GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap()).build())
}

fn bearer(client: &str, scope: &str) -> String {
    let claims =
        json!({"sub": client, "client_id": client, "scope": scope, "exp": 4_000_000_000u64});
    let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(KEY)).unwrap();
    format!("Bearer {token}")
}

fn root() -> String {
    bearer("root", "grants:admin accounts:admin")
}

async fn post(app: &Router, uri: &str, auth: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, auth)
        .header("x-request-id", "req-42")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn action(api: &str, app: &str, kind: &str) -> Value {
    json!({"api_id": api, "app_id": app, "apply_type": kind, "time": "2099-01-01T00:00:00Z"})
}

/// The one record of the last request.
fn one(sink: &Collect) -> AuditEvent {
    let mut records = sink.take();
    assert_eq!(records.len(), 1, "exactly one record: {records:?}");
    records.remove(0)
}

/// Every way a record can be read: Debug, Display (JSON) and serde.
fn all_forms(records: &[AuditEvent]) -> String {
    records
        .iter()
        .map(|r| format!("{r:?}\n{r}\n{}\n", serde_json::to_string(r).unwrap()))
        .collect()
}

#[tokio::test]
async fn each_grant_change_is_one_record_with_who_what_and_outcome() {
    let sink = Collect::default();
    let app = app(&sink);

    // A provider authorizes app-1 for orders.
    let (status, _) = post(
        &app,
        "/admin/apis/authorize/action",
        &root(),
        action("orders", "app-1", "APPLY_TYPE_AUTHORIZE"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let r = one(&sink);
    assert_eq!(r.kind, AuditKind::Grant);
    assert_eq!(r.action, Some("authorize"));
    assert_eq!(r.outcome, AuditOutcome::Allowed);
    assert_eq!(r.actor, "root");
    assert_eq!(r.actor_client_id.as_deref(), Some("root"));
    assert_eq!(r.target_kind, Some("client"));
    assert_eq!(r.target.as_deref(), Some("app-1"));
    assert_eq!(r.api.as_deref(), Some("orders"));
    assert_eq!(r.method, "POST");
    // The path as the service sees it: `nest_service` strips its prefix.
    assert_eq!(r.path, "/authorize/action");
    assert_eq!(r.request_id.as_deref(), Some("req-42"));

    // app-1 applies for billing itself: allowed, the grantee is the actor.
    let app1 = bearer("app-1", "");
    let (status, _) = post(
        &app,
        "/admin/apis/authorize/action",
        &app1,
        action("billing", "app-1", "APPLY_TYPE_APPLY"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let r = one(&sink);
    assert_eq!(
        (r.action, r.outcome),
        (Some("apply"), AuditOutcome::Allowed)
    );
    assert_eq!(r.actor, "app-1");
    assert_eq!(r.api.as_deref(), Some("billing"));

    // app-2 tries to approve it: refused, and the refusal is recorded.
    let body = json!({"api_id": "billing", "app_id": "app-1"});
    let (status, _) = post(
        &app,
        "/admin/apis/authorize/approve",
        &bearer("app-2", ""),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = one(&sink);
    assert_eq!(
        (r.action, r.outcome),
        (Some("approve"), AuditOutcome::Denied)
    );
    assert_eq!(r.actor, "app-2");
    assert_eq!(r.target.as_deref(), Some("app-1"));
    assert_eq!(r.reason, "this action needs a provider administrator");

    // app-2 tries to apply in app-1's name: refused too.
    let (status, _) = post(
        &app,
        "/admin/apis/authorize/action",
        &bearer("app-2", ""),
        action("orders", "app-1", "APPLY_TYPE_APP_CANCEL_AUTHORIZE"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = one(&sink);
    assert_eq!(
        (r.action, r.outcome),
        (Some("app_revoke"), AuditOutcome::Denied)
    );

    // The provider approves: allowed. Approving again breaks the lifecycle: failed.
    let (status, _) = post(&app, "/admin/apis/authorize/approve", &root(), body.clone()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(one(&sink).outcome, AuditOutcome::Allowed);
    let (status, _) = post(&app, "/admin/apis/authorize/approve", &root(), body.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let r = one(&sink);
    assert_eq!(
        (r.action, r.outcome),
        (Some("approve"), AuditOutcome::Failed)
    );
    assert_eq!(r.reason, "NOTHING_PENDING");

    // Reject and the provider's revocation are recorded under their own names.
    let (status, _) = post(&app, "/admin/apis/authorize/reject", &root(), body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(one(&sink).action, Some("reject"));
    let (status, _) = post(
        &app,
        "/admin/apis/authorize/action",
        &app1,
        action("orders", "app-1", "APPLY_TYPE_APP_CANCEL_AUTHORIZE"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let r = one(&sink);
    assert_eq!(
        (r.action, r.outcome),
        (Some("app_revoke"), AuditOutcome::Allowed)
    );

    // Reads and requests that name no change record nothing.
    let request = Request::get("/admin/apis/grants?api_id=orders")
        .header(AUTHORIZATION, root())
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::OK
    );
    let (status, _) = post(
        &app,
        "/admin/apis/authorize/action",
        &root(),
        json!({"api_id": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        sink.take().is_empty(),
        "a read or a malformed body is not a change"
    );
}

#[tokio::test]
async fn each_account_change_is_one_record_and_holds_no_secret() {
    let sink = Collect::default();
    let app = app(&sink);
    let mut seen = Vec::new();
    let mut secrets = Vec::new();

    let (status, body) = post(&app, "/admin/clients", &root(), json!({"client_id": "c1"})).await;
    assert_eq!(status, StatusCode::CREATED);
    secrets.push(body["client_secret"].as_str().unwrap().to_owned());
    let r = one(&sink);
    assert_eq!(r.kind, AuditKind::Account);
    assert_eq!(
        (r.action, r.outcome),
        (Some("create_client"), AuditOutcome::Allowed)
    );
    assert_eq!(
        (r.target_kind, r.target.as_deref()),
        (Some("client"), Some("c1"))
    );
    assert_eq!(r.actor, "root");
    seen.push(r);

    let (status, body) = post(&app, "/admin/clients/c1/rotate-secret", &root(), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    secrets.push(body["client_secret"].as_str().unwrap().to_owned());
    let r = one(&sink);
    assert_eq!(
        (r.action, r.target.as_deref()),
        (Some("rotate_client_secret"), Some("c1"))
    );
    seen.push(r);

    let (status, _) = post(&app, "/admin/clients/c1/disable", &root(), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let r = one(&sink);
    assert_eq!(
        (r.action, r.outcome),
        (Some("disable_client"), AuditOutcome::Allowed)
    );
    seen.push(r);

    let user = json!({"uid": "u1", "login_name": "alice", "password": PASSWORD, "email": "alice@example.com"});
    let (status, _) = post(&app, "/admin/users", &root(), user.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let r = one(&sink);
    assert_eq!(
        (r.action, r.outcome),
        (Some("create_user"), AuditOutcome::Allowed)
    );
    assert_eq!(
        (r.target_kind, r.target.as_deref()),
        (Some("user"), Some("u1"))
    );
    seen.push(r);

    // The same uid again: taken, failed.
    let (status, _) = post(&app, "/admin/users", &root(), user.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let r = one(&sink);
    assert_eq!(
        (r.action, r.outcome),
        (Some("create_user"), AuditOutcome::Failed)
    );
    assert_eq!(r.reason, "the id, login name, e-mail or mobile is taken");
    seen.push(r);

    // An unknown account: failed.
    let (status, _) = post(&app, "/admin/users/nobody/disable", &root(), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = one(&sink);
    assert_eq!(
        (r.action, r.outcome),
        (Some("disable_user"), AuditOutcome::Failed)
    );
    assert_eq!(r.target.as_deref(), Some("nobody"));
    seen.push(r);

    // Not an administrator: denied, for a creation (target unread) and a change.
    let nobody = bearer("app-2", "grants:admin");
    let (status, _) = post(&app, "/admin/users", &nobody, user).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = one(&sink);
    assert_eq!(
        (r.action, r.outcome),
        (Some("create_user"), AuditOutcome::Denied)
    );
    assert_eq!(r.actor, "app-2");
    assert_eq!(r.target, None, "the body of a refused creation is not read");
    seen.push(r);
    let (status, _) = post(&app, "/admin/clients/c1/enable", &nobody, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = one(&sink);
    assert_eq!(
        (r.action, r.outcome),
        (Some("enable_client"), AuditOutcome::Denied)
    );
    assert_eq!(r.target.as_deref(), Some("c1"));
    seen.push(r);

    // A read-like request to an account path, and an unknown operation: no record.
    let request = Request::get("/admin/clients")
        .header(AUTHORIZATION, root())
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let (status, _) = post(&app, "/admin/clients/c1/delete", &root(), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(sink.take().is_empty());

    let text = all_forms(&seen);
    assert!(
        !text.contains(PASSWORD),
        "the password is in a record:\n{text}"
    );
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a client secret is in a record:\n{text}"
        );
    }
    assert!(!text.contains("Bearer"), "the credential is in a record");
}

/// A client id the admin refuses (RFC 6749 Appendix A.1: `%x20-7E` only) is not recorded as
/// the audit's target: it may hold a line break for a log, or anything else.
#[tokio::test]
async fn a_refused_client_id_is_not_the_audit_target() {
    let sink = Collect::default();
    let app = app(&sink);
    for id in ["nl\nFAKE LOG LINE", "ctl\u{1}FAKE", "FAKE\u{7f}", "FAKE é"] {
        let (status, _) = post(&app, "/admin/clients", &root(), json!({"client_id": id})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{id:?}");
        let r = one(&sink);
        assert_eq!(
            (r.action, r.outcome, r.target_kind, r.target.as_deref()),
            (Some("create_client"), AuditOutcome::Failed, None, None),
            "{id:?}"
        );
        assert!(!all_forms(&[r]).contains("FAKE"), "{id:?}");
    }
}

#[tokio::test]
async fn the_default_sink_logs_admin_changes_at_the_audit_target() {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let accounts = AccountAdmin::new(ClientRegistry::new(), UserRegistry::new());
    let app = Router::new()
        .route_service("/clients", accounts.clone())
        .route_service("/clients/{*rest}", accounts)
        .layer(GatekeeperLayer::builder(JwtVerifier::hs256(KEY).unwrap()).build());
    let (status, body) = post(&app, "/clients", &root(), json!({"client_id": "c9"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    let (status, _) = post(&app, "/clients/c9/disable", &bearer("x", ""), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(AUDIT_TARGET)).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("INFO") && lines[0].contains("account create_client allowed"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("target=\"c9\"") || lines[0].contains("target=c9"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("WARN") && lines[1].contains("account disable_client denied"),
        "{}",
        lines[1]
    );
    assert!(!out.contains(&secret), "the client secret was logged");
}

/// A change made with a delegated token (RFC 8693 `act`) used the subject's scopes: the record
/// names the acting party as the actor and the subject as `on_behalf_of`, so an administrator's
/// authority used by someone else is visible. A caller acting as itself has none.
#[tokio::test]
async fn a_change_made_on_behalf_of_an_administrator_says_so() {
    let sink = Collect::default();
    let app = app(&sink);
    let claims = json!({
        "sub": "admin-user", "scope": "accounts:admin", "exp": 4_000_000_000u64,
        "act": {"sub": "agent-app"},
    });
    let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(KEY)).unwrap();
    let delegated = format!("Bearer {token}");
    let (status, _) = post(
        &app,
        "/admin/clients",
        &delegated,
        json!({"client_id": "d1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let r = one(&sink);
    assert_eq!(r.actor, "agent-app");
    assert_eq!(r.on_behalf_of.as_deref(), Some("admin-user"));

    let (status, _) = post(&app, "/admin/clients", &root(), json!({"client_id": "d2"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let r = one(&sink);
    assert_eq!((r.actor.as_str(), r.on_behalf_of), ("root", None));
}
