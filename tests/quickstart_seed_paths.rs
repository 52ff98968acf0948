//! The seed systems' literal requests against the quickstart binary over loopback: HENGSHI
//! BI's GET token / check / revoke under `/api/oauth2/server/tokens`, Azure AD's
//! `POST /{tenant}/oauth2/v2.0/token` with `scope=<resource>/.default`, Tapdata's
//! `POST /oauth/token`; the GET forms follow the config's `[compat]` keys; the alias routes sit
//! outside the gatekeeper while `/api/*` stays behind it.

#[path = "support/quickstart.rs"]
mod quickstart;
use quickstart::{Quickstart, send};

fn start(extra: &[&str]) -> Quickstart {
    Quickstart::start(extra)
}

use http::{Method, StatusCode};

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const HENGSHI_TOKEN: &str = "/api/oauth2/server/tokens?grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret";

#[tokio::test]
async fn hengshi_literal_requests_work_on_the_quickstart() {
    let qs = start(&[]);
    let base = qs.base.as_str();

    let r = send(
        Method::GET,
        &format!("{base}{HENGSHI_TOKEN}"),
        &[("accept", "application/json")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");

    let r = send(
        Method::GET,
        &format!("{base}/api/oauth2/server/tokens/check?token={token}"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["access_token"], token.as_str());
    assert_eq!(r.json()["scope"], "orders:read orders:write");

    // The published API behind the gatekeeper takes it.
    let r = send(
        Method::GET,
        &format!("{base}/api/orders"),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let r = send(
        Method::GET,
        &format!("{base}/api/oauth2/server/tokens/revoke?token={token}"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["code"], 0);

    let r = send(
        Method::GET,
        &format!("{base}/api/oauth2/server/tokens/check?token={token}"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let challenge = r.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let r = send(
        Method::GET,
        &format!("{base}/api/orders"),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

#[tokio::test]
async fn the_aliases_are_exact_and_api_paths_stay_protected() {
    let qs = start(&[]);
    let base = qs.base.as_str();
    // Other paths under the aliases fall to `/api/{*path}`, behind the gatekeeper.
    for path in [
        "/api/oauth2/server/tokens/anything",
        "/api/oauth2/server/tokens/check/x",
        "/api/orders",
    ] {
        let r = send(Method::GET, &format!("{base}{path}"), &[], "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {}", r.body);
        assert!(!r.body.contains("access_token"), "{path}");
    }
    // Beside the token endpoint, only the four routes exist: other paths are not a token
    // endpoint. They match no route, so they are a plain 404, with or without a credential
    // (the gatekeeper wraps the protected routes only).
    let body = "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret";
    let r = send(Method::POST, &format!("{base}/oauth/token"), &[FORM], body).await;
    let bearer = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    for path in [
        "/oauth/token/anything",
        "/oauth/token/",
        "/oauth/token/check/x",
        "/x/oauth2/v2.0/token/y",
    ] {
        let r = send(Method::POST, &format!("{base}{path}"), &[FORM], body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
        assert!(!r.body.contains("access_token"), "{path}");
        let headers = [FORM, ("authorization", bearer.as_str())];
        let r = send(Method::POST, &format!("{base}{path}"), &headers, body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
        assert!(!r.body.contains("access_token"), "{path}");
    }
    // Tapdata's POST /oauth/token.
    let r = send(Method::POST, &format!("{base}/oauth/token"), &[FORM], body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn the_azure_seed_request_works_on_the_quickstart() {
    let qs = start(&[]);
    let base = qs.base.as_str();
    // Seed 001, as its curl example sends it.
    let body = "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret&Type=oauth2&scope=d6b7c858-55fa-4d04-85a6-131af690abd4%2F.default";
    for tenant in [
        "387c56a8-cf86-45de-b9f5-b4de88cac054",
        "41ebb163-adc1-4068-9087-eb79c718b633",
    ] {
        let r = send(
            Method::POST,
            &format!("{base}/{tenant}/oauth2/v2.0/token"),
            &[FORM],
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{tenant}: {}", r.body);
        let answer = r.json();
        assert_eq!(answer["token_type"], "Bearer");
        assert_eq!(answer["expires_in"], 3600);
        assert_eq!(answer["ext_expires_in"], 3600);
        assert_eq!(answer["scope"], "orders:read orders:write");
        let bearer = format!("Bearer {}", answer["access_token"].as_str().unwrap());
        let r = send(
            Method::GET,
            &format!("{base}/api/orders"),
            &[("authorization", &bearer)],
            "",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    // The audience names the resource too; another resource does not.
    let audience = "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret&scope=quickstart-api/.default";
    let r = send(
        Method::POST,
        &format!("{base}/oauth/token"),
        &[FORM],
        audience,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let other = "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret&scope=00000000-0000-0000-0000-000000000000/.default";
    let r = send(Method::POST, &format!("{base}/oauth/token"), &[FORM], other).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_scope");
}

#[tokio::test]
async fn the_rs256_config_sets_the_same_compat_keys() {
    let qs = start(&["--config", "examples/quickstart-rs256.toml"]);
    let base = qs.base.as_str();
    let r = send(Method::GET, &format!("{base}{HENGSHI_TOKEN}"), &[], "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn without_compat_keys_the_get_forms_are_off() {
    let dir = std::env::temp_dir().join(format!("gatekeeper-seed-paths-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("no-compat.toml");
    std::fs::write(
        &config,
        r#"
issuer = "plain"
audience = "plain-api"
[signing_key]
algorithm = "HS256"
secret = "plain-secret-of-at-least-32-bytes-long"
[[clients]]
client_id = "demo-app"
client_secret = "demo-app-secret"
scopes = ["a"]
"#,
    )
    .unwrap();
    let qs = start(&["--config", config.to_str().unwrap()]);
    let base = qs.base.as_str();
    for path in [
        HENGSHI_TOKEN,
        "/oauth/token?grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret",
    ] {
        let r = send(Method::GET, &format!("{base}{path}"), &[], "").await;
        assert_eq!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{path}: {}",
            r.body
        );
        assert_eq!(r.headers["allow"], "POST");
    }
    let body = "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret";
    let r = send(Method::POST, &format!("{base}/oauth/token"), &[FORM], body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let r = send(
        Method::GET,
        &format!("{base}/oauth/token/revoke?token={token}"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.body);
    // Still live: the refused GET revoked nothing.
    let r = send(
        Method::GET,
        &format!("{base}/oauth/token/check?token={token}"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let _ = std::fs::remove_dir_all(&dir);
}
