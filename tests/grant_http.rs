//! Grant enforcement through an axum router, and the admin surface over HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{any, get};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_gatekeeper::clock::{ManualClock, SharedClock};
use tower_gatekeeper::grant::{
    ApiTable, Grant, GrantAdmin, GrantCheck, GrantError, GrantManager, GrantStore, GrantUpdate,
    Grantee, InMemoryGrantStore, MatchedApi, format_time,
};

const APP1: Grantee<'static> = Grantee::client("app-1");
const APP2: Grantee<'static> = Grantee::client("app-2");
use tower_gatekeeper::verify::JwtVerifier;
use tower_gatekeeper::{BoxFuture, GatekeeperLayer, MaybeReady};

const SECRET: &[u8] = b"grant-tests-secret-0123456789abcdef";
const T0: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

struct World {
    clock: ManualClock,
    store: Arc<dyn GrantStore>,
    manager: GrantManager,
}

fn world() -> World {
    let clock = ManualClock::at_unix(T0);
    let store: Arc<dyn GrantStore> = Arc::new(InMemoryGrantStore::new());
    let manager = GrantManager::builder_shared(store.clone())
        .apis(["public", "secret", "orders"])
        .grantees([APP1, APP2, Grantee::client("admin")])
        .clock(clock.clone())
        .build();
    World {
        clock,
        store,
        manager,
    }
}

fn verifier(clock: &ManualClock) -> JwtVerifier {
    JwtVerifier::builder()
        .hs256(SECRET)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn token(client: &str, scope: &str) -> String {
    let claims = json!({"sub": client, "client_id": client, "scope": scope, "exp": T0 + 365 * DAY});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let res = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, value)
}

fn table_app(w: &World) -> Router {
    let table = ApiTable::new()
        .api("public", "/api/public", [])
        .api("secret", "/api/secret", [])
        .api("orders", "/api/orders", [http::Method::GET]);
    let check = GrantCheck::by_table_shared(w.store.clone(), table).clock(w.clock.clone());
    Router::new()
        .route(
            "/api/{*rest}",
            any(|api: MatchedApi| async move { api.id().to_owned() }),
        )
        .layer(
            GatekeeperLayer::builder(verifier(&w.clock))
                .authorize(check)
                .build(),
        )
}

