//! Tenant pairs cannot be probed: naming `tenantId` and `tenantCode` together, only a caller
//! who belongs to a tenant one of them names learns that they disagree (400), whatever the
//! other names; every other caller gets the one identical 403 — status, headers and body —
//! whether the id or the code exists.
//!
//! Every combination: existing / unknown id × existing / unknown code (agreeing or not) ×
//! member of both / of one / of none / a client whose id equals a member's uid.

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use http::header::AUTHORIZATION;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt as _;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_gatekeeper::impersonate::{DirectoryUser, Impersonation, InMemoryDirectory};
use tower_gatekeeper::principal::Tenant;
use tower_gatekeeper::verify::JwtVerifier;
use tower_gatekeeper::{GatekeeperLayer, Principal};

const SECRET: &[u8] = b"tenant probing secret 0123456789abcdef";

async fn directory() -> InMemoryDirectory {
    let dir = InMemoryDirectory::new();
    dir.insert_tenant(Tenant::new("t-100", Some("acme")))
        .await
        .unwrap();
    dir.insert_tenant(Tenant::new("t-200", Some("globex")))
        .await
        .unwrap();
    dir.insert_tenant(Tenant::new("t-300", Some("initech")))
        .await
        .unwrap();
    for (uid, login, tenants) in [
        ("1001", "both", vec!["t-100", "t-200"]),
        ("1002", "one", vec!["t-100"]),
        ("1003", "none", vec![]),
    ] {
        let mut user = DirectoryUser::new(uid, login);
        user.tenants = tenants.into_iter().map(str::to_owned).collect();
        dir.insert_user(user).await.unwrap();
    }
    dir
}

async fn app() -> Router {
    let verifier = JwtVerifier::hs256(SECRET).unwrap();
    Router::new()
        .route("/me", get(|p: Principal| async move { Json(p) }))
        .layer(
            GatekeeperLayer::builder(verifier)
                .authorize(Impersonation::new(directory().await))
                .build(),
        )
}

fn token(claims: Value) -> String {
    let mut claims = claims;
    claims["exp"] = json!(4_000_000_000u64);
    let t = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    format!("Bearer {t}")
}

#[derive(Debug, PartialEq)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn call(app: &Router, auth: &str, query: &str) -> Reply {
    let response = app
        .clone()
        .oneshot(
            Request::get(format!("/me?{query}"))
                .header(AUTHORIZATION, auth)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// Which tenants a name resolves to: `Some(id)` or unknown.
fn id_of(id: &str) -> Option<&'static str> {
    ["t-100", "t-200", "t-300"].into_iter().find(|t| *t == id)
}

fn code_of(code: &str) -> Option<&'static str> {
    match code {
        "acme" => Some("t-100"),
        "globex" => Some("t-200"),
        "initech" => Some("t-300"),
        _ => None,
    }
}

#[tokio::test]
async fn every_combination_gives_a_non_member_the_one_identical_403() {
    let app = app().await;
    // (name, credential, tenants it belongs to)
    let callers: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "member of both",
            token(json!({"sub": "1001"})),
            vec!["t-100", "t-200"],
        ),
        (
            "member of one",
            token(json!({"sub": "1002"})),
            vec!["t-100"],
        ),
        ("member of none", token(json!({"sub": "1003"})), vec![]),
        ("unknown user", token(json!({"sub": "9999"})), vec![]),
        // A client whose id is the uid of the member of both: not that user.
        (
            "client 1001",
            token(json!({"sub": "1001", "client_id": "1001"})),
            vec![],
        ),
    ];
    let ids = ["t-100", "t-200", "t-300", "t-404"];
    let codes = ["acme", "globex", "initech", "nope"];
    let mut the_403: Option<Reply> = None;
    let mut seen = [0usize; 3];
    for (who, auth, tenants) in &callers {
        let member = |t: &str| tenants.contains(&t);
        let mut queries: Vec<(String, Option<&str>, Option<&str>, bool)> = Vec::new();
        for id in ids {
            for code in codes {
                queries.push((
                    format!("tenantId={id}&tenantCode={code}"),
                    id_of(id),
                    code_of(code),
                    true,
                ));
            }
            queries.push((format!("tenantId={id}"), id_of(id), None, false));
        }
        for code in codes {
            queries.push((format!("tenantCode={code}"), None, code_of(code), false));
        }
        for (query, by_id, by_code, both) in queries {
            let expected = match (both, by_id, by_code) {
                (true, Some(a), Some(b)) if a == b && member(a) => StatusCode::OK,
                (true, Some(a), Some(b)) if a == b => StatusCode::FORBIDDEN,
                (true, a, b) if a.is_some_and(member) || b.is_some_and(member) => {
                    StatusCode::BAD_REQUEST
                }
                (false, Some(t), None) | (false, None, Some(t)) if member(t) => StatusCode::OK,
                _ => StatusCode::FORBIDDEN,
            };
            let r = call(&app, auth, &query).await;
            assert_eq!(
                r.status,
                expected,
                "{who}, {query}: {}",
                String::from_utf8_lossy(&r.body)
            );
            match expected {
                StatusCode::OK => {
                    seen[0] += 1;
                    let body: Value = serde_json::from_slice(&r.body).unwrap();
                    assert_eq!(body["tenant"]["id"], by_id.or(by_code).unwrap());
                }
                StatusCode::BAD_REQUEST => seen[1] += 1,
                _ => {
                    seen[2] += 1;
                    match &the_403 {
                        None => the_403 = Some(r),
                        Some(first) => assert_eq!(&r, first, "{who}, {query}"),
                    }
                }
            }
        }
    }
    // Every branch was taken.
    assert!(seen.iter().all(|n| *n > 0), "{seen:?}");
}

#[tokio::test]
async fn the_seed_pairs_look_alike_to_a_non_member() {
    let app = app().await;
    let outsider = token(json!({"sub": "1003"}));
    let agreeing = call(&app, &outsider, "tenantId=t-200&tenantCode=globex").await;
    let disagreeing = call(&app, &outsider, "tenantId=t-200&tenantCode=initech").await;
    let unknown = call(&app, &outsider, "tenantId=t-200&tenantCode=no-such").await;
    assert_eq!(agreeing.status, StatusCode::FORBIDDEN);
    assert_eq!(agreeing, disagreeing);
    assert_eq!(agreeing, unknown);
    // Under sudo, the target's memberships count the same way.
    let admin = token(json!({"sub": "ops", "client_id": "ops", "scope": "sudo"}));
    let r = call(
        &app,
        &admin,
        "sudo=uid:1001&tenantId=t-100&tenantCode=globex",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // 1002 is in t-100 only: it learns that globex is not its tenant's code, which it knows.
    let r = call(
        &app,
        &admin,
        "sudo=uid:1002&tenantId=t-100&tenantCode=globex",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // 1003 is in none: the pair looks like any other.
    let r = call(
        &app,
        &admin,
        "sudo=uid:1003&tenantId=t-100&tenantCode=globex",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body, agreeing.body);
}
