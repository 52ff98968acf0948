//! What kind of credential passed is what verified it, not where it was carried: an API key
//! sent as `Authorization: Bearer`, `?access_token=`, a token header or a body field is still
//! an API key, so an API that accepts bearer tokens only refuses it.

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_gatekeeper::extract::{CredentialSources, Scheme, Source};
use tower_gatekeeper::layer::RequireScheme;
use tower_gatekeeper::principal::{CredentialInfo, Identity};
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, FirstMatch, JwtVerifier, VerifyError};
use tower_gatekeeper::{GatekeeperBuilder, GatekeeperLayer, Principal};

const SECRET: &[u8] = b"credential-kind-test-hs256-secret-0123";
const KEY: &str = "key-reporting-0001";

async fn keys() -> ApiKeyStore {
    let keys = ApiKeyStore::new();
    keys.insert(
        KEY,
        Identity::new("svc-reporting").with_scopes(["reports:read"]),
    )
    .await
    .unwrap();
    keys
}

fn jwt() -> JwtVerifier {
    JwtVerifier::hs256(SECRET).unwrap()
}

fn token() -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    encode(
        &Header::default(),
        &json!({"sub": "app-1", "client_id": "app-1", "exp": exp}),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// Every carrier on: the Authorization header, a token header, an API key header, the query,
/// form and JSON bodies.
fn every_carrier() -> CredentialSources {
    CredentialSources::new()
        .token_header("x-auth-token")
        .api_key_header("x-api-key")
        .query("access_token")
        .form_body("access_token")
        .json_body("access_token")
}

fn gate(verifier: FirstMatch) -> GatekeeperBuilder {
    GatekeeperLayer::builder(verifier)
        .realm("kinds")
        .sources(every_carrier())
}

async fn opted_in() -> FirstMatch {
    FirstMatch::new()
        .or(jwt())
        .or(ApiKeyVerifier::new(keys().await).accept_bearer(true))
}

async fn by_default() -> FirstMatch {
    FirstMatch::new()
        .or(jwt())
        .or(ApiKeyVerifier::new(keys().await))
}

async fn whoami(p: Principal) -> axum::Json<Principal> {
    axum::Json(p)
}

fn app(layer: GatekeeperLayer) -> Router {
    Router::new()
        .route("/whoami", get(whoami).post(whoami))
        .layer(layer)
}

/// A credential carried one way.
#[derive(Debug, Clone, Copy)]
enum Carrier {
    Authorization,
    Query,
    TokenHeader,
    Form,
    Json,
    ApiKeyHeader,
}

const BEARER_CARRIERS: [Carrier; 5] = [
    Carrier::Authorization,
    Carrier::Query,
    Carrier::TokenHeader,
    Carrier::Form,
    Carrier::Json,
];

impl Carrier {
    fn request(self, secret: &str) -> Request<Body> {
        let get = || Request::get("/whoami");
        let post = || Request::post("/whoami");
        match self {
            Self::Authorization => get()
                .header(AUTHORIZATION, format!("Bearer {secret}"))
                .body(Body::empty()),
            Self::Query => get()
                .uri(format!("/whoami?access_token={secret}"))
                .body(Body::empty()),
            Self::TokenHeader => get().header("x-auth-token", secret).body(Body::empty()),
            Self::ApiKeyHeader => get().header("x-api-key", secret).body(Body::empty()),
            Self::Form => post()
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("access_token={secret}"))),
            Self::Json => post()
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(format!(r#"{{"access_token":"{secret}"}}"#))),
        }
        .unwrap()
    }

    fn source(self) -> &'static str {
        match self {
            Self::Authorization | Self::TokenHeader | Self::ApiKeyHeader => "header",
            Self::Query => "query",
            Self::Form | Self::Json => "body",
        }
    }
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body: Bytes = res.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, json)
}

#[tokio::test]
async fn a_key_carried_as_a_bearer_token_verifies_as_an_api_key() {
    let app = app(gate(opted_in().await).build());
    for carrier in BEARER_CARRIERS.into_iter().chain([Carrier::ApiKeyHeader]) {
        let (status, body) = send(&app, carrier.request(KEY)).await;
        assert_eq!(status, StatusCode::OK, "{carrier:?}: {body}");
        assert_eq!(body["subject"], "svc-reporting", "{carrier:?}");
        assert_eq!(
            body["credential"],
            json!({"scheme": "api_key", "source": carrier.source()}),
            "{carrier:?}"
        );
    }
}

