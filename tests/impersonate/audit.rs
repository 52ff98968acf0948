//! Audit.

use super::*;

#[tokio::test]
async fn the_audit_sink_receives_one_event_per_decision() {
    let w = world().await;
    let token = admin();

    // Nothing asked: nothing recorded.
    let r = call(&w.app, "/me", &bearer(&token), &[("x-request-id", "req-0")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(w.audit.take().is_empty());

    // Sudo and tenant allowed.
    let req = Request::post("/orders/7?sudo=email:alice%2Bops@example.com&tenantCode=acme")
        .header("authorization", bearer(&token))
        .header("x-request-id", "req-42")
        .body(Body::empty())
        .unwrap();
    let r = send(&w.app, req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let events = w.audit.take();
    assert_eq!(events.len(), 2, "{events:?}");
    let (sudo, tenant) = (&events[0], &events[1]);
    assert_eq!(sudo.kind, AuditKind::Sudo);
    assert_eq!(sudo.outcome, AuditOutcome::Allowed);
    assert_eq!(sudo.actor, "admin-app");
    assert_eq!(sudo.actor_client_id.as_deref(), Some("admin-app"));
    assert_eq!(sudo.target_kind, Some("email"));
    assert_eq!(
        sudo.target.as_deref(),
        Some("1001"),
        "the uid, not the e-mail"
    );
    assert_eq!(sudo.tenant, None);
    assert_eq!(sudo.method, "POST");
    assert_eq!(sudo.path, "/orders/7", "without the query");
    assert_eq!(sudo.request_id.as_deref(), Some("req-42"));
    assert!(!sudo.reason.is_empty());
    assert_eq!(tenant.kind, AuditKind::Tenant);
    assert_eq!(tenant.outcome, AuditOutcome::Allowed);
    assert_eq!(tenant.actor, "admin-app");
    assert_eq!(tenant.target.as_deref(), Some("1001"));
    assert_eq!(tenant.tenant.as_deref(), Some("t-1"));
    assert_eq!(tenant.method, "POST");
    assert_eq!(tenant.path, "/orders/7");
    assert_eq!(tenant.request_id.as_deref(), Some("req-42"));
    let since = SystemTime::now().duration_since(sudo.time).unwrap();
    assert!(since.as_secs() < 60);
    // Its JSON form has the fields, the time in Unix seconds.
    let v: Value = serde_json::from_str(&sudo.to_string()).unwrap();
    assert_eq!(v["kind"], "sudo");
    assert_eq!(v["outcome"], "allowed");
    assert_eq!(v["target"], "1001");
    assert!(v["time"].as_u64().unwrap() > 1_600_000_000);

    // Sudo denied: target unknown. The value asked for is masked; the tenant is not decided.
    let r = call(
        &w.app,
        "/orders/8?sudo=email:alice%2Bops@example.net&tenantId=t-1",
        &bearer(&token),
        &[("x-request-id", "req-43")],
    )
    .await;
    assert_access_denied(&r, "unknown e-mail");
    let events = w.audit.take();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!((e.kind, e.outcome), (AuditKind::Sudo, AuditOutcome::Denied));
    assert_eq!(e.target_kind, Some("email"));
    assert_eq!(e.target.as_deref(), Some("a***@example.net"));
    assert_eq!(e.request_id.as_deref(), Some("req-43"));
    assert_eq!((e.method.as_str(), e.path.as_str()), ("GET", "/orders/8"));

    // Sudo denied for lack of privilege: recorded, masked, for the caller that tried.
    let r = call(
        &w.app,
        "/me?sudo=mobile:%2B86%20138%200013%208000",
        &bearer(&plain()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let events = w.audit.take();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!((e.kind, e.outcome), (AuditKind::Sudo, AuditOutcome::Denied));
    assert_eq!(e.actor, "plain-app");
    assert_eq!(e.target_kind, Some("mobile"));
    assert_eq!(e.target.as_deref(), Some("+***"));
    assert_eq!(e.request_id, None);

    // Sudo allowed, tenant denied: both recorded, the tenant masked.
    let r = call(
        &w.app,
        "/me?sudo=uid:1001&tenantId=t-404",
        &bearer(&token),
        &[],
    )
    .await;
    assert_access_denied(&r, "t-404");
    let events = w.audit.take();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        (events[0].kind, events[0].outcome),
        (AuditKind::Sudo, AuditOutcome::Allowed)
    );
    assert_eq!(
        (events[1].kind, events[1].outcome),
        (AuditKind::Tenant, AuditOutcome::Denied)
    );
    assert_eq!(events[1].tenant.as_deref(), Some("t***"));
    assert_eq!(events[1].actor, "admin-app");

    // Tenant alone (a Basic user): one event, no target.
    let r = call(
        &w.app,
        "/me?tenantCode=globex",
        &basic("bob", BOB_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let events = w.audit.take();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(
        (e.kind, e.outcome),
        (AuditKind::Tenant, AuditOutcome::Allowed)
    );
    assert_eq!(e.actor, "1002");
    assert_eq!(e.actor_client_id, None);
    assert_eq!(e.target, None);
    assert_eq!(e.tenant.as_deref(), Some("t-2"));
}

#[tokio::test]
async fn audit_events_hold_no_credential() {
    let w = world().await;
    let token = admin();
    let plain_token = plain();
    let root = basic("root", ROOT_PASSWORD);
    let requests: Vec<(String, String)> = vec![
        (bearer(&token), "/me?sudo=uid:1001&tenantId=t-1".into()),
        (bearer(&token), "/me?sudo=uid:9999".into()),
        (bearer(&token), "/me?sudo=uid:1001&tenantId=t-2".into()),
        (bearer(&plain_token), "/me?sudo=uid:1001".into()),
        (
            root.clone(),
            "/me?sudo=loginName:bob&tenantCode=globex".into(),
        ),
        (root.clone(), "/me?sudo=loginName:nobody".into()),
    ];
    for (auth, uri) in &requests {
        let _ = call(&w.app, uri, auth, &[("x-request-id", "rid-1")]).await;
    }
    let events = w.audit.take();
    assert_eq!(events.len(), 9, "{events:?}");
    let signature = |t: &str| t.rsplit('.').next().unwrap().to_owned();
    let secrets = [
        token.clone(),
        signature(&token),
        plain_token.clone(),
        signature(&plain_token),
        root.trim_start_matches("Basic ").to_owned(),
        ROOT_PASSWORD.to_owned(),
    ];
    for e in &events {
        for shown in [format!("{e:?}"), format!("{e}")] {
            for secret in &secrets {
                assert!(!shown.contains(secret.as_str()), "{shown}");
            }
            assert!(!shown.contains("Bearer"), "{shown}");
        }
    }
}

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn tracing_audit_emits_events_at_the_audit_target() {
    assert_eq!(AUDIT_TARGET, "tower_gatekeeper::audit");
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_target(true)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // The default sink.
    let app = routes().layer(layer(Impersonation::new(directory().await)));
    let token = admin();
    let r = call(
        &app,
        "/me?sudo=uid:1001&tenantId=t-1",
        &bearer(&token),
        &[("x-request-id", "trace-7")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = call(&app, "/me?sudo=uid:9999", &bearer(&token), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let out = buffer.contents();
    let audit: Vec<&str> = out.lines().filter(|l| l.contains(AUDIT_TARGET)).collect();
    assert_eq!(audit.len(), 3, "{out}");
    assert!(audit[0].contains("INFO"), "{}", audit[0]);
    assert!(audit[0].contains("sudo allowed"), "{}", audit[0]);
    assert!(audit[0].contains("actor=admin-app"), "{}", audit[0]);
    assert!(audit[0].contains("outcome=Allowed"), "{}", audit[0]);
    assert!(audit[0].contains("trace-7"), "{}", audit[0]);
    assert!(audit[0].contains("1001"), "{}", audit[0]);
    assert!(audit[1].contains("tenant allowed"), "{}", audit[1]);
    assert!(audit[1].contains("t-1"), "{}", audit[1]);
    assert!(audit[2].contains("WARN"), "{}", audit[2]);
    assert!(audit[2].contains("outcome=Denied"), "{}", audit[2]);
    assert!(audit[2].contains("9***"), "{}", audit[2]);
    assert!(!out.contains(&token), "the token was logged");
}

/// Keeps what `keep` says, and counts what it is asked.
#[derive(Clone)]
struct Selective {
    events: Collect,
    keep: fn(AuditKind, AuditOutcome) -> bool,
}

impl AuditSink for Selective {
    fn record(&self, event: &AuditEvent) {
        assert!(
            (self.keep)(event.kind, event.outcome),
            "recorded an event the sink does not keep: {event:?}"
        );
        self.events.record(event);
    }

    fn records(&self, kind: AuditKind, outcome: AuditOutcome) -> bool {
        (self.keep)(kind, outcome)
    }
}

#[tokio::test]
async fn a_sink_gets_only_the_events_it_keeps() {
    let token = admin();
    let denials = Selective {
        events: Collect::default(),
        keep: |_, outcome| outcome != AuditOutcome::Allowed,
    };
    let app = routes().layer(layer(
        Impersonation::new(directory().await).audit(denials.clone()),
    ));
    let r = call(&app, "/me?sudo=uid:1001&tenantId=t-1", &bearer(&token), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        denials.events.take().is_empty(),
        "allowed events were built"
    );
    // A refusal is still recorded, whole.
    let r = call(&app, "/me?sudo=uid:1001&tenantId=t-2", &bearer(&token), &[]).await;
    assert_access_denied(&r, "not her tenant");
    let events = denials.events.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, AuditKind::Tenant);
    assert_eq!(events[0].outcome, AuditOutcome::Denied);
    assert_eq!(events[0].actor, "admin-app");
    assert_eq!(events[0].path, "/me");
    assert_eq!(events[0].tenant.as_deref(), Some("t***"));

    // Keeping sudo events only: the tenant's are not built, the decision is the same.
    let sudo_only = Selective {
        events: Collect::default(),
        keep: |kind, _| kind == AuditKind::Sudo,
    };
    let app = routes().layer(layer(
        Impersonation::new(directory().await).audit(sudo_only.clone()),
    ));
    let r = call(&app, "/me?sudo=uid:1001&tenantId=t-1", &bearer(&token), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), as_alice(acme()));
    let events = sudo_only.events.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, AuditKind::Sudo);
    assert_eq!(events[0].target.as_deref(), Some("1001"));
}

#[tokio::test]
async fn tracing_audit_keeps_what_the_subscriber_wants() {
    use tower_gatekeeper::impersonate::TracingAudit;
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing::Level::WARN)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        assert!(!TracingAudit.records(AuditKind::Sudo, AuditOutcome::Allowed));
        assert!(TracingAudit.records(AuditKind::Sudo, AuditOutcome::Denied));
        assert!(TracingAudit.records(AuditKind::Tenant, AuditOutcome::Failed));
    });
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        assert!(TracingAudit.records(AuditKind::Tenant, AuditOutcome::Allowed));
    });
}
