//! Directories that answer later, count lookups, or are down.

use super::*;

/// Wraps the in-memory directory: counts lookups, can answer asynchronously or be down.
struct Remote {
    inner: InMemoryDirectory,
    lookups: Arc<AtomicUsize>,
    pending: bool,
    down: bool,
}

impl Remote {
    fn answer<T: Send + Sync + 'static>(&self, answer: Lookup<T>) -> Lookup<T> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.down {
            return MaybeReady::Ready(Err(DirectoryError("connection refused".into())));
        }
        if self.pending {
            MaybeReady::pending(async move {
                tokio::task::yield_now().await;
                answer.await
            })
        } else {
            answer
        }
    }
}

impl UserDirectory for Remote {
    fn find_user(&self, selector: &UserSelector) -> Lookup<DirectoryUser> {
        self.answer(self.inner.find_user(selector))
    }
    fn find_tenant(&self, selector: &TenantSelector) -> Lookup<Tenant> {
        self.answer(self.inner.find_tenant(selector))
    }
}

async fn remote_world(pending: bool, down: bool) -> (World, Arc<AtomicUsize>) {
    let dir = directory().await;
    let lookups = Arc::new(AtomicUsize::new(0));
    let audit = Collect::default();
    let remote = Remote {
        inner: dir.clone(),
        lookups: lookups.clone(),
        pending,
        down,
    };
    let app = routes().layer(layer(Impersonation::new(remote).audit(audit.clone())));
    (World { app, dir, audit }, lookups)
}

#[tokio::test]
async fn a_directory_that_answers_later_gives_the_same_answers() {
    let sync = world().await;
    let (slow, lookups) = remote_world(true, false).await;
    let admin = bearer(&admin());
    let bob = basic("bob", BOB_PASSWORD);
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: Vec<Case<'_>> = vec![
        (&admin, "/me?sudo=uid:1001", &[]),
        (&admin, "/me?sudo=username:alice&tenantCode=acme", &[]),
        (&admin, "/me?sudo=loginName:%C3%A5sa&tenantId=t-2", &[]),
        (
            &admin,
            "/me?tenantId=t-1",
            &[("x-sudo", "email:alice+ops@example.com")],
        ),
        (&admin, "/me?sudo=uid:1003", &[]),
        (&admin, "/me?sudo=uid:9999&tenantId=t-1", &[]),
        (&admin, "/me?sudo=uid:1001&tenantId=t-2", &[]),
        (&admin, "/me?sudo=uid:1001&tenantId=t-404", &[]),
        (
            &admin,
            "/me?sudo=uid:1001&tenantId=t-1&tenantCode=acme",
            &[],
        ),
        (
            &admin,
            "/me?sudo=uid:1001&tenantId=t-1&tenantCode=globex",
            &[],
        ),
        (&bob, "/me?tenantCode=globex", &[]),
        (&bob, "/me?tenantCode=acme", &[]),
        (&bob, "/me?sudo=uid:1001", &[]),
    ];
    for (auth, uri, headers) in cases {
        let a = call(&sync.app, uri, auth, headers).await;
        let b = call(&slow.app, uri, auth, headers).await;
        assert_eq!(a, b, "{uri} {headers:?}");
        let (ea, eb) = (sync.audit.take(), slow.audit.take());
        assert_eq!(ea.len(), eb.len(), "{uri}");
        for (x, y) in ea.iter().zip(&eb) {
            assert_eq!(
                (x.kind, x.outcome, &x.target, &x.tenant, x.reason),
                (y.kind, y.outcome, &y.target, &y.tenant, y.reason),
                "{uri}"
            );
        }
    }
    assert!(lookups.load(Ordering::SeqCst) > 0);
    // The deprecation warning survives the asynchronous path.
    let r = call(&slow.app, "/me?sudo=username:alice", &admin, &[]).await;
    assert!(r.headers.contains_key(WARNING));
}

