//! The gatekeeper reads `sudo`, `tenantId` and `tenantCode` exactly as axum's `Query` reads
//! the same query string (`application/x-www-form-urlencoded`: `+` is a space, `%2B` a plus),
//! or refuses the request: a handler never sees another identity than the gatekeeper chose.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use http::header::AUTHORIZATION;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use jsonwebtoken::{EncodingKey, Header, encode};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_gatekeeper::MaybeReady;
use tower_gatekeeper::impersonate::{
    DirectoryUser, Impersonation, Lookup, TenantSelector, UserDirectory, UserSelector,
};
use tower_gatekeeper::principal::Tenant;
use tower_gatekeeper::verify::JwtVerifier;
use tower_gatekeeper::{GatekeeperLayer, Principal};

const SECRET: &[u8] = b"query decoding secret 0123456789abcdef";

/// Every uid exists; every tenant id and code exists; a user belongs to the tenant last
/// looked up (without sudo, or with sudo by another selector than `uid`, a request's tenant
/// lookups run before its membership lookup; with `sudo=uid:` the sudo lookup's record is
/// the membership).
#[derive(Default, Clone)]
struct Echo {
    last_tenant: Arc<Mutex<String>>,
}

impl UserDirectory for Echo {
    fn find_user(&self, selector: &UserSelector) -> Lookup<DirectoryUser> {
        let mut user = DirectoryUser::new(selector.value(), "echo");
        user.tenants = vec![self.last_tenant.lock().unwrap().clone()];
        MaybeReady::Ready(Ok(Some(Arc::new(user))))
    }
    fn find_tenant(&self, selector: &TenantSelector) -> Lookup<Tenant> {
        // A tenant's id is its id; a code names the tenant `code:<code>`. Asking for both
        // therefore disagrees unless only one is given.
        let tenant = match selector {
            TenantSelector::Id(id) => Tenant::new(id.clone(), None::<String>),
            TenantSelector::Code(code) => Tenant::new(format!("code:{code}"), Some(code.clone())),
        };
        *self.last_tenant.lock().unwrap() = tenant.id.clone();
        MaybeReady::Ready(Ok(Some(Arc::new(tenant))))
    }
}

