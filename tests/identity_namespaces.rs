//! Client ids, user ids and API-key owners are separate namespaces: every crossover is tried.
//!
//! Client `1001` (registered in code, which the account admin would refuse) against user
//! `1001` (alice): tenant, grants, grant admin actions, disabling. User `demo-app` (likewise
//! inserted in code) against client `demo-app`. The account admin's 409s both ways, also under
//! concurrent creation. The kind rules of each verifier.

use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_gatekeeper::accounts::{UserAccount, UserRegistry, canonical_password};
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::grant::{
    GrantAdmin, GrantCheck, GrantManager, GrantStore, Grantee, InMemoryGrantStore,
};
use tower_gatekeeper::impersonate::Impersonation;
use tower_gatekeeper::issuer::{AccountAdmin, Client, ClientRegistry, SigningKey, TokenIssuer};
use tower_gatekeeper::principal::{Identity, PrincipalKind, Tenant};
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, FirstMatch};
use tower_gatekeeper::{GatekeeperLayer, Principal};

const FAR: u64 = 4_000_000_000;
const ALICE_PASSWORD: &str = "alice namespaces password";
const DEMO_USER_PASSWORD: &str = "demo-app the user's password";

/// A cheap argon2id hash (tests only: the default parameters are slow on purpose).
fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"namespaces-salt!").unwrap();
    argon
        .hash_password(canonical_password(password).as_bytes(), &salt)
        .unwrap()
        .to_string()
}

struct World {
    app: Router,
    clients: ClientRegistry,
    users: UserRegistry,
}

async fn whoami(p: Principal) -> Json<Principal> {
    Json(p)
}

async fn world() -> World {
    let clients = ClientRegistry::new();
    for (id, scopes) in [
        ("demo-app", vec!["orders:read"]),
        // The overlap the admin refuses, made in code: client `1001` beside user `1001`.
        ("1001", vec!["orders:read"]),
        ("admin-console", vec!["grants:admin", "accounts:admin"]),
        ("other-app", vec!["orders:read"]),
    ] {
        clients
            .register(Client::new(id, format!("{id} secret")).allowed_scopes(scopes.clone()))
            .await
            .unwrap();
    }
    let users = UserRegistry::new();
    users
        .directory()
        .insert_tenant(Tenant::new("t-1", Some("acme")))
        .await
        .unwrap();
    users
        .insert(
            UserAccount::new("1001", "alice")
                .password_hash(cheap_hash(ALICE_PASSWORD))
                .tenants(["t-1"])
                .scopes(["orders:read"]),
        )
        .await
        .unwrap();
    // The overlap the other way round, made in code: user `demo-app`.
    users
        .insert(
            UserAccount::new("demo-app", "demo-user")
                .password_hash(cheap_hash(DEMO_USER_PASSWORD))
                .tenants(["t-1"]),
        )
        .await
        .unwrap();
    let issuer =
        TokenIssuer::builder(SigningKey::hs256(b"namespaces signing secret 0123456789").unwrap())
            .clients(clients.clone())
            .users(users.clone())
            .build();

    let keys = ApiKeyStore::new();
    keys.insert("key-reporting", Identity::new("reporting-service"))
        .await
        .unwrap();
    // A key that belongs to a client explicitly.
    keys.insert(
        "key-demo-app",
        Identity::new("demo-app")
            .with_client_id("demo-app")
            .with_kind(PrincipalKind::Client),
    )
    .await
    .unwrap();

    let store: Arc<dyn GrantStore> = Arc::new(InMemoryGrantStore::new());
    let manager = GrantManager::builder_shared(store.clone())
        .apis(["orders"])
        .grantees([
            Grantee::client("demo-app"),
            Grantee::client("1001"),
            Grantee::client("other-app"),
            Grantee::user("1001"),
            Grantee::user("demo-app"),
            Grantee::api_key_owner("reporting-service"),
        ])
        .build();
    // The app demo-app and the user alice hold grants; client 1001 and user demo-app do not.
    manager
        .authorize("orders", Grantee::client("demo-app"), FAR)
        .await
        .unwrap();
    manager
        .authorize("orders", Grantee::user("1001"), FAR)
        .await
        .unwrap();
    manager
        .authorize("orders", Grantee::api_key_owner("reporting-service"), FAR)
        .await
        .unwrap();

    let verifier = FirstMatch::new()
        .or(issuer.verifier())
        .or(ApiKeyVerifier::new(keys))
        .or(users.basic_verifier());
    let sources = CredentialSources::new()
        .basic(true)
        .api_key_header("x-api-key");
    let gate = |check: Option<GrantCheck>| {
        let b = GatekeeperLayer::builder(verifier.clone())
            .sources(sources.clone())
            .authorize(Impersonation::new(users.directory()));
        match check {
            Some(c) => b.authorize(c).build(),
            None => b.build(),
        }
    };
    let accounts = AccountAdmin::new(clients.clone(), users.clone()).prefix("/admin");
    let orders = Router::new()
        .route("/api/orders", get(whoami))
        .layer(gate(Some(GrantCheck::for_api_shared(store, "orders"))));
    let app = Router::new()
        .route("/whoami", get(whoami))
        .nest_service("/admin/apis", GrantAdmin::new(manager))
        .route_service("/admin/clients", accounts.clone())
        .route_service("/admin/users", accounts)
        .layer(gate(None))
        .merge(orders)
        .route_service("/oauth/token", issuer.token_endpoint());
    World {
        app,
        clients,
        users,
    }
}

