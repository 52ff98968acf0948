//! Extraction.

use super::*;

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let app = app(builder().build());
    let t = token();
    for value in [
        format!("Bearer {t}"),
        format!("bearer {t}"),
        format!("BEARER {t}"),
        format!("bEaReR {t}"),
        format!("Bearer   {t}  "),
    ] {
        let r = send(
            &app,
            get_req("/maybe")
                .header(AUTHORIZATION, &value)
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_ok_text("app-1");
    }
}

#[tokio::test]
async fn bearer_token_that_is_not_a_b64token_is_400() {
    let app = app(builder().build());
    for value in [
        "Bearer abc def",
        "Bearer a=b",
        "Bearer a,b",
        "Bearer a@b",
        "Bearer \"abc\"",
        "Bearer ==",
        "Bearer tök",
        "Bearer a.b.c, Bearer d.e.f",
    ] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, HeaderValue::from_str(value).unwrap())
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_refusal(
            StatusCode::BAD_REQUEST,
            B64TOKEN_ERROR,
            &[r#"Bearer realm="orders", error="invalid_request", error_description="the bearer token is not a valid b64token (RFC 6750 section 2.1)""#],
        );
    }
}

/// RFC 9110 §11.4 separates the scheme by spaces only: `Bearer<TAB>token` (or `Bearer:token`) is a malformed
/// bearer credential (400), not another scheme to pass over — alone it would be told "no
/// credential", and beside a token in the query it would let that one through as the only one.
#[tokio::test]
async fn a_tab_after_the_scheme_is_400() {
    let app = app(builder()
        .sources(CredentialSources::new().query("access_token"))
        .build());
    let t = token();
    for (value, uri) in [
        (format!("Bearer\t{t}"), "/ok".to_owned()),
        (format!("bearer\t {t}"), "/ok".to_owned()),
        (format!("Bearer\t{t}"), format!("/ok?access_token={t}")),
        (format!("Bearer:{t}"), format!("/ok?access_token={t}")),
        (format!("Bearer,{t}"), format!("/ok?access_token={t}")),
        (format!("bearer={t}"), "/ok".to_owned()),
    ] {
        let r = send(
            &app,
            get_req(&uri)
                .header(AUTHORIZATION, HeaderValue::from_str(&value).unwrap())
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{value:?} {uri}");
        assert_eq!(r.text(), MALFORMED_ERROR, "{value:?} {uri}");
    }
    // A scheme the layer does not take is still passed over, tab or not, and so is a longer
    // scheme name that starts like ours.
    for value in ["Digest\tx", "BearerX\tx", "Bearerx abc"] {
        let r = send(
            &app,
            get_req(&format!("/ok?access_token={t}"))
                .header(AUTHORIZATION, HeaderValue::from_static(value))
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_ok_text("ok");
    }
}

#[tokio::test]
async fn empty_bearer_is_400() {
    let app = app(builder().build());
    for value in ["Bearer ", "Bearer", "bearer    "] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, value)
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{value:?}");
        assert_eq!(r.text(), B64TOKEN_ERROR);
    }
}

