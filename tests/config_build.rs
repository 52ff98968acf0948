//! `config`: one TOML string builds everything, and what it built behaves as the file says:
//! tokens for the configured clients only, the published APIs open to grantees only, with the
//! credential kinds each API accepts, until the grant's end; the admin services and the
//! discovery documents as configured. Everything in memory, driven through an axum `Router`.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{any, get};
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;
use tower_gatekeeper::Principal;
use tower_gatekeeper::clock::{Clock, ManualClock};
use tower_gatekeeper::config::{BuildOptions, Config, Setup};
use tower_gatekeeper::grant::{MatchedApi, format_time};

/// A file with two APIs; `{soon}` is replaced by a time a minute after the clock's now.
const FILE: &str = r#"
issuer = "https://auth.example"
audience = "orders-api"
realm = "shop"

[signing_key]
algorithm = "HS256"
secret = "a-signing-secret-of-at-least-32-bytes"

[[clients]]
client_id = "app"
client_secret = "app-secret"
scopes = ["orders:read"]

[[clients]]
client_id = "stranger"
client_secret = "stranger-secret"

[[clients]]
client_id = "admin"
client_secret = "admin-secret"
scopes = ["grants:admin"]

[[clients]]
client_id = "retired"
client_secret = "retired-secret"
disabled = true

[[clients]]
client_id = "short-lived"
client_secret = "short-lived-secret"

[[users]]
uid = "1001"
login_name = "alice"
password = "alice-password"
tenants = ["t-1"]

[[tenants]]
id = "t-1"
code = "acme"

[[apis]]
id = "orders"
path = "/api/orders"
methods = ["GET"]
auth = ["bearer", "basic"]

[[apis]]
id = "reports"
path = "/api/reports"
auth = ["api_key"]

[[api_keys]]
key = "reporting-key-0001"
owner = "reporting"

[[grants]]
client = "app"
api = "orders"
expires_at = "2030-01-01T00:00:00Z"

[[grants]]
user = "1001"
api = "orders"
expires_at = "2030-01-01T00:00:00Z"

[[grants]]
api_key_owner = "reporting"
api = "reports"
expires_at = "2030-01-01T00:00:00Z"

[[grants]]
client = "short-lived"
api = "orders"
expires_at = "{soon}"
"#;

struct Built {
    setup: Setup,
    app: Router,
    clock: ManualClock,
}

/// Builds `FILE` with `extra` tables after it.
async fn build(extra: &str) -> Built {
    build_with("", extra).await
}

/// Builds `FILE` with top-level keys `top` before it and tables `extra` after it.
async fn build_with(top: &str, extra: &str) -> Built {
    let clock = ManualClock::starting_now();
    let text = format!("{top}\n{FILE}\n{extra}")
        .replace("{soon}", &format_time(clock.unix_seconds() + 60));
    let config = Config::from_toml_str(&text, "test.toml").unwrap();
    let setup = config
        .build(BuildOptions::new().clock(clock.clone()))
        .await
        .unwrap();
    let app = mount(&setup);
    Built { setup, app, clock }
}

async fn whoami(principal: Principal) -> axum::Json<Principal> {
    axum::Json(principal)
}

async fn api(matched: MatchedApi) -> String {
    format!("api {}", matched.id())
}

fn mount(setup: &Setup) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .nest_service("/admin/apis", setup.grant_admin())
        .route_layer(setup.layer().clone())
        .merge(
            Router::new()
                .route("/api/{*path}", any(api))
                .route_layer(setup.published_apis_layer().clone()),
        )
        .merge(
            Router::new()
                .route("/orders-only", get(|| async { "orders only" }))
                .route_layer(setup.api_layer("orders").unwrap()),
        )
        .route_service("/oauth/token", setup.token_endpoint())
        .route_service("/oauth/token/revoke", setup.revocation_endpoint())
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

async fn token_answer(app: &Router, id: &str, secret: &str) -> Answer {
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    send(app, Method::POST, "/oauth/token", &[FORM], &body).await
}

async fn token(app: &Router, id: &str, secret: &str) -> String {
    let r = token_answer(app, id, secret).await;
    assert_eq!(r.status, StatusCode::OK, "{id}: {}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

async fn get_with(app: &Router, uri: &str, authorization: &str) -> Answer {
    send(
        app,
        Method::GET,
        uri,
        &[(AUTHORIZATION.as_str(), authorization)],
        "",
    )
    .await
}

/// `Authorization: Basic` for alice.
const ALICE: &str = "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=";

#[tokio::test]
async fn configured_clients_get_tokens_and_others_do_not() {
    let b = build("").await;
    let t = token(&b.app, "app", "app-secret").await;
    // The issuer and audience are the file's.
    let payload = t.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], "https://auth.example");
    assert_eq!(claims["aud"], "orders-api");
    assert_eq!(claims["scope"], "orders:read");

    let wrong = token_answer(&b.app, "app", "not-the-secret").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    let unknown = token_answer(&b.app, "nobody", "nobody-secret").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED, "{}", unknown.body);
    let disabled = token_answer(&b.app, "retired", "retired-secret").await;
    assert_ne!(
        disabled.status,
        StatusCode::OK,
        "a disabled client gets no token"
    );
}