/// What axum's `Query` read, beside what the gatekeeper decided.
async fn compare(p: Principal, Query(pairs): Query<Vec<(String, String)>>) -> Json<Value> {
    let all = |name: &str| {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    Json(json!({
        "subject": p.subject(),
        "sudo": p.actor().is_some(),
        "tenant_id": p.tenant().map(|t| t.id.clone()),
        "tenant_code": p.tenant().and_then(|t| t.code.clone()),
        "query_sudo": all("sudo"),
        "query_tenant_id": all("tenantId"),
        "query_tenant_code": all("tenantCode"),
    }))
}

fn app() -> Router {
    Router::new().route("/q", get(compare)).layer(
        GatekeeperLayer::builder(JwtVerifier::hs256(SECRET).unwrap())
            .authorize(Impersonation::new(Echo::default()))
            .build(),
    )
}

fn token() -> String {
    // A user's token (a user may select its tenants without sudo), with the sudo scope.
    let claims = json!({"sub": "ops", "scope": "sudo", "exp": 4_000_000_000u64});
    let t = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    format!("Bearer {t}")
}

async fn call(app: &Router, auth: &str, query: &str) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(
            Request::get(format!("/q?{query}"))
                .header(AUTHORIZATION, auth)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Checks one answer: accepted means axum read the same (single) values.
fn agree(status: StatusCode, body: &Value, query: &str) -> Result<(), String> {
    if status != StatusCode::OK {
        // Refused: the handler saw nothing. Only bad requests (and the 403 of an id and a code
        // that the echo directory makes disagree) may be refused here.
        return if status == StatusCode::BAD_REQUEST
            || (status == StatusCode::FORBIDDEN && query.contains("tenant"))
        {
            Ok(())
        } else {
            Err(format!("{query}: unexpected {status} {body}"))
        };
    }
    let sudo = body["query_sudo"].as_array().unwrap();
    if body["sudo"] == true {
        let [value] = sudo.as_slice() else {
            return Err(format!("{query}: gatekeeper sudo, axum read {sudo:?}"));
        };
        let uid = value.as_str().unwrap().strip_prefix("uid:");
        if uid != body["subject"].as_str() {
            return Err(format!(
                "{query}: gatekeeper {}, axum {value}",
                body["subject"]
            ));
        }
    } else if !sudo.is_empty() {
        return Err(format!(
            "{query}: no sudo for the gatekeeper, axum read {sudo:?}"
        ));
    }
    let ids = body["query_tenant_id"].as_array().unwrap();
    let codes = body["query_tenant_code"].as_array().unwrap();
    match (&body["tenant_id"], ids.as_slice(), codes.as_slice()) {
        (Value::Null, [], []) => Ok(()),
        (Value::String(id), [q], []) if q == id => Ok(()),
        (Value::String(_), [], [q]) if *q == body["tenant_code"] => Ok(()),
        _ => Err(format!(
            "{query}: gatekeeper tenant {body}, axum {ids:?} {codes:?}"
        )),
    }
}

#[tokio::test]
async fn plus_is_a_space_and_percent_2b_a_plus() {
    let app = app();
    let auth = token();
    // The echo directory's users belong to the tenant looked up last. Under sudo by uid the
    // target's record comes from the sudo lookup, which runs before the request's tenant
    // lookup: look the tenant up first (without sudo, the membership is looked up after it).
    let _ = call(&app, &auth, "tenantCode=x%2By").await;
    let (status, body) = call(&app, &auth, "sudo=uid:a+b&tenantCode=x%2By").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["subject"], "a b");
    assert_eq!(body["tenant_code"], "x+y");
    assert_eq!(agree(status, &body, "fixed"), Ok(()));
    let _ = call(&app, &auth, "tenantId=t+1").await;
    let (status, body) = call(&app, &auth, "sudo=uid:a%2Bb&tenant%49d=t+1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["subject"], "a+b");
    assert_eq!(body["tenant_id"], "t 1");
    // Strict: malformed escapes and invalid UTF-8 are refused, never half-read.
    for bad in [
        "sudo=uid:a%ZZ",
        "sudo=uid:%FF",
        "tenantId=%E9",
        "sudo=uid:a%2",
    ] {
        let (status, _) = call(&app, &auth, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // Decoded once: %252B is the three characters %2B.
    let (_, body) = call(&app, &auth, "sudo=uid:%252B").await;
    assert_eq!(body["subject"], "%2B");
}

fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "Z", "1", "+", "%2B", "%2b", "%20", "%", "%ZZ", "%2", "%C3%A9", "%FF", "%E9", "=",
        ":", "uid:", "%3A", "%25", "%252B", "-", ".", "~", "%26", "%3D", "%0A", "++",
    ])
}

fn name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "sudo",
        "su%64o",
        "sudo+",
        "+sudo",
        "tenantId",
        "tenant%49d",
        "tenantCode",
        "tenantCod%65",
        "tenant+Id",
        "other",
        "x",
    ])
}

fn pair() -> impl Strategy<Value = String> {
    (name(), any::<bool>(), prop::collection::vec(piece(), 0..6)).prop_map(|(name, uid, value)| {
        let prefix = if uid && name.contains("su") {
            "uid:"
        } else {
            ""
        };
        format!("{name}={prefix}{}", value.concat())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_gatekeeper_reads_what_axum_query_reads(pairs in prop::collection::vec(pair(), 0..4)) {
        let query = pairs.join("&");
        // The echo directory's users belong to the tenant looked up last; under `sudo=uid:`
        // the target's record comes before the request's tenant lookup, so the same query
        // without its sudo pairs looks the tenant up first.
        let tenant_only: Vec<&str> = pairs
            .iter()
            .map(String::as_str)
            .filter(|p| !p.starts_with("sudo=") && !p.starts_with("su%64o="))
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let app = app();
        let (status, body) = rt.block_on(async {
            let _ = call(&app, &token(), &tenant_only.join("&")).await;
            call(&app, &token(), &query).await
        });
        prop_assert_eq!(agree(status, &body, &query), Ok(()));
    }
}