#[tokio::test]
async fn oversized_and_non_utf8_credentials_are_400() {
    let app = app(builder()
        .sources(CredentialSources::new().query("access_token"))
        .build());
    let long = "a".repeat(16 * 1024 + 1);
    let r = send(
        &app,
        get_req("/ok")
            .header(AUTHORIZATION, bearer(&long))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text(), MALFORMED_ERROR);

    let r = send(
        &app,
        get_req(&format!("/ok?access_token={long}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text(), MALFORMED_ERROR);

    let r = send(
        &app,
        get_req("/ok")
            .header(
                AUTHORIZATION,
                HeaderValue::from_bytes(b"Bearer abc\xff").unwrap(),
            )
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text(), MALFORMED_ERROR);
}

#[tokio::test]
async fn longest_accepted_credential_is_16_kib() {
    // An opaque token of exactly MAX_CREDENTIAL_LEN bytes reaches the verifier.
    let long = "k".repeat(16 * 1024);
    let keys = ApiKeyStore::new();
    keys.insert(&long, Identity::new("long-key")).await.unwrap();
    let app = app(
        GatekeeperLayer::builder(ApiKeyVerifier::new(keys).accept_bearer(true))
            .realm(REALM)
            .build(),
    );
    let r = send(
        &app,
        get_req("/maybe")
            .header(AUTHORIZATION, bearer(&long))
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("long-key");
}

#[tokio::test]
async fn other_schemes_are_no_credential() {
    let app = app(builder().build());
    for value in [
        "Digest username=\"a\"",
        "Negotiate abc",
        basic("alice", "x").as_str(),
    ] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, value)
                .body(empty())
                .unwrap(),
        )
        .await;
        // Basic is off by default: no Basic challenge either.
        r.assert_missing();
    }
}

#[tokio::test]
async fn basic_password_containing_colons_works() {
    let app = full_app().await;
    let r = send(
        &app,
        get_req("/whoami")
            .header(AUTHORIZATION, basic("alice", ALICE_PASSWORD))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({
            "subject": "u-alice", "kind": "user", "client_id": null, "scopes": ["orders:read"],
            "actor": null, "tenant": null,
            "credential": {"scheme": "basic", "source": "header"}
        })
    );

    // Case-insensitive scheme, too; and unpadded base64 is accepted.
    let unpadded = B64
        .encode(format!("alice:{ALICE_PASSWORD}"))
        .trim_end_matches('=')
        .to_owned();
    for value in [
        basic("alice", ALICE_PASSWORD).replace("Basic", "bAsIc"),
        format!("Basic {unpadded}"),
    ] {
        let r = send(
            &app,
            get_req("/maybe")
                .header(AUTHORIZATION, value)
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_ok_text("u-alice");
    }
}

#[tokio::test]
async fn basic_wrong_password_is_401_with_both_challenges() {
    let app = full_app().await;
    for (user, password) in [("alice", "pa:ss"), ("nobody", ALICE_PASSWORD)] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, basic(user, password))
                .body(empty())
                .unwrap(),
        )
        .await;
        // RFC 6750 §3.1's `invalid_token` speaks of an access token: a refused password
        // leaves the Bearer challenge bare (the body still says why).
        r.assert_refusal(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_token","error_description":"invalid user name or password"}"#,
            &[
                r#"Bearer realm="orders""#,
                BASIC_CHALLENGE,
                API_KEY_CHALLENGE,
            ],
        );
    }
}