#[tokio::test]
async fn a_grantee_reaches_its_api_and_nobody_else_does() {
    let b = build("").await;
    let app_token = format!("Bearer {}", token(&b.app, "app", "app-secret").await);
    let r = get_with(&b.app, "/api/orders/42", &app_token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, "api orders");

    // A valid token without a grant for this API.
    let stranger = format!(
        "Bearer {}",
        token(&b.app, "stranger", "stranger-secret").await
    );
    let r = get_with(&b.app, "/api/orders/42", &stranger).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // The grant of one API is no grant of another.
    let r = get_with(&b.app, "/api/reports", &app_token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // A method the API does not publish, and a path that maps to no API.
    let r = send(
        &b.app,
        Method::DELETE,
        "/api/orders/42",
        &[(AUTHORIZATION.as_str(), &app_token)],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = get_with(&b.app, "/api/ordersX", &app_token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // No credential: 401 with a challenge in the file's realm naming the resource metadata.
    let r = send(&b.app, Method::GET, "/api/orders", &[], "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenge = r.headers[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("realm=\"shop\""), "{challenge}");
    assert!(
        challenge.contains(
            "resource_metadata=\"https://auth.example/.well-known/oauth-protected-resource\""
        ),
        "{challenge}"
    );
}

#[tokio::test]
async fn each_api_accepts_only_the_credential_kinds_it_lists() {
    let b = build("").await;
    // orders: bearer and basic. alice holds a grant and logs in with Basic.
    let r = get_with(&b.app, "/api/orders", ALICE).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // reports: api_key only. The key's owner holds the grant.
    let key = [("x-api-key", "reporting-key-0001")];
    let r = send(&b.app, Method::GET, "/api/reports", &key, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The same key on orders: no grant there.
    let r = send(&b.app, Method::GET, "/api/orders", &key, "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // An unknown key is no credential at all.
    let r = send(
        &b.app,
        Method::GET,
        "/api/reports",
        &[("x-api-key", "guess")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

#[tokio::test]
async fn a_kind_the_api_does_not_list_is_refused_even_with_a_grant() {
    // alice gets a grant on reports too; reports still takes API keys only.
    let b = build(
        "[[grants]]\nuser = \"1001\"\napi = \"reports\"\nexpires_at = \"2030-01-01T00:00:00Z\"\n",
    )
    .await;
    let r = get_with(&b.app, "/api/reports", ALICE).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body.contains("does not accept this kind of credential"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_grant_ends_when_the_file_says() {
    let b = build("").await;
    let bearer = format!(
        "Bearer {}",
        token(&b.app, "short-lived", "short-lived-secret").await
    );
    let r = get_with(&b.app, "/api/orders", &bearer).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    b.clock.advance(Duration::from_secs(120));
    let r = get_with(&b.app, "/api/orders", &bearer).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "the grant ended: {}",
        r.body
    );
    // The token itself still lives (3600 s): it is the grant that ended.
    let r = get_with(&b.app, "/whoami", &bearer).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn a_layer_for_one_api_checks_that_apis_grant_and_kinds() {
    let b = build("").await;
    assert!(b.setup.api_layer("no-such-api").is_none());
    let app_token = format!("Bearer {}", token(&b.app, "app", "app-secret").await);
    let r = get_with(&b.app, "/orders-only", &app_token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let stranger = format!(
        "Bearer {}",
        token(&b.app, "stranger", "stranger-secret").await
    );
    let r = get_with(&b.app, "/orders-only", &stranger).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // reporting holds no grant on orders, and orders takes no API keys anyway.
    let r = send(
        &b.app,
        Method::GET,
        "/orders-only",
        &[("x-api-key", "reporting-key-0001")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

#[tokio::test]
async fn the_grant_admin_changes_who_may_call() {
    let b = build("").await;
    let stranger = format!(
        "Bearer {}",
        token(&b.app, "stranger", "stranger-secret").await
    );
    assert_eq!(
        get_with(&b.app, "/api/orders", &stranger).await.status,
        StatusCode::FORBIDDEN
    );
    let body = r#"{"api_id":"orders","app_id":"stranger","apply_type":"APPLY_TYPE_AUTHORIZE","time":"2030-01-01T00:00:00Z"}"#;
    let json = (CONTENT_TYPE.as_str(), "application/json");
    // Not an admin: refused, and nothing changes.
    let r = send(
        &b.app,
        Method::POST,
        "/admin/apis/authorize/action",
        &[(AUTHORIZATION.as_str(), &stranger), json],
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        get_with(&b.app, "/api/orders", &stranger).await.status,
        StatusCode::FORBIDDEN
    );
    let admin = format!("Bearer {}", token(&b.app, "admin", "admin-secret").await);
    let r = send(
        &b.app,
        Method::POST,
        "/admin/apis/authorize/action",
        &[(AUTHORIZATION.as_str(), &admin), json],
        body,
    )
    .await;
    assert!(r.status.is_success(), "{}: {}", r.status, r.body);
    let r = get_with(&b.app, "/api/orders", &stranger).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn sudo_and_tenants_come_from_the_file() {
    let b = build(
        "[[clients]]\nclient_id = \"bi\"\nclient_secret = \"bi-secret\"\nscopes = [\"sudo\"]\n",
    )
    .await;
    let bi = format!("Bearer {}", token(&b.app, "bi", "bi-secret").await);
    let r = get_with(&b.app, "/whoami?sudo=loginName:alice&tenantCode=acme", &bi).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let body = r.json();
    assert!(r.body.contains("1001"), "acts as alice: {body}");
    assert!(r.body.contains("t-1"), "inside her tenant: {body}");
    // A tenant she is not in.
    let r = get_with(
        &b.app,
        "/whoami?sudo=loginName:alice&tenantCode=globex",
        &bi,
    )
    .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    // Without the sudo scope, no sudo.
    let app_token = format!("Bearer {}", token(&b.app, "app", "app-secret").await);
    let r = get_with(&b.app, "/whoami?sudo=loginName:alice", &app_token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

#[tokio::test]
async fn the_compat_forms_are_off_unless_the_file_turns_them_on() {
    let get_token =
        "/oauth/token?grant_type=client_credentials&client_id=app&client_secret=app-secret";
    let b = build("").await;
    let r = send(&b.app, Method::GET, get_token, &[], "").await;
    assert_ne!(
        r.status,
        StatusCode::OK,
        "GET token requests are off: {}",
        r.body
    );
    let b = build("[compat]\nget_token_requests = true\n").await;
    let r = send(&b.app, Method::GET, get_token, &[], "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn the_credentials_section_chooses_where_credentials_are_read() {
    // By default a token in the query works (the seeds' place)…
    let b = build("").await;
    let t = token(&b.app, "app", "app-secret").await;
    let r = send(
        &b.app,
        Method::GET,
        &format!("/api/orders?access_token={t}"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // …and a file can turn the query off.
    let b = build("[credentials]\nquery = []\n").await;
    let t = token(&b.app, "app", "app-secret").await;
    let r = send(
        &b.app,
        Method::GET,
        &format!("/api/orders?access_token={t}"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = get_with(&b.app, "/api/orders", &format!("Bearer {t}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn the_issuer_defaults_to_the_bound_address_over_loopback() {
    let text = FILE
        .replace("issuer = \"https://auth.example\"\n", "")
        .replace("{soon}", "2030-01-01T00:00:00Z");
    let setup = Config::from_toml_str(&text, "test.toml")
        .unwrap()
        .build(BuildOptions::new().listening_on("0.0.0.0:8123".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(setup.issuer().issuer_name(), "http://127.0.0.1:8123");
    let metadata = setup
        .server_metadata()
        .expect("a URL issuer publishes metadata");
    let doc = metadata.document();
    assert_eq!(doc["issuer"], "http://127.0.0.1:8123");
    assert_eq!(doc["token_endpoint"], "http://127.0.0.1:8123/oauth/token");
    assert_eq!(
        setup.resource_metadata().resource(),
        "http://127.0.0.1:8123"
    );
    // HS256: no key is published.
    assert!(setup.jwks().is_none());
    assert!(doc.get("jwks_uri").is_none(), "{doc}");
}

#[tokio::test]
async fn a_bare_issuer_name_publishes_no_metadata() {
    let text = FILE
        .replace("https://auth.example", "my-issuer")
        .replace("{soon}", "2030-01-01T00:00:00Z");
    let setup = Config::from_toml_str(&text, "test.toml")
        .unwrap()
        .build(BuildOptions::new().listening_on("127.0.0.1:8123".parse().unwrap()))
        .await
        .unwrap();
    assert!(setup.server_metadata().is_none());
    assert_eq!(setup.issuer().issuer_name(), "my-issuer");
}

#[tokio::test]
async fn rs256_without_a_key_file_makes_a_key_and_publishes_it() {
    let text = FILE
        .replace(
            "algorithm = \"HS256\"\nsecret = \"a-signing-secret-of-at-least-32-bytes\"",
            "algorithm = \"RS256\"\nkid = \"k-1\"",
        )
        .replace("{soon}", "2030-01-01T00:00:00Z");
    let setup = Config::from_toml_str(&text, "test.toml")
        .unwrap()
        .build(BuildOptions::new())
        .await
        .unwrap();
    let jwks = setup.jwks().expect("RS256 publishes its key");
    assert_eq!(jwks["keys"][0]["kid"], "k-1");
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    let app = mount(&setup);
    let t = token(&app, "app", "app-secret").await;
    let r = get_with(&app, "/api/orders", &format!("Bearer {t}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn opaque_tokens_work_and_are_revoked() {
    let b = build_with("token_format = \"opaque\"", "").await;
    let t = token(&b.app, "app", "app-secret").await;
    assert_eq!(t.matches('.').count(), 0, "an opaque token is no JWT: {t}");
    let bearer = format!("Bearer {t}");
    assert_eq!(
        get_with(&b.app, "/api/orders", &bearer).await.status,
        StatusCode::OK
    );
    let body = format!("token={t}");
    let r = send(
        &b.app,
        Method::POST,
        "/oauth/token/revoke",
        &[FORM, (AUTHORIZATION.as_str(), "Basic YXBwOmFwcC1zZWNyZXQ=")],
        &body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        get_with(&b.app, "/api/orders", &bearer).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_shipped_files_and_the_reference_example_build() {
    for file in ["examples/quickstart.toml", "examples/quickstart-rs256.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let config = Config::from_toml_file(&path).unwrap();
        assert_eq!(config.clients.len(), 5, "{file}");
        let setup = config
            .build(BuildOptions::new().listening_on("127.0.0.1:3000".parse().unwrap()))
            .await
            .unwrap();
        assert!(setup.api_layer("orders").is_some(), "{file}");
        assert!(setup.api_layer("reports").is_some(), "{file}");
        assert!(setup.server_metadata().is_some(), "{file}");
    }
    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let example = reference
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/configuration.md has a TOML example");
    let setup = Config::from_toml_str(example, "docs/configuration.md")
        .unwrap()
        .build(BuildOptions::new())
        .await
        .unwrap();
    let app = mount(&setup);
    let t = token(&app, "shop-frontend", "change-me").await;
    let r = get_with(&app, "/api/orders", &format!("Bearer {t}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The example turns tokens in URLs off.
    let r = send(
        &app,
        Method::GET,
        &format!("/api/orders?access_token={t}"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

/// On Redis the file seeds only what is absent: a second process built from the same file keeps
/// what the first wrote and what the admin API changed since.
#[cfg(feature = "redis")]
#[tokio::test]
async fn on_redis_the_file_seeds_once_and_what_is_there_wins() {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("SKIPPED: REDIS_URL is not set");
        return;
    };
    let prefix = format!("config-build-{}-{}:", std::process::id(), rand_suffix());
    let text = FILE.replace("{soon}", "2030-01-01T00:00:00Z")
        + &format!("\n[store]\nredis_key_prefix = \"{prefix}\"\n");
    let build = || async {
        Config::from_toml_str(&text, "test.toml")
            .unwrap()
            .build(BuildOptions::new().redis(&url))
            .await
            .unwrap()
    };
    let first = build().await;
    assert!(first.stores().shared);
    let seeded = &first.seeding().seeded;
    assert!(seeded.contains(&"client app".to_owned()), "{seeded:?}");
    assert!(
        seeded.contains(&"grant orders/client:app".to_owned()),
        "{seeded:?}"
    );
    assert!(
        seeded.contains(&"api key of reporting".to_owned()),
        "{seeded:?}"
    );
    assert!(
        first.seeding().kept.is_empty(),
        "{:?}",
        first.seeding().kept
    );
    // A change made at run time: app gives up its grant on orders, at once.
    first
        .grants()
        .app_revoke("orders", tower_gatekeeper::grant::Grantee::client("app"))
        .await
        .unwrap();

    let second = build().await;
    assert!(
        second.seeding().seeded.is_empty(),
        "{:?}",
        second.seeding().seeded
    );
    assert!(
        second
            .seeding()
            .kept
            .contains(&"grant orders/client:app".to_owned()),
        "{:?}",
        second.seeding().kept
    );
    let app = mount(&second);
    let t = format!("Bearer {}", token(&app, "app", "app-secret").await);
    let r = get_with(&app, "/api/orders", &t).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "the revocation stays: {}",
        r.body
    );
    let r = get_with(&app, "/api/orders", ALICE).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[cfg(feature = "redis")]
fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}
