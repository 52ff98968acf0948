//! Errors.

use super::*;

#[tokio::test]
async fn missing_credential_has_a_bare_challenge() {
    let r = send(
        &app(builder().build()),
        get_req("/ok").body(empty()).unwrap(),
    )
    .await;
    r.assert_missing();
    assert_eq!(r.challenges(), [r#"Bearer realm="orders""#]);

    // With Basic and an API key header on, a challenge for each.
    let r = send(&full_app().await, get_req("/ok").body(empty()).unwrap()).await;
    r.assert_refusal(
        StatusCode::UNAUTHORIZED,
        MISSING_ERROR,
        &[BEARER_CHALLENGE, BASIC_CHALLENGE, API_KEY_CHALLENGE],
    );

    // The default realm is `api`.
    let r = send(
        &app(GatekeeperLayer::builder(jwt()).build()),
        get_req("/ok").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(r.challenges(), [r#"Bearer realm="api""#]);
}

#[tokio::test]
async fn invalid_tokens_are_401_invalid_token() {
    let app = app(builder().build());
    let forged = mint_with(
        b"another-secret-of-at-least-32-bytes!!",
        &json!({"sub": "app-1", "exp": now() + 300}),
    );
    let expired = mint(&json!({"sub": "app-1", "exp": now() - 3600}));
    let no_exp = mint(&json!({"sub": "app-1"}));
    for (token, description) in [
        (forged, "the token signature is invalid"),
        (expired, "the token has expired"),
        (no_exp, "the token lacks the required claim exp"),
        ("abc.def.ghi".to_owned(), "the token is malformed"),
        (
            "opaque-token".to_owned(),
            "the credential is not accepted here",
        ),
    ] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, bearer(&token))
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_refusal(
            StatusCode::UNAUTHORIZED,
            &format!(r#"{{"error":"invalid_token","error_description":"{description}"}}"#),
            &[format!(
                r#"Bearer realm="orders", error="invalid_token", error_description="{description}""#
            )
            .as_str()],
        );
    }
}

#[tokio::test]
async fn realm_is_quoted_and_escaped() {
    let app = app(builder().realm(r#"my "quoted" realm\x"#).build());
    let r = send(&app, get_req("/ok").body(empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenges(), [r#"Bearer realm="my \"quoted\" realm\\x""#]);
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, "Bearer opaque")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        r.challenges(),
        [
            r#"Bearer realm="my \"quoted\" realm\\x", error="invalid_token", error_description="the credential is not accepted here""#
        ]
    );
}

#[tokio::test]
async fn query_token_success_is_cache_private_header_token_is_not() {
    let app = full_app().await;
    let t = token();
    let r = send(
        &app,
        get_req(&format!("/ok?access_token={t}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("ok");
    assert_eq!(r.all("cache-control"), ["private"]);

    for (name, value) in [
        ("authorization", bearer(&t)),
        ("x-auth-token", t.clone()),
        ("x-api-key", "key-123".to_owned()),
    ] {
        let r = send(
            &app,
            get_req("/ok").header(name, value).body(empty()).unwrap(),
        )
        .await;
        r.assert_ok_text("ok");
        assert_eq!(r.header("cache-control"), None, "{name}");
    }

    // Body credentials are not marked either.
    let r = send(
        &app,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("access_token={t}")))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("ok");
    assert_eq!(r.header("cache-control"), None);
}

#[tokio::test]
async fn query_token_cache_control_interplay_with_handler() {
    let app = full_app().await;
    let t = token();
    let q = format!("?access_token={t}");

    // `public` is replaced by `private`; the handler's other directives stay.
    let r = send(
        &app,
        get_req(&format!("/cache/public{q}")).body(empty()).unwrap(),
    )
    .await;
    r.assert_ok_text("public");
    assert_eq!(r.all("cache-control"), ["private, max-age=60"]);

    // A stricter one is kept.
    let r = send(
        &app,
        get_req(&format!("/cache/no-store{q}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("no-store");
    assert_eq!(r.all("cache-control"), ["no-store"]);

    // Non-2xx answers are left alone.
    let r = send(
        &app,
        get_req(&format!("/cache/404{q}")).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header("cache-control"), None);

    // Header credentials never touch the handler's directive.
    let r = send(
        &app,
        get_req("/cache/public")
            .header(AUTHORIZATION, bearer(&t))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.all("cache-control"), ["public, max-age=60"]);
}

#[tokio::test]
async fn query_token_keeps_no_store_from_a_second_cache_control_header() {
    let app = full_app().await;
    let r = send(
        &app,
        get_req(&format!("/cache/two?access_token={}", token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("two");
    let values = r.all("cache-control");
    assert!(
        values.iter().any(|v| v.contains("no-store")),
        "the handler's no-store was lost: {values:?}"
    );
}

#[tokio::test]
async fn query_token_keeps_no_cache_from_the_handler() {
    let app = full_app().await;
    let r = send(
        &app,
        get_req(&format!("/cache/no-cache?access_token={}", token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("no-cache");
    let value = r.all("cache-control").join(", ");
    assert!(value.contains("no-cache"), "{value}");
    assert!(value.contains("private"), "{value}");
}

#[tokio::test]
async fn insufficient_scope_is_403_naming_the_scope() {
    let app = app(builder()
        .require_scopes(["orders:read", "orders:write"])
        .build());
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&token_with_scope("orders:read")))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::FORBIDDEN,
        r#"{"error":"insufficient_scope","error_description":"the request requires the orders:write scope"}"#,
        &[r#"Bearer realm="orders", error="insufficient_scope", error_description="the request requires the orders:write scope", scope="orders:write""#],
    );

    let r = send(
        &app,
        get_req("/ok")
            .header(
                AUTHORIZATION,
                bearer(&token_with_scope("orders:write orders:read")),
            )
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("ok");

    // Still 401 (not 403) when there is no credential at all.
    let r = send(&app, get_req("/ok").body(empty()).unwrap()).await;
    r.assert_missing();
}

struct OnlyClient(&'static str);

impl Authorize for OnlyClient {
    fn authorize(
        &self,
        p: Principal,
        _: &mut http::request::Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        MaybeReady::Ready(if p.client_id() == Some(self.0) {
            Ok(p)
        } else {
            Err(AuthError::forbidden("this client may not call this API"))
        })
    }
}

#[tokio::test]
async fn custom_authorize_stage_forbidden_is_403_with_an_insufficient_scope_challenge() {
    let app = app(builder().authorize(OnlyClient("someone-else")).build());
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::FORBIDDEN,
        r#"{"error":"access_denied","error_description":"this client may not call this API"}"#,
        // RFC 6750 §3: the token does not enable access; §3.1's code for a 403.
        &[
            r#"Bearer realm="orders", error="insufficient_scope", error_description="this client may not call this API""#,
        ],
    );
    let app = self::app(builder().authorize(OnlyClient("app-1")).build());
    let r = send(
        &app,
        get_req("/maybe")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1");
}

/// A verifier whose backend is down, answering at once.
struct Down;

impl Verifier for Down {
    fn verify(&self, _: &Credential<'_>) -> Verification {
        MaybeReady::Ready(Err(VerifyError::unavailable("the key server is down")))
    }
}

#[tokio::test]
async fn unavailable_verifier_is_503_never_2xx() {
    const BODY: &str =
        r#"{"error":"temporarily_unavailable","error_description":"the key server is down"}"#;
    let sync_app = app(GatekeeperLayer::builder(Down).realm(REALM).build());
    let async_app = app(GatekeeperLayer::builder(|_: Credential<'static>| async {
        tokio::task::yield_now().await;
        Err::<Principal, _>(VerifyError::unavailable("the key server is down"))
    })
    .realm(REALM)
    .build());
    for app in [&sync_app, &async_app] {
        let r = send(
            app,
            get_req("/ok")
                .header(AUTHORIZATION, bearer(&token()))
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_refusal(StatusCode::SERVICE_UNAVAILABLE, BODY, &[]);
    }
    // Even through a FirstMatch chain whose later verifier could have said yes.
    let chain = app(
        GatekeeperLayer::builder(FirstMatch::new().or(Down).or(jwt()))
            .realm(REALM)
            .build(),
    );
    let r = send(
        &chain,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(StatusCode::SERVICE_UNAVAILABLE, BODY, &[]);
}

#[tokio::test]
async fn huawei_responder() {
    let app = app(builder()
        .responder(JsonResponder::Huawei)
        .require_scopes(["admin"])
        .build());
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, "Bearer opaque")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::UNAUTHORIZED,
        r#"{"error_code":"invalid_token","error_msg":"the credential is not accepted here"}"#,
        &[r#"Bearer realm="orders", error="invalid_token", error_description="the credential is not accepted here""#],
    );
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::FORBIDDEN,
        r#"{"error_code":"insufficient_scope","error_msg":"the request requires the admin scope"}"#,
        &[r#"Bearer realm="orders", error="insufficient_scope", error_description="the request requires the admin scope", scope="admin""#],
    );
}

#[tokio::test]
async fn hengshi_responder() {
    let app = app(builder()
        .responder(JsonResponder::Hengshi)
        .sources(CredentialSources::new().query("access_token"))
        .build());
    let r = send(&app, get_req("/ok").body(empty()).unwrap()).await;
    r.assert_refusal(
        StatusCode::UNAUTHORIZED,
        r#"{"code":401,"msg":"no credential was presented"}"#,
        &[BEARER_CHALLENGE],
    );
    let r = send(
        &app,
        get_req("/ok?access_token=a&access_token=b")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::BAD_REQUEST,
        r#"{"code":400,"msg":"more than one credential was presented (RFC 6750 section 2)"}"#,
        &[MORE_THAN_ONE_CHALLENGE],
    );
}

#[tokio::test]
async fn closure_responder_controls_only_the_body() {
    let app = app(builder()
        .responder(|err: &AuthError| ErrorBody {
            content_type: HeaderValue::from_static("text/plain; charset=utf-8"),
            bytes: format!(
                "{}|{}|{}",
                err.status().as_u16(),
                err.code(),
                err.description()
            )
            .into(),
        })
        .build());
    let r = send(&app, get_req("/ok").body(empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text(), "401|unauthorized|no credential was presented");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.challenges(), [BEARER_CHALLENGE]);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
}