#[tokio::test]
async fn malformed_basic_credentials_are_400() {
    let app = full_app().await;
    for value in [
        "Basic !!!not-base64!!!".to_owned(),
        "Basic ".to_owned(),
        basic_raw(b"no-colon-here"),
        basic_raw(b":empty-user"),
        basic_raw(b"alice:pa\x07ss"),
        basic_raw(b"alice:pa\nss"),
        basic_raw(b"al\x7fice:pass"),
        basic_raw(b"alice:\xff\xfe"),
    ] {
        let r = send(
            &app,
            get_req("/ok")
                .header(AUTHORIZATION, &value)
                .body(empty())
                .unwrap(),
        )
        .await;
        r.assert_refusal(
            StatusCode::BAD_REQUEST,
            BASIC_ERROR,
            &[r#"Bearer realm="orders", error="invalid_request", error_description="malformed Basic credentials (RFC 7617)""#],
        );
    }
}

#[tokio::test]
async fn named_token_header_and_api_key_header() {
    let app = full_app().await;
    let r = send(
        &app,
        get_req("/whoami")
            .header("x-auth-token", token())
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["credential"],
        json!({"scheme": "bearer", "source": "header"})
    );

    let r = send(
        &app,
        get_req("/whoami")
            .header("X-API-Key", " key-123\t")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["credential"],
        json!({"scheme": "api_key", "source": "header"})
    );

    // An unknown key is an invalid token.
    let r = send(
        &app,
        get_req("/ok")
            .header("x-api-key", "key-999")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_refusal(
        StatusCode::UNAUTHORIZED,
        r#"{"error":"invalid_token","error_description":"the key is unknown or revoked"}"#,
        // An API key is no access token: the Bearer challenge stays bare.
        &[
            r#"Bearer realm="orders""#,
            BASIC_CHALLENGE,
            API_KEY_CHALLENGE,
        ],
    );

    // An empty or blank named header is malformed.
    for value in ["", "  ", "a b"] {
        let r = send(
            &app,
            get_req("/ok")
                .header("x-api-key", value)
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{value:?}");
        assert_eq!(r.text(), MALFORMED_ERROR);
    }
}

#[tokio::test]
async fn query_parameter() {
    let app = full_app().await;
    let r = send(
        &app,
        get_req(&format!("/whoami?a=1&access_token={}&b=2", token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["credential"],
        json!({"scheme": "bearer", "source": "query"})
    );

    // Percent-encoded values are decoded before verification.
    let r = send(
        &app,
        get_req("/maybe?access_token=key%2D123")
            .body(empty())
            .unwrap(),
    )
    .await;
    r.assert_ok_text("svc-reporting");

    // A parameter without a value is malformed, a different parameter is nothing.
    let r = send(&app, get_req("/ok?access_token").body(empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text(), MALFORMED_ERROR);
    let r = send(
        &app,
        get_req(&format!("/ok?access_tokens={}", token()))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text(), MISSING_ERROR);
}

#[tokio::test]
async fn form_body_field() {
    let app = full_app().await;
    for content_type in [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded ;charset=utf-8",
    ] {
        let r = send(
            &app,
            post_req("/whoami")
                .header(CONTENT_TYPE, content_type)
                .body(Body::from(format!("a=1&access_token={}&b=2", token())))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{content_type}: {}", r.text());
        assert_eq!(
            r.json()["credential"],
            json!({"scheme": "bearer", "source": "body"})
        );
    }
    // PUT with a form body works too.
    let body = format!("access_token={}", token());
    let r = send(
        &app,
        req(Method::PUT, "/echo")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.clone()))
            .unwrap(),
    )
    .await;
    r.assert_ok_text(&body);
}

#[tokio::test]
async fn json_body_field() {
    let app = full_app().await;
    for content_type in ["application/json", "application/json; charset=utf-8"] {
        let r = send(
            &app,
            post_req("/whoami")
                .header(CONTENT_TYPE, content_type)
                .body(Body::from(
                    json!({"nested": {"access_token": "no"}, "access_token": token(), "n": [1, 2]})
                        .to_string(),
                ))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{content_type}: {}", r.text());
        assert_eq!(
            r.json()["credential"],
            json!({"scheme": "bearer", "source": "body"})
        );
    }

    // A field that is not a string is malformed.
    let r = send(
        &app,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"access_token": 42}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text(),
        r#"{"error":"invalid_request","error_description":"the access token field in the JSON body is not a string"}"#
    );

    // A body that is not a JSON object holds no credential.
    for body in ["[1,2,3]", "{not json", "\"access_token\"", ""] {
        let r = send(
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{body:?}");
        assert_eq!(r.text(), MISSING_ERROR);
    }
}

#[tokio::test]
async fn json_body_with_trailing_data_is_not_a_credential() {
    let app = full_app().await;
    let t = token();
    for body in [
        format!(r#"{{"access_token":"{t}"}} trailing garbage"#),
        format!(r#"{{"access_token":"{t}"}}{{"access_token":"another"}}"#),
    ] {
        let r = send(
            &app,
            post_req("/maybe")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert!(
            r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::BAD_REQUEST,
            "{body}: {} {}",
            r.status,
            r.text()
        );
    }
}

#[tokio::test]
async fn get_and_head_bodies_are_never_read() {
    let app = full_app().await;
    for method in [Method::GET, Method::HEAD] {
        for content_type in ["application/x-www-form-urlencoded", "application/json"] {
            let r = send(
                &app,
                req(method.clone(), "/ok")
                    .header(CONTENT_TYPE, content_type)
                    .body(Body::new(PanicBody))
                    .unwrap(),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {content_type}"
            );
        }
    }
    // The same form body as a GET: not read, so no credential.
    let r = send(
        &app,
        get_req("/ok")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("access_token={}", token())))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text(), MISSING_ERROR);
}

#[tokio::test]
async fn bodies_with_another_content_type_are_not_read() {
    let app = full_app().await;
    let json_body = json!({"access_token": token()}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/vnd.api+json"),
        Some("application/jsonx"),
        None,
    ] {
        let mut b = post_req("/ok");
        if let Some(ct) = content_type {
            b = b.header(CONTENT_TYPE, ct);
        }
        let r = send(&app, b.body(Body::from(json_body.clone())).unwrap()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{content_type:?}");
        assert_eq!(r.text(), MISSING_ERROR);
    }

    // Only the configured format is read: a form body when only JSON is configured.
    let json_only = app_with_sources(CredentialSources::new().json_body("access_token"));
    let r = send(
        &json_only,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(PanicBody))
            .unwrap(),
    )
    .await;
    r.assert_missing();
    // A JSON body when only forms are configured.
    let form_only = app_with_sources(CredentialSources::new().form_body("access_token"));
    let r = send(
        &form_only,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::new(PanicBody))
            .unwrap(),
    )
    .await;
    r.assert_missing();
}

fn app_with_sources(sources: CredentialSources) -> Router {
    app(builder().sources(sources).build())
}

#[tokio::test]
async fn body_field_name_is_configurable() {
    let app = app_with_sources(
        CredentialSources::new()
            .form_body("token")
            .json_body("auth"),
    );
    let r = send(
        &app,
        post_req("/maybe")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={}", token())))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1");
    let r = send(
        &app,
        post_req("/maybe")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"auth": token()}).to_string()))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("app-1");
    // The default name is not read any more.
    let r = send(
        &app,
        post_req("/maybe")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"access_token": token()}).to_string()))
            .unwrap(),
    )
    .await;
    r.assert_missing();
}

