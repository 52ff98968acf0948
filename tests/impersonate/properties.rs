//! Properties.

use super::*;

/// Characters a request target may carry as they are; others are percent-encoded.
fn uri_safe(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/?%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("sudo".to_owned()),
        Just("su%64o".to_owned()),
        Just("%73udo".to_owned()),
        Just("tenantId".to_owned()),
        Just("tenantCode".to_owned()),
        Just("tenant%49d".to_owned()),
        "[a-zA-Z%]{0,6}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("uid:1001".to_owned()),
        Just("uid:1003".to_owned()),
        Just("uid:1002".to_owned()),
        Just("loginName:%C3%A5sa".to_owned()),
        Just("loginName:alice".to_owned()),
        Just("username:ALICE".to_owned()),
        Just("email:alice+ops@example.com".to_owned()),
        Just("email:alice%2Bops@example.com".to_owned()),
        Just("mobile:%2B86%20138%200013%208000".to_owned()),
        Just("t-1".to_owned()),
        Just("t-2".to_owned()),
        Just("globex".to_owned()),
        "(uid|loginName|email|mobile|username|UID)?:?[a-z0-9+%:@. ]{0,12}",
        "[%+:0-9A-Fa-f]{0,10}",
        "\\PC{0,8}",
        any::<String>(),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec((key(), prop::option::weighted(0.9, value())), 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k,
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn header_value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(
        0.25,
        prop_oneof![
            Just(b"uid:1001".to_vec()),
            Just(b"loginName:alice".to_vec()),
            Just(b"username:alice".to_vec()),
            Just("mobile:+86 138 0013 8000".as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..16),
            "\\PC{0,10}".prop_map(String::into_bytes),
        ],
    )
}

fn request(auth: &str, query: &str, headers: &[(&str, &Option<Vec<u8>>)]) -> Request<Body> {
    let mut uri = format!("/me?{}", uri_safe(query));
    if uri.parse::<http::Uri>().is_err() {
        uri = "/me".to_owned();
    }
    let mut req = Request::get(uri).header("authorization", auth);
    for (name, value) in headers {
        if let Some(value) = value
            && let Ok(value) = HeaderValue::from_bytes(value)
        {
            req = req.header(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
    }
    req.body(Body::empty()).unwrap()
}

const ALLOWED: [StatusCode; 4] = [
    StatusCode::OK,
    StatusCode::BAD_REQUEST,
    StatusCode::UNAUTHORIZED,
    StatusCode::FORBIDDEN,
];

#[test]
fn without_the_privilege_no_input_changes_who_the_caller_is() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = routes().layer(layer(
        Impersonation::new(rt.block_on(directory())).audit(Collect::default()),
    ));
    // Callers without the sudo privilege: an app, a directory user (who may pick its tenant),
    // a user with look-alike scopes and roles, a tenant-bound user.
    let callers: Vec<(String, &str)> = vec![
        (bearer(&plain()), "plain-app"),
        (
            bearer(&mint(
                &json!({"sub": "1002", "scope": "orders:read", "exp": now() + 600}),
            )),
            "1002",
        ),
        (
            bearer(&mint(&json!({
                "sub": "1004", "scope": "SUDO sudo: sudoers", "roles": ["Sudo", "admin"],
                "exp": now() + 600,
            }))),
            "1004",
        ),
        (
            bearer(&mint(
                &json!({"sub": "1004", "tenant": "t-1", "exp": now() + 600}),
            )),
            "1004",
        ),
    ];
    let strategy = (
        0..callers.len(),
        query(),
        header_value(),
        header_value(),
        header_value(),
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 768,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&strategy, |(who, query, x_sudo, x_id, x_code)| {
            let (auth, subject) = &callers[who];
            let req = request(
                auth,
                &query,
                &[
                    ("x-sudo", &x_sudo),
                    ("x-tenant-id", &x_id),
                    ("x-tenant-code", &x_code),
                ],
            );
            let r = rt.block_on(send(&app, req));
            prop_assert!(ALLOWED.contains(&r.status), "{query:?}: {}", r.status);
            if r.status.is_success() {
                let p = r.json();
                prop_assert_eq!(&p["subject"], subject, "{:?}", query);
                prop_assert_eq!(&p["actor"], &Value::Null, "{:?}", query);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn with_the_privilege_a_success_is_always_a_known_enabled_user() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = routes().layer(layer(
        Impersonation::new(rt.block_on(directory())).audit(Collect::default()),
    ));
    let auth = bearer(&admin());
    let strategy = (query(), header_value(), header_value());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&strategy, |(query, x_sudo, x_tenant)| {
            let req = request(
                &auth,
                &query,
                &[("x-sudo", &x_sudo), ("x-tenant-id", &x_tenant)],
            );
            let r = rt.block_on(send(&app, req));
            prop_assert!(ALLOWED.contains(&r.status), "{query:?}: {}", r.status);
            if r.status.is_success() {
                let p = r.json();
                let subject = p["subject"].as_str().unwrap();
                if subject == "admin-app" {
                    prop_assert_eq!(&p["actor"], &Value::Null);
                } else {
                    prop_assert!(
                        ["1001", "1002", "1004"].contains(&subject),
                        "{query:?} became {subject}"
                    );
                    prop_assert_eq!(
                        &p["actor"],
                        &json!({"subject": "admin-app", "client_id": "admin-app"})
                    );
                    let scopes = p["scopes"].as_array().unwrap();
                    prop_assert!(!scopes.contains(&json!("sudo")), "{query:?}");
                }
            }
            Ok(())
        })
        .unwrap();
}