#[tokio::test]
async fn each_refusal_has_its_own_description() {
    let w = world();
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route_layer(
            GatekeeperLayer::builder(verifier(&w.clock))
                .authorize(
                    GrantCheck::for_api_shared(w.store.clone(), "orders").clock(w.clock.clone()),
                )
                .build(),
        );
    let t = token("app-1", "");
    let desc = |v: Value| v["error_description"].as_str().unwrap().to_owned();

    let (s, v) = call(&app, "GET", "/orders", Some(&t), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["error"], "access_denied");
    let missing = desc(v);

    w.manager.apply("orders", APP1, T0 + DAY).await.unwrap();
    let (s, v) = call(&app, "GET", "/orders", Some(&t), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let pending = desc(v);

    w.manager.approve("orders", APP1).await.unwrap();
    let (s, v) = call(&app, "GET", "/orders", Some(&t), None).await;
    assert_eq!((s, v), (StatusCode::OK, json!("orders")));

    w.clock.set_unix(T0 + DAY);
    let (s, v) = call(&app, "GET", "/orders", Some(&t), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "exactly at the end");
    let expired = desc(v);

    w.manager
        .authorize("orders", APP1, T0 + 10 * DAY)
        .await
        .unwrap();
    w.manager.app_revoke("orders", APP1).await.unwrap();
    let (s, v) = call(&app, "GET", "/orders", Some(&t), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let revoked = desc(v);

    let all = [&missing, &pending, &expired, &revoked];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert!(
        pending.contains("approval") && expired.contains("expired") && revoked.contains("revoked")
    );
}

#[tokio::test]
async fn grant_of_another_app_or_api_does_not_count() {
    let w = world();
    let app = table_app(&w);
    w.manager.authorize("public", APP2, T0 + DAY).await.unwrap();
    w.manager.authorize("secret", APP1, T0 + DAY).await.unwrap();
    let (s, _) = call(&app, "GET", "/api/public", Some(&token("app-1", "")), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = call(
        &app,
        "GET",
        "/api/public/x",
        Some(&token("app-2", "")),
        None,
    )
    .await;
    assert_eq!((s, v), (StatusCode::OK, json!("public")));
}

#[tokio::test]
async fn unmapped_routes_are_denied_and_methods_do_not_fall_through() {
    let w = world();
    let app = table_app(&w);
    w.manager.authorize("orders", APP1, T0 + DAY).await.unwrap();
    let t = token("app-1", "");
    assert_eq!(
        call(&app, "GET", "/api/orders/1", Some(&t), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "POST", "/api/orders/1", Some(&t), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "GET", "/api/unlisted", Some(&t), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "GET", "/api/ordersX", Some(&t), None).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn path_tricks_never_reach_another_mapping() {
    let w = world();
    let app = table_app(&w);
    // app-1 may call "public" only.
    w.manager.authorize("public", APP1, T0 + DAY).await.unwrap();
    let t = token("app-1", "");
    for tricky in [
        "/api/public/../secret",
        "/api/public/./../secret",
        "/api/public/%2e%2e/secret",
        "/api/public/%2E%2E/secret",
        "/api/public%2f..%2fsecret",
        "/api//public/../secret",
        "/api/public;/../secret",
        "/api/public/..;/secret",
        "/api/%70ublic/../secret",
        "/api/%73ecret",
        "/api/public/%252e%252e/secret",
        "/api/public\\..\\secret",
    ] {
        let (s, v) = call(&app, "GET", tricky, Some(&t), None).await;
        assert_ne!(v, json!("secret"), "{tricky} reached the secret API");
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::FORBIDDEN,
            "{tricky}: {s}"
        );
    }
}

#[tokio::test]
async fn optional_mode_does_not_bypass_grants() {
    let w = world();
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .layer(
            GatekeeperLayer::builder(verifier(&w.clock))
                .optional(true)
                .authorize(GrantCheck::for_api_shared(w.store.clone(), "orders"))
                .build(),
        );
    assert_eq!(
        call(&app, "GET", "/orders", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// A store that cannot be reached, or that answers later.
struct Remote {
    inner: InMemoryGrantStore,
    down: bool,
}

impl GrantStore for Remote {
    fn get(
        &self,
        api_id: &str,
        grantee: Grantee<'_>,
    ) -> MaybeReady<Result<Option<Arc<Grant>>, GrantError>> {
        if self.down {
            return MaybeReady::Ready(Err(GrantError::Unavailable("connection refused".into())));
        }
        let answer = self.inner.get_now(api_id, grantee);
        MaybeReady::pending(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(answer)
        })
    }
    fn update(
        &self,
        a: &str,
        g: Grantee<'_>,
        u: GrantUpdate,
    ) -> BoxFuture<Result<Arc<Grant>, GrantError>> {
        self.inner.update(a, g, u)
    }
    fn list_by_api(&self, a: &str) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>> {
        self.inner.list_by_api(a)
    }
    fn list_by_grantee(&self, g: Grantee<'_>) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>> {
        self.inner.list_by_grantee(g)
    }
}

#[tokio::test]
async fn a_store_that_is_down_fails_closed_and_a_slow_one_works() {
    let clock = ManualClock::at_unix(T0);
    let inner = InMemoryGrantStore::new();
    GrantManager::builder(inner.clone())
        .apis(["orders"])
        .grantees([APP1])
        .clock(clock.clone())
        .build()
        .authorize("orders", APP1, T0 + DAY)
        .await
        .unwrap();
    for (down, expected) in [
        (true, StatusCode::SERVICE_UNAVAILABLE),
        (false, StatusCode::OK),
    ] {
        let store = Remote {
            inner: inner.clone(),
            down,
        };
        let app = Router::new()
            .route("/orders", get(|| async { "orders" }))
            .layer(
                GatekeeperLayer::builder(verifier(&clock))
                    .authorize(GrantCheck::for_api(store, "orders").clock(clock.clone()))
                    .build(),
            );
        assert_eq!(
            call(&app, "GET", "/orders", Some(&token("app-1", "")), None)
                .await
                .0,
            expected
        );
    }
}

fn admin_app(w: &World) -> Router {
    Router::new()
        .nest_service("/admin/apis", GrantAdmin::new(w.manager.clone()))
        .layer(GatekeeperLayer::builder(verifier(&w.clock)).build())
}

fn action(api: &str, app: &str, kind: &str, time: Option<u64>) -> Value {
    let mut v = json!({"api_id": api, "app_id": app, "apply_type": kind});
    if let Some(t) = time {
        v["time"] = json!(format_time(t));
    }
    v
}

const ACTION: &str = "/admin/apis/authorize/action";

#[tokio::test]
async fn admin_surface_lifecycle_over_http() {
    let w = world();
    let app = admin_app(&w);
    let admin = token("admin", "grants:admin");
    let app1 = token("app-1", "");

    let (s, v) = call(
        &app,
        "POST",
        ACTION,
        Some(&admin),
        Some(action(
            "orders",
            "app-1",
            "APPLY_TYPE_AUTHORIZE",
            Some(T0 + DAY),
        )),
    )
    .await;
    assert_eq!((s, v), (StatusCode::NO_CONTENT, Value::Null));

    // Renewing to the same time is refused with a Huawei-style error body.
    let (s, v) = call(
        &app,
        "POST",
        ACTION,
        Some(&admin),
        Some(action(
            "orders",
            "app-1",
            "APPLY_TYPE_AUTHORIZE",
            Some(T0 + DAY),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error_code"], "RENEW_MUST_EXTEND");
    assert!(v["error_msg"].as_str().unwrap().contains("renewal"));

    // The app applies to renew; the provider approves.
    let (s, _) = call(
        &app,
        "POST",
        ACTION,
        Some(&app1),
        Some(action(
            "orders",
            "app-1",
            "APPLY_TYPE_RENEW",
            Some(T0 + 3 * DAY),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &app,
        "POST",
        "/admin/apis/authorize/approve",
        Some(&admin),
        Some(json!({"api_id": "orders", "app_id": "app-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let (s, v) = call(
        &app,
        "GET",
        "/admin/apis/grants?app_id=app-1",
        Some(&app1),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["grants"][0]["ends_at"], format_time(T0 + 3 * DAY));
    assert_eq!(v["grants"][0]["state"], "active");

    // Provider revocation: too soon, then with the default notice.
    let (s, v) = call(
        &app,
        "POST",
        ACTION,
        Some(&admin),
        Some(action(
            "orders",
            "app-1",
            "APPLY_TYPE_API_CANCEL_AUTHORIZE",
            Some(T0 + 60),
        )),
    )
    .await;
    assert_eq!(
        (s, v["error_code"].clone()),
        (StatusCode::BAD_REQUEST, json!("NOTICE_TOO_SHORT"))
    );
    let (s, _) = call(
        &app,
        "POST",
        ACTION,
        Some(&admin),
        Some(action(
            "orders",
            "app-1",
            "APPLY_TYPE_API_CANCEL_AUTHORIZE",
            None,
        )),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = call(
        &app,
        "GET",
        "/admin/apis/grants?api_id=orders",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(v["grants"][0]["state"], "revoking");
    assert_eq!(v["grants"][0]["access"], "allowed");
    assert_eq!(v["grants"][0]["revoke_at"], format_time(T0 + 2 * DAY));

    // The app revokes at once; then applies afresh, and the provider rejects.
    let (s, _) = call(
        &app,
        "POST",
        ACTION,
        Some(&app1),
        Some(action(
            "orders",
            "app-1",
            "APPLY_TYPE_APP_CANCEL_AUTHORIZE",
            None,
        )),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &app,
        "POST",
        ACTION,
        Some(&app1),
        Some(action(
            "orders",
            "app-1",
            "APPLY_TYPE_APPLY",
            Some(T0 + DAY),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &app,
        "POST",
        "/admin/apis/authorize/reject",
        Some(&admin),
        Some(json!({"api_id": "orders", "app_id": "app-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = call(
        &app,
        "GET",
        "/admin/apis/grants?app_id=app-1",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(v["grants"][0]["state"], "ended");
}

#[tokio::test]
async fn admin_surface_refusals() {
    let w = world();
    let app = admin_app(&w);
    let admin = token("admin", "grants:admin");
    let app1 = token("app-1", "");
    let app2 = token("app-2", "");
    w.manager.authorize("orders", APP1, T0 + DAY).await.unwrap();
    let before = w.manager.list_by_api("orders").await.unwrap();

    let bad = |kind: &str, time: Option<u64>| action("orders", "app-1", kind, time);
    let cases: Vec<(&str, &str, Value, StatusCode, &str)> = vec![
        // who may do what
        (
            "app cannot authorize",
            &app1,
            bad("APPLY_TYPE_AUTHORIZE", Some(T0 + 2 * DAY)),
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
        ),
        (
            "app cannot provider-revoke",
            &app1,
            bad("APPLY_TYPE_API_CANCEL_AUTHORIZE", None),
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
        ),
        (
            "admin cannot act as the app",
            &admin,
            bad("APPLY_TYPE_APP_CANCEL_AUTHORIZE", None),
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
        ),
        (
            "admin cannot apply for the app",
            &admin,
            bad("APPLY_TYPE_RENEW", Some(T0 + 2 * DAY)),
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
        ),
        (
            "another app cannot revoke",
            &app2,
            bad("APPLY_TYPE_APP_CANCEL_AUTHORIZE", None),
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
        ),
        // bad input
        (
            "unknown apply_type",
            &admin,
            bad("APPLY_TYPE_DELETE", None),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            "missing field",
            &admin,
            json!({"api_id": "orders", "apply_type": "APPLY_TYPE_AUTHORIZE"}),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            "missing time",
            &admin,
            bad("APPLY_TYPE_AUTHORIZE", None),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            "bad time",
            &admin,
            json!({"api_id": "orders", "app_id": "app-1", "apply_type": "APPLY_TYPE_AUTHORIZE", "time": "next week"}),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            "past time",
            &admin,
            bad("APPLY_TYPE_AUTHORIZE", Some(T0 - 1)),
            StatusCode::BAD_REQUEST,
            "END_IN_PAST",
        ),
        (
            "shortening renew",
            &admin,
            bad("APPLY_TYPE_AUTHORIZE", Some(T0 + 60)),
            StatusCode::BAD_REQUEST,
            "RENEW_MUST_EXTEND",
        ),
        (
            "wrong state",
            &app1,
            bad("APPLY_TYPE_APPLY", Some(T0 + 2 * DAY)),
            StatusCode::BAD_REQUEST,
            "WRONG_STATE",
        ),
        (
            "unknown api",
            &admin,
            action("nope", "app-1", "APPLY_TYPE_AUTHORIZE", Some(T0 + DAY)),
            StatusCode::BAD_REQUEST,
            "UNKNOWN_API",
        ),
        (
            "unknown app",
            &admin,
            action("orders", "ghost", "APPLY_TYPE_AUTHORIZE", Some(T0 + DAY)),
            StatusCode::BAD_REQUEST,
            "UNKNOWN_APP",
        ),
    ];
    for (what, who, body, status, code) in cases {
        let (s, v) = call(&app, "POST", ACTION, Some(who), Some(body)).await;
        assert_eq!(
            (s, v["error_code"].as_str()),
            (status, Some(code)),
            "{what}: {v}"
        );
    }
    // Nothing above changed anything.
    assert_eq!(w.manager.list_by_api("orders").await.unwrap(), before);

    // Not JSON, approve with nothing pending, listing others' grants, no principal, no route.
    let req = Request::post(ACTION)
        .header("authorization", format!("Bearer {admin}"))
        .body(Body::from("{oops"))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let (s, v) = call(
        &app,
        "POST",
        "/admin/apis/authorize/approve",
        Some(&admin),
        Some(json!({"api_id": "orders", "app_id": "app-1"})),
    )
    .await;
    assert_eq!(
        (s, v["error_code"].clone()),
        (StatusCode::BAD_REQUEST, json!("NOTHING_PENDING"))
    );
    let (s, _) = call(
        &app,
        "POST",
        "/admin/apis/authorize/approve",
        Some(&app1),
        Some(json!({"api_id": "orders", "app_id": "app-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an app cannot approve itself");
    assert_eq!(
        call(
            &app,
            "GET",
            "/admin/apis/grants?api_id=orders",
            Some(&app1),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            &app,
            "GET",
            "/admin/apis/grants?app_id=app-1",
            Some(&app2),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "GET", "/admin/apis/grants", Some(&admin), None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&app, "GET", "/admin/apis/nothing", Some(&admin), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, "GET", "/admin/apis/grants?app_id=app-1", None, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let unguarded = Router::new().nest_service("/admin/apis", GrantAdmin::new(w.manager.clone()));
    let (s, v) = call(
        &unguarded,
        "GET",
        "/admin/apis/grants?app_id=app-1",
        None,
        None,
    )
    .await;
    assert_eq!(
        (s, v["error_code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("UNAUTHORIZED"))
    );
}

#[test]
fn shared_clock_is_one_clock() {
    let clock = ManualClock::at_unix(T0);
    let shared: SharedClock = Arc::new(clock.clone());
    clock.advance(Duration::from_secs(5));
    assert_eq!(shared.unix_seconds(), T0 + 5);
}

/// RFC 6750 §3: a token that does not enable access is challenged, by the admin service and
/// by the grant check alike; §3.1's code for a 403 is `insufficient_scope`.
#[tokio::test]
async fn forbidden_answers_to_a_bearer_token_carry_a_challenge() {
    let w = world();
    let app1 = token("app-1", "");
    let challenge_of = |res: &http::Response<Body>| {
        res.headers()
            .get(http::header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let req = Request::post(ACTION)
        .header("authorization", format!("Bearer {app1}"))
        .header("content-type", "application/json")
        .body(Body::from(
            action("orders", "app-1", "APPLY_TYPE_AUTHORIZE", Some(T0 + DAY)).to_string(),
        ))
        .unwrap();
    let res = admin_app(&w).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = challenge_of(&res).expect("a challenge");
    assert!(
        challenge.starts_with("Bearer realm=")
            && challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );

    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route_layer(
            GatekeeperLayer::builder(verifier(&w.clock))
                .authorize(
                    GrantCheck::for_api_shared(w.store.clone(), "orders").clock(w.clock.clone()),
                )
                .build(),
        );
    let req = Request::get("/orders")
        .header("authorization", format!("Bearer {app1}"))
        .body(Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = challenge_of(&res).expect("a challenge");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains("error_description="),
        "{challenge}"
    );
}