fn limited_app(limit: usize) -> Router {
    app(builder()
        .sources(
            CredentialSources::new()
                .form_body("access_token")
                .json_body("access_token")
                .body_limit(limit),
        )
        .build())
}

#[tokio::test]
async fn content_length_above_the_limit_is_413_before_reading() {
    let app = limited_app(64);
    for content_type in ["application/x-www-form-urlencoded", "application/json"] {
        let r = send(
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, content_type)
                .header(CONTENT_LENGTH, "65")
                .body(Body::new(PanicBody))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.text(), TOO_LARGE_ERROR);
        // No challenge on 413, but never cached.
        assert!(r.challenges().is_empty());
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}

#[tokio::test]
async fn streamed_body_past_the_limit_is_413() {
    let app = limited_app(64);
    let chunk = "x".repeat(30);
    let r = send(
        &app,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(Chunks::new([
                format!("access_token={}", token()).into_bytes(),
                chunk.clone().into_bytes(),
                chunk.into_bytes(),
            ])))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.text(), TOO_LARGE_ERROR);

    // A Content-Length that lies (smaller than the body) does not get past the limit either.
    let r = send(
        &app,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_LENGTH, "10")
            .body(Body::new(Chunks::new(["y".repeat(40), "z".repeat(40)])))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.text(), TOO_LARGE_ERROR);
}

