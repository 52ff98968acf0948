//! How client secrets are kept: a secret a person chose as an argon2 hash; a secret the issuer
//! generated (256 random bits) as a SHA-256 digest, compared in constant time; either may be
//! given precomputed, so plain secrets need not reach the process. Rotation and the account
//! admin generate digest secrets.

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt as _;
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::accounts::UserRegistry;
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::issuer::{
    AccountAdmin, Client, ClientRegistry, RegisterError, SecretKind, SigningKey, TokenIssuer,
};
use tower_gatekeeper::verify::hash_password;

fn sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[tokio::test]
async fn each_way_of_giving_a_secret_is_kept_as_its_kind() {
    let clients = ClientRegistry::new();
    let generated = ClientRegistry::generate_secret();
    let precomputed = ClientRegistry::generate_secret();
    let phc = hash_password("chosen elsewhere").unwrap();
    clients
        .register(Client::new("chosen", "a person's secret"))
        .await
        .unwrap();
    clients
        .register(Client::with_generated_secret("generated", &generated))
        .await
        .unwrap();
    clients
        .register(Client::with_secret_digest("digest", sha256(&precomputed)))
        .await
        .unwrap();
    clients
        .register(Client::with_secret_hash("phc", &phc))
        .await
        .unwrap();

    assert_eq!(
        clients.secret_kind("chosen").await.unwrap(),
        Some(SecretKind::Argon2)
    );
    assert_eq!(
        clients.secret_kind("generated").await.unwrap(),
        Some(SecretKind::Sha256)
    );
    assert_eq!(
        clients.secret_kind("digest").await.unwrap(),
        Some(SecretKind::Sha256)
    );
    assert_eq!(
        clients.secret_kind("phc").await.unwrap(),
        Some(SecretKind::Argon2)
    );
    assert_eq!(clients.secret_kind("nobody").await.unwrap(), None);

    for (id, right) in [
        ("chosen", "a person's secret"),
        ("generated", generated.as_str()),
        ("digest", precomputed.as_str()),
        ("phc", "chosen elsewhere"),
    ] {
        assert_eq!(
            clients.authenticate(id, right).await.unwrap().as_deref(),
            Some(id)
        );
        for wrong in ["", "wrong", &right[..right.len() - 1], &format!("{right} ")] {
            assert_eq!(
                clients.authenticate(id, wrong).await.unwrap(),
                None,
                "{id}: {wrong:?}"
            );
        }
        // A secret of another client does not open this one.
        assert_eq!(
            clients
                .authenticate(id, &generated)
                .await
                .unwrap()
                .is_some(),
            id == "generated"
        );
        clients.set_disabled(id, true).await.unwrap();
        assert_eq!(
            clients.authenticate(id, right).await.unwrap(),
            None,
            "{id} disabled"
        );
        clients.set_disabled(id, false).await.unwrap();
    }
    // The stored forms are not secrets one can present.
    let digest_hex: String = sha256(&precomputed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        clients.authenticate("digest", &digest_hex).await.unwrap(),
        None
    );
    assert_eq!(clients.authenticate("phc", &phc).await.unwrap(), None);
}