#[tokio::test]
async fn a_bearer_only_api_refuses_an_api_key_whatever_carries_it() {
    let app = app(gate(opted_in().await)
        .authorize(RequireScheme::any_of([Scheme::Bearer]))
        .build());
    for carrier in BEARER_CARRIERS.into_iter().chain([Carrier::ApiKeyHeader]) {
        let (status, body) = send(&app, carrier.request(KEY)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{carrier:?}: {body}");
        assert_eq!(
            body,
            json!({
                "error": "access_denied",
                "error_description": "this API does not accept this kind of credential"
            }),
            "{carrier:?}"
        );
    }
    // A real bearer token passes by every bearer carrier.
    let t = token();
    for carrier in BEARER_CARRIERS {
        let (status, body) = send(&app, carrier.request(&t)).await;
        assert_eq!(status, StatusCode::OK, "{carrier:?}: {body}");
        assert_eq!(
            body["credential"],
            json!({"scheme": "bearer", "source": carrier.source()})
        );
    }
}

#[tokio::test]
async fn an_api_key_only_api_refuses_tokens_and_takes_keys() {
    let app = app(gate(opted_in().await)
        .authorize(RequireScheme::any_of([Scheme::ApiKey]))
        .build());
    let t = token();
    for carrier in BEARER_CARRIERS {
        let (status, _) = send(&app, carrier.request(&t)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{carrier:?}");
        let (status, _) = send(&app, carrier.request(KEY)).await;
        assert_eq!(status, StatusCode::OK, "{carrier:?}");
    }
    // An empty list accepts nothing.
    let none = app_with_stage(RequireScheme::any_of([])).await;
    let (status, _) = send(&none, Carrier::ApiKeyHeader.request(KEY)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn app_with_stage(stage: RequireScheme) -> Router {
    app(gate(opted_in().await).authorize(stage).build())
}

#[tokio::test]
async fn by_default_keys_are_taken_from_api_key_headers_only() {
    let app = app(gate(by_default().await).build());
    for carrier in BEARER_CARRIERS {
        let (status, body) = send(&app, carrier.request(KEY)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{carrier:?}: {body}");
        assert_eq!(body["error"], "invalid_token", "{carrier:?}");
    }
    let (status, body) = send(&app, Carrier::ApiKeyHeader.request(KEY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["credential"],
        json!({"scheme": "api_key", "source": "header"})
    );
}

#[tokio::test]
async fn a_jwt_in_an_api_key_header_is_not_a_bearer_token() {
    // A token sent where keys go is looked up as a key (and unknown), never verified as a JWT
    // that would then pass as a bearer token.
    let app = app(gate(opted_in().await).build());
    let (status, body) = send(&app, Carrier::ApiKeyHeader.request(&token())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

/// The quickstart's handler check, by what the principal says.
async fn reports(p: Principal) -> StatusCode {
    let accepted = ["bearer"];
    let scheme = p.credential().map(|c| c.scheme.as_str());
    if scheme.is_some_and(|s| accepted.contains(&s)) {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    }
}

#[tokio::test]
async fn a_handler_checking_the_principal_sees_the_verified_kind() {
    let app = Router::new()
        .route("/whoami", get(reports).post(reports))
        .layer(gate(opted_in().await).build());
    for carrier in BEARER_CARRIERS.into_iter().chain([Carrier::ApiKeyHeader]) {
        let res = app.clone().oneshot(carrier.request(KEY)).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{carrier:?}");
        if !matches!(carrier, Carrier::ApiKeyHeader) {
            let res = app
                .clone()
                .oneshot(carrier.request(&token()))
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{carrier:?}");
        }
    }
}

#[tokio::test]
async fn a_verifier_that_states_no_kind_gets_the_carried_kind_and_the_layer_sets_the_source() {
    // A closure that says nothing: the kind is what carried the credential.
    let silent = |_c: tower_gatekeeper::extract::Credential<'static>| async move {
        Ok::<_, VerifyError>(Principal::new(Identity::new("anyone")))
    };
    // A verifier that states a kind and a wrong source: the kind is kept, the source is the
    // layer's.
    let stating = |_c: tower_gatekeeper::extract::Credential<'static>| async move {
        Ok::<_, VerifyError>(Principal::new(Identity::new("anyone")).with_credential(
            CredentialInfo {
                scheme: Scheme::ApiKey,
                source: Source::Body,
            },
        ))
    };
    let silent = Router::new().route("/whoami", get(whoami)).layer(
        GatekeeperLayer::builder(silent)
            .sources(every_carrier())
            .build(),
    );
    let stating = Router::new()
        .route("/whoami", post(whoami).get(whoami))
        .layer(
            GatekeeperLayer::builder(stating)
                .sources(every_carrier())
                .build(),
        );
    let (_, body) = send(&silent, Carrier::Query.request("opaque")).await;
    assert_eq!(
        body["credential"],
        json!({"scheme": "bearer", "source": "query"})
    );
    let (_, body) = send(&silent, Carrier::ApiKeyHeader.request("opaque")).await;
    assert_eq!(
        body["credential"],
        json!({"scheme": "api_key", "source": "header"})
    );
    let (_, body) = send(&stating, Carrier::Authorization.request("opaque")).await;
    assert_eq!(
        body["credential"],
        json!({"scheme": "api_key", "source": "header"})
    );
}

#[tokio::test]
async fn require_scheme_refuses_an_anonymous_request_in_optional_mode() {
    let app = Router::new()
        .route("/whoami", get(|| async { "public" }))
        .layer(
            gate(opted_in().await)
                .optional(true)
                .authorize(RequireScheme::any_of([Scheme::Bearer]))
                .build(),
        );
    let res = app
        .oneshot(Request::get("/whoami").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