#[tokio::test]
async fn body_exactly_at_the_limit_passes() {
    let t = token();
    let body = format!("access_token={t}&pad=");
    let limit = body.len() + 5;
    let body = format!("{body}12345");
    assert_eq!(body.len(), limit);
    let app = limited_app(limit);
    let r = send(
        &app,
        post_req("/echo")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(CONTENT_LENGTH, limit.to_string())
            .body(Body::new(Chunks::new([body.clone()])))
            .unwrap(),
    )
    .await;
    r.assert_ok_text(&body);

    // One byte more is refused.
    let app = limited_app(limit - 1);
    let r = send(
        &app,
        post_req("/echo")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(Chunks::new([body])))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unreadable_body_is_400() {
    let app = limited_app(1024);
    let r = send(
        &app,
        post_req("/ok")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(FailingBody { sent: false }))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text(),
        r#"{"error":"invalid_request","error_description":"the request body could not be read"}"#
    );
}

#[tokio::test]
async fn handler_receives_exactly_the_bytes_the_layer_read() {
    let app = full_app().await;
    let t = token();
    // Several chunks, percent-encoding, `+`, raw non-UTF-8 bytes in another field.
    let mut form = format!("note=caf%C3%A9+%26+more&access_token={t}&raw=").into_bytes();
    form.extend_from_slice(b"\xff\xfe\x00end&last=");
    let split = form.len() / 3;
    let r = send(
        &app,
        post_req("/echo")
            .header(
                CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=UTF-8",
            )
            .body(Body::new(Chunks::new([
                form[..split].to_vec(),
                form[split..2 * split].to_vec(),
                form[2 * split..].to_vec(),
            ])))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, Bytes::from(form));

    let json_body = format!("  {{\"b\": [1, 2.50, \"\\u00e9\"],\n \"access_token\" : \"{t}\" }}  ");
    let r = send(
        &app,
        post_req("/echo")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::new(Chunks::new([json_body.clone()])))
            .unwrap(),
    )
    .await;
    r.assert_ok_text(&json_body);

    // In optional mode a body without a credential is handed on intact as well.
    let optional = app_optional().await;
    let r = send(
        &optional,
        post_req("/echo")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(Chunks::new(["a=1&", "b=%20"])))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("a=1&b=%20");
}

#[tokio::test]
async fn trailers_survive_buffering() {
    let app = full_app().await;
    let mut t = HeaderMap::new();
    t.insert("x-checksum", HeaderValue::from_static("abc123"));
    let body = format!("access_token={}", token());
    let r = send(
        &app,
        post_req("/trailers")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::new(Chunks::new([body.clone()]).with_trailers(t)))
            .unwrap(),
    )
    .await;
    r.assert_ok_text(&format!("{body}|abc123"));
}

#[tokio::test]
async fn head_credential_requests_of_other_content_types_are_never_buffered() {
    let app = full_app().await;
    // The handler does not read the body, and the layer must not either: no body source reads
    // these content types. (Form and JSON bodies are read, to refuse a second credential in
    // them: tests/body_credentials.rs.)
    for (uri, header) in [
        ("/ok".to_owned(), Some(bearer(&token()))),
        (format!("/ok?access_token={}", token()), None),
    ] {
        for content_type in [
            "text/plain",
            "application/octet-stream",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ] {
            let mut b = post_req(&uri).header(CONTENT_TYPE, content_type);
            if let Some(h) = &header {
                b = b.header(AUTHORIZATION, h);
            }
            let r = send(&app, b.body(Body::new(PanicBody)).unwrap()).await;
            r.assert_ok_text("ok");
        }
    }
    // And an echo handler gets the original (unbuffered) body.
    let r = send(
        &app,
        post_req("/echo")
            .header(AUTHORIZATION, bearer(&token()))
            .header(CONTENT_TYPE, "text/plain")
            .body(Body::new(Chunks::new(["access_token=whatever&x=", "1"])))
            .unwrap(),
    )
    .await;
    r.assert_ok_text("access_token=whatever&x=1");
}
