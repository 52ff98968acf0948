//! More than one credential.

use super::*;

#[tokio::test]
async fn more_than_one_credential_in_the_head_is_400() {
    let app = full_app().await;
    let t = token();
    let cases: Vec<(String, Vec<(&str, String)>)> = vec![
        // header + query
        (
            format!("/ok?access_token={t}"),
            vec![("authorization", bearer(&t))],
        ),
        // two Authorization headers, identical
        (
            "/ok".into(),
            vec![("authorization", bearer(&t)), ("authorization", bearer(&t))],
        ),
        // Bearer + Basic
        (
            "/ok".into(),
            vec![
                ("authorization", bearer(&t)),
                ("authorization", basic("alice", ALICE_PASSWORD)),
            ],
        ),
        // Authorization + named headers
        (
            "/ok".into(),
            vec![("authorization", bearer(&t)), ("x-auth-token", t.clone())],
        ),
        (
            "/ok".into(),
            vec![("x-api-key", "key-123".into()), ("x-auth-token", t.clone())],
        ),
        // repeated named header, identical
        (
            "/ok".into(),
            vec![
                ("x-api-key", "key-123".into()),
                ("x-api-key", "key-123".into()),
            ],
        ),
        // named header + query
        (
            format!("/ok?access_token={t}"),
            vec![("x-api-key", "key-123".into())],
        ),
        // repeated query parameter, different and identical values, and encoded name
        (format!("/ok?access_token={t}&access_token=other"), vec![]),
        (format!("/ok?access_token={t}&access_token={t}"), vec![]),
        (format!("/ok?access_token={t}&access%5Ftoken={t}"), vec![]),
        (
            format!("/ok?access%5ftoken={t}&x=1&access_token={t}"),
            vec![],
        ),
    ];
    for (uri, headers) in cases {
        let mut b = get_req(&uri);
        for (name, value) in &headers {
            b = b.header(*name, value);
        }
        let r = send(&app, b.body(empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri} {headers:?}");
        r.assert_more_than_one();
    }
}

#[tokio::test]
async fn more_than_one_credential_in_the_body_is_400() {
    let app = full_app().await;
    let t = token();
    let cases = [
        (
            "application/x-www-form-urlencoded",
            format!("access_token={t}&access_token=other"),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("access_token={t}&x=1&access_token={t}"),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("access_token={t}&access%5Ftoken={t}"),
        ),
        (
            "application/json",
            format!(r#"{{"access_token":"{t}","access_token":"{t}"}}"#),
        ),
        (
            "application/json",
            format!(r#"{{"access_token":"{t}","x":1,"access_token":"other"}}"#),
        ),
        (
            "application/json",
            format!(r#"{{"access\u005ftoken":"{t}","access_token":"{t}"}}"#),
        ),
    ];
    for (content_type, body) in cases {
        let r = send(
            &app,
            post_req("/ok")
                .header(CONTENT_TYPE, content_type)
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        r.assert_more_than_one();
    }
}