#[tokio::test]
async fn generated_secrets_are_long_random_and_short_ones_are_refused() {
    let a = ClientRegistry::generate_secret();
    let b = ClientRegistry::generate_secret();
    assert_ne!(a, b);
    // 256 bits in base64url.
    assert_eq!(a.len(), 43);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );

    let clients = ClientRegistry::new();
    // A person's short secret cannot slip into the fast digest path.
    for short in ["", "password", "0123456789abcdef0123456789abcde"] {
        assert_eq!(
            clients
                .register(Client::with_generated_secret("weak", short))
                .await,
            Err(RegisterError::WeakGeneratedSecret),
            "{short:?}"
        );
    }
    assert!(!clients.contains("weak").await.unwrap());
    clients
        .register(Client::with_generated_secret(
            "ok",
            "0123456789abcdef0123456789abcdef",
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_precomputed_hash_must_be_argon2() {
    let clients = ClientRegistry::new();
    for bad in [
        "",
        "not a hash",
        "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0",
        // A valid PHC that asks for 4 GiB per check: over the bound.
        "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
    ] {
        assert_eq!(
            clients.register(Client::with_secret_hash("bad", bad)).await,
            Err(RegisterError::InvalidSecretHash),
            "{bad:?}"
        );
    }
    assert!(!clients.contains("bad").await.unwrap());
}

#[tokio::test]
async fn rotation_gives_a_digest_secret_and_ends_the_old_one() {
    let clients = ClientRegistry::new();
    clients
        .register(Client::new("app", "old chosen secret"))
        .await
        .unwrap();
    assert_eq!(
        clients.secret_kind("app").await.unwrap(),
        Some(SecretKind::Argon2)
    );
    let new = clients.rotate_secret("app").await.unwrap().unwrap();
    assert_eq!(
        clients.secret_kind("app").await.unwrap(),
        Some(SecretKind::Sha256)
    );
    assert_eq!(
        clients
            .authenticate("app", "old chosen secret")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        clients.authenticate("app", &new).await.unwrap().as_deref(),
        Some("app")
    );
    let newer = clients.rotate_secret("app").await.unwrap().unwrap();
    assert_ne!(new, newer);
    assert_eq!(clients.authenticate("app", &new).await.unwrap(), None);
    assert!(clients.rotate_secret("nobody").await.unwrap().is_none());
}

#[test]
fn debug_output_shows_no_secret() {
    let generated = ClientRegistry::generate_secret();
    let shown = format!(
        "{:?} {:?} {:?}",
        Client::with_generated_secret("a", &generated),
        Client::with_secret_digest("b", sha256(&generated)),
        Client::new("c", "person secret 1234"),
    );
    assert!(!shown.contains(&generated), "{shown}");
    assert!(!shown.contains("person secret 1234"), "{shown}");
    let hex: String = sha256(&generated)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!shown.contains(&hex), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// Over HTTP
// ---------------------------------------------------------------------------------------------

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn token_request(id: &str, secret: &str, basic: bool) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/oauth/token")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    let body = if basic {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let creds = STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
        request = request.header(AUTHORIZATION, format!("Basic {creds}"));
        "grant_type=client_credentials".to_owned()
    } else {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", id)
            .append_pair("client_secret", secret)
            .finish()
    };
    request.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn admin_created_clients_get_digest_secrets_that_work_at_the_token_endpoint() {
    let clients = ClientRegistry::new();
    let admin_secret = ClientRegistry::generate_secret();
    clients
        .register(
            Client::with_generated_secret("admin", &admin_secret)
                .allowed_scopes(["accounts:admin"]),
        )
        .await
        .unwrap();
    let users = UserRegistry::new();
    let issuer = TokenIssuer::builder(SigningKey::hs256(&[4u8; 32]).unwrap())
        .clients(clients.clone())
        .build();
    let accounts = AccountAdmin::new(clients.clone(), users).prefix("/admin");
    let app = Router::new()
        .route_service("/admin/clients", accounts.clone())
        .route_service("/admin/clients/{*rest}", accounts)
        .layer(
            GatekeeperLayer::builder(issuer.verifier())
                .sources(CredentialSources::new())
                .build(),
        )
        .route_service("/oauth/token", issuer.token_endpoint());

    let (status, body) = call(&app, token_request("admin", &admin_secret, true)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());

    let create = Request::builder()
        .method(Method::POST)
        .uri("/admin/clients")
        .header(AUTHORIZATION, &bearer)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"client_id": "made", "scopes": ["read"]}).to_string(),
        ))
        .unwrap();
    let (status, body) = call(&app, create).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        clients.secret_kind("made").await.unwrap(),
        Some(SecretKind::Sha256)
    );

    for basic in [false, true] {
        let (status, body) = call(&app, token_request("made", &secret, basic)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "read");
        let (status, body) = call(&app, token_request("made", "wrong", basic)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "invalid_client");
    }

    let rotate = Request::builder()
        .method(Method::POST)
        .uri("/admin/clients/made/rotate-secret")
        .header(AUTHORIZATION, &bearer)
        .body(Body::empty())
        .unwrap();
    let (status, body) = call(&app, rotate).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rotated = body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        clients.secret_kind("made").await.unwrap(),
        Some(SecretKind::Sha256)
    );
    let (status, _) = call(&app, token_request("made", &secret, false)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, token_request("made", &rotated, false)).await;
    assert_eq!(status, StatusCode::OK);
}

/// With digest secrets only, an unknown id and a wrong secret get the same answer.
#[tokio::test]
async fn an_unknown_id_answers_like_a_wrong_digest_secret() {
    let clients = ClientRegistry::new();
    let secret = ClientRegistry::generate_secret();
    clients
        .register(Client::with_generated_secret("known", &secret))
        .await
        .unwrap();
    let issuer = TokenIssuer::builder(SigningKey::hs256(&[4u8; 32]).unwrap())
        .clients(clients)
        .build();
    let app = Router::new().route_service("/oauth/token", issuer.token_endpoint());
    let (s1, wrong) = call(&app, token_request("known", "wrong", false)).await;
    let (s2, unknown) = call(&app, token_request("unknown", &secret, false)).await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(wrong, unknown);
}
