//! End to end: start the quickstart example as a process and talk to it over loopback.

#[path = "support/quickstart.rs"]
mod quickstart;
use quickstart::{Quickstart, Reply, send};

fn start(extra: &[&str]) -> Quickstart {
    Quickstart::start(extra)
}

use http::{Method, StatusCode};
use serde_json::{Value, json};

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

async fn token(base: &str, id: &str, secret: &str) -> Reply {
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    send(Method::POST, &format!("{base}/oauth/token"), &[FORM], &body).await
}

#[tokio::test]
async fn quickstart_end_to_end() {
    let qs = start(&[]);
    let base = qs.base.as_str();

    // A token from the token endpoint.
    let reply = token(base, "demo-app", "demo-app-secret").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers["cache-control"], "no-store");
    let answer = reply.json();
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["scope"], "orders:read orders:write");
    assert!(answer["expires_in"].as_u64().unwrap() > 0);
    let tok = answer["access_token"].as_str().unwrap().to_owned();

    let expected = |source: &str| {
        json!({
            "subject": "demo-app", "kind": "client", "client_id": "demo-app", "scopes": ["orders:read", "orders:write"],
            "actor": null, "tenant": null, "credential": {"scheme": "bearer", "source": source}
        })
    };

    // In the header, the query, a form body and a JSON body.
    let bearer = format!("Bearer {tok}");
    let r = send(
        Method::GET,
        &format!("{base}/whoami"),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json(), expected("header"));
    assert!(r.headers.get("cache-control").is_none());

    let r = send(
        Method::GET,
        &format!("{base}/whoami?access_token={tok}"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json(), expected("query"));
    assert_eq!(r.headers["cache-control"], "private");

    let r = send(
        Method::POST,
        &format!("{base}/whoami"),
        &[FORM],
        &format!("access_token={tok}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json(), expected("body"));

    let json_body = json!({"access_token": tok}).to_string();
    let r = send(
        Method::POST,
        &format!("{base}/whoami"),
        &[("content-type", "application/json")],
        &json_body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json(), expected("body"));

    // A published API answers with its id.
    let r = send(
        Method::GET,
        &format!("{base}/api/orders/42"),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut with_api = expected("header");
    with_api["api"] = json!("orders");
    assert_eq!(r.json(), with_api);

    // An API key and a Basic user.
    let r = send(
        Method::GET,
        &format!("{base}/api/reports"),
        &[("x-api-key", "qs-demo-api-key-0001")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["subject"], "reporting-service");
    assert_eq!(
        r.json()["credential"],
        json!({"scheme": "api_key", "source": "header"})
    );

    let alice = "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ="; // alice:alice-password
    let r = send(
        Method::GET,
        &format!("{base}/api/orders"),
        &[("authorization", alice)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["subject"], "1001");
    assert_eq!(
        r.json()["credential"],
        json!({"scheme": "basic", "source": "header"})
    );
}

#[tokio::test]
async fn quickstart_refusals() {
    let qs = start(&[]);
    let base = qs.base.as_str();
    let tok = token(base, "demo-app", "demo-app-secret").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {tok}");
    let whoami = format!("{base}/whoami");

    // No credential: a bare challenge for each scheme (API keys name their header); the
    // Bearer one names the RFC 9728 resource metadata (§5.1).
    let r = send(Method::GET, &whoami, &[], "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = r
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let bearer_challenge = format!(
        "Bearer realm=\"quickstart\", resource_metadata=\"{base}/.well-known/oauth-protected-resource\""
    );
    assert_eq!(
        challenges,
        [
            bearer_challenge.as_str(),
            "Basic realm=\"quickstart\", charset=\"UTF-8\"",
            "ApiKey realm=\"quickstart\", header=\"x-api-key\""
        ]
    );
    assert_eq!(r.headers["cache-control"], "no-store");

    // A forged or altered token.
    let mut forged = tok.clone();
    forged.pop();
    forged.push(if tok.ends_with('A') { 'B' } else { 'A' });
    let r = send(
        Method::GET,
        &whoami,
        &[("authorization", &format!("Bearer {forged}"))],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    assert_eq!(r.json()["error"], "invalid_token");

    // Two credentials, or a malformed one.
    let r = send(
        Method::GET,
        &format!("{whoami}?access_token={tok}"),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "invalid_request");
    let r = send(Method::GET, &whoami, &[("authorization", "Bearer a b")], "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Wrong password, unknown key, wrong scheme for an API.
    let r = send(
        Method::GET,
        &whoami,
        &[("authorization", "Basic YWxpY2U6d3Jvbmc=")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(Method::GET, &whoami, &[("x-api-key", "no-such-key")], "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let alice = "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=";
    let r = send(
        Method::GET,
        &format!("{base}/api/reports"),
        &[("authorization", alice)],
        "",
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "reports does not accept Basic"
    );
    // A disabled user, even with the right password.
    let carol = "Basic Y2Fyb2w6Y2Fyb2wtcGFzc3dvcmQ="; // carol:carol-password
    let r = send(Method::GET, &whoami, &[("authorization", carol)], "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // The token endpoint's own refusals.
    let r = token(base, "demo-app", "wrong-secret").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "invalid_client");
    assert!(!r.body.contains("wrong-secret"));
    let r = token(base, "retired-app", "retired-app-secret").await;
    assert_eq!(r.json()["error"], "invalid_client");
    let body =
        "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret&scope=sudo";
    let r = send(Method::POST, &format!("{base}/oauth/token"), &[FORM], body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "invalid_scope");
    let r = send(
        Method::POST,
        &format!("{base}/oauth/token"),
        &[FORM],
        "grant_type=password",
    )
    .await;
    assert_eq!(r.json()["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn quickstart_get_token_endpoint_and_custom_config() {
    // A config of one's own, given with --config.
    let dir = std::env::temp_dir().join(format!("gatekeeper-qs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("custom.toml");
    std::fs::write(
        &config,
        r#"
issuer = "custom-issuer"
audience = "custom-api"
token_lifetime_secs = 120
[compat]
get_token_requests = true
[signing_key]
algorithm = "HS256"
secret = "custom-secret-of-at-least-32-bytes-long"
[[clients]]
client_id = "solo"
client_secret = "solo-secret"
scopes = ["a", "b"]
"#,
    )
    .unwrap();
    let qs = start(&["--config", config.to_str().unwrap()]);
    let url = format!(
        "{}/oauth/token?grant_type=client_credentials&client_id=solo&client_secret=solo-secret&scope=a",
        qs.base
    );
    let r = send(Method::GET, &url, &[], "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["expires_in"], 120);
    assert_eq!(r.json()["scope"], "a");
    let tok = r.json()["access_token"].as_str().unwrap().to_owned();
    let r = send(
        Method::GET,
        &format!("{}/whoami", qs.base),
        &[("authorization", &format!("Bearer {tok}"))],
        "",
    )
    .await;
    assert_eq!(r.json()["scopes"], json!(["a"]));
    let _ = std::fs::remove_dir_all(&dir);
}

async fn admin_action(base: &str, bearer: &str, body: Value) -> Reply {
    send(
        Method::POST,
        &format!("{base}/admin/apis/authorize/action"),
        &[
            ("authorization", bearer),
            ("content-type", "application/json"),
        ],
        &body.to_string(),
    )
    .await
}

async fn bearer_for(base: &str, id: &str, secret: &str) -> String {
    let r = token(base, id, secret).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    format!("Bearer {}", r.json()["access_token"].as_str().unwrap())
}

async fn advance(base: &str, secs: u64) {
    let body = json!({ "advance_secs": secs }).to_string();
    let r = send(
        Method::POST,
        &format!("{base}/_demo/clock"),
        &[("content-type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn quickstart_grant_lifecycle() {
    let qs = start(&["--manual-clock"]);
    let base = qs.base.as_str();
    let admin = bearer_for(base, "admin-console", "admin-console-secret").await;
    let bi = bearer_for(base, "bi-integration", "bi-integration-secret").await;
    let reports = format!("{base}/api/reports");
    let orders = format!("{base}/api/orders");
    let far = "2031-01-01T00:00:00Z";

    // No grant yet: default deny.
    let r = send(Method::GET, &reports, &[("authorization", &bi)], "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // Authorize, call.
    let r = admin_action(base, &admin, json!({"api_id": "reports", "app_id": "bi-integration", "apply_type": "APPLY_TYPE_AUTHORIZE", "time": "2030-06-01T00:00:00Z"})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = send(Method::GET, &reports, &[("authorization", &bi)], "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["api"], "reports");

    // Renew: later works, the same time does not.
    let renew = json!({"api_id": "reports", "app_id": "bi-integration", "apply_type": "APPLY_TYPE_AUTHORIZE", "time": far});
    assert_eq!(
        admin_action(base, &admin, renew.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    let r = admin_action(base, &admin, renew).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error_code"], "RENEW_MUST_EXTEND");

    // The app revokes its own grant: at once.
    let r = admin_action(base, &bi, json!({"api_id": "reports", "app_id": "bi-integration", "apply_type": "APPLY_TYPE_APP_CANCEL_AUTHORIZE"})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = send(Method::GET, &reports, &[("authorization", &bi)], "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );

    // Apply, pending, approve.
    let r = admin_action(base, &bi, json!({"api_id": "orders", "app_id": "bi-integration", "apply_type": "APPLY_TYPE_APPLY", "time": far})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = send(Method::GET, &orders, &[("authorization", &bi)], "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("approval")
    );
    let r = send(
        Method::POST,
        &format!("{base}/admin/apis/authorize/approve"),
        &[
            ("authorization", &admin),
            ("content-type", "application/json"),
        ],
        &json!({"api_id": "orders", "app_id": "bi-integration"}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        send(Method::GET, &orders, &[("authorization", &bi)], "")
            .await
            .status,
        StatusCode::OK
    );

    // Provider revoke: still works through the notice period, then stops.
    let r = admin_action(base, &admin, json!({"api_id": "orders", "app_id": "bi-integration", "apply_type": "APPLY_TYPE_API_CANCEL_AUTHORIZE"})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        send(Method::GET, &orders, &[("authorization", &bi)], "")
            .await
            .status,
        StatusCode::OK
    );
    advance(base, 86_400).await;
    let bi = bearer_for(base, "bi-integration", "bi-integration-secret").await; // tokens live an hour
    assert_eq!(
        send(Method::GET, &orders, &[("authorization", &bi)], "")
            .await
            .status,
        StatusCode::OK,
        "one day in"
    );
    advance(base, 86_400).await;
    let bi = bearer_for(base, "bi-integration", "bi-integration-secret").await;
    let r = send(Method::GET, &orders, &[("authorization", &bi)], "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "two days in: {}", r.body);

    // Who may do what, over HTTP.
    let demo = bearer_for(base, "demo-app", "demo-app-secret").await;
    let r = admin_action(base, &demo, json!({"api_id": "orders", "app_id": "demo-app", "apply_type": "APPLY_TYPE_AUTHORIZE", "time": far})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = admin_action(base, &demo, json!({"api_id": "orders", "app_id": "bi-integration", "apply_type": "APPLY_TYPE_APP_CANCEL_AUTHORIZE"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn quickstart_sudo_by_each_selector_in_each_tenant_form() {
    let qs = start(&[]);
    let base = qs.base.as_str();
    let bi = bearer_for(base, "bi-integration", "bi-integration-secret").await;
    let whoami = format!("{base}/whoami");

    // Every way of naming alice (uid 1001, tenant t-100 "acme").
    let selectors = [
        "uid:1001",
        "loginName:alice",
        "loginName:Alice",
        "email:alice@EXAMPLE.com",
        "mobile:%2B86%20138%200013%208000",
        "username:alice",
    ];
    // Every way of naming her tenant: query id, query code, both, header id, header code.
    let tenant_forms: [(&str, Option<(&str, &str)>); 5] = [
        ("&tenantId=t-100", None),
        ("&tenantCode=acme", None),
        ("&tenantId=t-100&tenantCode=acme", None),
        ("", Some(("x-tenant-id", "t-100"))),
        ("", Some(("x-tenant-code", "acme"))),
    ];
    for selector in selectors {
        for (query, header) in tenant_forms {
            let url = format!("{whoami}?sudo={selector}{query}");
            let mut headers = vec![("authorization", bi.as_str())];
            headers.extend(header);
            let r = send(Method::GET, &url, &headers, "").await;
            assert_eq!(
                r.status,
                StatusCode::OK,
                "{selector} {query} {header:?}: {}",
                r.body
            );
            assert_eq!(
                r.json(),
                json!({
                    "subject": "1001", "kind": "user", "client_id": null, "scopes": ["orders:read"],
                    "actor": {"subject": "bi-integration", "client_id": "bi-integration"},
                    "tenant": {"id": "t-100", "code": "acme"},
                    "credential": {"scheme": "bearer", "source": "header"}
                }),
                "{selector} {query} {header:?}"
            );
            assert_eq!(
                r.headers.contains_key("warning"),
                selector.starts_with("username:"),
                "only the deprecated selector is warned about"
            );
        }
    }

    // The sudo header works as the query does.
    let r = send(
        Method::GET,
        &whoami,
        &[("authorization", &bi), ("x-sudo", "loginName:bob")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["subject"], "1002");

    // Refusals.
    let cases: [(&str, StatusCode); 10] = [
        ("sudo=uid:1003", StatusCode::FORBIDDEN),   // disabled
        ("sudo=uid:9999", StatusCode::FORBIDDEN),   // unknown
        ("sudo=UID:1001", StatusCode::BAD_REQUEST), // selectors are case-sensitive
        ("sudo=uid:1001&tenantCode=globex", StatusCode::FORBIDDEN), // not her tenant
        // A member of a tenant either names (bob: both; alice: t-100) learns that they
        // disagree; a pair naming none of alice's tenants gets her the 403.
        (
            "sudo=uid:1002&tenantId=t-100&tenantCode=globex",
            StatusCode::BAD_REQUEST,
        ),
        (
            "sudo=uid:1001&tenantId=t-100&tenantCode=globex",
            StatusCode::BAD_REQUEST,
        ),
        (
            "sudo=uid:1001&tenantId=t-200&tenantCode=globex",
            StatusCode::FORBIDDEN,
        ),
        (
            "sudo=uid:1001&tenantId=t-200&tenantCode=no-such",
            StatusCode::FORBIDDEN,
        ),
        ("sudo=uid:1001&sudo=uid:1001", StatusCode::BAD_REQUEST),
        ("sudo=email:%ZZ", StatusCode::BAD_REQUEST),
    ];
    for (query, status) in cases {
        let r = send(
            Method::GET,
            &format!("{whoami}?{query}"),
            &[("authorization", &bi)],
            "",
        )
        .await;
        assert_eq!(r.status, status, "{query}: {}", r.body);
    }
    // A caller without the sudo scope gets the same answer whoever it names.
    let demo = bearer_for(base, "demo-app", "demo-app-secret").await;
    let a = send(
        Method::GET,
        &format!("{whoami}?sudo=uid:1001"),
        &[("authorization", &demo)],
        "",
    )
    .await;
    let b = send(
        Method::GET,
        &format!("{whoami}?sudo=uid:9999"),
        &[("authorization", &demo)],
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!((a.status, a.body.clone()), (b.status, b.body));
    assert!(
        a.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("scope=\"sudo\"")
    );

    // Under sudo, /api/* checks the caller's (bi-integration's) grant, not alice's.
    let orders = format!("{base}/api/orders?sudo=loginName:alice&tenantCode=acme");
    let r = send(Method::GET, &orders, &[("authorization", &bi)], "").await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "alice's own grant does not lend access: {}",
        r.body
    );
    let admin = bearer_for(base, "admin-console", "admin-console-secret").await;
    let r = admin_action(base, &admin, json!({"api_id": "orders", "app_id": "bi-integration", "apply_type": "APPLY_TYPE_AUTHORIZE", "time": "2030-06-01T00:00:00Z"})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = send(Method::GET, &orders, &[("authorization", &bi)], "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["subject"], "1001");
    assert_eq!(r.json()["api"], "orders");
    assert_eq!(r.json()["tenant"]["code"], "acme");
}

#[tokio::test]
async fn quickstart_token_lifecycle_and_accounts() {
    let qs = start(&[]);
    let base = qs.base.as_str();
    let admin = bearer_for(base, "admin-console", "admin-console-secret").await;
    let demo = bearer_for(base, "demo-app", "demo-app-secret").await;
    let token = demo.trim_start_matches("Bearer ").to_owned();
    let whoami = format!("{base}/whoami");

    // Check and introspect a live token.
    let r = send(
        Method::GET,
        &format!("{base}/oauth/token/check?token={token}"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["scope"], "orders:read orders:write");
    assert!(r.json()["expires_in"].as_u64().unwrap() <= 3600);
    let basic = "Basic b3JkZXJzLXJzOm9yZGVycy1ycy1zZWNyZXQ="; // orders-rs:orders-rs-secret
    let introspect = format!("{base}/oauth/token/introspect");
    let r = send(
        Method::POST,
        &introspect,
        &[FORM, ("authorization", basic)],
        &format!("token={token}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["active"], true);
    assert_eq!(r.json()["client_id"], "demo-app");

    // Disable the client through the admin service: refused on the next request; re-enabled: back.
    let disable = format!("{base}/admin/clients/demo-app/disable");
    let r = send(Method::POST, &disable, &[("authorization", &admin)], "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        send(Method::GET, &whoami, &[("authorization", &demo)], "")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let enable = format!("{base}/admin/clients/demo-app/enable");
    assert_eq!(
        send(Method::POST, &enable, &[("authorization", &admin)], "")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(Method::GET, &whoami, &[("authorization", &demo)], "")
            .await
            .status,
        StatusCode::OK
    );

    // Revoke (RFC 7009, by its own client): refused on the next request, inactive when introspected.
    let own = "Basic ZGVtby1hcHA6ZGVtby1hcHAtc2VjcmV0"; // demo-app:demo-app-secret
    let r = send(
        Method::POST,
        &format!("{base}/oauth/token/revoke"),
        &[FORM, ("authorization", own)],
        &format!("token={token}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        send(Method::GET, &whoami, &[("authorization", &demo)], "")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = send(
        Method::POST,
        &introspect,
        &[FORM, ("authorization", basic)],
        &format!("token={token}"),
    )
    .await;
    assert_eq!(r.json(), json!({"active": false}));

    // Create a client and a user through the admin service; both can then authenticate.
    let r = send(
        Method::POST,
        &format!("{base}/admin/clients"),
        &[
            ("authorization", &admin),
            ("content-type", "application/json"),
        ],
        &json!({"client_id": "new-app", "scopes": ["orders:read"], "token_format": "opaque"})
            .to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.json()["client_secret"].as_str().unwrap().to_owned();
    let fresh = bearer_for(base, "new-app", &secret).await;
    assert!(!fresh.contains('.'), "the new client gets opaque tokens");
    let r = send(Method::GET, &whoami, &[("authorization", &fresh)], "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["client_id"], "new-app");

    let r = send(
        Method::POST,
        &format!("{base}/admin/users"),
        &[("authorization", &admin), ("content-type", "application/json")],
        &json!({"uid": "2001", "login_name": "dave", "password": "dave-password", "tenants": ["t-100"]}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let dave = "Basic ZGF2ZTpkYXZlLXBhc3N3b3Jk"; // dave:dave-password
    assert_eq!(
        send(Method::GET, &whoami, &[("authorization", dave)], "")
            .await
            .status,
        StatusCode::OK
    );
    let r = send(
        Method::POST,
        &format!("{base}/admin/users/2001/disable"),
        &[("authorization", &admin)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(Method::GET, &whoami, &[("authorization", dave)], "")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Only an account administrator may do this.
    let r = send(
        Method::POST,
        &format!("{base}/admin/users/2001/enable"),
        &[("authorization", &fresh)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