struct Reply {
    status: StatusCode,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl World {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn token(&self, client: &str) -> String {
        let body = format!(
            "grant_type=client_credentials&client_id={client}&client_secret={client}%20secret"
        );
        let r = self
            .send(
                Request::post("/oauth/token")
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{client}: {}", r.body);
        format!("Bearer {}", r.json()["access_token"].as_str().unwrap())
    }

    async fn get(&self, uri: &str, auth: &str) -> Reply {
        self.send(
            Request::get(uri)
                .header(AUTHORIZATION, auth)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post_json(&self, uri: &str, auth: &str, body: Value) -> Reply {
        self.send(
            Request::post(uri)
                .header(AUTHORIZATION, auth)
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }
}

fn basic(login: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{login}:{password}")))
}

fn action(kind: &str, field: &str, id: &str) -> Value {
    json!({"api_id": "orders", field: id, "apply_type": kind, "time": "2096-01-01T00:00:00Z"})
}

#[tokio::test]
async fn client_1001_is_not_alice() {
    let w = world().await;
    let client = w.token("1001").await;
    let alice = basic("alice", ALICE_PASSWORD);

    let me = w.get("/whoami", &client).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.json()["kind"], "client");
    assert_eq!(me.json()["subject"], "1001");
    let her = w.get("/whoami", &alice).await;
    assert_eq!(her.json()["kind"], "user");
    assert_eq!(her.json()["subject"], "1001");

    // Her tenant: alice may select it; client 1001 gets exactly a non-member's answer.
    let r = w.get("/whoami?tenantId=t-1", &alice).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["tenant"]["id"], "t-1");
    let outsider = w
        .get("/whoami?tenantId=t-1", &w.token("other-app").await)
        .await;
    assert_eq!(outsider.status, StatusCode::FORBIDDEN);
    for query in [
        "tenantId=t-1",
        "tenantCode=acme",
        "tenantId=t-1&tenantCode=acme",
    ] {
        let r = w.get(&format!("/whoami?{query}"), &client).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{query}: {}", r.body);
        assert_eq!(r.body, outsider.body, "{query}");
    }

    // Her grant: alice may call the API; client 1001 holds no grant of its own.
    let r = w.get("/api/orders", &alice).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = w.get("/api/orders", &client).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("no grant"), "{}", r.body);

    // Disabling one leaves the other alone, both ways.
    assert!(w.users.set_disabled("1001", true).await.unwrap());
    assert_eq!(w.get("/whoami", &client).await.status, StatusCode::OK);
    assert_eq!(
        w.get("/whoami", &alice).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(w.users.set_disabled("1001", false).await.unwrap());
    assert!(w.clients.set_disabled("1001", true).await.unwrap());
    assert_eq!(w.get("/whoami", &alice).await.status, StatusCode::OK);
    assert_eq!(
        w.get("/whoami", &client).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn user_demo_app_is_not_the_demo_app_client() {
    let w = world().await;
    let app = w.token("demo-app").await;
    let user = basic("demo-user", DEMO_USER_PASSWORD);

    let r = w.get("/whoami", &user).await;
    assert_eq!(r.json()["subject"], "demo-app");
    assert_eq!(r.json()["kind"], "user");
    // The client's grant is not the user's.
    assert_eq!(w.get("/api/orders", &app).await.status, StatusCode::OK);
    let r = w.get("/api/orders", &user).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // The user cannot revoke, apply for or list the client's grant (app-side actions need the
    // client's own credential).
    for kind in ["APPLY_TYPE_APP_CANCEL_AUTHORIZE", "APPLY_TYPE_RENEW"] {
        let r = w
            .post_json(
                "/admin/apis/authorize/action",
                &user,
                action(kind, "app_id", "demo-app"),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{kind}: {}", r.body);
    }
    let r = w.get("/admin/apis/grants?app_id=demo-app", &user).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(w.get("/api/orders", &app).await.status, StatusCode::OK);

    // The user may list its own (empty) grants as a user; the client lists its own.
    let r = w.get("/admin/apis/grants?user_id=demo-app", &user).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["grants"], json!([]));
    let r = w.get("/admin/apis/grants?app_id=demo-app", &app).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["grants"][0]["app_id"], "demo-app");
    assert_eq!(r.json()["grants"][0]["grantee_kind"], "client");
    // The client cannot list the user's.
    let r = w.get("/admin/apis/grants?user_id=demo-app", &app).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // The client itself may revoke its grant.
    let r = w
        .post_json(
            "/admin/apis/authorize/action",
            &app,
            action("APPLY_TYPE_APP_CANCEL_AUTHORIZE", "app_id", "demo-app"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        w.get("/api/orders", &app).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn grant_admin_app_side_actions_need_the_right_kind() {
    let w = world().await;
    let client_1001 = w.token("1001").await;
    let alice = basic("alice", ALICE_PASSWORD);
    let cancel = "APPLY_TYPE_APP_CANCEL_AUTHORIZE";

    // Client 1001 cannot revoke user 1001's grant, nor list it.
    let r = w
        .post_json(
            "/admin/apis/authorize/action",
            &client_1001,
            action(cancel, "user_id", "1001"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = w.get("/admin/apis/grants?user_id=1001", &client_1001).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Alice cannot act on client 1001's (absent) grant as if it were hers.
    let r = w
        .post_json(
            "/admin/apis/authorize/action",
            &alice,
            action(cancel, "app_id", "1001"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(w.get("/api/orders", &alice).await.status, StatusCode::OK);

    // Naming more than one grantee, or none, is a 400.
    let mut both = action(cancel, "user_id", "1001");
    both["app_id"] = json!("1001");
    let r = w
        .post_json("/admin/apis/authorize/action", &alice, both)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let none = json!({"api_id": "orders", "apply_type": cancel});
    let r = w
        .post_json("/admin/apis/authorize/action", &alice, none)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // Alice revokes her own grant, as a user.
    let r = w
        .post_json(
            "/admin/apis/authorize/action",
            &alice,
            action(cancel, "user_id", "1001"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        w.get("/api/orders", &alice).await.status,
        StatusCode::FORBIDDEN
    );

    // The provider grants client 1001 by app_id: the user's grant does not come back with it.
    let admin = w.token("admin-console").await;
    let r = w
        .post_json(
            "/admin/apis/authorize/action",
            &admin,
            action("APPLY_TYPE_AUTHORIZE", "app_id", "1001"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        w.get("/api/orders", &client_1001).await.status,
        StatusCode::OK
    );
    assert_eq!(
        w.get("/api/orders", &alice).await.status,
        StatusCode::FORBIDDEN
    );
    // A grantee unknown as that kind is refused: there is no key owner `1001`.
    let r = w
        .post_json(
            "/admin/apis/authorize/action",
            &admin,
            action("APPLY_TYPE_AUTHORIZE", "key_owner_id", "1001"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.json()["error_code"], "UNKNOWN_APP");
}

#[tokio::test]
async fn api_keys_hold_key_owner_grants_unless_they_belong_to_a_client() {
    let w = world().await;
    let key = |k: &str| {
        Request::get("/api/orders")
            .header("x-api-key", k)
            .body(Body::empty())
            .unwrap()
    };
    let r = w.send(key("key-reporting")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["kind"], "api_key_owner");
    // The key owned by client demo-app uses the client's grant.
    let r = w.send(key("key-demo-app")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["kind"], "client");
    // A key owner is never a tenant member, whatever its id.
    let r = w
        .send(
            Request::get("/whoami?tenantId=t-1")
                .header("x-api-key", "key-reporting")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

#[tokio::test]
async fn the_account_admin_keeps_the_namespaces_apart() {
    let w = world().await;
    let admin = w.token("admin-console").await;
    // A client with alice's uid, a user with a client's id: 409, nothing created.
    let r = w
        .post_json("/admin/clients", &admin, json!({"client_id": "1001x"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    w.users
        .insert(UserAccount::new("2002", "bob"))
        .await
        .unwrap();
    let r = w
        .post_json("/admin/clients", &admin, json!({"client_id": "2002"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(!w.clients.contains("2002").await.unwrap());
    let r = w
        .post_json(
            "/admin/users",
            &admin,
            json!({"uid": "other-app", "login_name": "other"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(!w.users.contains("other-app"));
    let r = w
        .post_json(
            "/admin/users",
            &admin,
            json!({"uid": "1001x", "login_name": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(!w.users.contains("1001x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creation_of_a_client_and_a_user_with_one_id_admits_one() {
    let w = Arc::new(world().await);
    let admin = w.token("admin-console").await;
    for round in 0..20 {
        let id = format!("race-{round}");
        let client = {
            let (w, admin, id) = (w.clone(), admin.clone(), id.clone());
            tokio::spawn(async move {
                w.post_json("/admin/clients", &admin, json!({"client_id": id}))
                    .await
                    .status
            })
        };
        let user = {
            let (w, admin, id) = (w.clone(), admin.clone(), id.clone());
            tokio::spawn(async move {
                w.post_json(
                    "/admin/users",
                    &admin,
                    json!({"uid": id, "login_name": format!("login-{id}")}),
                )
                .await
                .status
            })
        };
        let (c, u) = (client.await.unwrap(), user.await.unwrap());
        let created = [c, u].iter().filter(|s| **s == StatusCode::CREATED).count();
        assert_eq!(created, 1, "{id}: client {c}, user {u}");
        assert!([c, u].contains(&StatusCode::CONFLICT), "{id}: {c} {u}");
        assert_ne!(
            w.clients.contains(&id).await.unwrap(),
            w.users.contains(&id),
            "{id}"
        );
    }
}

#[tokio::test]
async fn each_verifier_sets_the_kind() {
    // Tokens of other issuers: sub absent or equal to the client id → client; else user.
    let claims = |v: Value| Identity::from_claims(v.as_object().unwrap().clone()).unwrap();
    assert_eq!(
        claims(json!({"client_id": "app"})).kind(),
        PrincipalKind::Client
    );
    assert_eq!(
        claims(json!({"sub": "app", "azp": "app"})).kind(),
        PrincipalKind::Client
    );
    assert_eq!(
        claims(json!({"sub": "1001", "azp": "app"})).kind(),
        PrincipalKind::User
    );
    assert_eq!(claims(json!({"sub": "1001"})).kind(), PrincipalKind::User);
    // API keys: key owners unless the identity says otherwise.
    let keys = ApiKeyStore::new();
    keys.insert("k1", Identity::new("svc")).await.unwrap();
    keys.insert("k2", Identity::new("1001").with_kind(PrincipalKind::User))
        .await
        .unwrap();
    assert_eq!(
        keys.lookup("k1").await.unwrap().unwrap().kind(),
        PrincipalKind::ApiKeyOwner
    );
    assert_eq!(
        keys.lookup("k2").await.unwrap().unwrap().kind(),
        PrincipalKind::User
    );
    // Grantee::of follows the kind.
    let client = Identity::new("1001").with_client_id("1001");
    assert_eq!(Grantee::of(&client), Grantee::client("1001"));
    assert_ne!(Grantee::of(&client), Grantee::user("1001"));
}

#[tokio::test]
async fn basic_users_and_sudo_targets_are_users() {
    let w = world().await;
    let r = w
        .get("/whoami?sudo=uid:1001", &basic("alice", ALICE_PASSWORD))
        .await;
    // alice has no sudo role: refused before any lookup.
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Sudo never resolves a client: there is no user `other-app`.
    let users = UserRegistry::new();
    users
        .insert(
            UserAccount::new("9", "root")
                .roles(["sudo"])
                .password_hash(cheap_hash("root pw")),
        )
        .await
        .unwrap();
    let app: Router = Router::new().route("/me", get(whoami)).layer(
        GatekeeperLayer::builder(users.basic_verifier())
            .sources(CredentialSources::new().basic(true))
            .authorize(Impersonation::new(w.users.directory()))
            .build(),
    );
    let send = |uri: &'static str| {
        let app = app.clone();
        async move {
            let response = app
                .oneshot(
                    Request::get(uri)
                        .header(AUTHORIZATION, basic("root", "root pw"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = send("/me?sudo=uid:1001").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "user");
    assert_eq!(body["subject"], "1001");
    let (status, _) = send("/me?sudo=uid:other-app").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
