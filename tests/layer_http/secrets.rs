//! Secrets.

use super::*;

/// Captures everything written by a `tracing` subscriber.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn traced(layer: GatekeeperLayer) -> Router {
    // The trace layer sits inside the gatekeeper and logs headers: only what the gatekeeper
    // lets through can reach the log.
    routes()
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(
                    DefaultMakeSpan::new()
                        .level(tracing::Level::INFO)
                        .include_headers(true),
                )
                .on_request(DefaultOnRequest::new().level(tracing::Level::INFO))
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .include_headers(true),
                ),
        )
        .layer(layer)
}

#[tokio::test]
async fn secrets_never_reach_responses_or_logs() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let capture = capture.clone();
            move || capture.clone()
        })
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let users = basic_users();
    users
        .insert_password("mallory", "the-right-password", Identity::new("u-m"))
        .unwrap();
    let keys = api_keys().await;
    let verifier = FirstMatch::new()
        .or(jwt())
        .or(BasicVerifier::new(users))
        .or(ApiKeyVerifier::new(keys))
        .or(|c: Credential<'static>| async move {
            // An async verifier that refuses everything that reaches it, marker or not.
            let _ = c.token();
            Err::<Principal, _>(VerifyError::invalid("refused by the async verifier"))
        });
    let app = traced(
        GatekeeperLayer::builder(verifier)
            .realm(REALM)
            .sources(all_sources().strip(true))
            .build(),
    );
    let down = traced(
        GatekeeperLayer::builder(|c: Credential<'static>| async move {
            let _ = c;
            Err::<Principal, _>(VerifyError::unavailable("backend down"))
        })
        .realm(REALM)
        .sources(all_sources())
        .build(),
    );

    let m = MARKER;
    let t = token();
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(&Router, Request<Body>, StatusCode)> = vec![
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, bearer(m))
                .body(empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, bearer(&format!("{m}.abc.def")))
                .body(empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, format!("Bearer {m}!"))
                .body(empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            get_req(&format!("/ok?access_token={m}"))
                .header(AUTHORIZATION, bearer(&t))
                .body(empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            get_req(&format!("/ok?access_token={m}"))
                .body(empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok").header("x-api-key", m).body(empty()).unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok")
                .header("x-auth-token", format!("{m} x"))
                .body(empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, basic("mallory", m))
                .body(empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, basic(m, "whatever"))
                .body(empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, basic("mallory", &format!("{m}\u{1}")))
                .body(empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, basic_raw(m.as_bytes()))
                .body(empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, form)
                .body(Body::from(format!("access_token={m}")))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, form)
                .body(Body::from(format!("access_token={m}&access_token={m}")))
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(format!(r#"{{"access_token":"{m}"}}"#)))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(format!(
                    r#"{{"access_token":"{m}","access_token":"{m}"}}"#
                )))
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &down,
            get_req("/ok")
                .header(AUTHORIZATION, bearer(m))
                .body(empty())
                .unwrap(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            &down,
            get_req(&format!("/ok?access_token={m}"))
                .body(empty())
                .unwrap(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ];
    for (i, (app, request, status)) in cases.into_iter().enumerate() {
        let r = send(app, request).await;
        assert_eq!(r.status, status, "case {i}: {}", r.text());
        r.assert_absent(m);
    }

    // A successful request: the (stripped) token reaches neither the handler's log nor the
    // response.
    let r = send(
        &app,
        get_req(&format!("/ok?x=1&access_token={t}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("ok");
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&t))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("ok");

    let log = capture.text();
    assert!(
        log.contains("finished processing request"),
        "the subscriber captured nothing: {log}"
    );
    assert!(log.contains("/ok?x=1"), "{log}");
    assert!(!log.contains(m), "{log}");
    assert!(!log.contains(&t), "{log}");
}

#[tokio::test]
async fn secrets_never_reach_debug_or_display() {
    let m = MARKER;

    let credentials = [
        Credential::bearer(m, Source::Header),
        Credential::api_key(m, Source::Query),
        Credential::bearer(m.to_owned(), Source::Body).into_owned(),
        Credential::basic("alice", m, Source::Header),
    ];
    for c in &credentials {
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains(m), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
    assert!(format!("{:?}", credentials[3]).contains("alice"));

    // Credentials and errors extracted from real requests.
    let sources = all_sources();
    let request = Request::get(format!("/x?access_token={m}"))
        .body(())
        .unwrap();
    let found = sources
        .extract_head(request.headers(), request.uri())
        .unwrap()
        .unwrap();
    assert_eq!(found.token(), Some(m));
    assert!(!format!("{found:?}").contains(m));

    let bad = [
        Request::get(format!("/x?access_token={m}&access_token={m}"))
            .body(())
            .unwrap(),
        Request::get("/x")
            .header(AUTHORIZATION, format!("Bearer {m}!"))
            .body(())
            .unwrap(),
        Request::get("/x")
            .header(AUTHORIZATION, basic_raw(format!("{m}\u{7}:x").as_bytes()))
            .body(())
            .unwrap(),
        Request::get("/x")
            .header("x-api-key", format!("{m} {m}"))
            .body(())
            .unwrap(),
    ];
    for request in &bad {
        let err: AuthError = sources
            .extract_head(request.headers(), request.uri())
            .unwrap_err();
        let shown = format!("{err:?} {err} {}", err.description());
        assert!(!shown.contains(m), "{shown}");
    }

    // Verifier errors, converted to refusals.
    let jwt_err = jwt().verify_token(&format!("{m}.{m}.{m}")).unwrap_err();
    for err in [jwt_err.clone(), VerifyError::NotApplicable] {
        let auth: AuthError = err.clone().into();
        let shown = format!("{err:?} {err} {auth:?} {auth}");
        assert!(!shown.contains(m), "{shown}");
    }

    // Stores and verifiers.
    let keys = ApiKeyStore::new();
    keys.insert(m, Identity::new("svc")).await.unwrap();
    assert!(keys.lookup(m).await.unwrap().is_some());
    let users = BasicUsers::new();
    users
        .insert_password("alice", m, Identity::new("u-1"))
        .unwrap();
    let secret = format!("{m}-hs256-secret-0123456789abcdef");
    let verifier = JwtVerifier::hs256(secret.as_bytes()).unwrap();
    let layer = GatekeeperLayer::builder(verifier.clone())
        .sources(all_sources())
        .build();
    let shown = [
        format!("{keys:?} {keys:#?}"),
        format!("{users:?} {users:#?}"),
        format!("{verifier:?} {verifier:#?}"),
        format!("{:?}", ApiKeyVerifier::new(keys.clone())),
        format!("{:?}", BasicVerifier::new(users.clone())),
        format!("{layer:?}"),
        format!("{:?}", FirstMatch::new().or(verifier.clone())),
    ];
    for s in &shown {
        assert!(!s.contains(m), "{s}");
    }
    assert!(shown[0].starts_with("ApiKeyStore(1 keys)"), "{}", shown[0]);
    assert_eq!(shown[1].split(' ').next(), Some("BasicUsers(1"));
}
