//! Discovery on the quickstart process, over loopback: the issuer follows the bound address
//! unless the config names one; every URL in its RFC 8414 metadata answers; the RFC 9728
//! metadata and the challenges that point at it; paths that match no route are a plain 404
//! however the request is dressed; an issuer that is not a URL publishes nothing, one with a
//! path is refused at startup; the RS256 demo key is made at startup, never shipped.

#[path = "support/quickstart.rs"]
mod quickstart;
use quickstart::{Quickstart, Reply, command, send};

fn start(extra: &[&str]) -> Quickstart {
    Quickstart::start(extra)
}

use std::io::Read;
use std::process::Stdio;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// A config file of one's own, in a directory of this test process.
fn config_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("gatekeeper-discovery-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const CC: &str = "grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret";

async fn get(url: &str) -> Reply {
    send(Method::GET, url, &[], "").await
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn the_issuer_follows_the_bound_address_and_every_metadata_url_answers() {
    for config in ["examples/quickstart.toml", "examples/quickstart-rs256.toml"] {
        let qs = start(&["--config", config]);
        let base = qs.base.as_str();
        let r = get(&format!("{base}/.well-known/oauth-authorization-server")).await;
        assert_eq!(r.status, StatusCode::OK, "{config}: {}", r.body);
        let doc = r.json();
        // No `issuer` in the config: the issuer is where the server listens.
        assert_eq!(doc["issuer"], base, "{config}");
        assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));
        assert_eq!(
            doc["scopes_supported"],
            json!([
                "accounts:admin",
                "grants:admin",
                "orders:read",
                "orders:write",
                "sudo"
            ])
        );
        // OpenID Connect's location serves the same document.
        let oidc = get(&format!("{base}/.well-known/openid-configuration")).await;
        assert_eq!(oidc.json(), doc, "{config}");

        // Every URL answers what its member says.
        let url = |name: &str| doc[name].as_str().unwrap().to_owned();
        let r = send(Method::POST, &url("token_endpoint"), &[FORM], CC).await;
        assert_eq!(r.status, StatusCode::OK, "{config}: {}", r.body);
        let token = r.json()["access_token"].as_str().unwrap().to_owned();
        let auth = ("authorization", "Basic ZGVtby1hcHA6ZGVtby1hcHAtc2VjcmV0"); // demo-app
        let body = format!("token={token}");
        let r = send(
            Method::POST,
            &url("introspection_endpoint"),
            &[FORM, auth],
            &body,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{config}: {}", r.body);
        assert_eq!(r.json()["active"], true);
        // The token says who issued it as the metadata does.
        assert_eq!(r.json()["iss"], doc["issuer"], "{config}");
        if !token.contains('.') {
            panic!("{config}: the demo configs issue JWTs");
        }
        assert_eq!(claims(&token)["iss"], doc["issuer"], "{config}");
        let r = send(
            Method::POST,
            &url("revocation_endpoint"),
            &[FORM, auth],
            &body,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{config}: {}", r.body);
        let r = send(
            Method::POST,
            &url("introspection_endpoint"),
            &[FORM, auth],
            &body,
        )
        .await;
        assert_eq!(r.json()["active"], false, "{config}");
        match doc.get("jwks_uri") {
            Some(jwks) => {
                assert!(
                    config.contains("rs256"),
                    "{config}: an HMAC key is never published"
                );
                let r = get(jwks.as_str().unwrap()).await;
                assert_eq!(r.status, StatusCode::OK);
                assert_eq!(r.json()["keys"][0]["kty"], "RSA");
            }
            None => assert!(
                !config.contains("rs256"),
                "{config}: RS256 publishes its key"
            ),
        }
    }
}

#[tokio::test]
async fn the_protected_resource_metadata_is_where_every_bearer_challenge_says() {
    let qs = start(&[]);
    let base = qs.base.as_str();
    for path in ["/whoami", "/api/orders", "/admin/users"] {
        let r = get(&format!("{base}{path}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        let bearer = r.headers["www-authenticate"].to_str().unwrap().to_owned();
        let url = bearer
            .split("resource_metadata=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("{path}: {bearer}"));
        assert_eq!(url, format!("{base}/.well-known/oauth-protected-resource"));
        let doc = get(url).await.json();
        assert_eq!(
            doc,
            json!({
                "resource": base,
                "authorization_servers": [base],
                "bearer_methods_supported": ["header", "body", "query"],
                "scopes_supported": ["accounts:admin", "grants:admin", "orders:read", "orders:write", "sudo"],
            })
        );
    }
}

#[tokio::test]
async fn paths_that_match_no_route_are_a_plain_404() {
    let qs = start(&[]);
    let base = qs.base.as_str();
    let r = send(Method::POST, &format!("{base}/oauth/token"), &[FORM], CC).await;
    let bearer = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    for path in [
        "/",
        "/nope",
        "/whoami/x",
        "/.well-known/unknown",
        "/.well-known/oauth-authorization-server/x",
        "/.well-known/jwks.json",
        "/admin",
        "/oauth",
    ] {
        for headers in [vec![], vec![("authorization", bearer.as_str())]] {
            let r = send(Method::GET, &format!("{base}{path}"), &headers, "").await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{path} {headers:?}: {}",
                r.body
            );
            assert!(r.headers.get("www-authenticate").is_none(), "{path}");
        }
    }
    // The protected routes stay protected.
    for path in [
        "/whoami",
        "/api/anything",
        "/admin/clients",
        "/admin/apis/grants",
    ] {
        let r = get(&format!("{base}{path}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn a_configured_issuer_is_used_as_it_is() {
    let config = config_file(
        "configured.toml",
        r#"
issuer = "https://auth.example"
resource = "https://api.example"
audience = "a"
[signing_key]
algorithm = "HS256"
secret = "a-secret-of-at-least-thirty-two-bytes"
[[clients]]
client_id = "demo-app"
client_secret = "demo-app-secret"
scopes = ["x"]
"#,
    );
    let qs = start(&["--config", &config]);
    let base = qs.base.as_str();
    let doc = get(&format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .json();
    assert_eq!(doc["issuer"], "https://auth.example");
    assert_eq!(doc["token_endpoint"], "https://auth.example/oauth/token");
    let r = send(Method::POST, &format!("{base}/oauth/token"), &[FORM], CC).await;
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["iss"], "https://auth.example");
    let prm = get(&format!("{base}/.well-known/oauth-protected-resource"))
        .await
        .json();
    assert_eq!(prm["resource"], "https://api.example");
    assert_eq!(
        prm["authorization_servers"],
        json!(["https://auth.example"])
    );
    let r = get(&format!("{base}/whoami")).await;
    assert!(r.headers["www-authenticate"].to_str().unwrap().contains(
        "resource_metadata=\"https://api.example/.well-known/oauth-protected-resource\""
    ));
}

#[tokio::test]
async fn an_issuer_that_is_not_a_url_publishes_no_metadata() {
    let config = config_file(
        "bare-name.toml",
        r#"
issuer = "custom-issuer"
audience = "a"
[signing_key]
algorithm = "HS256"
secret = "a-secret-of-at-least-thirty-two-bytes"
[[clients]]
client_id = "demo-app"
client_secret = "demo-app-secret"
scopes = ["x"]
"#,
    );
    let qs = start(&["--config", &config]);
    let base = qs.base.as_str();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        assert_eq!(
            get(&format!("{base}{path}")).await.status,
            StatusCode::NOT_FOUND
        );
    }
    // Tokens still carry the name; the resource metadata names no authorization server.
    let r = send(Method::POST, &format!("{base}/oauth/token"), &[FORM], CC).await;
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["iss"], "custom-issuer");
    let prm = get(&format!("{base}/.well-known/oauth-protected-resource"))
        .await
        .json();
    assert_eq!(prm["resource"], base);
    assert!(prm.get("authorization_servers").is_none(), "{prm}");
}

#[test]
fn an_issuer_with_a_path_is_refused_at_startup() {
    // The quickstart mounts its endpoints at the root: metadata for an issuer with a path would
    // name URLs that do not answer.
    let config = config_file(
        "with-path.toml",
        r#"
issuer = "http://127.0.0.1:3000/tenant-1"
audience = "a"
[signing_key]
algorithm = "HS256"
secret = "a-secret-of-at-least-thirty-two-bytes"
"#,
    );
    let mut child = command(&["--config", &config])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot have a path"), "{stderr}");
}

#[tokio::test]
async fn the_rs256_demo_key_is_made_at_startup() {
    // No key file ships with the crate: each process makes its own.
    let one = start(&["--config", "examples/quickstart-rs256.toml"]);
    let two = start(&["--config", "examples/quickstart-rs256.toml"]);
    let jwk = |doc: Value| doc["keys"][0].clone();
    let a = jwk(get(&format!("{}/.well-known/jwks.json", one.base))
        .await
        .json());
    let b = jwk(get(&format!("{}/.well-known/jwks.json", two.base))
        .await
        .json());
    assert_eq!(a["kty"], "RSA");
    assert_eq!(a["kid"], "quickstart-demo-1");
    assert_ne!(a["n"], b["n"], "two processes, two keys");
    // A token of one verifies with its JWK and not with the other's.
    let r = send(
        Method::POST,
        &format!("{}/oauth/token", one.base),
        &[FORM],
        CC,
    )
    .await;
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let verify = |jwk: &Value| {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["quickstart-api"]);
        validation.set_issuer(&[one.base.as_str()]);
        jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok()
    };
    assert!(verify(&a));
    assert!(!verify(&b));
    assert!(
        !std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/keys")
            .exists()
    );
}
