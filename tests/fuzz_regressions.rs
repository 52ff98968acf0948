//! Findings of the fuzz targets (`fuzz/`), kept as regression tests.
//!
//! Each of the first five was a 401 without a challenge (RFC 9110 §11.6.1) found by the
//! targets; all are fixed, and the targets no longer tolerate them.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower_gatekeeper::Principal;
use tower_gatekeeper::accounts::UserRegistry;
use tower_gatekeeper::grant::{GrantAdmin, GrantManager, Grantee, InMemoryGrantStore};
use tower_gatekeeper::issuer::{AccountAdmin, Client, ClientRegistry, SigningKey, TokenIssuer};
use tower_gatekeeper::principal::Identity;

async fn issuer() -> TokenIssuer {
    let clients = ClientRegistry::new();
    clients
        .register(Client::new("fuzz-app", "fuzz-app-secret-7f3a"))
        .await
        .unwrap();
    TokenIssuer::builder(SigningKey::hs256(b"fuzz-issuer-signing-key-0123456789").unwrap())
        .issuer("https://issuer.fuzz")
        .lifetime(Duration::from_secs(600))
        .clients(clients)
        .build()
}

fn form(uri: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

/// Status, headers and body.
async fn answer<S, B>(
    service: S,
    request: Request<Full<Bytes>>,
) -> (StatusCode, http::HeaderMap, String)
where
    S: tower::Service<Request<Full<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

// token_endpoint seed `POST /oauth/token` + `grant_type=client_credentials` (no client
// authentication): RFC 9110 §11.6.1 / §15.5.2 — a 401 must carry a challenge.
#[tokio::test]
async fn token_endpoint_401_without_client_authentication_has_a_challenge() {
    let (status, headers, body) = answer(
        issuer().await.token_endpoint(),
        form("/oauth/token", "grant_type=client_credentials"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers.contains_key("www-authenticate"),
        "401 without WWW-Authenticate: {body}"
    );
}

// token_endpoint: a wrong secret in the body parameters.
#[tokio::test]
async fn token_endpoint_401_for_a_wrong_body_secret_has_a_challenge() {
    let (status, headers, body) = answer(
        issuer().await.token_endpoint(),
        form(
            "/oauth/token",
            "grant_type=client_credentials&client_id=fuzz-app&client_secret=wrong",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers.contains_key("www-authenticate"),
        "401 without WWW-Authenticate: {body}"
    );
}

// token_endpoint seed `GET /oauth/token/check?token=abc`.
#[tokio::test]
async fn token_check_401_has_a_challenge() {
    let request = Request::get("/oauth/token/check?token=abc")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, body) = answer(issuer().await.check_endpoint(), request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers.contains_key("www-authenticate"),
        "401 without WWW-Authenticate: {body}"
    );
}

// grant_admin with no principal in the extensions (the service mounted without the layer).
#[tokio::test]
async fn grant_admin_401_has_a_challenge() {
    let manager = GrantManager::builder(InMemoryGrantStore::new())
        .apis(["orders"])
        .build();
    let request = Request::get("/grants?api_id=orders")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, body) = answer(GrantAdmin::new(manager), request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers.contains_key("www-authenticate"),
        "401 without WWW-Authenticate: {body}"
    );
}

// account_admin with no principal in the extensions.
#[tokio::test]
async fn account_admin_401_has_a_challenge() {
    let admin = AccountAdmin::new(ClientRegistry::new(), UserRegistry::new());
    let (status, headers, body) = answer(admin, form("/clients", "{}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        headers.contains_key("www-authenticate"),
        "401 without WWW-Authenticate: {body}"
    );
}

// The passing counterparts: what the targets check on every input, on the seeds that cover it.

#[tokio::test]
async fn a_token_answer_is_no_store_and_never_carries_the_secret() {
    let (status, headers, body) = answer(
        issuer().await.token_endpoint(),
        form(
            "/oauth/token",
            "grant_type=client_credentials&client_id=fuzz-app&client_secret=fuzz-app-secret-7f3a",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(!body.contains("fuzz-app-secret-7f3a"));
}

#[tokio::test]
async fn an_app_without_the_admin_scope_cannot_list_another_apps_grants() {
    let manager = GrantManager::builder(InMemoryGrantStore::new())
        .apis(["orders"])
        .grantees([Grantee::client("app-a"), Grantee::client("app-b")])
        .build();
    manager
        .authorize("orders", Grantee::client("app-b"), 4_000_000_000)
        .await
        .unwrap();
    let mut request = Request::get("/grants?app_id=app-b")
        .body(Full::new(Bytes::new()))
        .unwrap();
    request.extensions_mut().insert(Principal::new(
        Identity::new("app-a").with_client_id("app-a"),
    ));
    let (status, _, body) = answer(GrantAdmin::new(manager), request).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!body.contains("\"app_id\":\"app-b\""), "{body}");
}

// jwt_claims crash-0a8509e8: a signed claims set with invalid UTF-8 inside a member the
// verifier does not read (`tenant."i//id"`) was accepted, because serde_json skips ignored
// strings without checking their UTF-8. RFC 7519 §7.2 step 8: the claims set is UTF-8 JSON;
// the header likewise (RFC 7515 §5.2).
#[test]
fn a_jwt_with_invalid_utf8_in_an_unread_member_is_refused() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey};
    use tower_gatekeeper::clock::ManualClock;
    use tower_gatekeeper::verify::JwtVerifier;

    const SECRET: &[u8] = b"fuzz-claims-secret-0123456789abcdef";
    let verifier = JwtVerifier::builder()
        .hs256(SECRET)
        .issuer("https://issuer.fuzz")
        .audience("fuzz-api")
        .clock(ManualClock::at_unix(1_800_000_000))
        .build()
        .unwrap();
    let sign = |header: &[u8], payload: &[u8]| {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(SECRET),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{message}.{signature}")
    };
    let header: &[u8] = br#"{"alg":"HS256"}"#;
    let good: &[u8] = br#"{"iss":"https://issuer.fuzz","aud":"fuzz-api","sub":"user-1","exp":1800000600,"tenant":{"id":"t1","code":"acme"}}"#;
    assert!(verifier.verify_token(&sign(header, good)).is_ok());

    let mut bad = b"{\"iss\":\"https://issuer.fuzz\",\"aud\":\"fuzz-api\",\"sub\":\"user-1\",\"exp\":1800000600,\"tenant\":{\"i//id\":\"t1".to_vec();
    bad.extend_from_slice(b"\xf7\xff\xff\xff\",\"code\":\"acme\"},\"x\":\"\xc3\"}");
    assert!(verifier.verify_token(&sign(header, &bad)).is_err());

    let bad_header = b"{\"alg\":\"HS256\",\"x\":\"\xff\"}";
    assert!(verifier.verify_token(&sign(bad_header, good)).is_err());
}

// grant_admin crash-0e9db2cc: an action body with invalid UTF-8 in a member the service does
// not read was applied (serde_json skips ignored strings unchecked). RFC 8259 §8.1: the body
// must be UTF-8; it is now refused with 400 and nothing changes.
#[tokio::test]
async fn grant_admin_refuses_a_body_with_invalid_utf8_anywhere() {
    let store = InMemoryGrantStore::new();
    let manager = GrantManager::builder(store)
        .apis(["orders"])
        .grantees([Grantee::client("app-b")])
        .build();
    let admin = GrantAdmin::new(manager.clone());
    let body: &[u8] = b"{\"api_id\": \"orders\", \"app_id\": \"app-b\", \"apply_type\": \"APPLY_TYPE_AUTHORIZE\", \"x\": \"\xcb\", \"time\": \"2031-01-01T00:00:00Z\"}";
    let mut request = Request::post("/authorize/action")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    request.extensions_mut().insert(Principal::new(
        Identity::new("root").with_scopes(["grants:admin"]),
    ));
    let (status, _, text) = answer(admin.clone(), request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(
        !text.contains("apply_type"),
        "refused for the bytes, not the fields: {text}"
    );

    // The same body in UTF-8 is applied: the refusal is about the bytes, not the action.
    let good = String::from_utf8_lossy(body).replace('\u{fffd}', "e");
    let mut request = Request::post("/authorize/action")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(good)))
        .unwrap();
    request.extensions_mut().insert(Principal::new(
        Identity::new("root").with_scopes(["grants:admin"]),
    ));
    let (status, _, text) = answer(admin, request).await;
    assert!(status.is_success(), "{status}: {text}");
}

// account_admin crash: an anonymous request to a path whose segments do not percent-decode
// to UTF-8 got 404 while every other path got 401; now every anonymous request gets the 401
// and its challenge, whatever it names.
#[tokio::test]
async fn account_admin_answers_401_to_anonymous_callers_on_any_path() {
    let admin = AccountAdmin::new(ClientRegistry::new(), UserRegistry::new());
    for path in ["/u%e0xis/di", "/clients/%ff/disable", "/nowhere"] {
        let (status, headers, body) = answer(admin.clone(), form(path, "{}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert!(headers.contains_key("www-authenticate"), "{path}");
    }
}