#[tokio::test]
async fn without_the_privilege_nothing_is_looked_up() {
    let (w, lookups) = remote_world(false, false).await;
    for uri in [
        "/me?sudo=uid:1001",
        "/me?sudo=uid:9999",
        "/me?sudo=email:alice%2Bops@example.com&tenantId=t-1",
    ] {
        let r = call(&w.app, uri, &bearer(&plain()), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}");
    }
    let r = call(
        &w.app,
        "/me?sudo=uid:1001",
        &basic("bob", BOB_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(lookups.load(Ordering::SeqCst), 0, "the directory was asked");
    // Nothing asked, nothing looked up either.
    let r = call(&w.app, "/me?other=1", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(lookups.load(Ordering::SeqCst), 0);
    // The privileged caller does ask.
    let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_directory_that_is_down_fails_closed() {
    for pending in [false, true] {
        let (w, _) = remote_world(pending, true).await;
        for uri in [
            "/me?sudo=uid:1001",
            "/me?sudo=uid:1001&tenantId=t-1",
            "/me?tenantId=t-1",
        ] {
            let r = call(&w.app, uri, &bearer(&admin()), &[]).await;
            assert_eq!(
                r.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{uri}: {}",
                r.text()
            );
            assert_eq!(r.json()["error"], "temporarily_unavailable");
            let events = w.audit.take();
            assert_eq!(events.len(), 1, "{uri}: {events:?}");
            assert_eq!(events[0].outcome, AuditOutcome::Denied);
        }
        // The caller without the privilege is refused as always: nothing to ask.
        let r = call(&w.app, "/me?sudo=uid:1001", &bearer(&plain()), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.json()["error"], "insufficient_scope");
    }
}

#[tokio::test]
async fn the_sudo_scope_and_header_can_be_renamed() {
    let dir = directory().await;
    let app = routes().layer(layer(
        Impersonation::new(dir)
            .sudo_scope("act-as")
            .sudo_role("operators")
            .sudo_header("x-act-as")
            .audit(Collect::default()),
    ));
    // `sudo` is an ordinary scope now, `act-as` the privilege.
    let r = call(&app, "/me?sudo=uid:1001", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.challenge().contains(r#"scope="act-as""#),
        "{}",
        r.challenge()
    );
    let actor = app_token("actor-app", "act-as sudo orders:read");
    let r = call(&app, "/me", &bearer(&actor), &[("x-act-as", "uid:1001")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // alice holds `sudo` as a plain scope: it stays; `act-as` does not.
    assert_eq!(r.json()["scopes"], json!(["sudo", "orders:read"]));
    // The old header name means nothing.
    let r = call(&app, "/me", &bearer(&actor), &[("x-sudo", "uid:1001")]).await;
    assert_eq!(r.json()["subject"], "actor-app");
    // The root Basic user holds `sudo`, not `operators`.
    let r = call(
        &app,
        "/me?sudo=uid:1001",
        &basic("root", ROOT_PASSWORD),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// A stage that wants a header on the response.
struct AddsHeader;

impl Authorize for AddsHeader {
    fn authorize(
        &self,
        principal: Principal,
        parts: &mut http::request::Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        let mut headers = HeaderMap::new();
        headers.insert("x-earlier-stage", HeaderValue::from_static("kept"));
        parts.extensions.insert(AddResponseHeaders(headers));
        MaybeReady::Ready(Ok(principal))
    }
}

#[tokio::test]
async fn the_deprecation_warning_keeps_earlier_stages_headers() {
    let app = routes().layer(
        GatekeeperLayer::builder(verifier())
            .authorize(AddsHeader)
            .authorize(Impersonation::new(directory().await).audit(Collect::default()))
            .build(),
    );
    let r = call(&app, "/me?sudo=uid:1001", &bearer(&admin()), &[]).await;
    assert_eq!(r.headers["x-earlier-stage"], "kept");
    let r = call(&app, "/me?sudo=username:alice", &bearer(&admin()), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.contains_key(WARNING));
    assert_eq!(
        r.headers
            .get("x-earlier-stage")
            .map(|v| v.to_str().unwrap()),
        Some("kept")
    );
}

#[tokio::test]
async fn sudo_with_a_tenant_checks_the_targets_membership_by_uid() {
    for pending in [false, true] {
        let (w, lookups) = remote_world(pending, false).await;
        // The target by e-mail, the tenant, then the target's membership by uid.
        let uri = "/me?sudo=email:alice%2Bops@example.com&tenantId=t-1";
        let r = call(&w.app, uri, &bearer(&admin()), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json(), as_alice(acme()));
        assert_eq!(
            lookups.swap(0, Ordering::SeqCst),
            3,
            "user + tenant + member"
        );
        // By uid, the sudo lookup's record is the by-uid record: it stands for the
        // membership, and the answer is the same.
        let uri = "/me?sudo=uid:1001&tenantId=t-1";
        let r = call(&w.app, uri, &bearer(&admin()), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json(), as_alice(acme()));
        assert_eq!(lookups.swap(0, Ordering::SeqCst), 2, "user by uid + tenant");
        // A tenant she is not in is still refused on her record.
        let uri = "/me?sudo=uid:1001&tenantId=t-2";
        let r = call(&w.app, uri, &bearer(&admin()), &[]).await;
        assert_access_denied(&r, "not her tenant");
        // Without sudo, the caller's own membership is looked up.
        let uri = "/me?tenantId=t-1";
        let r = call(&w.app, uri, &basic("bob", BOB_PASSWORD), &[]).await;
        assert_access_denied(&r, "bob is not in t-1");
        let _ = lookups.swap(0, Ordering::SeqCst);
        let uri = "/me?tenantId=t-2";
        let r = call(&w.app, uri, &basic("bob", BOB_PASSWORD), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(lookups.load(Ordering::SeqCst), 2, "tenant + member");
    }
}

/// Answers uid `legacy-7` with alice's record (an alias), holding more tenants than her own.
struct Aliases(InMemoryDirectory);

impl UserDirectory for Aliases {
    fn find_user(&self, selector: &UserSelector) -> Lookup<DirectoryUser> {
        if *selector == UserSelector::Uid("legacy-7".into()) {
            let mut alias = DirectoryUser::new("1001", "alice");
            alias.tenants = vec!["t-1".into(), "t-2".into()];
            return MaybeReady::Ready(Ok(Some(Arc::new(alias))));
        }
        self.0.find_user(selector)
    }

    fn find_tenant(&self, selector: &TenantSelector) -> Lookup<Tenant> {
        self.0.find_tenant(selector)
    }
}

#[tokio::test]
async fn a_record_answered_for_another_uid_does_not_stand_for_the_membership() {
    let app = routes().layer(layer(
        Impersonation::new(Aliases(directory().await)).audit(Collect::default()),
    ));
    // Sudo to the alias makes alice the effective user; her own record (by uid 1001) is
    // not in t-2, whatever the alias's record says.
    let r = call(
        &app,
        "/me?sudo=uid:legacy-7&tenantId=t-2",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_access_denied(&r, "t-2 is not in alice's own record");
    let r = call(
        &app,
        "/me?sudo=uid:legacy-7&tenantId=t-1",
        &bearer(&admin()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["subject"], "1001");
    assert_eq!(r.json()["tenant"], acme());
}

/// A uid reaches sudo selectors, grants and audit records: one with a control character (a line
/// break could forge an audit line) or over 255 bytes is refused when stored; any other text,
/// non-ASCII included, is a uid.
#[tokio::test]
async fn uids_with_control_characters_or_too_long_are_refused() {
    use tower_gatekeeper::impersonate::{MAX_UID_LEN, UserError};
    let dir = InMemoryDirectory::new();
    let long = "u".repeat(MAX_UID_LEN + 1);
    for (i, uid) in [
        "a\nb",
        "a\rb",
        "a\tb",
        "a\u{7f}",
        "a\u{85}b",
        "\u{0}",
        long.as_str(),
    ]
    .into_iter()
    .enumerate()
    {
        let user = DirectoryUser::new(uid, format!("login{i}"));
        assert_eq!(
            dir.insert_user(user).await,
            Err(UserError::UidInvalid),
            "{uid:?}"
        );
    }
    let longest = "u".repeat(MAX_UID_LEN);
    for (i, uid) in ["1001", "用户-7", "a b", longest.as_str()]
        .into_iter()
        .enumerate()
    {
        let user = DirectoryUser::new(uid, format!("ok{i}"));
        assert_eq!(dir.insert_user(user).await, Ok(()), "{uid:?}");
    }
}
